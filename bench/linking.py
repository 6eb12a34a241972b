"""Text linking benchmark: silver-set F1 on Wikipedia leads, MetaQA topic-entity accuracy, and speed.

On the full movie KB (built into a kgsearch home, cached with ``--home DIR``):
  * build time of the TextLinker,
  * the silver set (linking.evaluation): Wikipedia leads with gold mentions of the film's
    title and its KB directors, writers and actors; micro precision/recall/F1 on dev and test,
    and a sample of 50 links outside gold spans per split for hand-checking
    (linking_outside_gold_<split>.tsv beside the JSON),
  * MetaQA topic entities (linking.evaluation): top-1 accuracy on 1/2/3-hop vanilla
    and 1-hop NTM questions, dev and test, with the first 30 failures per file,
  * speed: documents/second over all 34,532 Wikipedia leads, in one process and in two forked
    worker processes (each with its own copy of the linker), and peak memory (ru_maxrss).

Run: ``python bench/linking.py [--home DIR] [--limit N] [--skip-speed] [--skip-questions] [--ner]``.
Prints tables and writes bench/results/linking.json (``--out``); ``kgsearch eval linking`` runs the
same evaluation on one split of a home.
Targets (issue 3): silver micro-F1 >= 0.90, question accuracy >= 98% on dev, >= 500 docs/s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from kgsearch.datasets import build_dataset  # noqa: E402
from kgsearch.engine import Engine  # noqa: E402
from kgsearch.settings import Settings  # noqa: E402
from linking.errors import LinkingError  # noqa: E402
from linking.evaluation import (  # noqa: E402
    DOCS_FILE,
    SPLITS,
    build_silver_set,
    evaluate_question_sets,
    evaluate_silver,
    overall,
    progress_bar,
    questions_table,
    read_documents,
    sample,
    silver_table,
    write_outside_sample,
)

console = Console(width=None if sys.stdout.isatty() else 150)  # logs keep whole tables
TARGET_F1 = 0.90
TARGET_QUESTIONS = 0.98
TARGET_DOCS_PER_S = 500
BUILT_MARKER = ".linking-bench-built"
CHUNK = 200


def open_home(home: Path, shared_data: Path) -> tuple[Engine, float | None]:
    """Open a home holding the full movie KB, building it first unless an earlier run did; returns the build seconds."""
    settings = Settings.from_env(home=home)
    if (home / BUILT_MARKER).is_file():
        return Engine(settings), None
    started = time.perf_counter()
    files = build_dataset("movies", shared_data, home / "datasets", console=console)
    engine = Engine(settings)
    with progress_bar(console) as progress:
        task = progress.add_task("loading the movie KB", total=None)
        engine.load(files, progress=lambda path, done, total: progress.update(task, completed=done, total=total))
    (home / BUILT_MARKER).write_text("built by bench/linking.py\n", encoding="utf-8")
    return engine, time.perf_counter() - started


def max_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def current_rss_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# Set before the workers fork, so that each inherits its own copy of the linker and the documents.
_LINKER = None
_DOCS: list = []


def _link_chunk(bounds: tuple[int, int]) -> tuple[int, int, float]:
    start, end = bounds
    links = sum(len(_LINKER.link(doc)) for doc in _DOCS[start:end])
    return os.getpid(), links, max_rss_mib()


def measure_speed(linker, docs: list, workers: int) -> dict:
    """Link every document once, in this process (``workers == 1``) or in forked worker processes."""
    global _LINKER, _DOCS
    started = time.perf_counter()
    if workers == 1:
        links = sum(len(linker.link(doc)) for doc in docs)
        peaks = {}
    else:
        _LINKER, _DOCS = linker, docs
        chunks = [(i, min(i + CHUNK, len(docs))) for i in range(0, len(docs), CHUNK)]
        peaks: dict[int, float] = {}
        links = 0
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for pid, n, peak in pool.imap_unordered(_link_chunk, chunks):
                links += n
                peaks[pid] = max(peak, peaks.get(pid, 0.0))
            pool.close()
            pool.join()
        _LINKER, _DOCS = None, []
    seconds = time.perf_counter() - started
    return {
        "workers": workers,
        "docs": len(docs),
        "links": links,
        "seconds": round(seconds, 2),
        "docs_per_s": round(len(docs) / seconds, 1),
        "worker_max_rss_mib": [round(p) for p in sorted(peaks.values())],
    }


def speed_runs(linker, docs: list, label: str) -> list[dict]:
    for doc in docs[:20]:  # warm-up: lazy models load here, not inside the timed loop
        linker.link(doc)
    runs = []
    for workers in (1, 2):
        with console.status(f"speed, {label}, {workers} process{'es' if workers > 1 else ''}"):
            runs.append({"config": label} | measure_speed(linker, docs, workers))
    return runs


def speed_table(runs: list[dict]) -> Table:
    table = Table("linker", "processes", "docs", "links", "seconds", "docs/s", title="speed: Wikipedia leads")
    for r in runs:
        ok = "ok" if r["docs_per_s"] >= TARGET_DOCS_PER_S else "below"
        rate = f"{r['docs_per_s']:,.0f} ({ok} ≥ {TARGET_DOCS_PER_S})"
        table.add_row(r["config"], str(r["workers"]), f"{r['docs']:,}", f"{r['links']:,}", f"{r['seconds']:.1f}", rate)
    return table


def failures_table(results, n: int = 5) -> Table:
    table = Table("set", "question", "gold", "top predictions", title=f"first {n} question failures per set (dev)")
    for r in results:
        for f in r.failures[:n]:
            top = "; ".join(f"{label} ({score:.2f})" for label, score in f.predicted) or "—"
            table.add_row(r.name, f.question, f.gold, top)
    return table


def run(args: argparse.Namespace, engine: Engine, results: dict) -> tuple[list, dict, list]:
    """Build the linker and run every measurement; fills ``results`` and returns what the tables show."""
    from linking.text import TextLinker

    started = time.perf_counter()
    linker = TextLinker.build(engine.catalogue, engine.store)
    results["build"]["linker_seconds"] = round(time.perf_counter() - started, 2)
    results["build"]["entities"] = len(engine.catalogue)
    results["build"]["rss_after_linker_build_mib"] = current_rss_mib()

    silver = build_silver_set(args.shared_data, engine.store)
    silver_results = []
    with progress_bar(console) as progress:
        for split in SPLITS:
            docs = sample([d for d in silver if d.split == split], args.limit)
            r = evaluate_silver(linker, docs, split=split, progress=progress)
            silver_results.append(r)
            write_outside_sample(r, args.out.parent / f"linking_outside_gold_{split}.tsv")
    results["silver"] = {r.split: r.as_json() for r in silver_results}

    questions = {}
    if not args.skip_questions:
        with progress_bar(console) as progress:
            for split in SPLITS:
                questions[split] = evaluate_question_sets(
                    linker, args.shared_data, split, limit=args.limit, progress=progress
                )
        results["questions"] = {
            split: {r.name: r.as_json() for r in [*rs, overall(rs)]} for split, rs in questions.items()
        }

    runs = []
    if not args.skip_speed:
        docs = sample(read_documents(args.shared_data / DOCS_FILE), args.limit)
        runs += speed_runs(linker, docs, "NER off")
        if args.ner:
            try:
                runs += speed_runs(linker.with_config(use_ner=True), docs, "NER on")
            except LinkingError as e:
                console.print(f"NER left out: {e}", style="yellow")
                results["ner_unavailable"] = str(e)
        results["speed"] = runs
    results["memory"] = {
        "parent_max_rss_mib": round(max_rss_mib()),
        "children_max_rss_mib": round(max_rss_mib(resource.RUSAGE_CHILDREN)),
        "note": "the parent's peak includes building the KB when this run built it",
    }
    return silver_results, questions, runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="keep the built KB home here and reuse it on later runs")
    parser.add_argument("--limit", type=int, help="sample N docs per split, N questions per file, N docs for speed")
    parser.add_argument("--skip-speed", action="store_true", help="leave out the docs/s measurement")
    parser.add_argument("--skip-questions", action="store_true", help="leave out the MetaQA questions")
    parser.add_argument("--ner", action="store_true", help="also measure speed with the statistical NER model on")
    parser.add_argument("--shared-data", type=Path, default=Settings.from_env(home=".").shared_data)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "linking.json")
    args = parser.parse_args(argv)

    results: dict = {
        "benchmark": "linking",
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "limit": args.limit,
        "targets": {"silver_f1": TARGET_F1, "question_accuracy_dev": TARGET_QUESTIONS, "docs_per_s": TARGET_DOCS_PER_S},
    }
    with tempfile.TemporaryDirectory(prefix="kgsearch-bench-linking-") as tmp:
        home = args.home or Path(tmp) / "home"
        home.mkdir(parents=True, exist_ok=True)
        engine, kb_seconds = open_home(home, args.shared_data)
        results["build"] = {"kb_seconds": round(kb_seconds, 1) if kb_seconds is not None else None}
        with engine:
            silver_results, questions, runs = run(args, engine, results)

    b = results["build"]
    kb = f"{b['kb_seconds']} s" if b["kb_seconds"] is not None else "reused from --home"
    console.print(
        f"movie KB: {kb}, {b['entities']:,} entities; linker build {b['linker_seconds']} s, "
        f"RSS after it {b['rss_after_linker_build_mib'] or 0:,.0f} MiB"
    )
    console.print(silver_table(silver_results, target_f1=TARGET_F1))
    if questions:
        console.print(questions_table([r for rs in questions.values() for r in rs], target=TARGET_QUESTIONS))
        if any(r.failures for r in questions["dev"]):
            console.print(failures_table(questions["dev"]))
    if runs:
        console.print(speed_table(runs))
    m = results["memory"]
    console.print(
        f"peak memory (ru_maxrss): this process {m['parent_max_rss_mib']:,} MiB, children {m['children_max_rss_mib']:,} MiB"
    )
    if args.limit:
        console.print(f"--limit {args.limit}: a quick run on samples, not the benchmark figures", style="yellow")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
