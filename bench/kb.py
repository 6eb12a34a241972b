"""Knowledge-base layer benchmark: load time and query latency on the full movie KB and LUBM(1,0).

Engines, in one run on the same files and queries:
  * OxigraphStore (kgsearch's embedded default, on disk; results materialized through our API),
  * OxigraphStore in memory (what tests and throwaway sessions use),
  * rdflib's in-memory Graph (parse, then Graph.query; results materialized),
  * Virtuoso 7 (Debian's virtuoso-opensource, started here on 127.0.0.1): loaded with its bulk
    loader, queried over HTTP through SparqlEndpointStore.

Run: ``python bench/kb.py [--reps N] [--no-virtuoso]``. Prints tables and writes bench/results/kb.json.
Targets (issue 2): load >= 15x faster than rdflib, queries >= 20x faster (median over the
movie queries), and the LUBM answers match the reference counts for queries needing no inference.
"""

from __future__ import annotations

import argparse
import gc
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

import rdflib  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.kb_queries import LUBM_PREFIXES, LUBM_QUERIES, MOVIE_QUERIES, MOVIES_PREFIXES  # noqa: E402
from kg import OxigraphStore  # noqa: E402
from kg.datasets.movies import ONTOLOGY_PATH, build_movies  # noqa: E402
from kg.testing.virtuoso import VirtuosoServer, virtuoso_available  # noqa: E402

console = Console()
ENGINES = ("oxigraph", "oxigraph-memory", "rdflib", "virtuoso")
RDFLIB_FORMATS = {".nt": "nt", ".ttl": "turtle", ".owl": "xml"}


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def measure(run, reps: int, budget: float) -> tuple[float, int]:
    """Median seconds over ``reps`` runs after one warm-up (fewer if the time budget runs out), and the row count.

    A query whose warm-up alone exceeds the budget is timed by that one run.
    """
    first, rows = timed(run)
    if first > budget:
        return first, rows
    times = []
    spent = 0.0
    for _ in range(reps):
        t, rows = timed(run)
        times.append(t)
        spent += t
        if spent > budget:
            break
    return statistics.median(times), rows


def rdflib_runner(graph: rdflib.Graph, query: str):
    def run():
        result = graph.query(query)
        return 1 if result.type == "ASK" else len(list(result))

    return run


def store_runner(store, query: str):
    def run():
        return len(store.query(query))

    return run


def timed_load(fn):
    gc.collect()  # start each load without garbage left by the previous dataset
    return timed(fn)


