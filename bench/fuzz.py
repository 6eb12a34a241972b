"""Fuzzing benchmark: the properties of ``tests/fuzz`` run with hypothesis's ``long`` profile.

Runs the property tests of ``tests/fuzz`` (``/sparql`` with grammar-generated, mutated and deep
queries; the question parser and ``/ask``; RDF loading of mutated files; ingestion of corrupt
text, images and audio) in this process with ``KGSEARCH_FUZZ_PROFILE=long`` and
``KGSEARCH_FUZZ_EXAMPLES`` set from ``--examples`` (examples per test, before each test's weight:
ingestion and media take a tenth and a fiftieth of it). Counts the inputs each target tried,
what they led to, and the failures, and lists the bugs this fuzzing found and that were fixed,
with their regression tests.

Run: ``python bench/fuzz.py [--examples N]`` (default 1,000: about 5,000 inputs, 5 minutes on two
cores). Prints a table and writes bench/results/fuzz.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 140)

#: The property tests, and the target each one fuzzes.
TARGETS = {
    "tests/fuzz/test_sparql_fuzz.py::test_generated_queries": "sparql-grammar",
    "tests/fuzz/test_sparql_fuzz.py::test_mutated_queries": "sparql-mutated",
    "tests/fuzz/test_sparql_fuzz.py::test_deep_queries": "sparql-deep",
    "tests/fuzz/test_question_fuzz.py::test_parser_reads_or_refuses": "question-parser",
    "tests/fuzz/test_question_fuzz.py::test_ask_endpoint_never_fails": "question-http",
    "tests/fuzz/test_rdf_fuzz.py::test_mutated_rdf_loads_or_is_refused_whole": "rdf",
    "tests/fuzz/test_ingest_fuzz.py::test_bad_text_is_reported_and_the_rest_ingested": "ingest-text",
    "tests/fuzz/test_ingest_fuzz.py::test_corrupt_images_are_reported_and_the_rest_ingested": "ingest-image",
    "tests/fuzz/test_ingest_fuzz.py::test_corrupt_audio_is_reported_and_the_rest_ingested": "ingest-audio",
}

#: What the fuzz tests found while they were written, each fixed at its root and pinned by a test.
BUGS = [
    {
        "target": "sparql-deep",
        "found": "Deeply nested or long SPARQL (3,000 nested groups, 10,000 parentheses or UNIONs, 5,000 BINDs: "
        "a few kilobytes) overflowed pyoxigraph's stack (SIGSEGV): /sparql answered 500 'the query worker died', "
        "a SPARQL update with the token killed the server process, `kgsearch sparql` crashed",
        "fix": "kg/sparql_limits.py: check_query_shape refuses requests nested over 128 levels or over 3,000 tokens "
        "outside VALUES/DATA blocks (400 QueryTooComplexError), in OxigraphStore.query/update, QueryPool.run and "
        "the SPARQL+Text rewrite",
        "tests": [
            "tests/fuzz/test_sparql_fuzz.py::test_regression_deep_queries_are_refused",
            "tests/fuzz/test_sparql_fuzz.py::test_regression_deep_update_does_not_kill_the_server",
            "tests/fuzz/test_sparql_fuzz.py::test_regression_deep_queries_are_refused_in_process",
        ],
    },
    {
        "target": "sparql-deep",
        "found": "A SPARQL+Text query with 1,000 nested groups hit Python's recursion limit in the kgs: rewrite: "
        "500 RecursionError, or the connection dropped",
        "fix": "the same shape check at the start of TextSparql.rewrite",
        "tests": ["tests/fuzz/test_sparql_fuzz.py::test_regression_deep_queries_are_refused[nested text patterns]"],
    },
    {
        "target": "sparql-mutated",
        "found": "A call of an unknown function (<http://ex/f>(1)) raised RuntimeError in the query worker: "
        "500 StoreError 'the query failed'",
        "fix": "kg/_oxigraph.py unsupported_query: Oxigraph's evaluation errors about the query (unknown function, "
        "SERVICE it cannot call) become 400 UnsupportedQueryError in the store and the query pool",
        "tests": ["tests/fuzz/test_sparql_fuzz.py::test_regression_unknown_function_is_a_client_error"],
    },
    {
        "target": "sparql-grammar",
        "found": "SPARQL XML results and RDF/XML with a value holding U+0001-U+001F or U+FFFE/U+FFFF were not "
        "well-formed XML (XML 1.0 cannot carry them, even escaped)",
        "fix": "kg/results.py: check_xml_terms raises ResultFormatError, answered 406 naming the character and "
        "the formats that carry it",
        "tests": ["tests/fuzz/test_sparql_fuzz.py::test_regression_xml_results_are_well_formed_or_refused"],
    },
    {
        "target": "rdf",
        "found": "A truncated or corrupt .gz RDF file raised a bare EOFError or zlib.error, or (gzip.BadGzipFile, "
        "an OSError) was reported as a failed write that 'may have stored part of the file'; the load journal "
        "kept the file as an interrupted load",
        "fix": "kg/formats.py parse_file: gzip errors become InputFileError naming the file (nothing stored, "
        "journal cleared)",
        "tests": ["tests/fuzz/test_rdf_fuzz.py::test_regression_a_broken_gzip_file_is_refused_whole"],
    },
    {
        "target": "rdf",
        "found": "RDF/XML whose XML declaration names an unknown encoding raised a bare LookupError from the DTD "
        "check (journal left pending)",
        "fix": "kg/formats.py check_xml_entities: RdfSyntaxError at line 1",
        "tests": ["tests/fuzz/test_rdf_fuzz.py::test_regression_rdfxml_with_an_unknown_encoding_is_a_syntax_error"],
    },
    {
        "target": "rdf",
        "found": "RDF/XML with an unbound prefix was refused without a line (pyoxigraph reports no position)",
        "fix": "kg/formats.py: a position-less RDF/XML error is located with expat's namespace-aware parse",
        "tests": ["tests/fuzz/test_rdf_fuzz.py::test_regression_rdfxml_unbound_prefix_names_its_line"],
    },
    {
        "target": "rdf",
        "found": "JSON-LD nested about 4,000 objects deep overflowed pyoxigraph's stack (SIGSEGV: the loading "
        "process died)",
        "fix": "kg/formats.py check_json_depth: JSON-LD nested over 256 levels is refused with its line",
        "tests": [
            "tests/fuzz/test_rdf_fuzz.py::test_regression_deeply_nested_jsonld_is_refused_not_a_crash",
            "tests/fuzz/test_rdf_fuzz.py::test_jsonld_depth_check_reads_strings_and_escapes",
            "tests/fuzz/test_rdf_fuzz.py::test_jsonld_depth_check_carries_an_escape_across_its_read_chunks",
        ],
    },
    {
        "target": "ingest-text",
        "found": "A JSON Lines document with a lone surrogate escape (\\ud800) made the whole ingest raise "
        "UnicodeEncodeError, with nothing reported",
        "fix": "retrieval/sources.py: such a line is a SourceProblem naming its file, line, id and field",
        "tests": ["tests/fuzz/test_ingest_fuzz.py::test_regression_a_lone_surrogate_in_json_lines_is_reported"],
    },
    {
        "target": "ingest-text",
        "found": "A JSON Lines line nested past the recursion limit made json.loads raise RecursionError (not a "
        "ValueError): the whole ingest stopped",
        "fix": "retrieval/sources.py reports the line ('nested too deeply to read') and goes on",
        "tests": ["tests/fuzz/test_ingest_fuzz.py::test_regression_a_json_line_nested_too_deep_is_reported"],
    },
    {
        "target": "ingest-text",
        "found": "POST /documents with a lone surrogate failed the whole batch (400 UnicodeEncodeError)",
        "fix": "kgsearch/server.py writes the request's documents as ASCII JSON, so the reader reports that one",
        "tests": [
            "tests/fuzz/test_ingest_fuzz.py::test_regression_a_posted_document_with_a_lone_surrogate_is_reported"
        ],
    },
    {
        "target": "sparql-grammar",
        "found": "Running the suites while fuzzing: a query pool closed while it respawned a timed-out worker missed "
        "the new worker, which outlived the pool (a leaked process, 'subprocess is still running' warnings)",
        "fix": "kgsearch/query_pool.py: respawning and closing take the pool's lock",
        "tests": ["tests/fuzz/test_sparql_fuzz.py::test_regression_a_pool_closed_while_it_respawns_leaves_no_worker"],
    },
]

#: Properties narrowed where kgsearch cannot do better, with the reason.
LIMITATIONS = [
    "RDF/XML and JSON-LD: pyoxigraph reports some errors without a position (in RDF/XML a bad IRI or term, "
    'rdf:about=">x"; in JSON-LD a breach of the JSON-LD algorithm, @value beside other keys): the error names the '
    "file and what is wrong but has no line (tests/fuzz/test_rdf_fuzz.py POSITIONLESS; counted in the outcomes "
    "as 'without a line')",
]


def _relative(text: str) -> str:
    """``text`` without this machine's paths (the results are committed)."""
    text = text.replace(str(ROOT.parent) + "/", "../").replace(str(ROOT) + "/", "")
    return re.sub(r"/tmp/[^\s'\"]*", "<tmp>", text)


