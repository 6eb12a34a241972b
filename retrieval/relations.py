"""Answers from text when the KB lacks the fact: relation mentions learned by distant supervision.

A document is usually *about* one entity, its subject (the film of a Wikipedia lead); its other
mentions stand in some relation to it: "Rebecca is a 1940 film directed by Alfred Hitchcock".
At ingest, every mention of an entity (or a year) gets a :class:`MentionContext`: the subject,
the mention, and the words around it in its sentence ("b:directed", "b1:by", ...). The
:class:`TextRelationModel` learns, for each KB relation, which contexts express it — by distant
supervision (Mintz et al. 2009): a context is a positive example of relation ``p`` when the KB
holds ``subject p mention`` (or ``mention p subject``), a negative one when the types fit ``p``
but the KB does not hold it. Nothing is specific to a domain: relations, types and examples all
come from the loaded KB, and a fact missing from it is then read from the text (GRAFT-Net style).

>>> links = [_link("Rebecca", 0, "http://ex/Rebecca"), _link("Alfred Hitchcock", 35, "http://ex/Hitchcock")]
>>> [c.mention for c in mention_contexts("d1", "Rebecca", "Rebecca is a 1940 film directed by Alfred Hitchcock.", links)]
['1940', 'http://ex/Hitchcock']
>>> mention_contexts("d1", "Rebecca", "Rebecca is a 1940 film directed by Alfred Hitchcock.", links)[1].features
('b:is', 'b:a', 'b:<year>', 'b:film', 'b:directed', 'b:by', 'a:.', 'b1:by', 'b2:directed_by', 'a1:.', 's0', 'subj')
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from linking.types import Link, Mention
from retrieval.errors import RetrievalError

#: Words of context kept before and after a mention, within its sentence.
WORDS_BEFORE = 6
WORDS_AFTER = 3

#: Datatype of year mentions (4-digit numbers); they match any numeric or date datatype of the KB.
YEAR = "year"

_WORD = re.compile(r"[^\W_]+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_YEAR = re.compile(r"(?<![\w.,-])(1[89]\d\d|20\d\d)(?![\w-])")
_NAME_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
_PARENTHESIS = re.compile(r"\s*\([^)]*\)\s*$")


@dataclass(frozen=True)
class MentionContext:
    """One mention in a document about ``subject``, with the words around it.

    Attributes:
        doc_id: The document.
        subject: IRI of the entity the document is about.
        mention: IRI of the mentioned entity, or a literal's lexical form (a year).
        datatype: ``None`` for an entity, :data:`YEAR` for a year.
        span: Character span of the mention in the text.
        sentence: Character span of its sentence.
        features: Context words and position markers.
    """

    doc_id: str
    subject: str
    mention: str
    datatype: str | None
    span: tuple[int, int]
    sentence: tuple[int, int]
    features: tuple[str, ...]


def document_subject(title: str, links: Sequence[Link]) -> str | None:
    """The entity a document is about: the first link named like its title (``"Heat (1995 film)"`` counts
    as ``"Heat"``), else the entity linked at the very start of the text; ``None`` if neither."""
    wanted = _PARENTHESIS.sub("", title).casefold().strip()
    for link in links:
        if link.entity_iri is not None and wanted and link.mention.surface.casefold().strip() == wanted:
            return link.entity_iri
    for link in links:
        if link.entity_iri is not None and link.mention.span and link.mention.span[0] == 0:
            return link.entity_iri
    return None


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans: split after ``.``, ``!`` or ``?`` followed by a capital or digit."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return spans


class ClassGazetteer:
    """Finds the names of the members of small classes (genres, languages, tags) in any case.

    The text linker links names it is sure of; "a 1995 crime film" names the genre Crime in
    lower case, which it rightly leaves alone in general. For relation reading these words are
    candidates all the same, and the relation model learns which contexts make them answers.

    >>> g = ClassGazetteer({"http://ex/Crime": "Crime", "http://ex/English": "English"})
    >>> g.find("A 1995 crime film in english.")
    [(7, 12, 'http://ex/Crime'), (21, 28, 'http://ex/English')]
    """

    def __init__(self, labels: Mapping[str, str], *, min_chars: int = 3):
        self._iris: dict[str, list[str]] = {}
        for iri, label in labels.items():
            key = " ".join(_NAME_WORD.findall(label.casefold()))
            if len(key) >= min_chars:
                self._iris.setdefault(key, []).append(iri)
        self._longest = max((k.count(" ") + 1 for k in self._iris), default=0)

    def __len__(self) -> int:
        return sum(len(v) for v in self._iris.values())

    @classmethod
    def from_store(cls, store: Any, classes: Iterable[str]) -> ClassGazetteer:
        """The labelled members of ``classes`` (``rdfs:label``)."""
        labels: dict[str, str] = {}
        for cls_ in classes:
            rows = store.query(
                f"SELECT ?e ?l WHERE {{ ?e a <{cls_}> ; <http://www.w3.org/2000/01/rdf-schema#label> ?l }}"
            )
            for e, label in rows:
                labels.setdefault(e.value, label.value)
        return cls(labels)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, iri)`` of every name found, longest first where names overlap (one per member
        when members share a name); a dictionary look-up of word n-grams, so the cost does not grow
        with the number of names."""
        words = [(m.start(), m.end(), m.group().casefold()) for m in _NAME_WORD.finditer(text)]
        found: list[tuple[int, int, str]] = []
        i = 0
        while i < len(words):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                key = " ".join(w for _, _, w in words[i : i + n])
                iris = self._iris.get(key)
                if iris:
                    found += [(words[i][0], words[i + n - 1][1], iri) for iri in iris]
                    i += n
                    break
            else:
                i += 1
        return found