def bench_dataset(name, files, queries, prefixes, reps, virtuoso, workdir):
    """Load ``files`` into every engine and time ``queries``; returns the dataset's JSON record."""
    record = {"files": [str(f.name) for f in files], "load": {}, "queries": {}}
    console.rule(f"{name}: loading {', '.join(f.name for f in files)}")

    ox_store = OxigraphStore(workdir / f"{name}-oxigraph")
    t, _ = timed_load(lambda: [ox_store.load(f) for f in files])
    record["load"]["oxigraph"] = {"seconds": t, "triples": ox_store.count()}
    mem_store = OxigraphStore()
    t, _ = timed_load(lambda: [mem_store.load(f) for f in files])
    record["load"]["oxigraph-memory"] = {"seconds": t, "triples": mem_store.count()}

    graph = rdflib.Graph()
    t, _ = timed_load(lambda: [graph.parse(f, format=RDFLIB_FORMATS[f.suffix]) for f in files])
    record["load"]["rdflib"] = {"seconds": t, "triples": len(graph)}

    v_store = None
    if virtuoso is not None:
        load_dir = workdir / f"{name}-virtuoso-load"
        load_dir.mkdir()
        for f in files:
            shutil.copy(f, load_dir / f.name)
        graph_iri = f"http://kgsearch.org/bench/{name}"
        t, _ = timed_load(lambda: virtuoso.bulk_load(load_dir, "*", graph_iri))
        v_store = virtuoso.store(default_graph=graph_iri)
        record["load"]["virtuoso"] = {"seconds": t, "triples": v_store.count()}

    engines = {
        "oxigraph": lambda q: store_runner(ox_store, q),
        "oxigraph-memory": lambda q: store_runner(mem_store, q),
        "rdflib": lambda q: rdflib_runner(graph, q),
    }
    if v_store is not None:
        engines["virtuoso"] = lambda q: store_runner(v_store, q)
    for qname, spec in queries.items():
        query = prefixes + spec[-1]
        entry = {"kind": spec[0] if isinstance(spec[0], str) else ("needs inference" if spec[0] else "no inference")}
        if len(spec) == 3:
            entry["reference_count"] = spec[1]
        for engine, make in engines.items():
            seconds, rows = measure(make(query), reps if engine != "rdflib" else max(1, reps // 3), budget=20.0)
            entry[engine] = {"median_ms": seconds * 1000, "rows": rows}
        record["queries"][qname] = entry
        console.print(
            f"  {qname:45s} "
            + "  ".join(f"{e} {entry[e]['median_ms']:9.2f} ms ({entry[e]['rows']} rows)" for e in engines)
        )
    ox_store.close()
    mem_store.close()
    return record


def summarize(name: str, record: dict) -> dict:
    load = record["load"]
    queries = record["queries"]
    summary = {
        "engines_agree_on_row_counts": all(
            len({q[e]["rows"] for e in ENGINES if e in q}) == 1 for q in queries.values()
        )
    }
    for engine in ("oxigraph", "oxigraph-memory"):
        summary[engine] = {
            "load_speedup_vs_rdflib": load["rdflib"]["seconds"] / load[engine]["seconds"],
            "query_speedup_vs_rdflib_median": statistics.median(
                q["rdflib"]["median_ms"] / q[engine]["median_ms"] for q in queries.values()
            ),
            "query_ms_median": statistics.median(q[engine]["median_ms"] for q in queries.values()),
        }
    summary["rdflib_query_ms_median"] = statistics.median(q["rdflib"]["median_ms"] for q in queries.values())
    if "virtuoso" in load:
        summary["virtuoso_load_seconds_over_oxigraph"] = load["virtuoso"]["seconds"] / load["oxigraph"]["seconds"]
        summary["virtuoso_query_ms_median"] = statistics.median(q["virtuoso"]["median_ms"] for q in queries.values())
    if any("reference_count" in q for q in queries.values()):
        no_inference = {k: q for k, q in queries.items() if q["kind"] == "no inference"}
        summary["lubm_no_inference_match_reference"] = {
            k: q["oxigraph"]["rows"] == q["reference_count"] for k, q in no_inference.items()
        }
    return summary


def print_tables(results: dict) -> None:
    for name, record in results["datasets"].items():
        engines = [e for e in ENGINES if e in record["load"]]
        load = Table("engine", "load s", "triples", title=f"{name}: load")
        for e in engines:
            load.add_row(e, f"{record['load'][e]['seconds']:.2f}", f"{record['load'][e]['triples']:,}")
        console.print(load)
        table = Table(
            "query", "kind", *[f"{e} ms" for e in engines], "rdflib / oxigraph", "rows", title=f"{name}: query medians"
        )
        for qname, q in record["queries"].items():
            rows = q["oxigraph"]["rows"]
            ref = f" (ref {q['reference_count']})" if "reference_count" in q else ""
            table.add_row(
                qname,
                q["kind"],
                *[f"{q[e]['median_ms']:.2f}" for e in engines],
                f"{q['rdflib']['median_ms'] / q['oxigraph']['median_ms']:.0f}x",
                f"{rows}{ref}",
            )
        console.print(table)
        s = record["summary"]
        for engine in ("oxigraph", "oxigraph-memory"):
            e = s[engine]
            console.print(
                f"{name}, {engine}: load {e['load_speedup_vs_rdflib']:.1f}x faster than rdflib (target >= 15x); "
                f"queries {e['query_speedup_vs_rdflib_median']:.1f}x faster, median of per-query ratios (target >= 20x)"
            )
        console.print(f"{name}: engines agree on row counts: {s['engines_agree_on_row_counts']}")
        if "lubm_no_inference_match_reference" in s:
            console.print(
                f"LUBM queries needing no inference match the reference: {s['lubm_no_inference_match_reference']}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10, help="timed runs per query (rdflib gets a third)")
    parser.add_argument("--no-virtuoso", action="store_true", help="leave Virtuoso out")
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kb.json")
    args = parser.parse_args(argv)

    results = {
        "benchmark": "kb",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
        },
        "datasets": {},
    }
    with tempfile.TemporaryDirectory(prefix="kgsearch-bench-") as tmp:
        workdir = Path(tmp)
        movies_nt = Path(build_movies(args.shared_data, workdir, filename="movies.nt").output)
        datasets = {
            "movies": ([ONTOLOGY_PATH, movies_nt], MOVIE_QUERIES, MOVIES_PREFIXES),
            "lubm": (
                [args.shared_data / "lubm" / "univ-bench.owl", args.shared_data / "lubm" / "University0_all.nt"],
                LUBM_QUERIES,
                LUBM_PREFIXES,
            ),
        }
        reason = "disabled with --no-virtuoso" if args.no_virtuoso else virtuoso_available()
        virtuoso = None
        if reason:
            console.print(f"Virtuoso left out: {reason}", style="yellow")
        else:
            virtuoso = VirtuosoServer(workdir / "virtuoso", buffers=100_000, load_dirs=[workdir])
            virtuoso.start(timeout=120)
        try:
            for name, (files, queries, prefixes) in datasets.items():
                record = bench_dataset(name, files, queries, prefixes, args.reps, virtuoso, workdir)
                record["summary"] = summarize(name, record)
                results["datasets"][name] = record
        finally:
            if virtuoso is not None:
                virtuoso.stop()
    print_tables(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
