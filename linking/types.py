"""What flows through linking: documents in, links out. Frozen, never mutated.

>>> doc = Document("d1", text="Rebecca is a 1940 film directed by Alfred Hitchcock.")
>>> m = Mention("d1", "Alfred Hitchcock", span=(35, 51))
>>> doc.text[m.span[0]:m.span[1]]
'Alfred Hitchcock'
>>> link = Link(m, "http://kgsearch.org/movies/person/Alfred_Hitchcock", 0.97, "alias:exact")
>>> link.is_nil, link.as_json()["start"]
(False, 35)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from linking.errors import LinkingError

MODALITIES = ("text", "image", "audio")


@dataclass(frozen=True)
class Document:
    """A unit of input: text, or the path of an image or audio file.

    Attributes:
        id: Stable identifier, unique within a collection.
        text: The text (for ``modality == "text"``).
        path: The file (for images and audio).
        modality: ``text``, ``image`` or ``audio``.
        metadata: Anything else (title, source, url); read-only.
    """

    id: str
    text: str | None = None
    path: Path | None = None
    modality: str = "text"
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise LinkingError(f"document {self.id!r}: unknown modality {self.modality!r}; use one of {MODALITIES}")
        if self.modality == "text" and self.text is None:
            raise LinkingError(f"document {self.id!r}: a text document needs text")
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))


@dataclass(frozen=True)
class Mention:
    """Where something that may name an entity was found.

    Exactly one location is set, matching the modality: a character span ``[start, end)`` of
    the text, a pixel box ``(left, top, right, bottom)`` of an image, or a time span in seconds.
    """

    doc_id: str
    surface: str
    span: tuple[int, int] | None = None
    bbox: tuple[float, float, float, float] | None = None
    time_span: tuple[float, float] | None = None
    modality: str = "text"


@dataclass(frozen=True)
class Link:
    """A mention grounded to an entity, or to nothing (NIL).

    Attributes:
        mention: What was linked.
        entity_iri: The entity, or ``None`` for NIL (a mention of something the KB lacks).
        score: Calibrated confidence in [0, 1] that ``entity_iri`` is right.
        method: How the link was made, e.g. ``alias:exact``, ``alias:fuzzy``, ``ner:nil``.
        label: The entity's label, for display.
        alternatives: Other candidates as ``(iri, score)``, best first.
    """

    mention: Mention
    entity_iri: str | None
    score: float
    method: str
    label: str | None = None
    alternatives: tuple[tuple[str, float], ...] = ()

    @property
    def is_nil(self) -> bool:
        return self.entity_iri is None

    def as_json(self) -> dict:
        """The JSON shape the CLI and API print: surface, start, end, iri, label, score, method."""
        start, end = self.mention.span if self.mention.span else (None, None)
        out = {
            "surface": self.mention.surface,
            "start": start,
            "end": end,
            "iri": self.entity_iri,
            "label": self.label,
            "score": round(self.score, 4),
            "method": self.method,
        }
        if self.mention.bbox is not None:
            out["bbox"] = [round(v, 1) for v in self.mention.bbox]
        if self.mention.time_span is not None:
            out["time_span"] = [round(v, 3) for v in self.mention.time_span]
        return out


@dataclass(frozen=True)
class Reading:
    """What a media linker got from an image or audio file: the text it read there (OCR words,
    a speech transcript; empty for faces and objects), its links, and facts about the reading
    (model, language, duration, image size) for provenance.

    Text links keep their character ``span`` in ``text`` and add the ``bbox`` or ``time_span``
    the words came from, so the text index, SPARQL+Text and the console can all show them.
    """

    text: str
    links: tuple[Link, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