def mention_contexts(
    doc_id: str, title: str, text: str, links: Sequence[Link], gazetteer: ClassGazetteer | None = None
) -> list[MentionContext]:
    """The contexts of every entity and year mentioned in a document, except its subject itself.

    Names of small classes found by ``gazetteer`` count as mentions too, also where a link covers
    them with another entity.
    """
    subject = document_subject(title, links)
    if subject is None:
        return []
    bounds = sentences(text)
    mentions: list[tuple[int, int, str, str | None]] = []
    taken: list[tuple[int, int]] = []
    subject_spans = []
    for link in links:
        if link.entity_iri is None or link.mention.span is None:
            continue
        start, end = link.mention.span
        taken.append((start, end))
        if link.entity_iri == subject:
            subject_spans.append((start, end))
        else:
            mentions.append((start, end, link.entity_iri, None))
    if gazetteer is not None:
        # A name may also be a member of a small class ("raoul walsh" the tag, besides the person):
        # both are candidates, and the relation model tells which relation each context states.
        linked = {(link.mention.span, link.entity_iri) for link in links if link.mention.span}
        for start, end, iri in gazetteer.find(text):
            if iri != subject and ((start, end), iri) not in linked:
                mentions.append((start, end, iri, None))
    for m in _YEAR.finditer(text):
        if not any(a <= m.start() < b for a, b in taken):
            mentions.append((m.start(), m.end(), m.group(1), YEAR))
    mentions.sort()
    spans = sorted(
        {(a, b, "ent" if d is None else "year") for a, b, _, d in mentions} | {(a, b, "subj") for a, b in subject_spans}
    )
    out = []
    for start, end, key, datatype in mentions:
        index = next((i for i, (a, b) in enumerate(bounds) if a <= start < max(b, a + 1)), len(bounds) - 1)
        s_start, s_end = bounds[index]
        features = _features(text, start, end, s_start, s_end, index, subject_spans, spans)
        out.append(MentionContext(doc_id, subject, key, datatype, (start, end), (s_start, s_end), features))
    return out


def _features(
    text: str,
    start: int,
    end: int,
    s_start: int,
    s_end: int,
    index: int,
    subject_spans: list[tuple[int, int]],
    spans: list[tuple[int, int, str]],
) -> tuple[str, ...]:
    before = _words(text, s_start, start, spans)[-WORDS_BEFORE:]
    after = _words(text, end, s_end, spans)[:WORDS_AFTER]
    feats = [f"b:{w}" for w in before] + [f"a:{w}" for w in after]
    if before:
        feats.append(f"b1:{before[-1]}")
    if len(before) >= 2:
        feats.append(f"b2:{before[-2]}_{before[-1]}")
    if after:
        feats.append(f"a1:{after[0]}")
    feats.append("s0" if index == 0 else "s1" if index == 1 else "s2+")
    if any(s_start <= a < s_end for a, _ in subject_spans):
        feats.append("subj")
    return tuple(dict.fromkeys(feats))


def _words(text: str, a: int, b: int, spans: list[tuple[int, int, str]]) -> list[str]:
    """Lowercased words of ``text[a:b]``, each other mention in it replaced by one ``<ent>``/``<year>``/``<subj>``."""
    words: list[str] = []
    pos = a
    for s, e, kind in spans:
        if e <= pos or s >= b:
            continue
        words += [w.lower() for w in _WORD.findall(text[pos : max(pos, s)])]
        words.append(f"<{kind}>")
        pos = max(pos, e)
    words += [w.lower() for w in _WORD.findall(text[pos:b])]
    return words


def _link(surface: str, start: int, iri: str) -> Link:
    """A link for examples and tests."""
    return Link(Mention("d", surface, (start, start + len(surface))), iri, 0.9, "alias:exact")


# -- storage -----------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS contexts (
    doc_id TEXT NOT NULL, subject TEXT NOT NULL, mention TEXT NOT NULL, datatype TEXT,
    start INTEGER NOT NULL, end INTEGER NOT NULL, s_start INTEGER NOT NULL, s_end INTEGER NOT NULL,
    features TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS contexts_doc ON contexts(doc_id);
