"""Hybrid search and question answering: KB answers, text answers and vector hits, fused with evidence.

``question -> parser -> ParsedQuery -> {KB answers, text answers, vector hits} -> HybridScorer``
(DESIGN.md, "Ask"). The three sources:

- **kb**: the parser's SPARQL on the store; its evidence is the query.
- **text**: for a one-hop question (``topic relation ?x``), the mentions that the
  :class:`~retrieval.relations.TextRelationModel` reads as stating that relation, in documents
  about the topic (or about the answer, for inverse questions); otherwise the entities linked in
  the best BM25 documents. Its evidence is the sentence, with the mention in ``<b>…</b>``. This is
  what still answers when the KB lacks the fact.
- **vector**: the documents nearest to the question's embedding; their subjects (and, for
  document search, the documents themselves).

:func:`fit_text_relations` trains the relation model from the KB's own facts and the ingested
mention contexts (distant supervision); ingestion calls it, and the model is kept in the home.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.catalogue import EntityCatalogue
from kg.store import TripleStore
from parser.errors import CannotParseError
from parser.schema import LITERAL_PREFIX, ORDERED_DATATYPES, KbSchema, Step
from parser.types import ParsedQuery
from retrieval.fusion import Candidate, HybridScorer
from retrieval.relations import YEAR, MentionContext, RelationExample, TextRelationModel
from retrieval.text_index import TextIndex
from retrieval.types import Answer, Evidence, Hit, IndexedDocument
from retrieval.vector_index import VectorIndex

#: Default weights for fusing answers to questions: the KB's reading (scaled by the parser's
#: confidence) ahead of text, text ahead of vector hits.
ASK_WEIGHTS = {"kb": 2.0, "text": 1.0, "vector": 0.5}

#: How answers are fused: ``norm`` (min-max normalized scores, weighted) keeps the margins of the
#: text relation model's probabilities, which reciprocal ranks flatten (measured on the MetaQA dev
#: questions of the incomplete-KB evaluation, see bench/retrieval.py).
ASK_METHOD = "norm"

#: Documents each source contributes to a search or a question.
TOP_DOCUMENTS = 50

#: Text answers kept per question.
TOP_TEXT_ANSWERS = 20


@dataclass(frozen=True)
class HybridAnswers:
    """A question's reading (``None`` when no KB entity was found) and its fused answers."""

    question: str
    parsed: ParsedQuery | None
    answers: list[Answer]
    timings: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = self.parsed.as_json() if self.parsed else {"question": self.question, "sparql": None}
        out["answers"] = [a.as_json() for a in self.answers]
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class AnswerSources:
    """What each source answers to a question, before fusion.

    ``best`` is the parser's best reading (whether or not the KB answers it), ``kb_reading`` the
    one whose SPARQL gave the KB answers (the best one the KB answers, else ``best``).
    """

    best: ParsedQuery | None
    kb_reading: ParsedQuery | None
    rankings: dict[str, list[Candidate]]
    timings: dict[str, float]
    text_is_read: bool = False


@dataclass(frozen=True)
class DocumentResult:
    """A document found by a search, with its fused score and evidence from each index."""

    id: str
    title: str
    score: float
    evidence: tuple[Evidence, ...]
    snippet: str = ""
    entities: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "score": self.score,
            "snippet": self.snippet,
            "entities": list(self.entities),
            "evidence": [e.as_json() for e in self.evidence],
        }


@dataclass(frozen=True)
class SearchResults:
    """Documents and the entities they are about or mention, each with evidence."""

    query: str
    documents: list[DocumentResult]
    entities: list[Answer]

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "documents": [d.as_json() for d in self.documents],
            "entities": [e.as_json() for e in self.entities],
        }


