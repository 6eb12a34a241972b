"""Retrieval benchmark: SciFact ranking, answers from text when the KB is incomplete, ingest and query speed.

Sections (each can be run alone with ``--only``):

- ``scifact``: nDCG@10 / recall@100 of BM25, dense and hybrid on the SciFact test queries, fusion
  weights fitted on the train queries (``bench/retrieval_scifact.py``).
- ``incomplete``: MetaQA 1-hop test questions about films with a Wikipedia lead
  (:mod:`retrieval.incomplete_kb`); the KB with (a) every answering fact deleted and (b) a random
  50% of all facts deleted; the movie corpus ingested into it (text, no vectors); Hits@1 of the
  KB alone, the text alone and the hybrid. Target: hybrid >= 80% with the answering facts deleted,
  on the questions whose answer appears in the lead.
- ``speed``: ``kgsearch ingest`` of all 62,245 corpus documents (linking, text index, passage
  embeddings, provenance) into the full movie KB, timed per stage; then ``ask`` and ``search``
  latency (p50/p95) on 300 MetaQA 1-hop test questions. Targets: ingest <= 5 min; p50 <= 30 ms.

Run: ``python bench/retrieval.py [--kb-home DIR] [--only SECTION ...]``. ``--kb-home`` caches the
built movie KB (it is copied, never changed). Prints tables, writes bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.linking import open_home  # noqa: E402
from kgsearch.engine import Engine  # noqa: E402
from kgsearch.settings import Settings  # noqa: E402
from linking.evaluation import progress_bar  # noqa: E402
from parser.evaluation import question_sets  # noqa: E402
from retrieval.incomplete_kb import (  # noqa: E402
    answering_facts,
    delete_facts,
    delete_random_facts,
    evaluate,
    lead_questions,
)

console = Console()
CORPUS = Path("movie-text") / "docs.jsonl"


def machine() -> dict:
    import os

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}


def copy_home(kb_home: Path, target: Path) -> Path:
    """A private copy of the built KB home (store and catalogue only)."""
    target.mkdir(parents=True)
    for name in ("store", "catalogue.sqlite"):
        src = kb_home / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, target / name)
    return target


def ingest(engine: Engine, shared: Path, *, vectors: bool, what: str) -> dict:
    corpus = shared / CORPUS
    with progress_bar(console) as bar:
        task = bar.add_task(what, total=sum(1 for _ in corpus.open(encoding="utf-8")))
        report = engine.ingest([corpus], vectors=vectors, progress=lambda n: bar.update(task, completed=n))
    out = report.as_json()
    out["failed"] = len(report.failed)
    return out


def run_incomplete(kb_home: Path, shared: Path, tmp: Path, split: str, limit: int | None) -> dict:
    questions = lead_questions(shared, split, limit=limit)
    results = {"split": split, "questions": len(questions)}
    for setting in ("answering_facts_deleted", "half_of_facts_deleted"):
        home = copy_home(kb_home, tmp / setting)
        with Engine.open(home) as engine:
            if setting == "answering_facts_deleted":
                deleted = delete_facts(engine.store, answering_facts(questions))
            else:
                deleted = delete_random_facts(engine.store, 0.5)
            engine.rebuild_catalogue()
            ingested = ingest(engine, shared, vectors=False, what=f"ingest ({setting})")
            searcher = engine.hybrid()
            with progress_bar(console) as bar:
                task = bar.add_task(f"questions ({setting})", total=len(questions))
                scores = evaluate(searcher, questions, progress=lambda t=task: bar.advance(t))
            results[setting] = {
                "facts_deleted": deleted,
                "ingest": ingested,
                **scores.as_json(),
                "latency_ms": {
                    "p50": round(statistics.median(scores.latencies_ms), 2),
                    "p95": round(statistics.quantiles(scores.latencies_ms, n=20)[-1], 2),
                },
            }
        shutil.rmtree(home)
    return results


def run_speed(kb_home: Path, shared: Path, tmp: Path, n_questions: int) -> dict:
    home = copy_home(kb_home, tmp / "speed")
    with Engine.open(home) as engine:
        started = time.perf_counter()
        ingested = ingest(engine, shared, vectors=True, what="ingest (all documents, with vectors)")
        wall = time.perf_counter() - started
        pairs = question_sets(shared, "test", limit=n_questions)["MetaQA 1-hop"]
        searcher = engine.hybrid()
        searcher.ask(pairs[0].plain)  # warm: model loads, caches
        ask_ms, search_ms = [], []
        for pair in pairs:
            t = time.perf_counter()
            try:
                searcher.ask(pair.plain)
            except Exception:  # noqa: BLE001 - unparseable questions still count their time
                pass
            ask_ms.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            searcher.search(pair.plain, limit=10)
            search_ms.append(1000 * (time.perf_counter() - t))
    shutil.rmtree(home)

    def pct(values: list[float]) -> dict:
        return {"p50": round(statistics.median(values), 2), "p95": round(statistics.quantiles(values, n=20)[-1], 2)}

    return {
        "documents": ingested["added"] + ingested["updated"],
        "ingest_wall_s": round(wall, 1),
        "ingest": ingested,
        "queries": len(pairs),
        "ask_ms": pct(ask_ms),
        "search_ms": pct(search_ms),
        "embedding_precision": engine.embedder().precision,
    }


def print_tables(report: dict) -> None:
    if "incomplete" in report:
        inc = report["incomplete"]
        table = Table(title=f"Incomplete KB + text: MetaQA 1-hop {inc['split']} questions about films with a lead")
        for col in ("KB setting", "questions", "answer in text", "KB only", "text only", "hybrid", "hybrid (all)"):
            table.add_column(col)
        for setting in ("answering_facts_deleted", "half_of_facts_deleted"):
            r = inc.get(setting)
            if not r:
                continue
            h = r["hits_at_1_answer_in_text"]
            table.add_row(
                setting.replace("_", " "),
                str(r["questions"]),
                str(r["answer_in_text"]),
                f"{h['kb']:.2f}",
                f"{h['text']:.2f}",
                f"{h['hybrid']:.2f}",
                f"{r['hits_at_1']['hybrid']:.2f}",
            )
        console.print(table)
    if "speed" in report:
        s = report["speed"]
        table = Table(title="Speed (full movie KB + corpus, 2 cores)")
        table.add_column("what")
        table.add_column("value")
        table.add_row("ingest, all documents (s)", str(s["ingest_wall_s"]))
        for stage, secs in s["ingest"]["timings"].items():
            table.add_row(f"  {stage} (s)", str(secs))
        table.add_row("ask p50 / p95 (ms)", f"{s['ask_ms']['p50']} / {s['ask_ms']['p95']}")
        table.add_row("search p50 / p95 (ms)", f"{s['search_ms']['p50']} / {s['search_ms']['p95']}")
        console.print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb-home", type=Path, help="build the full movie KB here once and reuse it (copied, not changed)")
    ap.add_argument("--only", nargs="+", choices=("scifact", "incomplete", "speed"))
    ap.add_argument("--split", default="test", choices=("dev", "test"))
    ap.add_argument("--limit", type=int, help="a fixed sample of N questions (incomplete KB)")
    ap.add_argument("--speed-questions", type=int, default=300)
    ap.add_argument("--shared-data", type=Path, default=Settings.from_env(home=".").shared_data)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "retrieval.json")
    args = ap.parse_args()
    sections = args.only or ["scifact", "incomplete", "speed"]
    report: dict = json.loads(args.out.read_text()) if args.out.exists() else {}
    report.update({"benchmark": "retrieval", "machine": machine()})
    with tempfile.TemporaryDirectory() as tmp:
        kb_home = args.kb_home or Path(tmp) / "kb"
        kb_home.mkdir(parents=True, exist_ok=True)
        if {"incomplete", "speed"} & set(sections):
            engine, _ = open_home(kb_home, args.shared_data)
            engine.close()
        if "scifact" in sections:
            from bench.retrieval_scifact import run as run_scifact

            report["scifact"] = run_scifact()
        if "incomplete" in sections:
            report["incomplete"] = run_incomplete(kb_home, args.shared_data, Path(tmp), args.split, args.limit)
        if "speed" in sections:
            report["speed"] = run_speed(kb_home, args.shared_data, Path(tmp), args.speed_questions)
    print_tables(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
