"""Fuzzing ``/sparql`` over HTTP: grammar-generated queries, mutated real queries and deep ones.

Each query goes to a live server (loopback, 2 s query timeout, 50-row cap) by GET, URL-encoded
POST or a direct POST, with a random ``Accept`` header or ``format=``. Properties:

* no server error: every status is below 500, except 503 for a query stopped at the time limit
  (error type ``QueryTimeoutError``);
* every answer is well-formed for its media type (JSON, SPARQL XML, CSV, TSV, and the RDF formats
  parse; errors are ``{"error": {"type", "message"}}``), and no result is over the row cap;
* no hang: the request is answered within the timeout plus a margin, and a trivial ``ASK``
  is answered right after it.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pyoxigraph as ox
import pytest
from hypothesis import example, given

from kg import OxigraphStore
from kgsearch.query_pool import QueryPool, QueryTimeoutError
from tests.fuzz.conftest import QUERY_TIMEOUT, ROW_CAP, UPDATE_TOKEN, fuzz_settings
from tests.fuzz.strategies import (
    OUTCOMES,
    PROLOGUE,
    TRIED,
    SparqlRequest,
    deep_queries,
    mutated_queries,
    sparql_queries,
    sparql_requests,
)

#: Seconds past the server's query timeout before a request counts as hung (rewriting a
#: SPARQL+Text query and serializing a capped result happen outside the timed evaluation).
MARGIN = 20.0

#: Longest query string sent by GET (httpx refuses URLs over 64 KiB); longer queries go by POST.
MAX_URL = 60_000

RDF_TYPES = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}


@pytest.fixture(scope="module")
def client(fuzz_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_server.url, timeout=QUERY_TIMEOUT + MARGIN) as c:
        yield c


def send(client: httpx.Client, request: SparqlRequest) -> httpx.Response:
    """Send one request to ``/sparql`` as it says (GET, URL-encoded POST or direct POST)."""
    headers = {"Accept": request.accept} if request.accept is not None else {}
    params = {"format": request.format} if request.format is not None else {}
    if request.method == "GET" and len(quote(request.query)) < MAX_URL:
        return client.get("/sparql", params={"query": request.query, **params}, headers=headers)
    if request.method == "POST-form":
        return client.post("/sparql", params=params, data={"query": request.query}, headers=headers)
    headers["Content-Type"] = "application/sparql-query"
    return client.post("/sparql", params=params, content=request.query.encode("utf-8"), headers=headers)


def check_body(response: httpx.Response) -> None:
    """The body parses as what its content type says; results are within the row cap."""
    media = response.headers.get("content-type", "").split(";")[0].strip()
    body = response.content
    if media in ("application/json", "application/sparql-results+json"):
        doc = json.loads(body)
        if "results" in doc:
            assert isinstance(doc["head"]["vars"], list)
            assert len(doc["results"]["bindings"]) <= ROW_CAP, "more rows than the row cap"
        else:
            assert isinstance(doc.get("boolean"), bool), f"neither results nor a boolean: {doc}"
    elif media == "application/sparql-results+xml":
        root = ET.fromstring(body)
        assert root.tag == "{http://www.w3.org/2005/sparql-results#}sparql"
        assert len(root.findall(".//{http://www.w3.org/2005/sparql-results#}result")) <= ROW_CAP
    elif media == "text/csv":
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
        assert all(len(row) == len(rows[0]) for row in rows), "CSV rows of different lengths"
        assert len(rows) <= ROW_CAP + 1
    elif media == "text/tab-separated-values":
        lines = body.decode("utf-8").split("\n")
        assert lines[-1] == "", "TSV does not end with a newline"
        width = lines[0].count("\t")
        assert all(line.count("\t") == width for line in lines[:-1]), "TSV rows of different widths"
        assert len(lines) - 1 <= ROW_CAP + 1
    elif media in RDF_TYPES:
        triples = list(ox.parse(body, format=RDF_TYPES[media]))
        assert len(triples) <= ROW_CAP, "more triples than the row cap"
    else:
        raise AssertionError(f"unexpected content type {response.headers.get('content-type')!r}")


def check_response(response: httpx.Response) -> None:
    """No server error but a timeout, a well-formed body, and a JSON error document for errors."""
    status = response.status_code
    if status >= 400:
        error = response.json()["error"]
        assert isinstance(error["type"], str) and error["message"], error
        if status >= 500:
            assert status == 503 and error["type"] == "QueryTimeoutError", f"server error {status}: {error}"
        return
    assert status == 200, status
    check_body(response)


def check_alive(client: httpx.Client) -> None:
    """The server answers a trivial query right away (no worker or lock left stuck)."""
    response = client.get("/sparql", params={"query": "ASK {}"}, headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.json()["boolean"] is True, response.text


def run(client: httpx.Client, request: SparqlRequest, target: str) -> None:
    TRIED[target] += 1
    try:
        response = send(client, request)
    except httpx.TimeoutException:
        raise AssertionError(f"no answer within {QUERY_TIMEOUT + MARGIN:g} s") from None
    kind = (
        response.json()["error"]["type"]
        if response.is_error and response.headers.get("content-type", "").startswith("application/json")
        else ""
    )
    OUTCOMES[target, f"{response.status_code} {kind}".strip()] += 1
    try:
        check_response(response)
    except (AssertionError, ValueError, SyntaxError, KeyError, ET.ParseError) as e:
        raise AssertionError(
            f"{request.method} {response.status_code} {response.headers.get('content-type')}: "
            f"{type(e).__name__}: {e}\n{response.text[:500]}"
        ) from e
    check_alive(client)


@fuzz_settings(1.0)
@given(request=sparql_requests(sparql_queries()))
def test_generated_queries(client, request):
    run(client, request, "sparql-grammar")


@fuzz_settings(1.0)
@given(request=sparql_requests(mutated_queries()))
def test_mutated_queries(client, request):
    run(client, request, "sparql-mutated")


@fuzz_settings(0.5)
@given(request=sparql_requests(deep_queries()))
@example(request=SparqlRequest(PROLOGUE + "SELECT * WHERE " + "{" * 3000 + "}" * 3000, "POST-direct", None, None))
@example(request=SparqlRequest(PROLOGUE + "ASK { FILTER(" + "(" * 5000 + "1" + ")" * 5000 + ") }", "GET", None, "xml"))
def test_deep_queries(client, request):
    run(client, request, "sparql-deep")


# -- regressions: what this fuzzing found, each fixed in kgsearch ----------------------------------

#: Queries pyoxigraph cannot evaluate without running out of stack (SIGSEGV): /sparql answered 500
#: ("the query worker died"), and nested text patterns hit Python's recursion limit in the
#: SPARQL+Text rewrite (500, or the connection dropped).
DEEP = {
    "nested groups": "SELECT * WHERE " + "{" * 3000 + " ?s ?p ?o " + "}" * 3000,
    "nested parentheses": "ASK { FILTER(" + "(" * 10000 + "1" + ")" * 10000 + ") }",
    "nested subqueries": "ASK " + "{ SELECT * WHERE " * 3000 + "{}" + " }" * 3000,
    "a UNION chain": "SELECT * WHERE { " + " UNION ".join(["{ ?s ?p ?o }"] * 10000) + " }",
    "a BIND chain": "SELECT * WHERE { " + " ".join(f"BIND({i} AS ?v{i})" for i in range(5000)) + " }",
    "an && chain": "ASK { FILTER(" + " && ".join(["true"] * 10000) + ") }",
    "nested text patterns": "SELECT * WHERE " + "{" * 1000 + ' ?t kgs:contains-word "murder" ' + "}" * 1000,
}


def query_post(client: httpx.Client, query: str, **params) -> httpx.Response:
    headers = {"Content-Type": "application/sparql-query"}
    return client.post("/sparql", params=params, content=query.encode(), headers=headers)


@pytest.mark.parametrize("shape", sorted(DEEP))
def test_regression_deep_queries_are_refused(client, shape):
    response = query_post(client, PROLOGUE + DEEP[shape])
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["type"] == "QueryTooComplexError"
    check_alive(client)


def test_regression_deep_update_does_not_kill_the_server(fuzz_writable_server):
    # The update runs in the server process itself: before the fix, this killed it.
    update = "INSERT { <http://ex/a> <http://ex/p> 1 } WHERE " + "{" * 3000 + "}" * 3000
    with httpx.Client(base_url=fuzz_writable_server.url, timeout=60) as c:
        response = c.post(
            "/sparql",
            content=update.encode(),
            headers={"Content-Type": "application/sparql-update", "Authorization": f"Bearer {UPDATE_TOKEN}"},
        )
        assert response.status_code == 400 and response.json()["error"]["type"] == "QueryTooComplexError"
        check_alive(c)


def test_regression_deep_queries_are_refused_in_process():
    # In a child process, so that a regression is a failed test rather than a crashed test run.
    code = f"""