class HybridSearcher:
    """Search and ask over one KB plus its ingested documents.

    Args:
        store, catalogue: The KB.
        text_index: Full text with linked entity ids.
        contexts: Reads stored mention contexts (``ledger.contexts``).
        parser: The semantic parser (for :meth:`ask`).
        vector_index, embedder: Optional dense retrieval.
        relations: The text relation model (``None``: text answers come from BM25 hits only).
        document_scorer: Fuses BM25 and vector hits for :meth:`search` (default RRF).
        answer_scorer: Fuses kb, text and vector answers for :meth:`ask`.
    """

    def __init__(
        self,
        *,
        store: TripleStore,
        catalogue: EntityCatalogue,
        text_index: TextIndex,
        contexts: Callable[..., list[MentionContext]],
        parser: Any = None,
        vector_index: VectorIndex | None = None,
        embedder: Any = None,
        relations: TextRelationModel | None = None,
        document_scorer: HybridScorer | None = None,
        answer_scorer: HybridScorer | None = None,
    ):
        self.store = store
        self.catalogue = catalogue
        self.text_index = text_index
        self.contexts = contexts
        self.parser = parser
        self.vector_index = vector_index
        self.embedder = embedder
        self.relations = relations
        self.document_scorer = document_scorer or HybridScorer()
        self.answer_scorer = answer_scorer or HybridScorer(ASK_WEIGHTS, method=ASK_METHOD)

    # -- search ------------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 10, entities: Sequence[str] = ()) -> SearchResults:
        """Documents for a keyword query (BM25 and vectors fused), and the entities they are about or mention."""
        text_hits = self.text_index.search(query, limit=TOP_DOCUMENTS, entities=entities)
        vector_hits = self._vector_hits(query, entities)
        rankings = {"text": _doc_candidates(text_hits)}
        if vector_hits:
            rankings["vector"] = _doc_candidates(vector_hits)
        fused = self.document_scorer.fuse(rankings, limit=max(limit, 1) * 2)
        docs: list[DocumentResult] = []
        snippets = {h.ref: h.snippet for h in text_hits}
        for answer in fused:
            doc = self.text_index.get(answer.key)
            if doc is None:  # a vector whose document is not (yet) in the text index
                continue
            snippet = snippets.get(doc.id) or lead_snippet(doc.text)
            docs.append(DocumentResult(doc.id, doc.title, answer.score, answer.evidence, snippet, doc.entities))
            if len(docs) >= limit:
                break
        return SearchResults(query, docs, self._entities_of(docs, limit=limit))

    def _vector_hits(self, query: str, entities: Sequence[str] = ()) -> list[Hit]:
        if self.vector_index is None or self.embedder is None or not query.strip():
            return []
        vector = self.embedder.embed([query])[0]
        hits = self.vector_index.search(vector, limit=TOP_DOCUMENTS)
        if entities:
            keep = {
                h.ref for h in self.text_index.search("", entities=entities, ids=[h.ref for h in hits], limit=len(hits))
            }
            hits = [h for h in hits if h.ref in keep]
        return hits

    def _entities_of(self, docs: Sequence[DocumentResult], *, limit: int) -> list[Answer]:
        """Entities ranked by the documents that mention them (the better the document, the more it counts)."""
        candidates = []
        for rank, doc in enumerate(docs, start=1):
            for iri in doc.entities:
                candidates.append(Candidate(iri, Evidence("text", doc.id, doc.snippet, doc.score, rank)))
        scores: dict[str, float] = {}
        for c in candidates:
            scores[c.key] = scores.get(c.key, 0.0) + 1.0 / (60 + c.evidence.rank)
        known = self.catalogue.get_many(scores)
        order = sorted(scores, key=lambda k: (-scores[k], k))[:limit]
        out = []
        for key in order:
            evidence = tuple(c.evidence for c in candidates if c.key == key)[:3]
            out.append(Answer(key, scores[key], evidence, label=known[key].label if key in known else key))
        return out

    # -- ask ---------------------------------------------------------------------------------

    def ask(self, question: str, *, limit: int = 10) -> HybridAnswers:
        """Answer a question from the KB, the text and the vectors, fused; every answer carries its evidence.

        A question without any KB entity is answered from the documents alone.

        Raises:
            CannotParseError: The question is empty or too long, or it names no KB entity and
                there are no documents.
        """
        sources = self.sources(question)
        t = time.perf_counter()
        answers = self.fuse(sources, limit=limit)
        sources.timings["fuse"] = time.perf_counter() - t
        note = ""
        if sources.best is None:
            note = "no KB entity was found in the question: answers come from the documents only"
        elif not sources.rankings.get("kb"):
            note = "the KB has no answer to this reading; answers come from the documents"
        elif sources.kb_reading is not sources.best:
            note = "the KB has no answer to the best reading; answers come from the documents and a less likely reading"
        return HybridAnswers(question, sources.kb_reading, answers, sources.timings, note)

    def sources(self, question: str) -> AnswerSources:
        """Each source's ranked answers to a question, before fusion (for :meth:`ask` and evaluations)."""
        timings: dict[str, float] = {}
        t = time.perf_counter()
        try:
            best, answered = self.parser.readings(question)
        except CannotParseError as e:
            if "no KB entity" not in e.reason or self.text_index.count() == 0:
                raise
            best = answered = None
        timings["parse"] = time.perf_counter() - t
        rankings: dict[str, list[Candidate]] = {}
        t = time.perf_counter()
        kb_reading = answered or best
        if kb_reading is not None:
            rankings["kb"] = self._kb_candidates(kb_reading)
        timings["kb"] = time.perf_counter() - t
        t = time.perf_counter()
        answer_types = self._answer_types(best)
        text = self._relation_candidates(best) if best is not None else None
        text_is_read = text is not None
        if text is None:
            text = self._document_candidates(question, best, answer_types)
        rankings["text"] = text
        timings["text"] = time.perf_counter() - t
        t = time.perf_counter()
        if best is None or best.graph is None or not best.graph.count:
            rankings["vector"] = self._vector_candidates(question, best, answer_types)
        timings["vector"] = time.perf_counter() - t
        return AnswerSources(best, kb_reading, rankings, timings, text_is_read)

    def fuse(self, sources: AnswerSources, *, limit: int = 10, only: Sequence[str] | None = None) -> list[Answer]:
        """Fuse the sources' answers (``only`` some of them), the KB's weight scaled by the reading's confidence."""
        weights = dict(self.answer_scorer.weights)
        if sources.kb_reading is not None:
            weights["kb"] = self.answer_scorer.weight("kb") * sources.kb_reading.confidence
        if sources.text_is_read and sources.rankings.get("text"):
            # Relation-read answers carry calibrated probabilities: weigh the source by its best one,
            # as the KB is weighed by the parser's confidence (min-max would lift a weak list to 1).
            weights["text"] = self.answer_scorer.weight("text") * sources.rankings["text"][0].evidence.score
        scorer = HybridScorer(weights, method=self.answer_scorer.method, k=self.answer_scorer.k)
        picked = {s: c for s, c in sources.rankings.items() if c and (only is None or s in only)}
        return scorer.fuse(picked, limit=limit)

    def _kb_candidates(self, parsed: ParsedQuery) -> list[Candidate]:
        """The KB's answers; all share rank 1 (a SPARQL result is a set), except ordered queries."""
        graph = parsed.graph
        ordered = graph is not None and (graph.superlative is not None or graph.most is not None)
        out = []
        for position, (value, label, is_iri) in enumerate(self.parser.execute(parsed, limit=1000), start=1):
            rank = position if ordered else 1
            ev = Evidence("kb", parsed.sparql, "", parsed.confidence, rank)
            out.append(Candidate(value, ev, label, literal=not is_iri))
        return out

    def _answer_types(self, parsed: ParsedQuery | None) -> set[str] | None:
        """Classes an answer may have (with subclasses), or ``None`` when anything goes."""
        if parsed is None or parsed.graph is None:
            return None
        graph = parsed.graph
        schema = self.parser.schema
        if graph.answer_class:
            return schema.subclasses_or_self(graph.answer_class)
        targets = {path[-1].target for path in graph.paths}
        if len(targets) == 1:
            (target,) = targets
            if not schema.is_literal(target):
                return schema.subclasses_or_self(target)
        return None

    def _relation_candidates(self, parsed: ParsedQuery) -> list[Candidate] | None:
        """Text answers for a one-hop, one-topic question from the relation model; ``None`` if it does not apply."""
        graph = parsed.graph
        if self.relations is None or graph is None or len(graph.paths) != 1 or len(graph.paths[0]) != 1:
            return None
        if graph.count or graph.superlative or graph.most or graph.filters:
            return None
        (topic,), (step,) = graph.topics, graph.paths[0]
        reader = TextAnswerReader(self.relations, self.contexts, self.catalogue, self.parser.schema)
        found = reader.answers(topic, step, self._answer_types(parsed))
        return self._with_snippets(found)

    def _with_snippets(self, found: list[tuple[str, bool, float, MentionContext]]) -> list[Candidate]:
        out = []
        labels = self.catalogue.get_many([key for key, literal, _, _ in found if not literal])
        for rank, (key, literal, score, ctx) in enumerate(found[:TOP_TEXT_ANSWERS], start=1):
            doc = self.text_index.get(ctx.doc_id)
            snippet = sentence_snippet(doc, ctx) if doc is not None else ""
            label = key if literal else (labels[key].label if key in labels else key)
            out.append(Candidate(key, Evidence("text", ctx.doc_id, snippet, round(score, 4), rank), label, literal))
        return out

    def _document_candidates(
        self, question: str, parsed: ParsedQuery | None, types: set[str] | None
    ) -> list[Candidate]:
        """Entities linked in the best BM25 documents for the question's words (of the answer type)."""
        words = " ".join(parsed.keywords) if parsed is not None and parsed.keywords else question
        topics = [link.entity_iri for link in parsed.entities] if parsed is not None else []
        hits = self.text_index.search(words, limit=TOP_DOCUMENTS, entities=topics[:1])
        return self._entities_in(hits, exclude=set(topics), types=types)

    def _vector_candidates(self, question: str, parsed: ParsedQuery | None, types: set[str] | None) -> list[Candidate]:
        topics = [link.entity_iri for link in parsed.entities] if parsed is not None else []
        return self._entities_in(self._vector_hits(question), exclude=set(topics), types=types, subjects_only=True)

    def _entities_in(
        self, hits: Sequence[Hit], *, exclude: set[str], types: set[str] | None, subjects_only: bool = False
    ) -> list[Candidate]:
        """Entities of the documents hit, ranked by their best document: the subject first, then mentions."""
        seen: dict[str, Candidate] = {}
        order: list[str] = []
        docs = {}
        for hit in hits:
            doc = self.text_index.get(hit.ref)
            if doc is not None:
                docs[hit.ref] = doc
        known = self.catalogue.get_many({iri for d in docs.values() for iri in d.entities})
        for hit in hits:
            doc = docs.get(hit.ref)
            if doc is None:
                continue
            subject = doc.metadata.get("subject")
            iris = ([subject] if subject else []) + ([] if subjects_only else list(doc.entities))
            for iri in iris:
                if iri in exclude or iri in seen or iri not in known:
                    continue
                if types is not None and not (set(known[iri].types) & types):
                    continue
                snippet = hit.snippet or lead_snippet(doc.text)
                seen[iri] = Candidate(iri, Evidence(hit.source, hit.ref, snippet, hit.score, 0), known[iri].label)
                order.append(iri)
        out = []
        for rank, iri in enumerate(order, start=1):
            c = seen[iri]
            e = c.evidence
            out.append(Candidate(iri, Evidence(e.source, e.ref, e.snippet, e.score, rank), c.label))
        return out


