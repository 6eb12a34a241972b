"""The incomplete-KB evaluation (in the spirit of GRAFT-Net, Sun et al. 2018): answers the KB lost, read from text.

MetaQA 1-hop questions about a film (``movie_to_director``, ``movie_to_year``, ...) whose film
has a Wikipedia lead in the movie corpus (``movie-text``, source ``wiki_intro_prust``). Two
settings of the KB:

- **answering facts deleted**: every fact ``film relation answer`` that answers one of these
  questions is removed, so the KB cannot answer any of them;
- **50% of facts deleted**: a random half (seeded) of all relation facts is removed.

The corpus is then ingested into that KB (so the text relation model learns only from the facts
left), and each question is answered by the KB alone, the text alone, and the fused hybrid.
Hits@1 is reported over all these questions and over those whose answer appears in the lead
(the target set: an answer that is not in the text cannot be read from it).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from kg.catalogue import normalize
from kg.datasets._iri import movie_iri
from kg.datasets.movies import RELATIONS
from kg.store import TripleStore
from parser.errors import CannotParseError
from parser.train import QaPair, iter_pairs

#: MetaQA question types about a film, and the MetaQA relation each asks for.
FILM_QTYPES = {
    "movie_to_director": "directed_by",
    "movie_to_writer": "written_by",
    "movie_to_actor": "starred_actors",
    "movie_to_genre": "has_genre",
    "movie_to_language": "in_language",
    "movie_to_tags": "has_tags",
    "movie_to_year": "release_year",
}

#: The corpus source that holds Wikipedia leads.
LEAD_SOURCE = "wiki_intro_prust"

_KIND = {"person": "person", "genre": "genre", "language": "language", "tag": "tag"}
_MARKED = re.compile(r"\[([^\]]+)\]")


@dataclass(frozen=True)
class LeadQuestion:
    """A 1-hop question about a film with a lead; ``in_text`` when a gold answer occurs in the lead."""

    pair: QaPair
    film: str
    relation: str
    in_text: bool


def lead_questions(shared: Path, split: str = "test", *, limit: int | None = None) -> list[LeadQuestion]:
    """The MetaQA 1-hop questions of ``split`` about films that have a Wikipedia lead."""
    leads = _leads(shared)
    base = shared / "metaqa" / "1-hop"
    qtypes = (base / f"qa_{split}_qtype.txt").read_text(encoding="utf-8").splitlines()
    with open(base / "vanilla" / f"qa_{split}.txt", encoding="utf-8") as f:
        pairs = list(iter_pairs(f, 1, qtypes))
    out = []
    for pair in pairs:
        relation = FILM_QTYPES.get(pair.qtype)
        marked = _MARKED.search(pair.question)
        if relation is None or marked is None or marked.group(1) not in leads:
            continue
        film = marked.group(1)
        text = leads[film].casefold()
        in_text = any(re.search(r"(?<!\w)" + re.escape(a.casefold()) + r"(?!\w)", text) for a in pair.answers)
        out.append(LeadQuestion(pair, film, relation, in_text))
    if limit is not None and limit < len(out):
        step = len(out) / limit
        out = [out[int(i * step)] for i in range(limit)]
    return out


def _leads(shared: Path) -> dict[str, str]:
    """KB film name -> the text of its Wikipedia lead(s)."""
    docs_of: dict[str, list[str]] = {}
    with open(shared / "movie-text" / "kb_movie_to_docs.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            film, doc_id, source, *_ = line.rstrip("\n").split("\t")
            if source == LEAD_SOURCE:
                docs_of.setdefault(film, []).append(doc_id)
    wanted = {d for ids in docs_of.values() for d in ids}
    texts: dict[str, str] = {}
    with open(shared / "movie-text" / "docs.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if doc["doc_id"] in wanted:
                texts[doc["doc_id"]] = doc["text"]
    return {film: "\n".join(texts[d] for d in ids if d in texts) for film, ids in docs_of.items()}


def answering_facts(questions: Sequence[LeadQuestion]) -> list[ox.Triple]:
    """The facts ``film relation answer`` that answer the questions."""
    facts = []
    for q in questions:
        predicate, kind = RELATIONS[q.relation]
        film = ox.NamedNode(movie_iri("film", q.film))
        for answer in q.pair.answers:
            if kind == "year":
                obj: ox.NamedNode | ox.Literal = ox.Literal(answer, datatype=ox.NamedNode(_XSD_INTEGER))
            else:
                obj = ox.NamedNode(movie_iri(_KIND[kind], answer))
            facts.append(ox.Triple(film, ox.NamedNode(predicate), obj))
    return facts


_XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"


def delete_facts(store: TripleStore, facts: Sequence[ox.Triple], *, batch: int = 2000) -> int:
    """Delete these triples from the default graph; returns how many were there."""
    before = store.count()
    for start in range(0, len(facts), batch):
        chunk = facts[start : start + batch]
        body = " ".join(f"{t.subject} {t.predicate} {t.object} ." for t in chunk)
        store.update(f"DELETE DATA {{ {body} }}")
    return before - store.count()


def delete_random_facts(store: TripleStore, fraction: float, *, seed: int = 13) -> int:
    """Delete a random ``fraction`` of the relation facts (every MetaQA relation; labels and types stay)."""
    rng = random.Random(seed)
    doomed = []
    for predicate, _ in RELATIONS.values():
        rows = store.query(f"SELECT ?s ?o WHERE {{ ?s <{predicate}> ?o }} ORDER BY ?s ?o")
        for s, o in rows:
            if rng.random() < fraction:
                doomed.append(ox.Triple(s, ox.NamedNode(predicate), o))
    return delete_facts(store, doomed)


@dataclass
class SourceScores:
    """Hits@1 counts per answering source, over all questions and over those with the answer in the text."""

    questions: int = 0
    in_text: int = 0
    hits: dict[str, int] = field(default_factory=lambda: {"kb": 0, "text": 0, "hybrid": 0})
    hits_in_text: dict[str, int] = field(default_factory=lambda: {"kb": 0, "text": 0, "hybrid": 0})
    by_relation: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    def as_json(self) -> dict:
        def pct(n: int, d: int) -> float:
            return round(100.0 * n / d, 2) if d else 0.0

        return {
            "questions": self.questions,
            "answer_in_text": self.in_text,
            "hits_at_1": {s: pct(n, self.questions) for s, n in self.hits.items()},
            "hits_at_1_answer_in_text": {s: pct(n, self.in_text) for s, n in self.hits_in_text.items()},
            "by_relation_answer_in_text": {
                r: {s: pct(h, n) for s, (h, n) in v.items()} for r, v in sorted(self.by_relation.items())
            },
        }


def evaluate(searcher, questions: Sequence[LeadQuestion], progress: Callable[[], None] | None = None) -> SourceScores:
    """Hits@1 of the KB alone, the text alone and the hybrid on each question (topic marking removed)."""
    scores = SourceScores()
    for q in questions:
        started = time.perf_counter()
        try:
            sources = searcher.sources(q.pair.plain)
            tops = {
                "kb": searcher.fuse(sources, limit=1, only=["kb"]),
                "text": searcher.fuse(sources, limit=1, only=["text"]),
                "hybrid": searcher.fuse(sources, limit=1),
            }
        except CannotParseError:
            tops = {"kb": [], "text": [], "hybrid": []}
        scores.latencies_ms.append(1000 * (time.perf_counter() - started))
        gold = {normalize(a) for a in q.pair.answers}
        scores.questions += 1
        scores.in_text += q.in_text
        for source, top in tops.items():
            hit = bool(top) and normalize(top[0].label or top[0].key) in gold
            scores.hits[source] += hit
            if q.in_text:
                scores.hits_in_text[source] += hit
                counts = scores.by_relation.setdefault(q.relation, {}).setdefault(source, [0, 0])
                counts[0] += hit
                counts[1] += 1
        if progress is not None:
            progress()
    return scores
