"""Distant supervision: label training questions with the relation path that answers them, then fit the lexicon.

For each question–answer pair, the topic entity is grounded (by its ``[marked]`` name when the
data marks it, otherwise by the linker's question mode), every relation path of up to
``max_hops`` hops from it is evaluated on an in-memory copy of the KB's edges, and the path whose
answers best match the gold answers (F1, ties to the path seen most often overall) labels the
question. Questions no path answers with F1 ≥ ``min_f1`` are dropped and counted.

``kgsearch parser train`` rebuilds the lexicon that ships in ``parser/lexicon-movies.json``
from the full movie KB and the dev question sets.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kg.catalogue import EntityCatalogue, normalize
from kg.errors import EntityNotFoundError
from kg.store import TripleStore
from parser.lexicon import RelationLexicon, mask
from parser.schema import KbSchema, Step

_MARKED = re.compile(r"\[([^\]]+)\]")


@dataclass(frozen=True)
class QaPair:
    """A training or test question with its gold answers (labels) and how many hops its answer is away."""

    question: str
    answers: frozenset[str]
    max_hops: int = 3
    qtype: str = ""
    min_hops: int = 1

    @property
    def marked_topic(self) -> tuple[str, tuple[int, int]] | None:
        m = _MARKED.search(self.question)
        return (m.group(1), m.span()) if m else None

    @property
    def plain(self) -> str:
        """The question with the topic marking removed (what a user would type)."""
        return _MARKED.sub(lambda m: m.group(1), self.question)


class KbGraph:
    """The KB's edges in memory, for evaluating thousands of candidate paths quickly."""

    def __init__(self, store: TripleStore, schema: KbSchema):
        props = sorted({s.prop for s in schema.edges})
        self.adj: dict[tuple[str, str, bool], set[str]] = defaultdict(set)
        values = " ".join(f"<{p}>" for p in props)
        for s, p, o in store.query(f"SELECT ?s ?p ?o WHERE {{ VALUES ?p {{ {values} }} ?s ?p ?o }}"):
            self.adj[(s.value, p.value, True)].add(o.value)
            self.adj[(o.value, p.value, False)].add(s.value)

        self._keys: dict[str, list[tuple[str, str, bool]]] = defaultdict(list)
        for key in self.adj:
            self._keys[key[0]].append(key)

    def keys_of(self, node: str) -> list[tuple[str, str, bool]]:
        return self._keys.get(node, [])

    def follow(self, nodes: set[str], step: Step) -> set[str]:
        out: set[str] = set()
        for n in nodes:
            out |= self.adj.get((n, step.prop, step.forward), set())
        return out


def _f1(found: set[str], gold: frozenset[str]) -> float:
    if not found or not gold:
        return 0.0
    hit = len(found & gold)
    return 0.0 if hit == 0 else 2 * hit / (len(found) + len(gold))


def best_paths(
    graph: KbGraph,
    schema: KbSchema,
    norm_of: Callable[[str], str],
    topic: str,
    types: Iterable[str],
    gold: frozenset[str],
    max_hops: int,
    min_hops: int = 1,
    last_steps: set[tuple[str, bool]] | None = None,
) -> tuple[float, list[str]]:
    """The best F1 of any path from ``topic`` and the signatures that reach it.

    A path never comes back through its topic (MetaQA's convention).
    ``last_steps`` restricts the final hop to the (property, direction) pairs that can reach a
    gold answer at all, which prunes most of the search.
    """
    best, sigs = 0.0, []

    def walk(nodes: set[str], types_: set[str], path: list[Step]) -> None:
        nonlocal best, sigs
        options = schema.steps_from(types_)
        for step in {(s.prop, s.forward): s for s in options}.values():
            depth = len(path) + 1
            final_ok = depth >= min_hops and (last_steps is None or (step.prop, step.forward) in last_steps)
            going_on = depth < max_hops and not schema.is_literal(step.target)
            if not (final_ok or going_on):
                continue
            nxt = graph.follow(nodes, step)
            if depth > 1:
                nxt.discard(topic)  # paths never come back through their topic
            if not nxt:
                continue
            here = [*path, step]
            if final_ok:
                answers = nxt
                f1 = _f1({norm_of(a) for a in answers}, gold)
                sig = "|".join(s.key for s in here)
                if f1 > best + 1e-9:
                    best, sigs = f1, [sig]
                elif f1 > 0 and abs(f1 - best) <= 1e-9 and sig not in sigs:
                    sigs.append(sig)
            if going_on:
                targets = {s.target for s in options if (s.prop, s.forward) == (step.prop, step.forward)}
                walk(nxt, targets, here)

    walk({topic}, set(types), [])
    return best, sigs


@dataclass
class Supervision:
    """Labelled questions and what was dropped."""

    questions: list[str]
    labels: list[str]
    dropped: int
    total: int