class TextAnswerReader:
    """Reads the answers of ``topic --step--> ?x`` off the stored mention contexts."""

    def __init__(
        self,
        model: TextRelationModel,
        contexts: Callable[..., list[MentionContext]],
        catalogue: EntityCatalogue,
        schema: KbSchema,
    ):
        self.model = model
        self.contexts = contexts
        self.catalogue = catalogue
        self.schema = schema

    def answers(self, topic: str, step: Step, types: set[str] | None) -> list[tuple[str, bool, float, MentionContext]]:
        """``(key, is_literal, score, best context)`` per answer, best first.

        For ``topic p ?x`` the answer is a mention in a document about the topic (relation ``p>``)
        or the subject of a document that mentions the topic (``p<``, the text states ``?x``'s
        side); for ``?x p topic`` the roles swap.
        """
        prop = step.prop
        literal_target = self.schema.is_literal(step.target)
        # (contexts, which side is the answer, relation key to score)
        plans: list[tuple[list[MentionContext], str, str]] = []
        if step.forward:  # topic p ?x
            plans.append((self.contexts(subject=topic), "mention", f"{prop}>"))
            if not literal_target:
                plans.append((self.contexts(mention=topic), "subject", f"{prop}<"))
        else:  # ?x p topic
            plans.append((self.contexts(mention=topic), "subject", f"{prop}>"))
            plans.append((self.contexts(subject=topic), "mention", f"{prop}<"))
        best: dict[str, tuple[float, MentionContext, bool]] = {}
        votes: dict[str, float] = {}
        for contexts, side, relation in plans:
            for ctx in contexts:
                key = ctx.mention if side == "mention" else ctx.subject
                literal = side == "mention" and ctx.datatype is not None
                if literal != literal_target:
                    continue
                if literal and self.schema.datatype(step.target) not in ORDERED_DATATYPES:
                    continue
                p = self.model.score(relation, ctx.features)
                if p <= 0.0:
                    continue
                votes[key] = 1.0 - (1.0 - votes.get(key, 0.0)) * (1.0 - p)  # noisy-or over mentions
                if key not in best or p > best[key][0]:
                    best[key] = (p, ctx, literal)
        if types is not None:
            known = self.catalogue.get_many([k for k, (_, _, lit) in best.items() if not lit])
            best = {k: v for k, v in best.items() if v[2] or (k in known and set(known[k].types) & types)}
        order = sorted(best, key=lambda k: (-votes[k], -best[k][0], k))
        return [(k, best[k][2], votes[k], best[k][1]) for k in order]


