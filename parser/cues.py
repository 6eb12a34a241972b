"""Words in a question that shape the query rather than name things: counts, numeric limits, superlatives.

English function words only; nothing here knows a domain. The parser maps the words these cues
carry ("released", "courses") to the loaded ontology's terms.

>>> c = find_cues("how many films did Ridley Scott direct after 1990")
>>> c.count, [(f.op, f.value) for f in c.filters]
(True, [('>', 1990)])
>>> find_cues("what is the earliest film directed by Ridley Scott").superlative
('earliest', False)
>>> find_cues("which professor teaches the most courses").most
('courses', True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_COUNT = re.compile(r"\bhow many\b|\b(?:the|total)\s+number of\b|^number of\b|\bcount of\b", re.I)
_YEAR = r"(\d{1,4}(?:\.\d+)?)"
_FILTERS = [
    (re.compile(rf"\bbetween\s+{_YEAR}\s+and\s+{_YEAR}\b", re.I), "between"),
    (re.compile(rf"\b(?:after|since|later than|newer than|more than|over|above|from)\s+{_YEAR}\b", re.I), ">"),
    (re.compile(rf"\b(?:before|earlier than|older than|less than|under|below|until|prior to)\s+{_YEAR}\b", re.I), "<"),
    (re.compile(r"\b(?:in|during|of|year)\s+(\d{4})\b", re.I), "="),
]
_SUPERLATIVES = {
    "earliest": False,
    "first": False,
    "oldest": False,
    "lowest": False,
    "smallest": False,
    "least recent": False,
    "latest": True,
    "newest": True,
    "most recent": True,
    "last": True,
    "youngest": True,
    "highest": True,
    "largest": True,
    "biggest": True,
    "best": True,
    "worst": False,
}
_SUPERLATIVE = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _SUPERLATIVES), key=len, reverse=True)) + r")\b", re.I
)
_MOST = re.compile(r"\b(?:the\s+)?(most|fewest|least)\s+(?:number of\s+)?([a-z]+(?:\s+[a-z]+)?)", re.I)
_BOTH = re.compile(r"\bboth\b|\btogether\b|\band also\b", re.I)


@dataclass(frozen=True)
class Filter:
    """A numeric limit the question puts on its answers; ``span`` is where it was said."""

    op: str
    value: int | float
    high: int | float | None
    span: tuple[int, int]
    text: str


@dataclass(frozen=True)
class Cues:
    count: bool = False
    filters: tuple[Filter, ...] = ()
    superlative: tuple[str, bool] | None = None  # (word, descending)
    most: tuple[str, bool] | None = None  # (counted noun phrase, descending)
    both: bool = False
    spans: tuple[tuple[int, int], ...] = field(default=())  # text the cues consumed

    def describe(self) -> list[str]:
        out = []
        if self.count:
            out.append("count the answers")
        out += [f"filter '{f.text}'" for f in self.filters]
        if self.superlative:
            out.append(f"superlative '{self.superlative[0]}'")
        if self.most:
            out.append(f"{'most' if self.most[1] else 'fewest'} '{self.most[0]}'")
        return out


def _num(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def find_cues(question: str) -> Cues:
    """The structural cues of a question (case-insensitive)."""
    filters: list[Filter] = []
    taken: list[tuple[int, int]] = []
    for pattern, kind in _FILTERS:
        for m in pattern.finditer(question):
            if any(m.start() < b and a < m.end() for a, b in taken):
                continue
            if kind == "between":
                lo, hi = sorted((_num(m.group(1)), _num(m.group(2))))
                filters.append(Filter(">=", lo, hi, m.span(), m.group(0)))
            else:
                filters.append(Filter(kind, _num(m.group(1)), None, m.span(), m.group(0)))
            taken.append(m.span())
    most = None
    m = _MOST.search(question)
    if m and m.group(1).lower() == "most" and m.group(2).lower().split()[0] == "recent":
        m = None
    if m:
        most = (m.group(2).lower(), m.group(1).lower() == "most")
        taken.append(m.span())
    superlative = None
    s = _SUPERLATIVE.search(question)
    if s and not most:
        word = s.group(1).lower()
        superlative = (word, _SUPERLATIVES[word])
        taken.append(s.span())
    return Cues(
        count=bool(_COUNT.search(question)),
        filters=tuple(filters),
        superlative=superlative,
        most=most,
        both=bool(_BOTH.search(question)),
        spans=tuple(taken),
    )
