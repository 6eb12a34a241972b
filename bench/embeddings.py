"""Embedding benchmark: speed and quality of all-MiniLM-L6-v2 backends on this machine's CPU.

Every option embeds the same texts and is compared with the float32 sentence-transformers vectors
(``st-fp32``, what :class:`~linking.embeddings.SentenceTransformerEmbedder` gave before precisions):
  * movie corpus: a random sample of ``--sample`` texts of movie-text/docs.jsonl (seed 0), embedded
    in one call; texts/s by the wall clock and per CPU-second of this process (less sensitive to
    other jobs on the machine), the projected time for all 62,245 documents, and the cosine of
    each vector with its float32 twin,
  * SciFact (BEIR layout): dense retrieval over the 5,183 abstracts ("title text"), brute-force
    cosine, nDCG@10 on the 300 test queries (gain = qrel grade, as pytrec_eval; a hit whose id equals
    the query's is dropped, as BEIR does); the cosine of each abstract's vector with its float32 twin,
  * single-query latency: each test query embedded alone, cache off; p50 and p95 in ms.
Options: sentence-transformers float32 in input order (batches of 32 as they come) and length-sorted,
a 128 word-piece cap, torch dynamic int8 (nn.Linear), ONNX Runtime float32 and int8 (dynamic,
per-channel MatMul weights; attention products excluded; once all weight products, once only the
query, key and attention-output ones), bfloat16 autocast (bf16, the winner), and thread / process
settings. ONNX files are exported once into ``--cache`` (default ~/.cache/kgsearch/bench-embeddings).

Run: ``python bench/embeddings.py [--quick] [--sample N] [--full] [--only NAME ...]``. Prints the
table and writes bench/results/embeddings.json (``--out``). ``--quick`` uses 500 movie texts, 50
queries and a 1,000-abstract SciFact subset (all relevant abstracts kept), so its nDCG is not the
published one. ``--full`` also embeds all 62,245 movie documents with the winner, in 1 process of 2
threads and in 2 processes of 1 (each chunk deduplicated, as the embedder does). ``--full-only`` and
``--speed-only`` (no SciFact) add to an existing --out: a second measurement when other jobs on the
machine slowed the first (the table's load column shows the load average before and after).
Target: embed 62,245 documents in at most 300 s on 2 cores. Published all-MiniLM-L6-v2 SciFact nDCG@10: 0.645.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing
import os
import platform
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from kgsearch.settings import Settings  # noqa: E402
from linking.embeddings import SentenceTransformerEmbedder, _packaged_model  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 170)
MOVIE_DOCS = 62_245
TARGET_SECONDS = 300
PUBLISHED_NDCG = 0.645
WINNER = "bf16"


# --- the options ---------------------------------------------------------------------------------


class InputOrderEmbedder:
    """sentence-transformers fed batches in input order: the unsorted baseline."""

    def __init__(self, threads: int, batch_size: int = 32) -> None:
        self.inner = SentenceTransformerEmbedder(batch_size=batch_size, cache_size=0, num_threads=threads)
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        model = self.inner._load()
        chunks = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        encode = functools.partial(model.encode, batch_size=self.batch_size, normalize_embeddings=True)
        return np.concatenate([encode(chunk) for chunk in chunks]) if chunks else np.zeros((0, 384), np.float32)


def torch_int8(threads: int) -> SentenceTransformerEmbedder:
    """Every nn.Linear replaced by torch's dynamic int8 one (per-tensor weights and activations)."""
    import torch

    embedder = st(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        torch.ao.quantization.quantize_dynamic(embedder._load(), {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return embedder


class OnnxEmbedder:
    """ONNX Runtime on the exported BERT: our own tokenization, token-length-sorted batches, mean pooling."""

    def __init__(self, path: Path, threads: int, batch_size: int = 32, max_seq_length: int = 256) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(_packaged_model() / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_seq_length)
        self.tokenizer.no_padding()
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        out = np.zeros((len(texts), 384), np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            x = np.zeros((len(batch), len(ids[batch[0]])), np.int64)
            for row, i in enumerate(batch):
                x[row, : len(ids[i])] = ids[i]
            mask = (x != 0).astype(np.int64)
            hidden = self.session.run(None, {"input_ids": x, "attention_mask": mask})[0]
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out[batch] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


def onnx_file(cache: Path, variant: str) -> Path:
    """The exported model (``fp32``) or a dynamically quantized copy, made once in ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    fp32 = cache / "fp32.onnx"
    if not fp32.is_file():
        export_onnx(fp32)
    if variant == "fp32":
        return fp32
    path = cache / f"{variant}.onnx"
    if not path.is_file():
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        products = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "MatMul"]
        attention = [n for n in products if n.endswith(("self/MatMul", "self/MatMul_1"))]  # two activations
        keep = ("self/query", "self/key", "attention/output") if variant == "int8-qko" else ("",)
        exclude = attention + [n for n in products if not any(k in n for k in keep)]
        quantize_dynamic(
            str(fp32), str(path), per_channel=True, reduce_range=False, weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"], nodes_to_exclude=exclude,
        )  # fmt: skip
    return path


def export_onnx(path: Path) -> None:
    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            types = torch.zeros_like(input_ids)
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=types).last_hidden_state

    bert = AutoModel.from_pretrained(str(_packaged_model()), attn_implementation="eager").eval()
    x = torch.ones(2, 16, dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated; it handles BERT fine
        torch.onnx.export(
            LastHiddenState(bert), (x, x), str(path), input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"], dynamic_axes=axes | {"last_hidden_state": {0: "batch", 1: "seq"}},
            opset_version=17, dynamo=False,
        )  # fmt: skip


def st(threads: int, **kwargs) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(batch_size=32, cache_size=0, num_threads=threads, **kwargs)


def onnx(cache: Path, variant: str, threads: int) -> OnnxEmbedder:
    return OnnxEmbedder(onnx_file(cache, variant), threads)


@dataclass(frozen=True)
class Option:
    name: str
    what: str
    make: functools.partial  # (threads=...) -> an Embedder; picklable, for worker processes
    threads: int = 2
    processes: int = 1
    quality: bool = True  # False: same vectors as another option, only speed is measured


def options(cache: Path) -> list[Option]:
    return [
        Option("st-fp32-unsorted", "(a) s-t float32, batches of 32 in input order", functools.partial(InputOrderEmbedder)),
        Option("st-fp32", "(b) s-t float32, length-sorted batches of 32", functools.partial(st)),
        Option("st-fp32-cap128", "(c) as st-fp32, max_seq_length 128", functools.partial(st, max_seq_length=128)),
        Option("torch-int8", "(d) torch dynamic int8 nn.Linear", functools.partial(torch_int8)),
        Option("onnx-fp32", "(e) ONNX Runtime float32", functools.partial(onnx, cache, "fp32")),
        Option("onnx-int8", "(e) ORT int8, all weight MatMuls", functools.partial(onnx, cache, "int8")),
        Option("onnx-int8-qko", "(e) ORT int8, query/key/attn-out only", functools.partial(onnx, cache, "int8-qko")),
        Option("bf16", "bfloat16 autocast (precision='bfloat16')", functools.partial(st, precision="bfloat16")),
        Option("bf16-cap128", "bf16, max_seq_length 128", functools.partial(st, precision="bfloat16", max_seq_length=128)),
        Option("bf16-1thread", "(f) bf16, 1 thread", functools.partial(st, precision="bfloat16"), threads=1, quality=False),
        Option("bf16-2proc", "(f) bf16, 2 processes x 1 thread", functools.partial(st, precision="bfloat16"), 1, 2, False),
        Option("onnx-fp32-2proc", "(f) ORT float32, 2 processes x 1 thread", functools.partial(onnx, cache, "fp32"), 1, 2, False),
    ]  # fmt: skip


# --- measuring -----------------------------------------------------------------------------------

_WORKER = None


def _start_worker(make: functools.partial) -> None:
    global _WORKER
    import torch

    torch.set_num_threads(1)
    _WORKER = make(threads=1)
    _WORKER.embed(["warm up"])


def _embed_chunk(chunk: list[str]) -> tuple[np.ndarray, float]:
    started = time.process_time()
    vectors = _WORKER.embed(chunk)
    return vectors, time.process_time() - started


def embed_timed(option: Option, embedder, texts: list[str]) -> tuple[np.ndarray, float, float]:
    """Vectors, wall seconds and CPU seconds (all processes') for embedding ``texts``."""
    if option.processes == 1:
        wall, cpu = time.perf_counter(), time.process_time()
        vectors = embedder.embed(texts)
        return vectors, time.perf_counter() - wall, time.process_time() - cpu
    # Longest first in chunks of 256 over a process pool, so both workers get batches of like lengths.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    chunks = [order[i : i + 256] for i in range(0, len(order), 256)]
    context = multiprocessing.get_context("spawn")  # fork after torch's thread pool starts can hang
    with context.Pool(option.processes, _start_worker, (option.make,)) as pool:
        pool.map(_embed_chunk, [["warm up"]] * option.processes)
        wall = time.perf_counter()
        results = pool.map(_embed_chunk, [[texts[i] for i in chunk] for chunk in chunks], chunksize=1)
        wall = time.perf_counter() - wall
    vectors = np.zeros((len(texts), 384), np.float32)
    for chunk, (rows, _) in zip(chunks, results, strict=True):
        vectors[chunk] = rows
    return vectors, wall, sum(cpu for _, cpu in results)


def cosines(a: np.ndarray, b: np.ndarray) -> dict:
    c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"mean": round(float(c.mean()), 6), "min": round(float(c.min()), 6)}


def ndcg_at_10(query_ids: list[str], q: np.ndarray, doc_ids: list[str], d: np.ndarray, qrels: dict) -> float:
    """Mean nDCG@10 over the queries, gain = grade, log2 discount (pytrec_eval's ndcg_cut_10)."""
    scores = q @ d.T
    total = 0.0
    for row, qid in enumerate(query_ids):
        ranked = [doc_ids[j] for j in np.argsort(-scores[row], kind="stable")[:11] if doc_ids[j] != qid][:10]
        dcg = sum(qrels[qid].get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked))
        ideal = sorted(qrels[qid].values(), reverse=True)[:10]
        total += dcg / sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return total / len(query_ids)


@dataclass
class Data:
    movie: list[str]
    doc_ids: list[str]
    docs: list[str]
    query_ids: list[str]
    queries: list[str]
    qrels: dict
    reference: dict = field(default_factory=dict)  # st-fp32 vectors: "movie", "docs"


def read_data(shared: Path, sample: int, quick: bool) -> Data:
    movie = [json.loads(line)["text"] for line in (shared / "movie-text" / "docs.jsonl").open(encoding="utf-8")]
    random.Random(0).shuffle(movie)
    scifact = shared / "scifact"
    qrels: dict[str, dict[str, int]] = {}
    for line in (scifact / "qrels.test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc, grade = line.split("\t")
        qrels.setdefault(qid, {})[doc] = int(grade)
    queries = [json.loads(line) for line in (scifact / "queries.test.jsonl").open(encoding="utf-8")]
    queries = [q for q in queries if q["_id"] in qrels][: 50 if quick else None]
    corpus = [json.loads(line) for line in (scifact / "corpus.jsonl").open(encoding="utf-8")]
    if quick:  # the relevant abstracts and random others, 1,000 in all
        relevant = {doc for q in queries for doc in qrels[q["_id"]]}
        others = [d for d in corpus if d["_id"] not in relevant]
        random.Random(0).shuffle(others)
        corpus = [d for d in corpus if d["_id"] in relevant] + others[: 1000 - len(relevant)]
    return Data(
        movie=movie[:sample],
        doc_ids=[d["_id"] for d in corpus],
        docs=[f"{d['title']} {d['text']}" for d in corpus],
        query_ids=[q["_id"] for q in queries],
        queries=[q["text"] for q in queries],
        qrels=qrels,
    )


def measure(option: Option, data: Data, compare: bool = True) -> dict:
    import torch

    torch.set_num_threads(option.threads)
    load = os.getloadavg()[0]
    embedder = option.make(threads=option.threads) if option.processes == 1 else None
    if embedder is not None:
        embedder.embed(data.movie[:16])  # loads the model outside the timed part
    vectors, wall, cpu = embed_timed(option, embedder, data.movie)
    r = {
        "option": option.name,
        "what": option.what,
        "threads": option.threads,
        "processes": option.processes,
        "movie_texts": len(data.movie),
        "texts_per_s": round(len(data.movie) / wall, 1),
        "texts_per_cpu_s": round(len(data.movie) / cpu, 1),
        "projected_62245_s": round(MOVIE_DOCS * wall / len(data.movie)),
        "load_average_before": round(load, 2),
    }
    if compare:
        data.reference.setdefault("movie", vectors)
        r["movie_cosine"] = cosines(vectors, data.reference["movie"])
    if embedder is not None and data.queries:
        latencies = []
        for query in data.queries:
            started = time.perf_counter()
            embedder.embed([query])
            latencies.append(1000 * (time.perf_counter() - started))
        r["query_ms"] = {
            "p50": round(float(np.percentile(latencies, 50)), 1),
            "p95": round(float(np.percentile(latencies, 95)), 1),
        }
    if option.quality and data.docs:
        # Not timed: one thread, which other jobs on the machine slow down less than two that wait on each other.
        torch.set_num_threads(1)
        docs, queries = embedder.embed(data.docs), embedder.embed(data.queries)
        data.reference.setdefault("docs", docs)
        r["scifact_cosine"] = cosines(docs, data.reference["docs"])
        r["scifact_ndcg10"] = round(ndcg_at_10(data.query_ids, queries, data.doc_ids, docs, data.qrels), 4)
    r["load_average_after"] = round(os.getloadavg()[0], 2)
    return r


def full_runs(data_movie: list[str], cache: Path) -> list[dict]:
    """The winner over every movie document, in one process of 2 threads and in 2 processes of 1."""
    runs = []
    for option in options(cache):
        if option.name in (WINNER, f"{WINNER}-2proc"):
            with console.status(f"{option.name}: all {len(data_movie):,} movie documents"):
                runs.append(measure(option, Data(data_movie, [], [], [], [], {}), compare=False))
    return runs


def _cos(c: dict | None) -> str:
    return f"{c['mean']:.6f} / {c['min']:.6f}" if c else "—"


def table(rows: list[dict], title: str) -> Table:
    t = Table("option", "what", "thr×proc", "movie cos mean / min", "SciFact cos mean / min", "nDCG@10",
              "texts/s", "texts/cpu-s", "62,245 docs", "query p50 / p95 ms", "load", title=title)  # fmt: skip
    for r in rows:
        q = r.get("query_ms")
        seconds = r["projected_62245_s"]
        t.add_row(
            r["option"], r["what"], f"{r['threads']}×{r['processes']}", _cos(r.get("movie_cosine")),
            _cos(r.get("scifact_cosine")), f"{r['scifact_ndcg10']:.4f}" if "scifact_ndcg10" in r else "—",
            f"{r['texts_per_s']:,.1f}", f"{r['texts_per_cpu_s']:,.1f}",
            f"{seconds:,} s" + (" ok" if seconds <= TARGET_SECONDS else ""),
            f"{q['p50']} / {q['p95']}" if q else "—", f"{r['load_average_before']}→{r['load_average_after']}",
        )  # fmt: skip
    return t


def compare(args: argparse.Namespace, sample: int) -> dict:
    """Every option (or ``--only`` ones) on the movie sample and SciFact; prints the table."""
    data = read_data(args.shared_data, sample, args.quick)
    if args.speed_only:
        data.docs = data.doc_ids = []
    chosen = [o for o in options(args.cache) if not args.only or o.name in args.only or o.name == "st-fp32"]
    chosen.sort(key=lambda o: o.name != "st-fp32")  # the reference first
    rows = []
    for option in chosen:
        with console.status(f"{option.name}: {option.what}"):
            rows.append(measure(option, data))
        console.print(f"{option.name}: {json.dumps(rows[-1])}", style="dim")
    console.print(table(rows, f"all-MiniLM-L6-v2 on {os.cpu_count()} CPUs: {sample:,} movie texts, "
                              f"SciFact {len(data.docs):,} abstracts / {len(data.queries)} queries"))  # fmt: skip
    return {
        "benchmark": "embeddings",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "cpu_capabilities": _capabilities(),
        },
        "quick": args.quick,
        "movie_sample": sample,
        "scifact": {"abstracts": len(data.docs), "queries": len(data.queries), "published_ndcg10": PUBLISHED_NDCG},
        "reference": "st-fp32",
        "options": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 movie texts, 50 queries, 1,000 abstracts")
    parser.add_argument("--sample", type=int, help="movie texts for speed and cosine (default 5,000; quick 500)")
    parser.add_argument("--full", action="store_true", help="also embed all 62,245 movie documents with the winner")
    parser.add_argument("--full-only", action="store_true", help="only the full runs, added to an existing --out")
    parser.add_argument("--speed-only", action="store_true", help="no SciFact; rows added to an existing --out")
    parser.add_argument("--only", nargs="+", help="run only these options (st-fp32, the reference, always runs)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "kgsearch" / "bench-embeddings")
    parser.add_argument("--shared-data", type=Path, default=Settings.from_env(home=".").shared_data)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "embeddings.json")
    args = parser.parse_args(argv)
    sample = args.sample or (500 if args.quick else 5000)

    if args.full_only or args.speed_only:
        results = (
            json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {"benchmark": "embeddings"}
        )
        if args.speed_only:  # a second measurement of speed, e.g. when other jobs slowed the first
            results.setdefault("speed_only", []).append(compare(args, sample)["options"])
    else:
        results = compare(args, sample)
    if args.full or args.full_only:
        all_movie = [json.loads(line)["text"] for line in (args.shared_data / "movie-text" / "docs.jsonl").open()]
        results["full"] = full_runs(all_movie, args.cache)
        console.print(table(results["full"], f"all {len(all_movie):,} movie documents"))
    if args.quick:
        console.print(
            "--quick: samples, not the benchmark figures (SciFact nDCG on a 1,000-abstract subset)", style="yellow"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


def _capabilities() -> dict:
    import torch

    caps = torch.cpu.get_capabilities()
    return {k: caps.get(k) for k in ("cpu_name", "avx512_vnni", "avx512_bf16", "amx_bf16", "num_physical_cores")}


if __name__ == "__main__":
    sys.exit(main())
