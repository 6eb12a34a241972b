"""Crash-safety benchmark: ``kill -9`` at random moments of a large ``kgsearch load`` and of
``kgsearch ingest`` of the movie corpus, then reopen, check, and re-run.

* **load**: the full movie KB (``movies.nt.gz`` built from MetaQA, about 220,000 statements)
  into a home holding the ontology. Each trial kills the process at a random moment of the
  load (a uniform fraction of a clean load's time after the journal records it). Checked after
  reopening: the store holds a subset of the clean load's quads and the journal reports the
  interrupted file; after re-running: exactly the clean load's quads (nothing duplicated) and
  its catalogue (popularity aside, which is normalized when each entity is written).
* **ingest**: the first ``--docs`` documents of the movie corpus (with passage vectors) into
  a copy of the full-KB home, in checkpoints of ``--checkpoint``. Each trial kills the process
  at a random moment of a clean ingest's time. Checked after reopening: the ledger, the text
  index, the vector index and the mention graph hold the same documents (none visible in one
  and missing in another), and none that was recorded is lost; after re-running: every
  document everywhere, once (index counts equal the number of documents).

Run: ``python bench/crash_safety.py [--trials N] [--docs N] [--checkpoint N] [--seed S]``.
Prints a table and writes bench/results/crash-safety.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from kgsearch.datasets import build_dataset  # noqa: E402
from kgsearch.engine import Engine  # noqa: E402
from kgsearch.testing import KGSEARCH, holdings, kill_when, ledger_rows, quad_set  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 120)
SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "movie-text" / "docs.jsonl"


def run(*args) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run([*KGSEARCH, *map(str, args)], capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"kgsearch {' '.join(map(str, args))} failed:\n{result.stderr}")
    return time.perf_counter() - started, result


def catalogue(engine: Engine) -> list:
    return sorted((replace(e, popularity=0) for e in engine.catalogue.entities()), key=lambda e: e.iri)


def recorded_seconds(args: list, started) -> float:
    """Seconds a clean ``kgsearch *args`` runs from the moment ``started()`` is true (its journal
    record or first write) to its exit: the span the kills are spread over."""
    process = subprocess.Popen([*KGSEARCH, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not started() and process.poll() is None:
        time.sleep(0.005)
    begun = time.perf_counter()
    _, stderr = process.communicate(timeout=3600)
    if process.returncode != 0:
        raise SystemExit(f"kgsearch {' '.join(map(str, args))} failed:\n{stderr.decode()}")
    return time.perf_counter() - begun


def journal_has_record(home: Path) -> bool:
    return any((home / "journal").glob("load-*.json"))


def load_trials(work: Path, files: list[Path], trials: int, rng: random.Random) -> dict:
    ontology, kb = files
    base = work / "load-base"
    run("load", "--home", base, ontology)
    reference = shutil.copytree(base, work / "load-reference")
    clean_seconds = recorded_seconds(["load", "--home", reference, kb], lambda: journal_has_record(reference))
    with Engine.open(reference) as engine:
        expected, expected_catalogue = quad_set(engine), catalogue(engine)
    rows = []
    # Random moments, then one aimed at the bulk loader's write (its first SST file in the store),
    # the only moment a part of the file can be in the store.
    for trial in range(trials + 1):
        home = shutil.copytree(base, work / f"load-{trial}")
        if trial < trials:
            moment, delay = "random", rng.uniform(0.05, 0.95) * clean_seconds
            ready = lambda h=home: journal_has_record(h)  # noqa: E731
        else:
            moment, delay = "bulk write", 0.0
            ready = lambda h=home: any((h / "store").glob("bulk-*.sst"))  # noqa: E731
        alive = kill_when(["load", "--home", home, kb], ready, delay)
        started = time.perf_counter()
        with Engine.open(home) as engine:
            reopen = time.perf_counter() - started
            partial = quad_set(engine)
            interrupted = len(engine.interrupted_loads)
            subset = partial <= expected
        rerun_seconds, result = run("load", "--home", home, kb)
        with Engine.open(home) as engine:
            complete = quad_set(engine) == expected and catalogue(engine) == expected_catalogue
            left = len(engine.interrupted_loads)
        rows.append(
            {
                "moment": moment,
                "kill_after_s": round(delay, 2),
                "killed_running": alive,
                # Killed after the journal record was removed, the file is whole: nothing to report.
                "consistent_after_kill": subset and (interrupted == 1 or partial == expected),
                "reported_interrupted": interrupted == 1,
                "quads_after_kill": len(partial),
                "subset_of_clean_load": subset,
                "reopen_s": round(reopen, 2),
                "rerun_s": round(rerun_seconds, 2),
                "complete_after_rerun": complete,
                "journal_left": left,
            }
        )
        shutil.rmtree(home)
        console.print(f"load trial {trial + 1}/{trials + 1}: {rows[-1]}")
    return {
        "file": kb.name,
        "statements": len(expected) - len(ontology_quads(base)),
        "clean_load_s": round(clean_seconds, 2),
        "trials": rows,
    }


def ontology_quads(home: Path) -> set[str]:
    with Engine.open(home) as engine:
        return quad_set(engine)


def ingest_trials(work: Path, files: list[Path], trials: int, docs: int, checkpoint: int, rng: random.Random) -> dict:
    base = work / "ingest-base"
    run("load", "--home", base, *files)
    corpus = work / "docs.jsonl"
    with CORPUS.open(encoding="utf-8") as source, corpus.open("w", encoding="utf-8") as target:
        ids = []
        for _, line in zip(range(docs), source, strict=False):
            target.write(line)
            ids.append(json.loads(line)["doc_id"])
    args = ["--checkpoint", checkpoint, corpus]
    reference = shutil.copytree(base, work / "ingest-reference")
    clean_seconds, _ = run("ingest", "--home", reference, *args)
    shutil.rmtree(reference)
    rows = []
    for trial in range(trials):
        home = shutil.copytree(base, work / f"ingest-{trial}")
        delay = rng.uniform(0.05, 0.95) * clean_seconds
        alive = kill_when(["ingest", "--home", home, *args], lambda: True, delay)
        pending = ledger_rows(home, "pending")
        started = time.perf_counter()
        with Engine.open(home) as engine:
            reopen = time.perf_counter() - started
            held = holdings(engine, ids)
            rolled_back = len(engine.rolled_back)
        recorded = held["ledger"]
        agree = all(part == recorded for part in held.values())
        rerun_seconds, result = run("ingest", "--home", home, *args, "--json")
        report = json.loads(result.stdout)
        with Engine.open(home) as engine:
            after = holdings(engine, ids)
            counts = {
                "ledger": len(engine.ledger()),
                "text": engine.text_index().count(),
                "vectors": engine.vector_index().count() if engine.vector_index() is not None else 0,
            }
        rows.append(
            {
                "kill_after_s": round(delay, 2),
                "killed_running": alive,
                "recorded_before_kill": len(recorded),
                "pending_at_kill": pending,
                "rolled_back": rolled_back,
                "indexes_agree_after_kill": agree,
                "reopen_s": round(reopen, 2),
                "rerun_skipped": report["unchanged"],
                "rerun_added": report["added"],
                "rerun_s": round(rerun_seconds, 2),
                "complete_after_rerun": all(part == set(ids) for part in after.values()),
                "no_duplicates": all(n == len(ids) for n in counts.values()),
            }
        )
        shutil.rmtree(home)
        console.print(f"ingest trial {trial + 1}/{trials}: {rows[-1]}")
    return {"documents": docs, "checkpoint": checkpoint, "clean_ingest_s": round(clean_seconds, 2), "trials": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="kills per workload")
    parser.add_argument("--docs", type=int, default=1000, help="corpus documents ingested")
    parser.add_argument("--checkpoint", type=int, default=100, help="documents per ingest checkpoint")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "crash-safety.json")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kgsearch-crash-") as tmp:
        work = Path(tmp)
        files = build_dataset("movies", SHARED, work / "datasets", console=console)
        load = load_trials(work, files, args.trials, rng)
        ingest = ingest_trials(work, files, args.trials, args.docs, args.checkpoint, rng)

    table = Table(title="kill -9 mid-work, reopen, re-run")
    for column in ("workload", "kills", "mid-work", "consistent after kill", "complete after re-run", "duplicates"):
        table.add_column(column)
    load_ok = sum(r["consistent_after_kill"] for r in load["trials"])
    table.add_row(
        f"load {load['file']} ({load['statements']:,} statements, {load['clean_load_s']} s clean)",
        str(len(load["trials"])),
        str(sum(r["killed_running"] for r in load["trials"])),
        f"{load_ok}/{len(load['trials'])}",
        f"{sum(r['complete_after_rerun'] for r in load['trials'])}/{len(load['trials'])}",
        "0" if all(r["complete_after_rerun"] for r in load["trials"]) else "see JSON",
    )
    table.add_row(
        f"ingest {ingest['documents']:,} docs with vectors ({ingest['clean_ingest_s']} s clean)",
        str(len(ingest["trials"])),
        str(sum(r["killed_running"] for r in ingest["trials"])),
        f"{sum(r['indexes_agree_after_kill'] for r in ingest['trials'])}/{len(ingest['trials'])}",
        f"{sum(r['complete_after_rerun'] for r in ingest['trials'])}/{len(ingest['trials'])}",
        str(sum(not r["no_duplicates"] for r in ingest["trials"])),
    )
    console.print(table)
    result = {
        "benchmark": "crash-safety",
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "seed": args.seed,
        "load": load,
        "ingest": ingest,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