CREATE INDEX IF NOT EXISTS contexts_subject ON contexts(subject);
CREATE INDEX IF NOT EXISTS contexts_mention ON contexts(mention);
"""


def create_tables(db: sqlite3.Connection) -> None:
    """Create the ``contexts`` table (kept in the ingest ledger's database, written in its transactions)."""
    db.executescript(_SCHEMA)


def replace_contexts(db: sqlite3.Connection, doc_ids: Iterable[str], contexts: Iterable[MentionContext]) -> None:
    """Replace the contexts of ``doc_ids`` (call inside the caller's transaction)."""
    db.executemany("DELETE FROM contexts WHERE doc_id = ?", [(d,) for d in doc_ids])
    db.executemany(
        "INSERT INTO contexts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(c.doc_id, c.subject, c.mention, c.datatype, *c.span, *c.sentence, " ".join(c.features)) for c in contexts],
    )


def read_contexts(
    db: sqlite3.Connection, *, subject: str | None = None, mention: str | None = None
) -> Iterator[MentionContext]:
    """Stored contexts: all of them, or those with this subject, or this mention."""
    sql = "SELECT doc_id, subject, mention, datatype, start, end, s_start, s_end, features FROM contexts"
    args: tuple = ()
    if subject is not None:
        sql, args = sql + " WHERE subject = ?", (subject,)
    elif mention is not None:
        sql, args = sql + " WHERE mention = ?", (mention,)
    for row in db.execute(sql, args):
        yield MentionContext(row[0], row[1], row[2], row[3], (row[4], row[5]), (row[6], row[7]), tuple(row[8].split()))


# -- the model -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelationExample:
    """A training example: a context, the relation key (``prop>`` subject→mention, ``prop<`` mention→subject), the label."""

    features: tuple[str, ...]
    relation: str
    positive: bool


class TextRelationModel:
    """Per KB relation, a logistic regression over context features: P(the context states the relation).

    >>> model = TextRelationModel.fit([RelationExample(("b1:by", "b:directed"), "directedBy>", True),
    ...                                RelationExample(("b1:starring",), "directedBy>", False)] * 5)
    >>> model.relations, model.score("directedBy>", ("b:directed", "b1:by")) > 0.5 > model.score("directedBy>", ("b1:starring",))
    (['directedBy>'], True)
    >>> model.score("unknownProp>", ("b1:by",))
    0.0
    """

    def __init__(
        self, weights: Mapping[str, tuple[float, dict[str, float]]], stats: Mapping[str, Mapping] | None = None
    ):
        self._weights = dict(weights)
        self.stats = dict(stats or {})

    @property
    def relations(self) -> list[str]:
        return sorted(self._weights)

    def score(self, relation: str, features: Iterable[str]) -> float:
        """P(relation | context); 0.0 for a relation the model has not learnt."""
        found = self._weights.get(relation)
        if found is None:
            return 0.0
        bias, weights = found
        z = bias + sum(weights.get(f, 0.0) for f in set(features))
        return float(1.0 / (1.0 + np.exp(-z)))

    @classmethod
    def fit(cls, examples: Iterable[RelationExample], *, min_examples: int = 5, c: float = 1.0) -> TextRelationModel:
        """Fit one logistic regression per relation with positives and negatives (at least ``min_examples`` each)."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        by_relation: dict[str, list[RelationExample]] = {}
        for ex in examples:
            by_relation.setdefault(ex.relation, []).append(ex)
        weights, stats = {}, {}
        for relation, items in sorted(by_relation.items()):
            positives = sum(1 for ex in items if ex.positive)
            if positives < min_examples or len(items) - positives < min_examples:
                continue
            vectorizer = DictVectorizer()
            x = vectorizer.fit_transform([dict.fromkeys(ex.features, 1) for ex in items])
            y = np.array([ex.positive for ex in items])
            clf = LogisticRegression(C=c, max_iter=500)
            clf.fit(x, y)
            names = vectorizer.get_feature_names_out()
            coef = clf.coef_[0]
            kept = {str(n): round(float(w), 4) for n, w in zip(names, coef, strict=True) if abs(w) >= 1e-3}
            weights[relation] = (float(clf.intercept_[0]), kept)
            stats[relation] = {"examples": len(items), "positives": positives}
        return cls(weights, stats)

    def save(self, path: str | Path) -> None:
        data = {"relations": {r: {"bias": b, "weights": w} for r, (b, w) in self._weights.items()}, "stats": self.stats}
        Path(path).write_text(json.dumps(data, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TextRelationModel:
        """Read a model written by :meth:`save`.

        Raises:
            RetrievalError: The file is missing or damaged; the message names it.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            weights = {r: (float(v["bias"]), dict(v["weights"])) for r, v in data["relations"].items()}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RetrievalError(
                f"cannot read the text relation model {path}: {e}; run `kgsearch ingest` again"
            ) from None
        return cls(weights, data.get("stats"))