def fit_text_relations(
    store: TripleStore,
    catalogue: EntityCatalogue,
    contexts: Sequence[MentionContext],
    schema: KbSchema,
    *,
    min_examples: int = 5,
) -> TextRelationModel:
    """Train the text relation model by distant supervision from the KB's facts (see :mod:`retrieval.relations`)."""
    steps = [s for s in schema.edges if s.forward]
    props = sorted({s.prop for s in steps})
    facts: dict[str, set[tuple[str, str]]] = {}
    for prop in props:
        pairs = set()
        for s, o in store.query(f"SELECT ?s ?o WHERE {{ ?s <{prop}> ?o }}"):
            pairs.add((s.value, o.value))
        facts[prop] = pairs
    iris = {c.subject for c in contexts} | {c.mention for c in contexts if c.datatype is None}
    types: dict[str, set[str]] = {}
    for start in range(0, len(iris), 20_000):
        chunk = list(iris)[start : start + 20_000]
        for iri, entity in catalogue.get_many(chunk).items():
            expanded: set[str] = set()
            for t in entity.types:
                expanded |= schema.superclasses_or_self(t)
            types[iri] = expanded
    examples: list[RelationExample] = []
    for ctx in contexts:
        s_types = types.get(ctx.subject, set())
        m_types = types.get(ctx.mention, set()) if ctx.datatype is None else set()
        for step in steps:
            target_literal = step.target.startswith(LITERAL_PREFIX)
            if ctx.datatype == YEAR:
                if not target_literal or schema.datatype(step.target) not in ORDERED_DATATYPES:
                    continue
                if step.source in s_types:
                    examples.append(
                        RelationExample(ctx.features, f"{step.prop}>", (ctx.subject, ctx.mention) in facts[step.prop])
                    )
                continue
            if target_literal:
                continue
            if step.source in s_types and step.target in m_types:
                examples.append(
                    RelationExample(ctx.features, f"{step.prop}>", (ctx.subject, ctx.mention) in facts[step.prop])
                )
            if step.source in m_types and step.target in s_types:
                examples.append(
                    RelationExample(ctx.features, f"{step.prop}<", (ctx.mention, ctx.subject) in facts[step.prop])
                )
    return TextRelationModel.fit(_dedup(examples), min_examples=min_examples)


