"""Word-level matching between questions and ontology labels.

English morphology is approximated by stems: two words match when they share a prefix of at
least five letters, or are equal, or one is the other plus a plural/verb ending ("directs" –
"direct", "advisor" – "advised"). Good enough to match "who advises" to "is being advised by".

>>> content_words("who is the advisor of GraduateStudent12")
['advisor', 'graduatestudent12']
>>> overlap(["advised"], ["advisor"]), overlap(["teaches"], ["teach"]), overlap(["film"], ["films"])
(1.0, 1.0, 1.0)
>>> wh_word("In which year was Alien released?")
'when'
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Function words and question words that carry no relation meaning.
CONTENT_STOP = frozenset(
    """a an the of in on at to for from by with as is are was were be been being has have had do does did
    what which who whom whose when where why how many much that this these those there it its his her their
    and or not also can could would should will shall may might me my i you your we our they them he she
    both either any some all each every same than then other another about into onto out up down
    please list show give tell name find get""".split()
)
_WORD = re.compile(r"[a-z0-9]+")
_ENDINGS = ("ing", "ers", "ors", "ed", "es", "er", "or", "s", "e")


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in CONTENT_STOP]


#: Irregular verb forms, so "taught" matches "teaches".
_IRREGULAR = {
    "taught": "teach", "wrote": "write", "written": "write", "took": "take", "taken": "take", "made": "make",
    "led": "lead", "won": "win", "gave": "give", "given": "give", "spoke": "speak", "spoken": "speak",
    "got": "get", "gotten": "get", "began": "begin", "begun": "begin", "sang": "sing", "sung": "sing",
    "chose": "choose", "chosen": "choose", "shot": "shoot", "drew": "draw", "drawn": "draw", "told": "tell",
}  # fmt: skip


def _stem(word: str) -> str:
    word = _IRREGULAR.get(word, word)
    for end in _ENDINGS:
        if word.endswith(end) and len(word) - len(end) >= 3:
            return word[: -len(end)]
    return word


@lru_cache(maxsize=1 << 16)
def same_word(a: str, b: str) -> bool:
    a, b = _IRREGULAR.get(a, a), _IRREGULAR.get(b, b)
    if a == b:
        return True
    if len(a) >= 5 and len(b) >= 5 and a[:5] == b[:5]:
        return True
    sa, sb = _stem(a), _stem(b)
    return sa == sb or (len(sa) >= 4 and (sb.startswith(sa) or sa.startswith(sb)) and abs(len(sa) - len(sb)) <= 2)


def matched(label_words: list[str], question_words: list[str]) -> set[int]:
    """Indexes of the question words that match some word of the label."""
    words = [w for w in label_words if w not in CONTENT_STOP] or label_words
    return {i for i, q in enumerate(question_words) if any(same_word(w, q) for w in words)}


def overlap(label_words: list[str], question_words: list[str], *, require_all: bool = False) -> float:
    """The share of the label's words found in the question (0 unless all are, with ``require_all``)."""
    words = [w for w in label_words if w not in CONTENT_STOP] or label_words
    if not words:
        return 0.0
    hits = sum(any(same_word(w, q) for q in question_words) for w in words)
    share = hits / len(words)
    return (1.0 if share == 1.0 else 0.0) if require_all else share


def wh_noun(question: str) -> list[str]:
    """The content words right after "which"/"what" ("which graduate students" -> graduate, students).

    >>> wh_noun("which graduate students does X advise"), wh_noun("what is the title of X")
    (['graduate', 'students'], [])
    """
    m = re.search(r"\b(?:which|what)\s+([a-z]+)(?:\s+([a-z]+))?", question.lower())
    if not m:
        return []
    out = []
    for w in m.groups():
        if w is None or w in CONTENT_STOP or w in _VERBS:
            break
        out.append(w)
    return out


_VERBS = frozenset("did does do is are was were has have had can will acted directed starred written wrote".split())


def wh_word(question: str) -> str | None:
    """The question word that fixes the answer type: who, when (also "what year"), where, or None."""
    q = question.lower()
    if re.search(r"\b(what|which|in what|in which)\s+(year|years|date|dates)\b", q) or re.search(r"\bwhen\b", q):
        return "when"
    m = re.search(r"\b(who|whom|whose|where)\b", q)
    return m.group(1) if m else None
