r"""BEIR-format test collections and the retrieval evaluation run over them.

A BEIR dataset (Thakur et al. 2021) is a directory with ``corpus.jsonl`` (``{"_id", "title",
"text"}`` per line), queries and relevance judgements (qrels) per split: ``queries.<split>.jsonl``
and ``qrels.<split>.tsv`` as ../shared/data/scifact has them, or BEIR's own ``queries.jsonl`` and
``qrels/<split>.tsv``. :func:`evaluate` runs a retriever over a split's judged queries and
averages nDCG@10 (gain = qrel grade) and recall@100, as BEIR does through pytrec_eval; a hit whose
id equals the query's is dropped, as BEIR does.

The retrievers: BM25 is a :class:`~retrieval._tantivy.TantivyTextIndex` over title and text
(:func:`build_text_index`); dense is a :class:`DenseRetriever` (an embedder plus a
:class:`~retrieval._hnsw.HnswVectorIndex` over ``"title text"``); hybrid is a
:class:`HybridRetriever`, a :class:`~retrieval.fusion.HybridScorer` over the top 100 of each.

``retrieval/fusion-documents.json`` holds the document fusion settings that ``python
bench/retrieval_scifact.py`` fitted and saved: ``HybridScorer.fit(fusion_examples(hybrid, train),
method="norm")`` over SciFact's 809 train queries (qrels.train.tsv), BM25 (``text``) and
all-MiniLM-L6-v2 in bfloat16 (``vector``), top 100 of each, nDCG@10 as the objective, then
``HybridScorer.save``. Weights text 1, vector 0.7071; train nDCG@10 0.730. On the 300 test
queries, never used to fit: 0.727, against 0.691 for BM25 alone and 0.713 for RRF (k=60).

>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "corpus.jsonl").write_text('{"_id": "d1", "title": "Aspirin", "text": "Aspirin lowers fever."}\n'
...                                     '{"_id": "d2", "title": "Statins", "text": "Statins lower cholesterol."}\n')
>>> _ = (d / "queries.test.jsonl").write_text('{"_id": "q1", "text": "what lowers cholesterol?"}\n')
>>> _ = (d / "qrels.test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
>>> corpus, test = read_corpus(d), read_queries(d, "test")
>>> with build_text_index(corpus) as index:
...     result = evaluate(index, test)
>>> result.queries, result.ndcg, result.recall
(1, 1.0, 1.0)
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from linking.embeddings import Embedder
from retrieval._hnsw import HnswVectorIndex
from retrieval._tantivy import TITLE_BOOST, TantivyTextIndex
from retrieval.errors import RetrievalError
from retrieval.evaluation import ndcg
from retrieval.fusion import Candidate, HybridScorer, candidates_from_hits
from retrieval.types import Answer, Hit, IndexedDocument

#: How many documents each source hands to the fusion, and the recall cut-off.
DEPTH = 100
#: The nDCG cut-off.
K = 10
#: Texts per call when embedding a corpus (the embedder batches within a call).
EMBED_CHUNK = 1024


class BeirFormatError(RetrievalError, ValueError):
    """A BEIR file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class QuerySet:
    """A split's judged queries.

    Attributes:
        split: The split's name (``train``, ``dev``, ``test``).
        queries: Query id to text, for the queries with at least one judgement, in file order.
        qrels: Query id to ``{document id: grade}``.
    """

    split: str
    queries: Mapping[str, str]
    qrels: Mapping[str, Mapping[str, int]]

    def __len__(self) -> int:
        return len(self.queries)

    def head(self, n: int) -> QuerySet:
        """The first ``n`` queries (a quick run)."""
        ids = list(self.queries)[:n]
        return QuerySet(self.split, {q: self.queries[q] for q in ids}, {q: self.qrels[q] for q in ids})


@runtime_checkable
class Retriever(Protocol):
    """Anything that ranks documents for a query text, best first: a text index, :class:`DenseRetriever`, ..."""

    def search(self, query: str, *, limit: int = 10) -> Sequence[Hit] | Sequence[Answer]: ...