def _dedup(examples: list[RelationExample]) -> list[RelationExample]:
    """One example per (context, relation): a pair seen through two subclass steps counts once."""
    return list(dict.fromkeys(examples))


def document_scorer() -> HybridScorer:
    """The fusion of BM25 and vector hits for document search: the weights fitted on SciFact's
    training queries (``fusion-documents.json``, see :mod:`retrieval.beir`), else plain RRF."""
    path = Path(__file__).with_name("fusion-documents.json")
    return HybridScorer.load(path) if path.exists() else HybridScorer()


def _doc_candidates(hits: Sequence[Hit]) -> list[Candidate]:
    return [Candidate(h.ref, Evidence.from_hit(h)) for h in hits]


def lead_snippet(text: str, chars: int = 200) -> str:
    """The start of a text, whitespace collapsed, HTML-escaped, with ``…`` when cut."""
    text = " ".join(text.split())
    cut = text[:chars]
    return html.escape(cut + ("…" if len(text) > chars else ""))


def sentence_snippet(doc: IndexedDocument, ctx: MentionContext) -> str:
    """The mention's sentence, HTML-escaped, the mention in ``<b>…</b>``."""
    a, b = ctx.sentence
    s, e = ctx.span
    text = doc.text
    if not (0 <= a <= s <= e <= b <= len(text)):
        return lead_snippet(text)
    return html.escape(text[a:s]) + "<b>" + html.escape(text[s:e]) + "</b>" + html.escape(text[e:b])
