"""The silver set: Wikipedia leads of KB films with gold mentions of the film and its people.

>>> film, hitch = "http://ex/film/Rebecca", "http://ex/person/Alfred_Hitchcock"
>>> text = "Rebecca is a 1940 film directed by Alfred Hitchcock. Hitchcock's Rebecca."
>>> gold, ignored = gold_mentions(text, [("Rebecca", film), ("Alfred Hitchcock", hitch), ("Hitchcock", hitch)])
>>> [(g.surface, g.span, g.kind) for g in gold]
[('Rebecca', (0, 7), 'film'), ('Alfred Hitchcock', (35, 51), 'person'), ('Hitchcock', (53, 62), 'person'), ('Rebecca', (65, 72), 'film')]
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kg.datasets._iri import movie_iri
from kg.errors import InputFileError
from kg.namespaces import MOVIES
from kg.store import TripleStore
from linking.errors import LinkingError
from linking.evaluation._common import split_of
from linking.types import Document

WIKI_SOURCE = "wiki_intro_prust"
DOCS_FILE = Path("movie-text") / "docs.jsonl"
DOCS_MAP_FILE = Path("movie-text") / "kb_movie_to_docs.tsv"
#: Which KB relations make a person's name a gold mention in a film's lead.
PERSON_RELATIONS = (MOVIES.directedBy, MOVIES.writtenBy, MOVIES.starredActors)
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


def read_documents(path: Path, *, source: str | None = WIKI_SOURCE) -> list[Document]:
    """Documents of ``docs.jsonl`` (``doc_id``, ``source``, ``title``, ``year``, ``text``, ``url``), in file order.

    Args:
        path: The JSON Lines file.
        source: Keep only documents from this source; all when ``None``.

    Raises:
        InputFileError: The file is missing.
        LinkingError: A line is not a JSON object with ``doc_id`` and ``text``.
    """
    if not Path(path).is_file():
        raise InputFileError(f"{path}: no such file; it is movie-text/docs.jsonl in ../shared/data")
    docs = []
    with Path(path).open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                if source is None or row["source"] == source:
                    meta = {k: row.get(k) for k in ("title", "year", "url", "source")}
                    docs.append(Document(row["doc_id"], text=row["text"], metadata=meta))
            except (ValueError, KeyError, TypeError) as e:
                raise LinkingError(f"{path}, line {lineno}: not a document record ({e!r})") from None
    return docs


@dataclass(frozen=True)
class GoldMention:
    """A span of a lead that names a KB entity for sure: the film itself (``kind == "film"``) or one of its people."""

    span: tuple[int, int]
    surface: str
    entity_iri: str
    kind: str


@dataclass(frozen=True)
class SilverDoc:
    """A lead with its gold mentions (by position) and the ambiguous spans the metrics ignore."""

    document: Document
    film_iri: str
    gold: tuple[GoldMention, ...]
    ignored: tuple[tuple[int, int], ...] = ()

    @property
    def split(self) -> str:
        return split_of(self.document.id)


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two ``[start, end)`` spans share a character."""
    return a[0] < b[1] and b[0] < a[1]


def gold_mentions(
    text: str, names: Iterable[tuple[str, str]]
) -> tuple[tuple[GoldMention, ...], tuple[tuple[int, int], ...]]:
    """Find the gold mentions of ``names`` (``(name, IRI)`` pairs) in ``text``.

    Every case-sensitive occurrence not inside a longer word counts. Overlapping
    occurrences keep the longest (then the leftmost); a span that two IRIs claim is
    returned as ignored. The kind is ``film`` for IRIs under ``/film/`` and ``person`` otherwise.

    Returns:
        The gold mentions and the ignored spans, both in text order.
    """
    claims: defaultdict[tuple[int, int], set[str]] = defaultdict(set)
    for name, iri in names:
        for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text):
            claims[m.span()].add(iri)
    kept: list[tuple[int, int]] = []
    for span in sorted(claims, key=lambda s: (s[0] - s[1], s[0])):
        if not any(overlaps(span, k) for k in kept):
            kept.append(span)
    gold, ignored = [], []
    for span in sorted(kept):
        if len(claims[span]) > 1:
            ignored.append(span)
            continue
        iri = next(iter(claims[span]))
        kind = "film" if "/film/" in iri else "person"
        gold.append(GoldMention(span, text[span[0] : span[1]], iri, kind))
    return tuple(gold), tuple(ignored)


def _film_people(store: TripleStore) -> dict[str, dict[str, str]]:
    """Film IRI -> {person name: person IRI} for the directors, writers and actors in the store."""
    relations = " ".join(f"<{r}>" for r in PERSON_RELATIONS)
    rows = store.query(
        f"SELECT ?film ?person ?name WHERE {{ VALUES ?rel {{ {relations} }} "
        f"?film ?rel ?person . ?person <{RDFS_LABEL}> ?name }}"
    )
    people: defaultdict[str, dict[str, str]] = defaultdict(dict)
    for film, person, name in rows:
        people[film.value][name.value] = person.value
    return people


def _films_in(store: TripleStore) -> set[str]:
    return {row[0].value for row in store.query(f"SELECT ?f WHERE {{ ?f a <{MOVIES.Film}> }}")}


def build_silver_set(shared_data: Path, store: TripleStore, *, doc_ids: Iterable[str] | None = None) -> list[SilverDoc]:
    """The silver set: every Wikipedia lead mapped to exactly one film of ``store``, with its gold mentions.

    Leads that the map assigns to two KB films are left out (their gold would be ambiguous),
    and so are films the store lacks, so a store holding part of the KB gives a smaller set.

    Args:
        shared_data: The benchmark data folder (``../shared/data``).
        store: A store holding the movie KB; IRIs and names are read from it.
        doc_ids: Keep only these leads (for tests and quick looks).

    Raises:
        InputFileError: ``docs.jsonl`` or ``kb_movie_to_docs.tsv`` is missing.
    """
    map_path = Path(shared_data) / DOCS_MAP_FILE
    if not map_path.is_file():
        raise InputFileError(f"{map_path}: no such file; it is movie-text/kb_movie_to_docs.tsv in ../shared/data")
    films_of: defaultdict[str, set[str]] = defaultdict(set)
    with map_path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["source"] == WIKI_SOURCE:
                films_of[row["doc_id"]].add(row["kb_movie"])
    wanted = set(doc_ids) if doc_ids is not None else None
    known = _films_in(store)
    people = _film_people(store)
    silver = []
    for doc in read_documents(Path(shared_data) / DOCS_FILE):
        films = films_of.get(doc.id, set())
        if len(films) != 1 or (wanted is not None and doc.id not in wanted):
            continue
        title = next(iter(films))
        film_iri = movie_iri("film", title)
        if film_iri not in known:
            continue
        names = [(title, film_iri), *people.get(film_iri, {}).items()]
        gold, ignored = gold_mentions(doc.text, names)
        silver.append(SilverDoc(doc, film_iri, gold, ignored))
    return silver