@dataclass(frozen=True)
class Evaluation:
    """Mean ranking quality of one retriever over a query set, and its per-query latency.

    Attributes:
        queries: Number of queries.
        ndcg: Mean nDCG@k.
        recall: Mean recall@depth (share of a query's relevant documents in its first ``depth``).
        latency_ms: Wall time of each query's ``search`` call, in query order.
        cpu_ms: CPU time of this process (all its threads) during each call: less sensitive than
            the wall time to other jobs on the machine.
        k: The nDCG cut-off.
        depth: How many documents were retrieved per query.
    """

    queries: int
    ndcg: float
    recall: float
    latency_ms: tuple[float, ...] = field(repr=False)
    cpu_ms: tuple[float, ...] = field(default=(), repr=False)
    k: int = K
    depth: int = DEPTH

    def latency_percentile(self, q: float, *, cpu: bool = False) -> float:
        """The ``q``-th percentile (0-100) of the per-query wall (or ``cpu``) time, in ms."""
        values = self.cpu_ms if cpu else self.latency_ms
        return float(np.percentile(values, q)) if values else 0.0

    def as_json(self) -> dict:
        return {
            "queries": self.queries,
            f"ndcg@{self.k}": round(self.ndcg, 4),
            f"recall@{self.depth}": round(self.recall, 4),
            **{
                name: {f"p{q}": round(self.latency_percentile(q, cpu=cpu), 2) for q in (50, 95)}
                for name, cpu in (("latency_ms", False), ("cpu_ms", True))
            },
        }


# -- reading -----------------------------------------------------------------------------------


def read_corpus(directory: str | Path) -> list[IndexedDocument]:
    """The documents of ``directory/corpus.jsonl``, in file order.

    Raises:
        BeirFormatError: The file is missing, a line is not a JSON object with string ``_id``,
            ``title`` (may be absent) and ``text``, or an id repeats; names the file and line.
    """
    path = Path(directory) / "corpus.jsonl"
    docs: list[IndexedDocument] = []
    seen: dict[str, int] = {}
    for line_no, row in _jsonl(path):
        doc_id = _field(row, "_id", path, line_no)
        if doc_id in seen:
            raise BeirFormatError(f"{path}:{line_no}: document id {doc_id!r} repeats line {seen[doc_id]}")
        seen[doc_id] = line_no
        title = _field(row, "title", path, line_no, default="")
        docs.append(IndexedDocument(doc_id, title, _field(row, "text", path, line_no)))
    return docs