class Collector:
    """A pytest plugin that records each property test's outcome and duration."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.failures: dict[str, list[str]] = defaultdict(list)
        self.skipped: dict[str, str] = {}
        self.setup = 0.0

    def pytest_runtest_logreport(self, report):
        target = TARGETS.get(report.nodeid)
        if target is None:
            return
        if report.when == "call":  # the shared fixtures' setup (a home, a live server) is counted apart
            self.seconds[target] += report.duration
        else:
            self.setup += report.duration
        if report.failed:
            self.failures[target].append(_relative(str(report.longrepr)[-3000:]))
        elif report.skipped and report.when == "setup":
            self.skipped[target] = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else "skipped"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="hypothesis examples per test (before weights)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fuzz.json")
    args = parser.parse_args()
    os.environ["KGSEARCH_FUZZ_PROFILE"] = "long"
    os.environ["KGSEARCH_FUZZ_EXAMPLES"] = str(args.examples)
    os.chdir(ROOT)
    collector = Collector()
    started = time.perf_counter()
    exit_code = pytest.main(["-q", "-p", "no:cacheprovider", *TARGETS], plugins=[collector])
    wall = time.perf_counter() - started
    # Imported after the run: pytest must import hypothesis (and these modules) itself first.
    from tests.fuzz.strategies import OUTCOMES, TRIED

    targets = {}
    table = Table(title=f"Fuzzing kgsearch (hypothesis 'long' profile, --examples {args.examples})")
    for column in ("target", "inputs", "failures", "seconds", "most common outcomes"):
        table.add_column(column, justify="left" if column in ("target", "most common outcomes") else "right")
    for target in TARGETS.values():
        outcomes = {k: v for (t, k), v in sorted(OUTCOMES.items(), key=lambda kv: -kv[1]) if t == target}
        targets[target] = {
            "inputs": TRIED[target],
            "failures": len(collector.failures[target]),
            "seconds": round(collector.seconds[target], 1),
            "outcomes": outcomes,
        }
        if target in collector.skipped:
            targets[target]["skipped"] = collector.skipped[target]
        if collector.failures[target]:
            targets[target]["failure_reports"] = collector.failures[target]
        shown = ", ".join(f"{k} {v}" for k, v in list(outcomes.items())[:3])
        table.add_row(
            target,
            f"{TRIED[target]:,}",
            str(len(collector.failures[target])),
            f"{collector.seconds[target]:.1f}",
            shown or collector.skipped.get(target, ""),
        )
    table.add_row(
        "total", f"{sum(TRIED.values()):,}", str(sum(len(f) for f in collector.failures.values())), f"{wall:.1f}", ""
    )
    console.print(table)
    console.print(f"{len(BUGS)} bugs found and fixed while writing the fuzz tests; see {args.out.name}")
    import hypothesis

    result = {
        "benchmark": "fuzz",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "hypothesis": hypothesis.__version__,
        "profile": "long",
        "examples_per_test": args.examples,
        "pytest_exit_code": int(exit_code),
        "seconds": round(wall, 1),
        "setup_seconds": round(collector.setup, 1),
        "inputs": sum(TRIED.values()),
        "failures": sum(len(f) for f in collector.failures.values()),
        "targets": targets,
        "bugs_found_and_fixed": BUGS,
        "limitations": LIMITATIONS,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
