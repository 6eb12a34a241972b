"""API contract fuzzing: schemathesis against the live service's own ``/openapi.json`` on 127.0.0.1.

Every operation the schema lists gets generated requests: the schema's examples, schemathesis's
coverage cases (boundary values, missing and malformed parameters), then random data within
and outside the schema. Operations that declare the bearer token are sent every case twice,
with whatever ``Authorization`` schemathesis made up and with the real update token. Each
response must not be a server error and must be what the schema documents: its status code,
its media type and, for JSON, its body.

``bench/api_contract.py`` runs the same driver for longer and with every check. The driver builds
each operation's hypothesis test with schemathesis's own builder (``create_test``, what its pytest
plugin uses) because the plugin's fixture-based loader, which a live server needs, does not run
under pytest 9.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kgsearch.server import UPLOAD_SUFFIXES
from tests.kgsearch.conftest import UPDATE_TOKEN, LiveServer, copy_home, sample_home  # noqa: F401 - a fixture

# Spoken questions are sent as the raw bytes schemathesis generates (it has real sample files for
# images only); SPARQL bodies as UTF-8 text.
schemathesis.serializer.alias([m for m in UPLOAD_SUFFIXES if m.startswith("audio/")], "application/octet-stream")
schemathesis.serializer.alias(["application/sparql-query", "application/sparql-update"], "text/plain")

#: What every response is held to in CI. ``positive_data_acceptance`` and the other checks run in
#: the benchmark only: a string can fit the schema and still not be SPARQL, a question or an image.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

#: Fuzzed examples per operation in CI (besides the schema's examples and the coverage cases).
MAX_EXAMPLES = 20

#: Seconds a single request may take before it counts as a failure (the server's own query timeout is 2 s).
REQUEST_TIMEOUT = 60


@dataclass
class OperationReport:
    """What one operation answered: requests sent, statuses seen, and failures by check."""

    label: str
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)  # check -> responses that failed it
    #: check -> failure title -> (the first failure's message, a curl line that reproduces it)
    failures: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)

    def fail(self, check: str, title: str, message: str, reproduce: Callable[[], str]) -> None:
        self.failed[check] += 1
        seen = self.failures.setdefault(check, {})
        if title not in seen:
            seen[title] = (message, reproduce())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def needs_token(operation) -> bool:
    """Whether the operation declares the bearer token (writes: document ingestion, SPARQL Update)."""
    return any(requirement for requirement in operation.definition.raw.get("security", []))


def fuzz_operation(
    operation,
    *,
    checks: Sequence[Callable],
    max_examples: int,
    seed: int = 0,
    token: str = UPDATE_TOKEN,
) -> OperationReport:
    """Send ``operation`` the schema's examples, the coverage cases and ``max_examples`` generated
    requests (positive and negative), and check every response.

    Never raises for a failed check: each distinct failure is recorded with a ``curl`` line that
    reproduces it, so that one run counts everything.
    """
    report = OperationReport(operation.label)
    variants: list[dict[str, str] | None] = [None]
    if needs_token(operation):
        variants.append({"Authorization": f"Bearer {token}"})

    def send(case) -> None:
        for headers in variants:
            report.requests += 1

            def reproduce(headers=headers) -> str:
                return case.as_curl_command(headers=headers)

            try:
                response = case.call(headers=headers, timeout=REQUEST_TIMEOUT)
            except requests.RequestException as e:
                report.fail("transport", type(e).__name__, str(e), reproduce)
                continue
            report.statuses[response.status_code] += 1
            for check in checks:
                try:
                    case.validate_response(response, checks=[check], headers=headers)
                except FailureGroup as group:
                    failures = sorted(group.exceptions, key=lambda f: f.title)
                    title = "; ".join(sorted({f"[{response.status_code}] {f.title}" for f in failures}))
                    report.fail(check.__name__, title, "\n".join(f.message for f in failures), reproduce)

    settings = hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    config = HypothesisTestConfig(
        project=operation.schema.config,
        modes=[HypothesisTestMode.EXAMPLES, HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING],
        settings=settings,
        explicit_settings=settings,
        seed=seed,
    )
    create_test(operation=operation, test_func=send, config=config)()
    return report


def operations(schema) -> list[Any]:
    """The schema's operations (fails on one the loader cannot read: that is a broken contract too)."""
    return [result.ok() for result in schema.get_all_operations()]


@pytest.fixture(scope="module")
def contract_server(sample_home, tmp_path_factory) -> Iterator[LiveServer]:  # noqa: F811 - the fixture above
    """A writable server over a private copy of the sample home, with a small row cap and a short query timeout."""
    home = copy_home(sample_home, tmp_path_factory.mktemp("contract") / "home")
    server = LiveServer(home, update_token=UPDATE_TOKEN, query_timeout=2.0, row_cap=50).start()
    yield server
    server.stop()


