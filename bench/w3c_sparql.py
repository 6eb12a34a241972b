"""W3C SPARQL test suites through kgsearch's HTTP endpoint: pass counts per manifest.

Runs, over real HTTP to ``/sparql``:

- the query-evaluation tests of SPARQL 1.0 (``sparql10/manifest-evaluation.ttl``) and SPARQL 1.1
  (query language and CSV/TSV/JSON result formats), compared as the manifests specify
  (harness: ``tests/kgsearch/w3c.py``). Target: >= 99% of them pass.
- the SPARQL 1.2 query-evaluation tests (triple terms, base direction), reported apart and not
  counted in the 1.1 target.
- the SPARQL 1.1 Protocol tests (``sparql11/protocol/manifest.ttl``). Target: all of them.

Each test's dataset is loaded by SPARQL Update (``DROP ALL ; INSERT DATA``), once per distinct
dataset. "lexical only" counts failures that pass once both sides' literals are put in the
store's canonical form (what oxigraph's own W3C harness compares), i.e. ``"01"^^xsd:integer``
against ``"1"^^xsd:integer``; the pass rate "with store forms" counts them as passes.

Run: ``python bench/w3c_sparql.py [--suite sparql10 sparql11 sparql12] [--url URL --token T]``.
Without ``--url`` it serves a temporary empty home with uvicorn on 127.0.0.1; with ``--url`` it
uses a running server and REPLACES ITS DATA (``DROP ALL``). Prints tables, writes
bench/results/w3c-sparql.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tests.kgsearch import w3c  # noqa: E402
from tests.kgsearch.test_sparql_protocol import EXPECTED_FAILURES as PROTOCOL_KNOWN  # noqa: E402
from tests.kgsearch.test_w3c_sparql import EXPECTED_FAILURES as EVALUATION_KNOWN  # noqa: E402

console = Console()
TOKEN = "w3c-bench-token"
TARGET_SUITES = ("sparql10", "sparql11")
FORMATS = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "tsv": "text/tab-separated-values",
}


def machine() -> dict:

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}


@contextmanager
def local_server(home: Path):
    """uvicorn serving ``create_app`` over ``home`` on a free port of 127.0.0.1 (the tests' server)."""
    from tests.kgsearch.conftest import LiveServer

    server = LiveServer(home, update_token=TOKEN, query_timeout=30.0).start()
    try:
        yield server.url
    finally:
        server.stop()


def _cause(known: dict, key: str, message: str) -> str:
    return known.get(key) or "UNEXPECTED: " + (message.splitlines() or ["failed"])[0][:200]


def run_evaluation(client, suites, token, results_format=None) -> dict:
    out = {}
    for name in suites:
        suite = w3c.read_suite(name)
        started = time.perf_counter()
        outcomes = w3c.run_suite(client, suite.tests, token=token, results_format=results_format)
        seconds = time.perf_counter() - started
        manifests: dict = defaultdict(lambda: {"passed": 0, "failed": 0, "total": 0, "lexical_only": 0})
        failures = []
        for o in outcomes:
            m = manifests[o.test.manifest]
            m["total"] += 1
            m["passed" if o.passed else "failed"] += 1
            if not o.passed:
                m["lexical_only"] += o.lexical_only
                failures.append(
                    {
                        "id": o.test.id,
                        "name": o.test.name,
                        "lexical_only": o.lexical_only,
                        "cause": _cause(EVALUATION_KNOWN, o.test.id, o.message),
                        "message": o.message[:2000],
                    }
                )
        passed = sum(o.passed for o in outcomes)
        lexical = sum(o.lexical_only for o in outcomes)
        out[name] = {
            "passed": passed,
            "failed": len(outcomes) - passed,
            "total": len(outcomes),
            "lexical_only": lexical,
            "skipped_entries": [{"iri": s.iri, "reason": s.reason} for s in suite.skipped],
            "seconds": round(seconds, 1),
            "manifests": dict(manifests),
            "failures": failures,
        }
    return out


def run_protocol(client, token) -> dict:
    results = []
    for test in w3c.protocol_tests():
        try:
            failure = w3c.run_protocol_test(client, test, token=token)
        except (w3c.DatasetLoadError, httpx.HTTPError, SyntaxError, ValueError) as e:
            failure = f"{type(e).__name__}: {e}"
        results.append({"name": test.name, "passed": failure is None, "message": failure or ""})
    failures = [dict(r, cause=_cause(PROTOCOL_KNOWN, r["name"], r["message"])) for r in results if not r["passed"]]
    passed = sum(r["passed"] for r in results)
    return {"passed": passed, "failed": len(results) - passed, "total": len(results), "failures": failures}


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def print_tables(report: dict) -> None:
    evaluation = report["evaluation"]
    table = Table(title="W3C SPARQL query-evaluation tests through /sparql, per manifest")
    for col in ("manifest", "passed", "failed", "total", "lexical only"):
        table.add_column(col, justify="left" if col == "manifest" else "right")
    for suite, r in evaluation.items():
        for manifest, m in r["manifests"].items():
            table.add_row(manifest, str(m["passed"]), str(m["failed"]), str(m["total"]), str(m["lexical_only"] or ""))
        table.add_row(
            f"[b]{suite}[/b]",
            f"[b]{r['passed']}",
            f"[b]{r['failed']}",
            f"[b]{r['total']}",
            f"[b]{r['lexical_only']}",
            end_section=True,
        )
    console.print(table)

    summary = Table(title="Pass rates")
    for col in ("tests", "passed / total", "pass rate", "with store forms", "target"):
        summary.add_column(col)
    for row in report["summary"]:
        summary.add_row(
            row["tests"],
            f"{row['passed']} / {row['total']}",
            row["rate"],
            row.get("rate_store_forms", ""),
            row["target"],
        )
    console.print(summary)

    failures = Table(title="Failures and their causes")
    failures.add_column("test")
    failures.add_column("cause")
    for r in evaluation.values():
        for f in r["failures"]:
            failures.add_row(f["id"], f["cause"])
    for f in report.get("protocol", {}).get("failures", []):
        failures.add_row(f"protocol#{f['name']}", f["cause"])
    console.print(failures)


def summarize(report: dict) -> list[dict]:
    rows = []
    evaluation = report["evaluation"]
    target = [evaluation[s] for s in TARGET_SUITES if s in evaluation]
    if target:
        passed, total = sum(r["passed"] for r in target), sum(r["total"] for r in target)
        lexical = sum(r["lexical_only"] for r in target)
        rows.append(
            {
                "tests": " + ".join(f"SPARQL {s[6]}.{s[7]}" for s in TARGET_SUITES if s in evaluation)
                + " query evaluation",
                "passed": passed,
                "total": total,
                "rate": pct(passed, total),
                "rate_store_forms": pct(passed + lexical, total),
                "target": ">= 99%",
            }
        )
    if "sparql12" in evaluation:
        r = evaluation["sparql12"]
        rows.append(
            {
                "tests": "SPARQL 1.2 query evaluation (apart)",
                "passed": r["passed"],
                "total": r["total"],
                "rate": pct(r["passed"], r["total"]),
                "rate_store_forms": pct(r["passed"] + r["lexical_only"], r["total"]),
                "target": "-",
            }
        )
    if "protocol" in report:
        p = report["protocol"]
        rows.append(
            {
                "tests": "SPARQL 1.1 Protocol",
                "passed": p["passed"],
                "total": p["total"],
                "rate": pct(p["passed"], p["total"]),
                "target": "all",
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", nargs="+", choices=tuple(w3c.SUITES), default=list(w3c.SUITES))
    ap.add_argument(
        "--format",
        choices=("expected", "json", "xml", "tsv"),
        default="expected",
        help="result format to ask for: that of each expected file (default), or one for all",
    )
    ap.add_argument("--no-protocol", action="store_true", help="skip the SPARQL 1.1 Protocol tests")
    ap.add_argument("--url", help="a running kgsearch server (its data is replaced!); default: a temporary one")
    ap.add_argument("--token", help="the update token of --url")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "w3c-sparql.json")
    args = ap.parse_args()
    report: dict = {
        "benchmark": "w3c-sparql",
        "machine": machine(),
        "suites_dir": os.path.relpath(w3c.suite_root(), ROOT),
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        with local_server(Path(tmp) / "home") if args.url is None else _given(args.url) as url:
            token = TOKEN if args.url is None else args.token
            report["server"] = "temporary (uvicorn, 127.0.0.1)" if args.url is None else url
            with httpx.Client(base_url=url, timeout=60) as client:
                report["evaluation"] = run_evaluation(client, args.suite, token, FORMATS.get(args.format))
                report["results_format"] = args.format
                if not args.no_protocol:
                    report["protocol"] = run_protocol(client, token)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["summary"] = summarize(report)
    print_tables(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"{report['seconds']} s; wrote {args.out}")


@contextmanager
def _given(url: str):
    yield url.rstrip("/")


if __name__ == "__main__":
    main()
