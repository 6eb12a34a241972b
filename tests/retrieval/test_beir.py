"""BEIR datasets and the retrieval evaluation: reading, nDCG, fusion fitting, and BM25 on SciFact."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kgsearch.settings import Settings
from linking.embeddings import Embedder
from retrieval.beir import (
    BeirFormatError,
    DenseRetriever,
    HybridRetriever,
    build_text_index,
    evaluate,
    fusion_examples,
    read_corpus,
    read_qrels,
    read_queries,
)
from retrieval.errors import RetrievalError
from retrieval.fusion import HybridScorer

SCIFACT = Settings.from_env(home=".").shared_data / "scifact"
FUSION_DOCUMENTS = Path(__file__).resolve().parents[2] / "retrieval" / "fusion-documents.json"

#: Each document shares no word with its query, but a concept; each query shares words with a wrong document.
CORPUS = [
    {"_id": "d1", "title": "Cardiac arrest", "text": "The heart stops beating."},
    {"_id": "d2", "title": "Tumour growth", "text": "Cancer cells divide quickly."},
    {"_id": "d3", "title": "Cortex", "text": "Neurons of the brain fire."},
    {"_id": "d4", "title": "Antibodies", "text": "The immune response makes antibodies."},
]
QUERIES = [
    {"_id": "q1", "text": "myocardial infarction cells divide"},
    {"_id": "q2", "text": "carcinoma neoplasm response"},
    {"_id": "q3", "text": "cerebral stops beating"},
    {"_id": "q4", "text": "lymphocyte fire"},
    {"_id": "q5", "text": "a query nobody judged"},
]
QRELS = {"q1": "d1", "q2": "d2", "q3": "d3", "q4": "d4"}


class ConceptEmbedder:
    """Counts words of four medical concepts (plus a constant, so no vector is zero): a deterministic fake."""

    CONCEPTS = (
        {"heart", "cardiac", "myocardial", "infarction"},
        {"tumour", "cancer", "carcinoma", "neoplasm"},
        {"cortex", "neurons", "brain", "cerebral", "neural"},
        {"antibodies", "immune", "lymphocyte", "tcell"},
    )
    dim = len(CONCEPTS) + 1

    def embed(self, texts):
        rows = []
        for text in texts:
            words = text.lower().replace(".", " ").split()
            rows.append([sum(w in concept for w in words) for concept in self.CONCEPTS] + [0.1])
        v = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def write_dataset(directory: Path, *, beir_layout: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in CORPUS), encoding="utf-8")
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in QRELS.items())
    queries = "".join(json.dumps(q) + "\n" for q in QUERIES)
    if beir_layout:
        (directory / "queries.jsonl").write_text(queries, encoding="utf-8")
        (directory / "qrels").mkdir()
        (directory / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    else:
        (directory / "queries.test.jsonl").write_text(queries, encoding="utf-8")
        (directory / "qrels.test.tsv").write_text(qrels, encoding="utf-8")
    return directory


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "tiny")


# -- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("beir_layout", [False, True])
def test_read_dataset(tmp_path, beir_layout):
    directory = write_dataset(tmp_path / "tiny", beir_layout=beir_layout)
    corpus, test = read_corpus(directory), read_queries(directory, "test")
    assert [(d.id, d.title) for d in corpus][:2] == [("d1", "Cardiac arrest"), ("d2", "Tumour growth")]
    assert list(test.queries) == ["q1", "q2", "q3", "q4"]  # q5 has no judgement
    assert test.qrels["q3"] == {"d3": 1} and test.split == "test" and len(test.head(2)) == 2


def test_title_may_be_absent(tmp_path):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "No title."}\n', encoding="utf-8")
    assert read_corpus(tmp_path)[0].title == ""


@pytest.mark.parametrize(
    ("file", "content", "where", "says"),
    [
        ("corpus.jsonl", '{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n', "corpus.jsonl:2", "not JSON"),
        ("corpus.jsonl", '{"_id": "d1", "text": "ok"}\n\n["d2"]\n', "corpus.jsonl:3", "JSON object"),
        ("corpus.jsonl", '{"title": "t", "text": "ok"}\n', "corpus.jsonl:1", "'_id' is missing"),
        ("corpus.jsonl", '{"_id": 7, "text": "ok"}\n', "corpus.jsonl:1", "'_id' must be a non-empty string"),
        ("corpus.jsonl", '{"_id": "d1"}\n', "corpus.jsonl:1", "'text' is missing"),
        (
            "corpus.jsonl",
            '{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n',
            "corpus.jsonl:2",
            "repeats line 1",
        ),
        ("qrels.test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\n", "qrels.test.tsv:2", "query-id<TAB>corpus-id"),
        ("qrels.test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\thigh\n", "qrels.test.tsv:2", "must be an integer"),
        ("queries.test.jsonl", '{"_id": "q1"}\n', "queries.test.jsonl:1", "'text' is missing"),
    ],
)
def test_malformed_lines_name_file_and_line(dataset, file, content, where, says):
    (dataset / file).write_text(content, encoding="utf-8")
    with pytest.raises(BeirFormatError, match=says) as raised:
        read_corpus(dataset) if file == "corpus.jsonl" else read_queries(dataset, "test")
    assert f"{dataset}/{where}:" in str(raised.value)
    assert isinstance(raised.value, RetrievalError | ValueError)


def test_missing_files_and_unmatched_queries(dataset):
    with pytest.raises(BeirFormatError, match=r"qrels\.dev\.tsv does not exist"):
        read_queries(dataset, "dev")
    (dataset / "qrels.test.tsv").write_text("q9\td1\t1\n", encoding="utf-8")  # no header: allowed
    assert read_qrels(dataset / "qrels.test.tsv") == {"q9": {"d1": 1}}
    with pytest.raises(BeirFormatError, match="1 judged queries have no text.*'q9'"):
        read_queries(dataset, "test")


# -- evaluation --------------------------------------------------------------------------------


def test_bm25_ndcg_and_recall(dataset):
    corpus, test = read_corpus(dataset), read_queries(dataset, "test")
    with build_text_index(corpus) as index:
        # Every query's words point at a wrong document; q3 also matches nothing else than d1.
        assert [h.ref for h in index.search(test.queries["q1"])] == ["d2"]
        result = evaluate(index, test)
    assert (result.queries, result.ndcg, result.recall) == (4, 0.0, 0.0)
    assert len(result.latency_ms) == 4 and result.as_json()["ndcg@10"] == 0.0


def test_ndcg_counts_rank_and_identical_ids(dataset):
    # The relevant document second: nDCG@10 = 1 / log2(3); a hit with the query's own id is dropped (BEIR).
    (dataset / "corpus.jsonl").write_text(
        '{"_id": "q1", "title": "heart heart", "text": "heart"}\n'
        '{"_id": "d1", "title": "heart", "text": "heart of the matter"}\n'
        '{"_id": "d2", "title": "", "text": "a heart in a long text about many other things"}\n',
        encoding="utf-8",
    )
    (dataset / "qrels.test.tsv").write_text("q1\td2\t1\nq1\tmissing\t1\n", encoding="utf-8")
    (dataset / "queries.test.jsonl").write_text('{"_id": "q1", "text": "heart"}\n', encoding="utf-8")
    corpus, test = read_corpus(dataset), read_queries(dataset, "test")
    with build_text_index(corpus) as index:
        assert [h.ref for h in index.search("heart")] == ["q1", "d1", "d2"]
        kept = evaluate(index, test, ignore_identical_ids=False)
        dropped = evaluate(index, test)
    ideal = 1 + 1 / math.log2(3)
    assert kept.ndcg == pytest.approx((1 / math.log2(4)) / ideal)
    assert dropped.ndcg == pytest.approx((1 / math.log2(3)) / ideal)
    assert dropped.recall == kept.recall == 0.5


def test_dense_retrieval_with_a_fake_embedder(dataset):
    embedder = ConceptEmbedder()
    assert isinstance(embedder, Embedder)
    corpus, test = read_corpus(dataset), read_queries(dataset, "test")
    dense = DenseRetriever.build(corpus, embedder)
    assert [h.ref for h in dense.search("cerebral thoughts", limit=2)][0] == "d3"
    result = evaluate(dense, test)
    assert (result.ndcg, result.recall) == (1.0, 1.0)
    with pytest.raises(RetrievalError, match="3 vectors for 4 documents"):
        DenseRetriever.build(corpus, embedder, embedder.embed(["a", "b", "c"]))


#: Queries that each name their relevant document's words, and a stronger concept of another document.
TEXT_BETTER = {
    "q1": "heart stops beating carcinoma neoplasm",
    "q2": "cancer cells divide lymphocyte tcell",
    "q3": "neurons brain fire myocardial infarction heart",
    "q4": "immune response makes antibodies cerebral neural brain",
}


# RRF cannot win the vector-better case: there the relevant document is missing from the text list,
# and no weight on the grid lifts it over the wrong one, which both lists name.
@pytest.mark.parametrize(("better", "method"), [("vector", "norm"), ("text", "norm"), ("text", "rrf")])
def test_fit_prefers_the_better_source(dataset, better, method):
    if better == "text":
        queries = [{"_id": q, "text": text} for q, text in TEXT_BETTER.items()]
        (dataset / "queries.test.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    corpus, test = read_corpus(dataset), read_queries(dataset, "test")
    with build_text_index(corpus) as index:
        dense = DenseRetriever.build(corpus, ConceptEmbedder())
        single = {"text": evaluate(index, test).ndcg, "vector": evaluate(dense, test).ndcg}
        worse = "text" if better == "vector" else "vector"
        assert single[better] == 1.0 > single[worse]
        hybrid = HybridRetriever({"text": index, "vector": dense}, HybridScorer(method=method))
        examples = fusion_examples(hybrid, test)
        assert set(examples[0][0]) == {"text", "vector"} and examples[0][1] == {"d1": 1}
        scorer, train_ndcg = HybridScorer.fit(examples, method=method)
        equal, fitted = evaluate(hybrid, test), evaluate(replace(hybrid, scorer=scorer), test)
        (top,) = replace(hybrid, scorer=scorer).search(test.queries["q4"], limit=1)
    assert scorer.method == method and scorer.weight(better) > scorer.weight(worse)
    assert train_ndcg == fitted.ndcg == 1.0 and equal.ndcg <= 1.0
    if better == "vector":
        assert equal.ndcg < 1.0
    assert top.key == "d4" and {e.source for e in top.evidence} <= {"text", "vector"}


def test_shipped_document_fusion_settings_load():
    scorer = HybridScorer.load(FUSION_DOCUMENTS)
    assert scorer.method == "norm" and set(scorer.weights) == {"text", "vector"}


@pytest.mark.slow
@pytest.mark.skipif(not SCIFACT.is_dir(), reason=f"SciFact not found at {SCIFACT}; set KGSEARCH_SHARED_DATA")
def test_bm25_on_scifact_test(tmp_path):
    """The tantivy BM25 baseline on the 300 SciFact test queries (0.691 when written; BEIR's BM25: 0.665)."""
    corpus, test = read_corpus(SCIFACT), read_queries(SCIFACT, "test")
    assert (len(corpus), len(test)) == (5183, 300)
    with build_text_index(corpus, tmp_path / "scifact") as index:
        result = evaluate(index, test)
    assert result.ndcg >= 0.67
    assert result.recall >= 0.88
