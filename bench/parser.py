"""Semantic parser benchmark: Hits@1 of `ask` on MetaQA (brackets removed), NTM and WikiMovies, and latency.

On the full movie KB (built into a kgsearch home, cached with ``--home DIR``), every question of
each set is asked as a user would type it (the topic entity is not marked), parsed to SPARQL and
run on the embedded store; Hits@1 counts the first answer. Latency is per question (parse +
query), one process, 2 cores; p50 and p95.

Run: ``python bench/parser.py [--home DIR] [--split test] [--limit N]``. Prints a table and writes
bench/results/parser.json (``--out``). ``kgsearch eval metaqa`` runs the same evaluation.
Targets (issue 4): MetaQA 1/2/3-hop test Hits@1 97.5 / 99.9 / 99.0; p50 latency <= 30 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from bench.linking import open_home  # noqa: E402
from kgsearch.settings import Settings  # noqa: E402
from parser.evaluation import evaluate_sets, question_sets, results_table  # noqa: E402

PUBLISHED = {  # Hits@1 with the topic entity given (../shared/data/README.md)
    "NSM": {"MetaQA 1-hop": 97.1, "MetaQA 2-hop": 99.9, "MetaQA 3-hop": 98.9},
    "TransferNet": {"MetaQA 1-hop": 97.5, "MetaQA 2-hop": 100.0, "MetaQA 3-hop": 100.0},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, help="keep the built KB home here and reuse it on later runs")
    ap.add_argument("--split", default="test", choices=("dev", "test"))
    ap.add_argument("--limit", type=int, help="a fixed sample of N questions per set")
    ap.add_argument("--shared-data", type=Path, default=Settings.from_env(home=".").shared_data)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "parser.json")
    args = ap.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "home"
        home.mkdir(parents=True, exist_ok=True)
        engine, _ = open_home(home, args.shared_data)
        with engine:
            started = time.perf_counter()
            parser = engine.parser()
            build_s = time.perf_counter() - started
            sets = question_sets(args.shared_data, args.split, limit=args.limit)
            results = evaluate_sets(parser, sets, progress_console=console)
    console.print(results_table(results))
    report = {
        "split": args.split,
        "limit": args.limit,
        "parser_build_seconds": round(build_s, 2),
        "lexicon": parser.lexicon is not None,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "sets": {r.name: r.as_json() for r in results},
        "published_topic_entity_given": PUBLISHED,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
