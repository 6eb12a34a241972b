"""Retrieval benchmark: BM25, dense and hybrid retrieval on SciFact, fusion weights fitted on train.

Over the 5,183 SciFact abstracts (../shared/data/scifact, BEIR layout; retrieval/beir.py):
  * ``bm25``: tantivy BM25 over title and text (title boost 0.5, English stemming),
  * ``dense``: all-MiniLM-L6-v2 (precision from ``--precision``, else $KGSEARCH_EMBEDDING_PRECISION,
    else ``auto``: bfloat16 where the CPU has it) and hnswlib over ``"title text"``,
  * hybrid over the top 100 of each: ``rrf`` (k=60, equal weights), ``norm`` (min-max normalized
    scores, equal weights), and ``rrf-fitted`` / ``norm-fitted`` with the weights that maximize mean
    nDCG@10 over the 809 train queries (qrels.train.tsv; the test queries are never used to fit).
Reported per method: nDCG@10 and recall@100 on the 300 test queries, nDCG@10 on train, and the
latency of each test query run alone (query embedding included for dense and hybrid, embedder
cache off): wall-clock p50 and p95, and the p50 of this process's CPU time (all threads), which
other jobs on the machine disturb less. Queries are embedded on ``--query-threads`` torch threads
(default 1): a short query gains little from a second thread (bench/embeddings.json: p50 13.1 against
16.8 ms on an idle machine), and with another job busy on one of the 2 cores, two threads wait on each
other (p50 83 ms, p95 816 ms, against 15 and 21 ms on one thread, measured while writing this).
The fitted ``norm`` settings are saved to retrieval/fusion-documents.json.

Corpus vectors are cached in ``--cache`` (default ``kgsearch-bench-scifact`` in the system temporary directory), keyed by model,
precision and corpus, so a rerun skips the minute of embedding; the cache is for this bench only.

Run: ``python bench/retrieval_scifact.py [--quick]``. Prints the table and writes
bench/results/retrieval-scifact.json (``--out``). ``--quick``: 50 test and 200 train queries over
a 1,000-abstract subset (every abstract relevant to them kept); nothing is saved to retrieval/.
Targets: BM25 nDCG@10 >= 0.68, hybrid >= 0.72. Published: BM25 (Anserini) 0.665,
all-MiniLM-L6-v2 0.645.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from kgsearch.settings import Settings  # noqa: E402
from linking.embeddings import PRECISION_ENV, SentenceTransformerEmbedder, _packaged_model  # noqa: E402
from retrieval.beir import (  # noqa: E402
    DenseRetriever,
    HybridRetriever,
    QuerySet,
    build_text_index,
    embed_corpus,
    evaluate,
    fusion_examples,
    passage,
    read_corpus,
    read_queries,
)
from retrieval.evaluation import ndcg  # noqa: E402
from retrieval.fusion import HybridScorer  # noqa: E402
from retrieval.types import IndexedDocument  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 150)
CACHE = Path(tempfile.gettempdir()) / "kgsearch-bench-scifact"
FUSION_OUT = ROOT / "retrieval" / "fusion-documents.json"
TARGETS = {"bm25": 0.68, "hybrid": 0.72}
PUBLISHED = {"bm25 (BEIR, Anserini)": 0.665, "all-MiniLM-L6-v2": 0.645}


def run(
    quick: bool = False,
    *,
    shared_data: Path | None = None,
    precision: str | None = None,
    cache: Path = CACHE,
    fusion_out: Path | None = None,
    query_threads: int = 1,
) -> dict:
    """Evaluate every method on SciFact test after fitting the fusion weights on train.

    Args:
        quick: 50 test and 200 train queries over a 1,000-abstract subset.
        shared_data: The benchmark data directory (default: the settings').
        precision: The embedder's precision (default: ``$KGSEARCH_EMBEDDING_PRECISION``, else ``auto``).
        cache: Directory of cached corpus vectors.
        fusion_out: Where to save the fitted ``norm`` settings (not on a quick run).
        query_threads: Torch threads while queries are embedded (the corpus uses every core).

    Returns:
        The results, as written to bench/results/retrieval-scifact.json.
    """
    directory = (shared_data or Settings.from_env(home=".").shared_data) / "scifact"
    corpus, train, test = read_corpus(directory), read_queries(directory, "train"), read_queries(directory, "test")
    if quick:
        train, test = train.head(200), test.head(50)
        corpus = _subset(corpus, [train, test], 1000)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    text = build_text_index(corpus)
    index_s = time.perf_counter() - started

    precision = precision or os.environ.get(PRECISION_ENV) or "auto"
    embedder = SentenceTransformerEmbedder(precision=precision, cache_size=0)
    vectors, embed_s, cached = _corpus_vectors(corpus, embedder, cache)
    started = time.perf_counter()
    dense = DenseRetriever.build(corpus, embedder, vectors)
    hnsw_s = time.perf_counter() - started
    embedder.embed(["warm up"])  # loads the model when the vectors came from the cache
    import torch  # loaded by the embedder

    torch.set_num_threads(query_threads)  # process-wide

    hybrid = HybridRetriever({"text": text, "vector": dense})
    with console.status(f"ranking {len(train)} train queries with both sources"):
        examples = fusion_examples(hybrid, train)
    fitted, fit_s = {}, {}
    for method in ("rrf", "norm"):
        started = time.perf_counter()
        fitted[method] = HybridScorer.fit(examples, method=method)
        fit_s[method] = round(time.perf_counter() - started, 2)
    if fusion_out is not None and not quick:
        fitted["norm"][0].save(fusion_out)

    methods = {
        "bm25": (text, None),
        "dense": (dense, None),
        "rrf": (hybrid, HybridScorer()),
        "norm": (replace(hybrid, scorer=HybridScorer(method="norm")), HybridScorer(method="norm")),
        "rrf-fitted": (replace(hybrid, scorer=fitted["rrf"][0]), fitted["rrf"][0]),
        "norm-fitted": (replace(hybrid, scorer=fitted["norm"][0]), fitted["norm"][0]),
    }
    rows = []
    for name, (retriever, scorer) in methods.items():
        with console.status(f"{name}: {len(test)} test queries"):
            result = evaluate(retriever, test)
        source = {"bm25": "text", "dense": "vector"}.get(name)
        rows.append(
            {
                "method": name,
                "test": result.as_json(),
                "train_ndcg@10": round(_train_ndcg(examples, source, scorer), 4),
                "fusion": scorer.as_json() if scorer else None,
            }
        )
    return {
        "benchmark": "retrieval-scifact",
        "machine": _machine(),
        "quick": quick,
        "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "data": {"abstracts": len(corpus), "train_queries": len(train), "test_queries": len(test)},
        "embedder": {
            "model": _model_name(embedder),
            "precision": precision,
            "compute_precision": embedder.compute_precision,
            "corpus_threads": embedder.num_threads,
            "query_threads": query_threads,
        },
        "build_seconds": {
            "bm25_index": round(index_s, 2),
            "embed_corpus": None if cached else round(embed_s, 1),
            "hnsw_index": round(hnsw_s, 2),
            "fit": fit_s,
        },
        "corpus_vectors_cached": cached,
        "fitted": {
            method: {"settings": scorer.as_json(), "train_ndcg@10": round(metric, 4)}
            for method, (scorer, metric) in fitted.items()
        },
        "depth": hybrid.depth,
        "methods": rows,
        "targets_ndcg@10": TARGETS,
        "published_ndcg@10": PUBLISHED,
    }


def _subset(corpus: list[IndexedDocument], sets: list[QuerySet], size: int) -> list[IndexedDocument]:
    """The abstracts relevant to ``sets`` and random others (seed 0), ``size`` in all."""
    relevant = {doc for s in sets for judged in s.qrels.values() for doc in judged}
    others = [d for d in corpus if d.id not in relevant]
    random.Random(0).shuffle(others)
    return [d for d in corpus if d.id in relevant] + others[: max(0, size - len(relevant))]


def _corpus_vectors(
    corpus: list[IndexedDocument], embedder: SentenceTransformerEmbedder, cache: Path
) -> tuple[np.ndarray, float, bool]:
    """Corpus vectors, from the cache when model, precision and passages match; (vectors, seconds, cached)."""
    digest = hashlib.sha256(str(Path(embedder.model_path or _packaged_model()).resolve()).encode())
    for doc in corpus:
        digest.update(doc.id.encode() + b"\0" + passage(doc).encode() + b"\0")
    path = cache / f"{_model_name(embedder)}-{embedder.compute_precision}-{digest.hexdigest()[:16]}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False), 0.0, True
    with console.status(f"embedding {len(corpus):,} abstracts ({embedder.compute_precision})"):
        started = time.perf_counter()
        vectors = embed_corpus(corpus, embedder)
        seconds = time.perf_counter() - started
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors, allow_pickle=False)
    return vectors, seconds, False


def _model_name(embedder: SentenceTransformerEmbedder) -> str:
    path = Path(embedder.model_path or _packaged_model())
    return path.parent.name if path.name == "model" else path.name  # the packaged one is <package>/model


def _train_ndcg(examples: list, source: str | None, scorer: HybridScorer | None) -> float:
    """Mean nDCG@10 on the training examples of one source's list, or of the fused lists."""
    total = 0.0
    for rankings, relevance in examples:
        if scorer is None:
            ranked = [c.key for c in rankings[source]]
        else:
            ranked = [a.key for a in scorer.fuse(rankings, limit=10)]
        total += ndcg(ranked, relevance, 10)
    return total / len(examples)


def _machine() -> dict:
    import torch

    caps = torch.cpu.get_capabilities()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_capabilities": {k: caps.get(k) for k in ("cpu_name", "avx512_bf16", "amx_bf16", "num_physical_cores")},
    }