from kg import OxigraphStore
from kg.errors import QueryTooComplexError
store = OxigraphStore()
queries = {[DEEP[s] for s in sorted(DEEP) if "text" not in s]!r}
for query in queries:
    try:
        store.query(query)
    except QueryTooComplexError:
        print("refused")
try:
    store.update("INSERT {{ <http://ex/a> <http://ex/p> 1 }} WHERE " + "{{" * 3000 + "}}" * 3000)
except QueryTooComplexError:
    print("refused")
"""
    result = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["refused"] * (len(DEEP) - 1 + 1)


def test_regression_unknown_function_is_a_client_error(client):
    # pyoxigraph raises RuntimeError for it, which the query pool reported as a store failure (500).
    response = client.get("/sparql", params={"query": "SELECT (<http://ex/not-a-function>(1) AS ?x) {}"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "UnsupportedQueryError"
    assert "not-a-function" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("query", "fmt"),
    [
        ('SELECT ?x WHERE { BIND("a\\u0001b" AS ?x) }', "xml"),
        ('SELECT ?x WHERE { BIND(STRLANG("\\uFFFE", "en") AS ?x) }', "xml"),
        ('CONSTRUCT { <http://ex/a> <http://ex/p> ?x } WHERE { BIND("\\u001F" AS ?x) }', "rdfxml"),
    ],
)
def test_regression_xml_results_are_well_formed_or_refused(client, query, fmt):
    # XML 1.0 cannot carry U+0001-U+001F (but tab, LF, CR) or U+FFFE/U+FFFF, not even as &#1;;
    # the endpoint wrote them raw, and XML parsers rejected the document.
    response = client.get("/sparql", params={"query": query, "format": fmt})
    assert response.status_code == 406, response.text
    assert response.json()["error"]["type"] == "ResultFormatError"
    assert client.get("/sparql", params={"query": query}).status_code == 200  # JSON or Turtle carry it


def test_regression_a_pool_closed_while_it_respawns_leaves_no_worker(tmp_path):
    # A query past its time limit gets its worker killed and replaced in the background. A pool
    # closed meanwhile could miss the replacement, which outlived it (seen as "subprocess is still
    # running" warnings when a server stopped right after a fuzzed query timed out).
    spawned = []

    class SlowToSpawn(QueryPool):
        def _spawn(self):
            if spawned:  # the replacement: widen the window between deciding to spawn and spawning
                time.sleep(0.5)
            worker = super()._spawn()
            spawned.append(worker)
            return worker

    store = OxigraphStore(tmp_path / "store")
    store.update("INSERT DATA { " + " ".join(f"<http://ex/s{i}> <http://ex/p> {i} ." for i in range(200)) + " }")
    store.flush()
    pool = SlowToSpawn(tmp_path / "store", workers=1, timeout=0.3)
    try:
        with pytest.raises(QueryTimeoutError):
            pool.run("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }")
        time.sleep(0.2)  # the replacement is being spawned
        pool.close()
        time.sleep(1.0)  # ... and done
        assert [w.is_alive() for w in spawned] == [False] * len(spawned)
    finally:
        for worker in spawned:
            worker.kill()
            worker.join(5)
            worker.conn.close()
        store.close()