def test_api_honours_its_openapi_contract(contract_server):
    schema = schemathesis.openapi.from_url(contract_server.url + "/openapi.json")
    reports = {
        r.label: r for r in (fuzz_operation(op, checks=CHECKS, max_examples=MAX_EXAMPLES) for op in operations(schema))
    }
    assert len(reports) >= 16
    for write in ("POST /documents", "POST /sparql"):  # both sides of the token were reached
        assert reports[write].statuses[200] and reports[write].statuses[403], reports[write].statuses
    problems = [
        f"{r.label}: {check}: {title}\n{message}\n    {reproduce}"
        for r in reports.values()
        for check, titles in r.failures.items()
        for title, (message, reproduce) in titles.items()
    ]
    assert not problems, "\n".join(problems)


# -- what the fuzzing found, pinned ------------------------------------------------------------


def test_undecodable_audio_is_a_400(contract_server):
    from kgsearch.server import status_of
    from linking.errors import InputAudioError

    assert status_of(InputAudioError("x.wav: not a readable audio file")) == 400
    pytest.importorskip("faster_whisper", reason="speech needs faster-whisper (requirements/speech.txt)")
    r = httpx.post(
        f"{contract_server.url}/ask",
        content=b"RIFF" + bytes(range(256)) * 8,
        headers={"Content-Type": "audio/wav"},
        timeout=120,
    )
    assert r.status_code in (400, 501), r.text  # 501 where the speech model is not installed
    assert r.json()["error"]["type"] in ("InputAudioError", "SourceError", "ModelUnavailableError")


def test_405_names_the_allowed_methods(contract_server):
    with httpx.Client(base_url=contract_server.url, timeout=60) as c:
        assert c.request("TRACE", "/health").headers["allow"] == "GET"
        for path in ("/search", "/ask", "/sparql"):
            r = c.request("OPTIONS", path)
            assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
            assert r.json()["error"]["type"] == "MethodNotAllowed"


def test_suggest_rejects_unknown_kinds(contract_server):
    r = httpx.get(f"{contract_server.url}/suggest", params={"q": "hitch", "kind": "film"})
    assert r.status_code == 422 and "'entity', 'class', 'property' or 'prefix'" in r.json()["error"]["message"]


def test_long_get_requests_reach_the_service(contract_server):
    """Query strings up to the server's limit are read whole (the HTTP parser's own default stopped at 16 KiB).

    Sent with requests: httpx refuses URLs over 64 KiB itself.
    """
    with requests.Session() as c:
        query = "SELECT ?s WHERE { ?s ?p ?o } LIMIT 1 #" + "x" * 300_000
        assert c.get(f"{contract_server.url}/sparql", params={"query": query}, timeout=60).status_code == 200
        long_text = "\U000a8519" * 20_001  # 240 KB percent-encoded, one character over max_length
        r = c.get(f"{contract_server.url}/link", params={"text": long_text}, timeout=60)
        assert r.status_code == 422 and "text" in r.json()["error"]["message"]
        just_over = query + "x" * ((1 << 20) - len(query) + 100)  # over the 1 MiB limit: a 413 with advice
        r = c.get(f"{contract_server.url}/sparql", params={"query": just_over}, timeout=60)
        assert r.status_code == 413 and "POST body" in r.json()["error"]["message"]


def test_openapi_documents_errors_bodies_and_media_types(contract_server):
    schema = httpx.get(f"{contract_server.url}/openapi.json").json()
    paths = schema["paths"]
    error = {"$ref": "#/components/schemas/ErrorBody"}
    assert paths["/entities/{ref}"]["get"]["responses"]["404"]["content"]["application/json"]["schema"] == error
    assert paths["/ask"]["get"]["responses"]["422"]["content"]["application/json"]["schema"] == error
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    sparql = paths["/sparql"]
    assert "requestBody" not in sparql["get"]
    assert {"application/sparql-results+json", "text/csv", "text/turtle"} <= set(
        sparql["get"]["responses"]["200"]["content"]
    )
    assert {"400", "403", "406", "413", "503"} <= set(sparql["get"]["responses"])
    assert {"application/sparql-update", "application/x-www-form-urlencoded"} <= set(
        sparql["post"]["requestBody"]["content"]
    )
    assert set(paths["/search"]["post"]["requestBody"]["content"]) == {"image/jpeg", "image/png", "image/webp"}
    assert "audio/wav" in paths["/ask"]["post"]["requestBody"]["content"]
    assert "501" in paths["/ask"]["post"]["responses"]
    assert paths["/documents"]["post"]["security"] == [{"updateToken": []}]
    assert schema["components"]["securitySchemes"]["updateToken"]["scheme"] == "bearer"


def test_malformed_graph_iris_are_refused_where_they_do_not_apply(contract_server):
    with httpx.Client(base_url=contract_server.url, timeout=60) as c:
        r = c.get("/sparql", params={"default-graph-uri": "not an IRI"})  # the service description
        assert r.status_code == 400 and "not an absolute IRI" in r.json()["error"]["message"]
        query = {"content-type": "application/sparql-query"}
        r = c.post("/sparql", params={"using-graph-uri": ""}, content="ASK {}", headers=query)
        assert r.status_code == 400 and "using-graph-uri" in r.json()["error"]["message"]
        r = c.post("/sparql", params={"default-graph-uri": "http://ex/g"}, content="ASK {}", headers=query)
        assert r.status_code == 200