def table(results: dict) -> Table:
    data = results["data"]
    t = Table(
        "method", "nDCG@10", "recall@100", "query p50 / p95 ms", "CPU p50 ms", "train nDCG@10", "weights",
        title=f"SciFact: {data['abstracts']:,} abstracts, {data['test_queries']} test queries "
        f"(weights fitted on {data['train_queries']} train queries)",
    )  # fmt: skip
    for row in results["methods"]:
        test, fusion = row["test"], row["fusion"]
        weights = ", ".join(f"{s} {w:g}" for s, w in sorted(fusion["weights"].items())) if fusion else ""
        t.add_row(
            row["method"], f"{test['ndcg@10']:.4f}", f"{test['recall@100']:.4f}",
            f"{test['latency_ms']['p50']:.1f} / {test['latency_ms']['p95']:.1f}", f"{test['cpu_ms']['p50']:.1f}",
            f"{row['train_ndcg@10']:.4f}",
            f"{weights or '1, 1'} ({fusion['method']})" if fusion else "",
        )  # fmt: skip
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 test, 200 train queries, 1,000 abstracts")
    parser.add_argument("--precision", choices=("float32", "bfloat16", "auto"), help="embedder precision")
    parser.add_argument("--shared-data", type=Path, default=Settings.from_env(home=".").shared_data)
    parser.add_argument("--cache", type=Path, default=CACHE, help="corpus vector cache")
    parser.add_argument("--query-threads", type=int, default=1, help="torch threads while embedding queries")
    parser.add_argument("--fusion-out", type=Path, default=FUSION_OUT, help="fitted norm settings (not --quick)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "retrieval-scifact.json")
    args = parser.parse_args(argv)
    results = run(
        args.quick,
        shared_data=args.shared_data,
        precision=args.precision,
        cache=args.cache,
        fusion_out=args.fusion_out,
        query_threads=args.query_threads,
    )
    console.print(table(results))
    for method, fit in results["fitted"].items():
        console.print(f"fitted {method}: {fit['settings']['weights']} (train nDCG@10 {fit['train_ndcg@10']:.4f})")
    if args.quick:
        console.print("--quick: a 1,000-abstract subset, not the benchmark figures", style="yellow")
    else:
        console.print(f"wrote {args.fusion_out}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
