"""What flows through retrieval: indexed documents in, hits and answers with evidence out.

Frozen, never mutated (DESIGN.md, "What flows").

>>> doc = IndexedDocument("d1", "Rebecca (1940 film)", "Rebecca is a 1940 film directed by Alfred Hitchcock.",
...                       entities=("http://kgsearch.org/movies/person/Alfred_Hitchcock",))
>>> hit = Hit("text", "d1", 7.1, 1, snippet="a 1940 film <b>directed</b> by Alfred Hitchcock")
>>> ev = Evidence.from_hit(hit)
>>> answer = Answer("http://kgsearch.org/movies/person/Alfred_Hitchcock", 0.016, (ev,), label="Alfred Hitchcock")
>>> answer.as_json()["evidence"][0]["source"], answer.key
('text', 'http://kgsearch.org/movies/person/Alfred_Hitchcock')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: The sources an answer's evidence can come from.
SOURCES = ("kb", "text", "vector")


@dataclass(frozen=True)
class IndexedDocument:
    """A document as the indexes hold it: text plus the ids of the entities linked in it.

    Attributes:
        id: Stable document id, unique within the index; adding an existing id replaces it.
        title: Title (may be empty).
        text: Body text.
        modality: ``text``, ``image`` or ``audio`` (images and audio are indexed by their OCR or transcript).
        entities: IRIs of the KB entities linked in the document (Broccoli/QLever style).
        metadata: Anything else (source, url, year, content hash); read-only, stored, not searched.
    """

    id: str
    title: str
    text: str
    modality: str = "text"
    entities: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entities", tuple(self.entities))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))


@dataclass(frozen=True)
class Hit:
    """One result of one index: a document (or passage) id, its score and 1-based rank.

    ``source`` is ``text`` or ``vector``; ``snippet`` is highlighted text (``<b>`` around matched
    terms) when the index can make one.
    """

    source: str
    ref: str
    score: float
    rank: int
    snippet: str = ""


@dataclass(frozen=True)
class Evidence:
    """Why an answer is there: which source said so, about which document or query, how strongly.

    ``ref`` is a document id for text and vector evidence and the SPARQL query text for KB evidence.
    """

    source: str
    ref: str
    snippet: str
    score: float
    rank: int

    @classmethod
    def from_hit(cls, hit: Hit) -> Evidence:
        return cls(hit.source, hit.ref, hit.snippet, hit.score, hit.rank)

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "ref": self.ref, "snippet": self.snippet, "score": self.score, "rank": self.rank}


@dataclass(frozen=True)
class Answer:
    """A fused answer: an entity IRI or a literal value, its fused score, and evidence from every source.

    Exactly one of ``entity_iri`` and ``literal`` is set.
    """

    entity_iri: str | None
    score: float
    evidence: tuple[Evidence, ...] = ()
    label: str = ""
    literal: str | None = None

    def __post_init__(self) -> None:
        if (self.entity_iri is None) == (self.literal is None):
            raise ValueError("an Answer has exactly one of entity_iri and literal")
        object.__setattr__(self, "evidence", tuple(self.evidence))

    @property
    def key(self) -> str:
        """The entity IRI, or the literal's lexical form."""
        return self.entity_iri if self.entity_iri is not None else str(self.literal)

    def as_json(self) -> dict[str, Any]:
        return {
            "iri": self.entity_iri,
            "literal": self.literal,
            "label": self.label or self.key,
            "score": self.score,
            "evidence": [e.as_json() for e in self.evidence],
        }
