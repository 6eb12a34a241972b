"""API contract fuzzing campaign: schemathesis against kgsearch's own ``/openapi.json`` on 127.0.0.1.

Serves a private copy of the quick-start sample home (built in a temporary folder, or copied
from ``--home``) with an update token, a 2 s query timeout and a row cap of 50, loads the schema
the server publishes, and sends every operation the schema's examples, schemathesis's coverage
cases and ``--examples`` generated requests (positive and negative); operations that declare the
bearer token get each case with and without it (the driver is ``fuzz_operation`` in
``tests/fuzz/test_api_contract.py``, which runs the same thing with fewer examples in CI). Every
response goes through every schemathesis check.

Run: ``python bench/api_contract.py [--examples 300] [--seed 0] [--home DIR]``. Prints a table
per operation and writes bench/results/api-contract.json: requests, statuses, server errors and
failures by check per operation, the bugs this campaign found (with their regression tests) and
why the failures that remain are not bugs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import hypothesis  # noqa: E402
import schemathesis  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from schemathesis.checks import CHECKS, load_all_checks  # noqa: E402

from tests.fuzz.test_api_contract import CHECKS as CI_CHECKS  # noqa: E402
from tests.fuzz.test_api_contract import fuzz_operation, operations  # noqa: E402
from tests.kgsearch.conftest import UPDATE_TOKEN, LiveServer  # noqa: E402

console = Console(width=150)

#: Operations that read an uploaded image or audio file: schemathesis has only a few sample files
#: for them, and reading each (faces, OCR, Whisper) takes a second or so, so they get a quarter of
#: the examples to keep the campaign near ten minutes.
UPLOADS = {"POST /search", "POST /ask"}
OUT = ROOT / "bench" / "results" / "api-contract.json"

#: Found by this campaign and fixed; each has a regression test.
BUGS_FIXED = [
    {
        "bug": "POST /ask with audio that FFmpeg cannot decode answered 500: InputAudioError was missing "
        "from the server's error table",
        "fix": "kgsearch/server.py ERROR_STATUS maps InputAudioError to 400",
        "test": "tests/fuzz/test_api_contract.py::test_undecodable_audio_is_a_400",
    },
    {
        "bug": "405 Method Not Allowed came without the Allow header (RFC 9110)",
        "fix": "kgsearch/server.py: the HTTP error handler keeps the exception's headers",
        "test": "tests/fuzz/test_api_contract.py::test_405_names_the_allowed_methods",
    },
    {
        "bug": "OPTIONS /search, /ask and /sparql answered 405 with Allow: GET only (Starlette names the first "
        "route of the path), though POST is allowed too",
        "fix": "kgsearch/server.py: Allow lists the methods of every route of the path",
        "test": "tests/fuzz/test_api_contract.py::test_405_names_the_allowed_methods",
    },
    {
        "bug": "GET requests with a query string over about 16 KiB (a long SPARQL query, a text to link) were "
        "cut off by uvicorn's HTTP parser (h11's default buffer) with a bare 400 or a reset connection, far "
        "below the service's own 1 MiB query-string limit",
        "fix": "kgsearch/server.py uvicorn_options(): h11 buffers up to max_request_bytes + 64 KiB; serve() and "
        "the tests' LiveServer use it",
        "test": "tests/fuzz/test_api_contract.py::test_long_get_requests_reach_the_service",
    },
    {
        "bug": "/sparql ignored malformed default-graph-uri/named-graph-uri/using-graph-uri/using-named-graph-uri "
        "values wherever they did not apply (the service description, a query with using-graph-uri)",
        "fix": "kgsearch/server_sparql.py checks every graph IRI parameter of every request; the schema says "
        "format: iri",
        "test": "tests/fuzz/test_api_contract.py::test_malformed_graph_iris_are_refused_where_they_do_not_apply",
    },
    {
        "bug": "GET /suggest took any kind= and answered nothing for a misspelt one",
        "fix": "kind is one of entity, class, property, prefix; others are a 422 naming them",
        "test": "tests/fuzz/test_api_contract.py::test_suggest_rejects_unknown_kinds",
    },
    {
        "bug": "The OpenAPI schema documented none of the error statuses the routes give (400, 403, 404, "
        "406, 413, 415, 501, 503) and gave FastAPI's {'detail'} body for 422, which the service never sends",
        "fix": "kgsearch/server_openapi.py: errors() declares the {'error': {type, message}} body per route",
        "test": "tests/fuzz/test_api_contract.py::test_openapi_documents_errors_bodies_and_media_types",
    },
    {
        "bug": "The schema gave no media types for /sparql results, /images and /documents/{id}/media, "
        "declared a request body on GET /sparql, and no body at all for POST /search (image) and POST /ask "
        "(audio); the update token was not declared",
        "fix": "sparql_results(), file_response(), upload_body() and the updateToken bearer scheme",
        "test": "tests/fuzz/test_api_contract.py::test_openapi_documents_errors_bodies_and_media_types",
    },
]

#: Why the checks that still fail are not bugs in kgsearch (read against the table's failures).
EXPLAINED = {
    "positive_data_acceptance": "a schema-valid string is not always a SPARQL query, a question with "
    "words, a text to link, an image or an audio file: the server rejects those with a documented 400/415 "
    "whose message says why; JSON Schema cannot express SPARQL or image validity",
    "negative_data_rejection": "schemathesis expects undeclared query parameters to be rejected, and "
    "counts a query-string value such as entity=true as a boolean where the schema wants a list of "
    "strings; a query string has no types (true is the string 'true'), and kgsearch ignores unknown "
    "parameters, as the SPARQL Protocol's clients expect (SPARQLWrapper sends its own). On POST /documents "
    "the case without its Authorization header is also sent with the real token (every case of a "
    "token-protected operation is), which schemathesis then sees accepted",
    "missing_required_header": "a write without the Authorization header gets 403 (as does a wrong token and a "
    "read-only server); schemathesis expects 401 with WWW-Authenticate, RFC 6750's answer to missing or "
    "invalid credentials. Changing it changes what clients see (the SPARQL client tests pin 403): left for "
    "a decision",
}


def build_home(target: Path, source: Path | None) -> Path:
    """The sample KB and its documents (no vectors), as the tests' ``sample_home`` builds it."""
    if source is not None:
        shutil.copytree(source, target)
        return target
    from kgsearch.datasets import DOCS_SAMPLE
    from kgsearch.engine import Engine
    from kgsearch.settings import PROJECT_ROOT

    with Engine.open(target) as engine:
        engine.load([PROJECT_ROOT / "ontologies" / "movies.ttl", PROJECT_ROOT / "data" / "movies-sample.ttl"])
        engine.ingest([DOCS_SAMPLE], vectors=False)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300, help="generated requests per operation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", type=Path, help="a home to copy (default: build the sample home)")
    args = parser.parse_args()

    load_all_checks()
    checks = CHECKS.get_all()
    with tempfile.TemporaryDirectory(prefix="kgsearch-api-contract-") as tmp:
        started = time.monotonic()
        home = build_home(Path(tmp) / "home", args.home)
        server = LiveServer(home, update_token=UPDATE_TOKEN, query_timeout=2.0, row_cap=50).start()
        try:
            schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
            reports, seconds = [], {}
            for op in operations(schema):
                t = time.monotonic()
                with console.status(f"{op.label}"):
                    examples = args.examples // 4 if op.label in UPLOADS else args.examples
                    reports.append(fuzz_operation(op, checks=checks, max_examples=examples, seed=args.seed))
                seconds[op.label] = round(time.monotonic() - t, 1)
                r = reports[-1]
                console.print(
                    f"{op.label}: {r.requests} requests, {r.server_errors} server errors ({seconds[op.label]} s)"
                )
        finally:
            server.stop()
        base = server.url
        wall = time.monotonic() - started

    ci = {c.__name__ for c in CI_CHECKS}
    table = Table(title=f"API contract: {len(reports)} operations, {len(checks)} checks, seed {args.seed}")
    for col in ("operation", "requests", "statuses", "5xx", "CI-check failures", "other check failures"):
        table.add_column(col, justify="left" if col in ("operation", "statuses", "other check failures") else "right")
    for r in reports:
        statuses = " ".join(f"{s}:{n}" for s, n in sorted(r.statuses.items()))
        in_ci = sum(n for c, n in r.failed.items() if c in ci)
        other = ", ".join(f"{c} {n}" for c, n in sorted(r.failed.items()) if c not in ci) or "-"
        table.add_row(r.label, str(r.requests), statuses, str(r.server_errors), str(in_ci), other)
    console.print(table)

    totals = Counter()
    for r in reports:
        totals.update(r.failed)
    result = {
        "description": "schemathesis against kgsearch's /openapi.json on 127.0.0.1 over the sample home "
        "(update token set, query timeout 2 s, row cap 50): the schema's examples, coverage cases and "
        f"{args.examples} generated requests per operation; token-protected operations get each case "
        "with and without the token; every response through every check",
        "command": f"python bench/api_contract.py --examples {args.examples} --seed {args.seed}",
        "versions": {"schemathesis": schemathesis.__version__, "hypothesis": hypothesis.__version__},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "wall_s": round(wall, 1),
        "checks": [c.__name__ for c in checks],
        "ci_checks": sorted(ci),
        "totals": {
            "operations": len(reports),
            "requests": sum(r.requests for r in reports),
            "server_errors": sum(r.server_errors for r in reports),
            "failed_responses_by_check": dict(sorted(totals.items())),
        },
        "operations": [
            {
                "operation": r.label,
                "requests": r.requests,
                "seconds": seconds[r.label],
                "statuses": {str(s): n for s, n in sorted(r.statuses.items())},
                "server_errors": r.server_errors,
                "failures": {
                    check: {
                        "responses": r.failed[check],
                        "kinds": [
                            {"title": title, "message": message[:500], "reproduce": _portable(curl, base)}
                            for title, (message, curl) in sorted(kinds.items())
                        ],
                    }
                    for check, kinds in sorted(r.failures.items())
                },
            }
            for r in reports
        ],
        "bugs_fixed": BUGS_FIXED,
        "remaining_explained": {check: why for check, why in EXPLAINED.items() if totals.get(check)},
    }
    OUT.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(
        f"{result['totals']['requests']} requests, {result['totals']['server_errors']} server errors; wrote {OUT.relative_to(ROOT)}"
    )


def _portable(curl: str, base: str) -> str:
    """A reproduction without this run's port, and short enough to read."""
    curl = curl.replace(base, "http://127.0.0.1:8000")
    return curl if len(curl) <= 400 else curl[:400] + " ..."


if __name__ == "__main__":
    main()