def label_questions(
    pairs: Iterable[QaPair],
    store: TripleStore,
    catalogue: EntityCatalogue,
    schema: KbSchema,
    *,
    ground: Callable[[str], list[tuple[str, tuple[int, int]]]] | None = None,
    min_f1: float = 0.5,
    progress: Callable[[int], None] | None = None,
) -> Supervision:
    """Label each pair with its best path signature (distant supervision).

    Args:
        ground: For unmarked questions, returns candidate (entity IRI, span) pairs (the linker's
            question mode). Marked questions are grounded by exact name.
    """
    graph = KbGraph(store, schema)
    norms: dict[str, str] = {}
    by_norm: dict[str, set[str]] = defaultdict(set)
    for entity in catalogue.entities():
        norms[entity.iri] = normalize(entity.label)
    for node, _, _ in graph.adj:
        n = norms.setdefault(node, normalize(node))
        by_norm[n].add(node)

    def norm_of(node: str) -> str:
        return norms.get(node) or normalize(node)

    raw: list[tuple[str, list[str]]] = []
    dropped = total = 0
    for i, pair in enumerate(pairs):
        total += 1
        grounded: list[tuple[str, tuple[int, int]]] = []
        marked = pair.marked_topic
        text = pair.question
        if marked is not None:
            name, span = marked
            grounded = [(e.iri, span) for e in catalogue.lookup(name) if normalize(e.label) == normalize(name)]
        elif ground is not None:
            grounded = ground(text)
        gold = frozenset(normalize(a) for a in pair.answers)
        last = {(p, not fwd) for g in gold for node in by_norm.get(g, ()) for (_, p, fwd) in graph.keys_of(node)}
        best, best_sigs, best_span = 0.0, [], None
        for iri, span in grounded:
            try:
                types = catalogue.get(iri).types
            except EntityNotFoundError:
                continue
            f1, sigs = best_paths(graph, schema, norm_of, iri, types, gold, pair.max_hops, pair.min_hops, last)
            if f1 > best + 1e-9:
                best, best_sigs, best_span = f1, sigs, span
        if best < min_f1 or best_span is None:
            dropped += 1
        else:
            raw.append((mask(text, [best_span]), best_sigs))
        if progress is not None and i % 200 == 0:
            progress(i)
    # Ties (a person who both wrote and directed a film) go to the signature seen most often alone.
    prior = Counter(sigs[0] for _, sigs in raw if len(sigs) == 1)
    questions = [q for q, _ in raw]
    labels = [max(sigs, key=lambda s: (prior[s], -len(s))) for _, sigs in raw]
    return Supervision(questions, labels, dropped, total)


def train_lexicon(supervision: Supervision, *, min_count: int = 1) -> RelationLexicon:
    return RelationLexicon.fit(supervision.questions, supervision.labels, min_count=min_count)


def iter_pairs(
    lines: Iterable[str], max_hops: int, qtypes: Iterable[str] | None = None, *, min_hops: int = 1
) -> Iterator[QaPair]:
    """MetaQA lines: ``question TAB answer|answer``."""
    qtypes_it = iter(qtypes) if qtypes is not None else None
    for line in lines:
        if not line.strip():
            continue
        question, _, answers = line.rstrip("\n").partition("\t")
        qtype = next(qtypes_it, "").strip() if qtypes_it is not None else ""
        yield QaPair(question.strip(), frozenset(a for a in answers.split("|") if a), max_hops, qtype, min_hops)


def read_wikimovies(lines: Iterable[str]) -> Iterator[QaPair]:
    """WikiMovies lines: ``1 question TAB answer, answer`` (1-hop, topic not marked)."""
    for line in lines:
        if not line.strip():
            continue
        question, _, answers = line.rstrip("\n").partition("\t")
        question = question.split(" ", 1)[1] if question[:1].isdigit() else question
        yield QaPair(question.strip(), frozenset(a.strip() for a in answers.split(", ") if a.strip()), 1)


def training_pairs(shared: Path) -> dict[str, list[QaPair]]:
    """The dev question sets the movie lexicon is learned from (test sets are never read)."""
    metaqa, wiki = shared / "metaqa", shared / "wikimovies" / "questions" / "wiki_entities"
    out = {}
    for hops in (1, 2, 3):
        with open(metaqa / f"{hops}-hop" / "vanilla" / "qa_dev.txt", encoding="utf-8") as f:
            out[f"metaqa-{hops}hop-dev"] = list(iter_pairs(f, hops, min_hops=hops))
    with open(metaqa / "1-hop" / "ntm" / "qa_dev.txt", encoding="utf-8") as f:
        out["metaqa-ntm-dev"] = list(iter_pairs(f, 1, min_hops=1))
    with open(wiki / "wiki-entities_qa_dev.txt", encoding="utf-8") as f:
        out["wikimovies-dev"] = list(read_wikimovies(f))
    return out


def fit_lexicon(
    store: TripleStore,
    catalogue: EntityCatalogue,
    linker,
    shared: Path,
    out: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """Label the dev question sets by distant supervision, fit the lexicon, write it to ``out``.

    ``progress(done, total)`` is called as questions are labelled (minutes on the full movie KB).
    """
    import time

    schema = KbSchema.from_store(store)

    def ground(question: str) -> list[tuple[str, tuple[int, int]]]:
        return [(link.entity_iri, link.mention.span) for link in linker.topic_entities(question, limit=5)]

    pairs = [p for ps in training_pairs(shared).values() for p in ps]
    t0 = time.time()
    report = (lambda i: progress(i, len(pairs))) if progress is not None else None
    sup = label_questions(pairs, store, catalogue, schema, ground=ground, progress=report)
    lexicon = train_lexicon(sup, min_count=2)
    lexicon.save(out)
    return {
        "questions": sup.total,
        "labelled": len(sup.labels),
        "dropped": sup.dropped,
        "signatures": len(lexicon.classes),
        "features": len(lexicon.vocabulary),
        "seconds": round(time.time() - t0, 1),
    }