def read_queries(directory: str | Path, split: str) -> QuerySet:
    """The judged queries of one split: ``queries.<split>.jsonl`` and ``qrels.<split>.tsv``.

    BEIR's own layout (``queries.jsonl`` for every split, ``qrels/<split>.tsv``) is read when
    those files are absent. Queries without a judgement are left out.

    Raises:
        BeirFormatError: A file is missing or malformed, or a judged query has no text; names
            the file and line.
    """
    directory = Path(directory)
    queries_path = directory / f"queries.{split}.jsonl"
    if not queries_path.is_file() and (directory / "queries.jsonl").is_file():
        queries_path = directory / "queries.jsonl"
    qrels_path = directory / f"qrels.{split}.tsv"
    if not qrels_path.is_file() and (directory / "qrels" / f"{split}.tsv").is_file():
        qrels_path = directory / "qrels" / f"{split}.tsv"
    qrels = read_qrels(qrels_path)
    texts: dict[str, str] = {}
    for line_no, row in _jsonl(queries_path):
        query_id = _field(row, "_id", queries_path, line_no)
        if query_id in qrels:
            texts[query_id] = _field(row, "text", queries_path, line_no)
    missing = [q for q in qrels if q not in texts]
    if missing:
        raise BeirFormatError(
            f"{qrels_path}: {len(missing)} judged queries have no text in {queries_path} (first: {missing[0]!r}); "
            "are the two files of the same split?"
        )
    return QuerySet(split, texts, {q: qrels[q] for q in texts})


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Relevance judgements from a TSV of ``query-id, corpus-id, score`` (header line optional).

    Raises:
        BeirFormatError: The file is missing, or a line has not three tab-separated fields with
            an integer score; names the file and line.
    """
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    for line_no, line in _lines(path):
        fields = line.split("\t")
        if line_no == 1 and fields[:1] == ["query-id"]:
            continue
        if len(fields) != 3 or not fields[0] or not fields[1]:
            raise BeirFormatError(f"{path}:{line_no}: expected query-id<TAB>corpus-id<TAB>score, got {line!r}")
        try:
            grade = int(fields[2])
        except ValueError:
            raise BeirFormatError(f"{path}:{line_no}: the score must be an integer, not {fields[2]!r}") from None
        qrels.setdefault(fields[0], {})[fields[1]] = grade
    return qrels


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if line.strip():
                    yield line_no, line.rstrip("\r\n")
    except FileNotFoundError:
        raise BeirFormatError(f"{path} does not exist; a BEIR dataset directory holds corpus.jsonl, "
                              "queries.<split>.jsonl and qrels.<split>.tsv") from None  # fmt: skip
    except UnicodeDecodeError as e:
        raise BeirFormatError(f"{path}: not UTF-8 ({e})") from None


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for line_no, line in _lines(path):
        try:
            row = json.loads(line)
        except ValueError as e:
            raise BeirFormatError(f"{path}:{line_no}: not JSON ({e})") from None
        if not isinstance(row, dict):
            raise BeirFormatError(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}")
        yield line_no, row


_REQUIRED = object()


def _field(row: dict, name: str, path: Path, line_no: int, default: object = _REQUIRED) -> str:
    value = row.get(name, default)
    if value is _REQUIRED:
        raise BeirFormatError(f"{path}:{line_no}: field {name!r} is missing")
    if not isinstance(value, str) or (name == "_id" and not value):
        raise BeirFormatError(f"{path}:{line_no}: field {name!r} must be a non-empty string, not {value!r}")
    return value


# -- retrievers --------------------------------------------------------------------------------


def build_text_index(
    corpus: Sequence[IndexedDocument], path: str | Path | None = None, *, title_boost: float = TITLE_BOOST
) -> TantivyTextIndex:
    """A BM25 index over the documents' title and text, in memory or in ``path``."""
    index = TantivyTextIndex(path, title_boost=title_boost)
    index.add(corpus)
    return index


def passage(doc: IndexedDocument) -> str:
    """What is embedded of a document: ``"title text"``, as BEIR's dense baselines do."""
    return f"{doc.title} {doc.text}".strip()


def embed_corpus(corpus: Sequence[IndexedDocument], embedder: Embedder) -> np.ndarray:
    """The vector of every document's :func:`passage`, one row per document."""
    texts = [passage(doc) for doc in corpus]
    chunks = [embedder.embed(texts[i : i + EMBED_CHUNK]) for i in range(0, len(texts), EMBED_CHUNK)]
    return np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), dtype=np.float32)


@dataclass(frozen=True)
class DenseRetriever:
    """Embeds the query and returns its nearest documents (``vector`` hits).

    Attributes:
        embedder: Embeds queries (the one that embedded the documents).
        index: The documents' vectors.
    """

    embedder: Embedder
    index: HnswVectorIndex

    @classmethod
    def build(
        cls, corpus: Sequence[IndexedDocument], embedder: Embedder, vectors: np.ndarray | None = None
    ) -> DenseRetriever:
        """Index ``corpus`` in memory, from ``vectors`` when given (rows as :func:`embed_corpus` makes them).

        The graph is built on one thread: hnswlib's multithreaded inserts give a different graph,
        and slightly different neighbours, on every run.
        """
        if vectors is None:
            vectors = embed_corpus(corpus, embedder)
        if len(vectors) != len(corpus):
            raise RetrievalError(f"{len(vectors)} vectors for {len(corpus)} documents; embed the corpus again")
        dim = int(vectors.shape[1]) if len(vectors) else embedder.dim
        index = HnswVectorIndex(dim=dim, capacity=len(corpus), num_threads=1)
        index.add([doc.id for doc in corpus], vectors)
        return cls(embedder, index)

    def search(self, query: str, *, limit: int = 10) -> list[Hit]:
        return self.index.search(self.embedder.embed([query])[0], limit=limit)


