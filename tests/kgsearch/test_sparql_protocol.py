"""The W3C SPARQL 1.1 Protocol tests (``sparql11/protocol/manifest.ttl``) against a live server.

The manifest describes each test as HTTP requests (``ht:`` vocabulary: method, path, headers,
body, expected status class, result format and boolean); :func:`tests.kgsearch.w3c.protocol_tests`
reads them and each runs here as a test named after its entry, over real HTTP to uvicorn on
127.0.0.1 (the manifest's ``/sparql/`` prefix becomes ``/sparql``). The server holds a private
empty home and accepts updates with a token, which every request carries, so a request the
protocol forbids must be refused for that reason and not for the missing token (403).

All 34 entries apply to kgsearch. The three ``sparql11/service-description`` tests run too.
Not run: the Graph Store HTTP Protocol (``sparql11/graph-store-protocol``, 18 tests) and
``sparql11/http-rdf-update``: kgsearch does not implement that protocol (no ``/rdf-graphs``
route in the API contract).
"""

from __future__ import annotations

import httpx
import pyoxigraph as ox
import pytest

from tests.kgsearch import w3c

TOKEN = "w3c-protocol-token"
SD = "http://www.w3.org/ns/sparql-service-description#"

#: Entries of the manifest that do not apply to kgsearch, with the reason (none do not).
INAPPLICABLE: dict[str, str] = {}

#: Entries that fail for a known reason (strict xfail); kgsearch bugs start with "kgsearch:".
EXPECTED_FAILURES: dict[str, str] = {}

#: A triple that a refused update must leave in place.
SENTINEL = "<http://example.org/protocol-sentinel> <http://example.org/p> <http://example.org/o>"


def _collect():
    if not w3c.suite_root().is_dir():
        reason = f"the W3C test suites are not at {w3c.suite_root()} (../shared/data/w3c-sparql-tests)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-suites")]
    params = []
    for t in w3c.protocol_tests():
        marks = []
        if t.name in INAPPLICABLE:
            marks.append(pytest.mark.skip(reason=INAPPLICABLE[t.name]))
        elif t.name in EXPECTED_FAILURES:
            marks.append(pytest.mark.xfail(reason=EXPECTED_FAILURES[t.name], strict=True))
        params.append(pytest.param(t, marks=marks, id=t.name))
    return params


PARAMS = _collect()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.kgsearch.conftest import LiveServer

    server = LiveServer(tmp_path_factory.mktemp("protocol") / "home", update_token=TOKEN, query_timeout=10.0).start()
    yield server
    server.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _ask(client, query: str) -> bool:
    response = client.post("/sparql", content=query, headers={"Content-Type": "application/sparql-query"})
    response.raise_for_status()
    return response.json()["boolean"]


@pytest.mark.parametrize("test", PARAMS)
def test_protocol(client, test: w3c.ProtocolTest):
    refused_update = test.name.startswith("bad_") and "update" in test.name
    if refused_update:
        response = client.post("/sparql", content=f"INSERT DATA {{ {SENTINEL} }}", headers=_update_headers())
        assert response.status_code == 200, response.text
    failure = w3c.run_protocol_test(client, test, token=TOKEN)
    assert failure is None, f"{test.title}: {failure}"
    if refused_update:  # the refused update (CLEAR ..., DELETE ...) did not run
        assert _ask(client, f"ASK {{ {SENTINEL} }}"), "a refused update changed the store"


def _update_headers() -> dict:
    return {"Content-Type": "application/sparql-update", "Authorization": f"Bearer {TOKEN}"}


def test_every_entry_is_run_or_listed():
    names = {p.id for p in PARAMS}
    if names == {"no-suites"}:
        pytest.skip("no W3C suites")
    assert len(names) == 34
    assert set(INAPPLICABLE) | set(EXPECTED_FAILURES) <= names


def test_bad_query_syntax_is_a_json_error(client):
    """Beyond the manifest (which asks for any 4xx): the contract's 400 with a typed JSON error."""
    response = client.get("/sparql", params={"query": "ASK {"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "SparqlSyntaxError"


def test_update_without_token_is_forbidden(client):
    response = client.post("/sparql", content="CLEAR ALL", headers={"Content-Type": "application/sparql-update"})
    assert response.status_code == 403


# --- sparql11/service-description (mf:ServiceDescriptionTest, described in prose) ------------


def _description(client) -> tuple[httpx.Response, list[ox.Triple]]:
    response = client.get("/sparql")
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    fmt = ox.RdfFormat.from_media_type(media_type)
    assert response.status_code == 200 and fmt is not None, (response.status_code, media_type)
    return response, [q.triple for q in ox.parse(response.content, fmt, base_iri=str(response.url))]


def test_returns_rdf(client):
    """``returns-rdf``: GET on the endpoint returns RDF."""
    _, triples = _description(client)
    assert triples


def test_has_endpoint_triple(client, server):
    """``has-endpoint-triple``: the description has ``?service sd:endpoint <the endpoint's URL>``."""
    _, triples = _description(client)
    endpoints = {t.object.value for t in triples if t.predicate.value == SD + "endpoint"}
    assert f"{server.url}/sparql" in endpoints, endpoints


def test_conforms_to_schema(client):
    """``conforms-to-schema``: an ``sd:Service`` with the schema's properties and value kinds."""
    _, triples = _description(client)
    services = {t.subject for t in triples if t.predicate.value.endswith("#type") and t.object.value == SD + "Service"}
    assert len(services) == 1
    (service,) = services
    props = {}
    for t in triples:
        if t.subject == service:
            props.setdefault(t.predicate.value, []).append(t.object)
    assert props.get(SD + "endpoint") and all(isinstance(o, ox.NamedNode) for o in props[SD + "endpoint"])
    languages = {o.value for o in props.get(SD + "supportedLanguage", [])}
    assert SD + "SPARQL11Query" in languages, languages
    for prop in ("resultFormat", "feature", "extensionFunction"):
        assert all(isinstance(o, ox.NamedNode) for o in props.get(SD + prop, [])), prop