@dataclass(frozen=True)
class HybridRetriever:
    """Fuses the top ``depth`` documents of each source with a :class:`~retrieval.fusion.HybridScorer`.

    Attributes:
        sources: Retriever per source name (``text``, ``vector``); the names key the scorer's weights.
        scorer: How the lists are fused; ``dataclasses.replace`` swaps in a fitted one.
        depth: Documents taken from each source.
    """

    sources: Mapping[str, Retriever]
    scorer: HybridScorer = field(default_factory=HybridScorer)
    depth: int = DEPTH

    def rankings(self, query: str) -> dict[str, list[Candidate]]:
        """Each source's candidates for ``query``, best first: what the scorer fuses (and is fitted on)."""
        return {name: candidates_from_hits(r.search(query, limit=self.depth)) for name, r in self.sources.items()}

    def search(self, query: str, *, limit: int = 10) -> list[Answer]:
        """The fused documents (``Answer.key`` is the document id) with each source's evidence."""
        return self.scorer.fuse(self.rankings(query), limit=limit)


# -- evaluation --------------------------------------------------------------------------------


def ranked_ids(results: Sequence[Hit] | Sequence[Answer]) -> list[str]:
    """Document ids, best first, of hits or of fused answers."""
    return [r.ref if isinstance(r, Hit) else r.key for r in results]


def recall(ranked: Sequence[str], relevance: Mapping[str, float], depth: int = DEPTH) -> float:
    """Share of the relevant (grade > 0) documents among the first ``depth``; 0 when none is relevant.

    >>> recall(["a", "x", "b"], {"a": 1, "b": 1, "c": 1, "z": 0}, 2)
    0.3333333333333333
    """
    relevant = {key for key, grade in relevance.items() if grade > 0}
    return len(relevant.intersection(ranked[:depth])) / len(relevant) if relevant else 0.0


def evaluate(
    retriever: Retriever,
    queries: QuerySet,
    *,
    k: int = K,
    depth: int = DEPTH,
    ignore_identical_ids: bool = True,
) -> Evaluation:
    """Run ``retriever`` over every query, one at a time, and average nDCG@k and recall@depth.

    Each ``search`` call is timed, so an embedder's cache should be off for honest latencies.

    Args:
        retriever: Ranks documents for a query text.
        queries: The judged queries.
        k: nDCG cut-off.
        depth: Documents retrieved per query, and the recall cut-off.
        ignore_identical_ids: Drop a document whose id is the query's (BEIR's default, for
            datasets whose queries are also documents).

    Raises:
        RetrievalError: ``queries`` is empty.
    """
    if not len(queries):
        raise RetrievalError(f"the {queries.split!r} query set is empty; nothing to evaluate")
    ndcgs, recalls, latencies, cpu = [], [], [], []
    for query_id, text in queries.queries.items():
        started, cpu_started = time.perf_counter(), time.process_time()
        results = retriever.search(text, limit=depth + 1 if ignore_identical_ids else depth)
        latencies.append(1000 * (time.perf_counter() - started))
        cpu.append(1000 * (time.process_time() - cpu_started))
        ranked = ranked_ids(results)
        if ignore_identical_ids:
            ranked = [doc for doc in ranked if doc != query_id]
        ranked = ranked[:depth]
        ndcgs.append(ndcg(ranked, queries.qrels[query_id], k))
        recalls.append(recall(ranked, queries.qrels[query_id], depth))
    mean_ndcg, mean_recall = statistics.fmean(ndcgs), statistics.fmean(recalls)
    return Evaluation(len(ndcgs), mean_ndcg, mean_recall, tuple(latencies), tuple(cpu), k, depth)


def fusion_examples(
    hybrid: HybridRetriever, queries: QuerySet
) -> list[tuple[dict[str, list[Candidate]], Mapping[str, int]]]:
    """``(rankings, relevance)`` per query: the training examples of :meth:`HybridScorer.fit`.

    Use: ``scorer, train_ndcg = HybridScorer.fit(fusion_examples(hybrid, train), method="norm")``.
    A document whose id is the query's is dropped, as :func:`evaluate` does.
    """
    examples = []
    for query_id, text in queries.queries.items():
        rankings = {name: [c for c in cs if c.key != query_id] for name, cs in hybrid.rankings(text).items()}
        examples.append((rankings, queries.qrels[query_id]))
    return examples
