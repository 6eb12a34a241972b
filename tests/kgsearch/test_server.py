"""The HTTP service over the sample KB, through real HTTP on 127.0.0.1: the entity API, errors,
limits, and the SPARQL endpoint's safety rules (timeouts, caps, SERVICE, updates)."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest

from tests.kgsearch.conftest import UPDATE_TOKEN, LiveServer, copy_home

JAWS = "http://kgsearch.org/movies/film/Jaws"
SPIELBERG = "http://kgsearch.org/movies/person/Steven_Spielberg"
DIRECTED_BY = "http://kgsearch.org/ns/movies#directedBy"


@pytest.fixture(scope="module")
def client(live_server):
    with httpx.Client(base_url=live_server, timeout=60) as c:
        yield c


def error_of(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()["error"]


# -- entity-centric API ------------------------------------------------------------------------


def test_entity_card_by_encoded_iri_has_grouped_facts_and_documents(client):
    card = client.get("/entities/" + quote(JAWS, safe="")).json()
    assert card["iri"] == JAWS and card["label"] == "Jaws"
    assert [t["label"] for t in card["types"]] == ["film"]  # the ontology's rdfs:label
    directed = next(f for f in card["facts"] if f["property"]["iri"] == DIRECTED_BY and f["direction"] == "out")
    assert directed["property"]["label"] == "directed by"
    assert [v["label"] for v in directed["values"]] == ["Steven Spielberg"]
    assert directed["values"][0] == {"type": "uri", "value": SPIELBERG, "label": "Steven Spielberg"}
    assert card["documents"] and card["documents"][0]["title"] == "Jaws"
    assert "<b>" in card["documents"][0]["snippet"]


def test_entity_card_by_name_and_incoming_facts(client):
    card = client.get("/entities/Steven Spielberg").json()
    assert card["iri"].endswith("Steven_Spielberg") or card["iri"].endswith("steven_spielberg")
    person = client.get("/entities/" + quote(SPIELBERG, safe="")).json()
    incoming = [f for f in person["facts"] if f["direction"] == "in" and f["property"]["iri"] == DIRECTED_BY]
    assert "Jaws" in [v["label"] for v in incoming[0]["values"]]


def test_unknown_entity_is_404_with_advice(client):
    r = client.get("/entities/No such film at all")
    assert r.status_code == 404
    assert error_of(r)["type"] == "EntityNotFoundError" and "no entity" in error_of(r)["message"]


def test_neighbors_are_a_graph_around_the_entity(client):
    graph = client.get(f"/entities/{quote(JAWS, safe='')}/neighbors", params={"limit": 5}).json()
    assert graph["center"] == JAWS
    assert len(graph["nodes"]) == 6 and graph["nodes"][0]["iri"] == JAWS
    ids = {n["iri"] for n in graph["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    assert all(JAWS in (e["source"], e["target"]) for e in graph["edges"])


def test_ask_returns_sparql_confidence_and_evidence(client):
    body = client.get("/ask", params={"q": "who directed Jaws"}).json()
    assert DIRECTED_BY in body["sparql"] and 0 < body["confidence"] <= 1
    top = body["answers"][0]
    assert top["iri"] == SPIELBERG
    assert {e["source"] for e in top["evidence"]} >= {"kb", "text"}


def test_ask_without_any_entity_is_a_clear_400(client):
    r = client.get("/ask", params={"q": "   "})
    assert r.status_code == 400 and error_of(r)["type"] == "CannotParseError"


def test_search_finds_documents_and_entities(client):
    body = client.get("/search", params={"q": "great white shark", "limit": 3}).json()
    assert body["documents"][0]["title"] == "Jaws"
    assert JAWS in [e["iri"] for e in body["entities"]]
    only = client.get("/search", params={"q": "film", "entity": SPIELBERG, "limit": 50}).json()
    assert only["documents"] and all(SPIELBERG in d["entities"] for d in only["documents"])


def test_suggest_completes_entities_terms_and_prefixes(client):
    people = client.get("/suggest", params={"q": "hitchc", "limit": 10}).json()["suggestions"]
    assert "Alfred Hitchcock" in [s["label"] for s in people]
    terms = client.get("/suggest", params={"q": "directed", "kind": "property"}).json()["suggestions"]
    assert terms[0]["iri"] == DIRECTED_BY and terms[0]["curie"] == "movies:directedBy"
    prefixes = client.get("/suggest", params={"q": "movi", "kind": "prefix"}).json()["suggestions"]
    assert prefixes[0]["label"] == "movies:"
    assert client.get("/suggest", params={"q": ""}).json()["suggestions"] == []


def test_link_endpoint(client):
    links = client.get("/link", params={"text": "Rebecca is a 1940 film directed by Alfred Hitchcock."}).json()["links"]
    assert "http://kgsearch.org/movies/person/Alfred_Hitchcock" in [link["iri"] for link in links]


def test_prefixes_and_examples_fit_the_kb(client):
    assert client.get("/prefixes").json()["prefixes"]["movies"] == "http://kgsearch.org/ns/movies#"
    examples = client.get("/examples").json()
    assert "who directed Jaws" in examples["questions"]
    for example in examples["queries"]:
        r = client.get("/sparql", params={"query": example["sparql"]})
        assert r.status_code == 200, (example["title"], r.text)


def test_validation_and_routing_errors_are_json(client):
    r = client.get("/ask")
    assert r.status_code == 422 and "q" in error_of(r)["message"]
    r = client.get("/no/such/route")
    assert r.status_code == 404 and "/docs" in error_of(r)["message"]
    assert client.get("/search", params={"q": "x", "limit": 0}).status_code == 422


def test_openapi_lists_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/entities/{ref}", "/search", "/ask", "/suggest", "/documents", "/sparql"} <= set(paths)


# -- SPARQL endpoint ---------------------------------------------------------------------------

FILMS_OF_SPIELBERG = f"SELECT ?f WHERE {{ ?f <{DIRECTED_BY}> <{SPIELBERG}> }} ORDER BY ?f"


def test_sparql_get_and_post_forms_agree(client):
    get = client.get("/sparql", params={"query": FILMS_OF_SPIELBERG}).json()
    form = client.post("/sparql", data={"query": FILMS_OF_SPIELBERG}).json()
    direct = client.post(
        "/sparql", content=FILMS_OF_SPIELBERG, headers={"content-type": "application/sparql-query"}
    ).json()
    assert get == form == direct
    assert {"type": "uri", "value": JAWS} in [b["f"] for b in get["results"]["bindings"]]
    assert "truncated" not in get


@pytest.mark.parametrize(
    ("accept", "fmt", "media"),
    [
        ("application/sparql-results+xml", None, "application/sparql-results+xml"),
        ("text/csv", None, "text/csv"),
        (None, "tsv", "text/tab-separated-values"),
        ("text/csv;q=0.2, application/sparql-results+json", None, "application/sparql-results+json"),
    ],
)
def test_sparql_result_formats_by_negotiation(client, accept, fmt, media):
    headers = {"accept": accept} if accept else {}
    params = {"query": FILMS_OF_SPIELBERG} | ({"format": fmt} if fmt else {})
    r = client.get("/sparql", params=params, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith(media)
    assert "Jaws" in r.text


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        ("text/turtle", "text/turtle"),
        ("application/n-triples", "application/n-triples"),
        ("application/ld+json", "application/ld+json"),
    ],
)
def test_construct_results_as_rdf(client, accept, media):
    query = f"CONSTRUCT {{ <{JAWS}> ?p ?o }} WHERE {{ <{JAWS}> ?p ?o }}"
    r = client.get("/sparql", params={"query": query}, headers={"accept": accept})
    assert r.status_code == 200 and r.headers["content-type"].startswith(media)
    import pyoxigraph as ox

    triples = list(ox.parse(r.content, format=ox.RdfFormat.from_media_type(media)))
    assert any(t.predicate.value == DIRECTED_BY and t.object.value == SPIELBERG for t in triples)


def test_unacceptable_format_is_406(client):
    r = client.get("/sparql", params={"query": FILMS_OF_SPIELBERG}, headers={"accept": "image/png"})
    assert r.status_code == 406 and "accept one of" in error_of(r)["message"]
    r = client.get("/sparql", params={"query": FILMS_OF_SPIELBERG, "format": "turtle"})
    assert r.status_code == 406


def test_service_description_without_query(client):
    r = client.get("/sparql")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/turtle")
    assert "sd:SPARQL11Query" in r.text and "SPARQL11Update" not in r.text  # read-only server


def test_protocol_errors(client):
    assert client.post("/sparql", content="SELECT * {}", headers={"content-type": "text/plain"}).status_code == 415
    two = client.get("/sparql", params=[("query", "ASK {}"), ("query", "ASK {}")])
    assert two.status_code == 400 and "exactly one" in error_of(two)["message"]
    bad = client.get("/sparql", params={"query": "SELECT ?x WHERE { ?x"})
    assert bad.status_code == 400 and error_of(bad)["type"] == "SparqlSyntaxError"
    assert client.get("/sparql", params={"update": "CLEAR ALL"}).status_code == 400


def test_read_only_server_refuses_updates(client):
    r = client.post("/sparql", data={"update": "CLEAR ALL"}, headers={"authorization": "Bearer guess"})
    assert r.status_code == 403 and "read-only" in error_of(r)["message"]
    assert client.get("/sparql", params={"query": "ASK { ?s ?p ?o }"}).json()["boolean"] is True


def test_service_to_loopback_is_refused(client):
    for target in ("<http://127.0.0.1:8890/sparql>", "ex:sparql"):
        query = f"PREFIX ex: <http://127.0.0.1:1/> SELECT * WHERE {{ SERVICE SILENT {target} {{ ?s ?p ?o }} }}"
        r = client.get("/sparql", params={"query": query})
        assert r.status_code == 403 and error_of(r)["type"] == "ServiceNotAllowedError"


def test_sparql_text_through_the_endpoint(client):
    query = (
        "PREFIX kgs: <http://kgsearch.org/ns/kgs#> SELECT DISTINCT ?e WHERE { "
        '?d kgs:contains-word "shark" ; kgs:contains-entity ?e }'
    )
    body = client.get("/sparql", params={"query": query}).json()
    assert JAWS in [b["e"]["value"] for b in body["results"]["bindings"]]


def test_oversized_requests_are_413(client):
    big = "SELECT * WHERE { ?s ?p ?o } #" + "x" * (2 << 20)
    r = client.post("/sparql", content=big, headers={"content-type": "application/sparql-query"})
    assert r.status_code == 413 and error_of(r)["type"] == "RequestTooLargeError"


# -- limits and writes, on private servers -------------------------------------------------------


def test_timeout_stops_the_query_and_the_server_stays_responsive(sample_home, tmp_path):
    server = LiveServer(copy_home(sample_home, tmp_path / "home"), query_timeout=1.0, query_workers=1).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            cross = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
            r = c.get("/sparql", params={"query": cross})
            assert r.status_code == 503 and error_of(r)["type"] == "QueryTimeoutError"
            assert r.headers["retry-after"]
            assert c.get("/sparql", params={"query": FILMS_OF_SPIELBERG}).status_code == 200
            assert c.get("/ask", params={"q": "who directed Jaws"}).status_code == 200
            assert server.app.state.kgsearch.pool.stats["timeouts"] == 1
    finally:
        server.stop()


def test_row_cap_truncates_with_a_flag(sample_home, tmp_path):
    server = LiveServer(copy_home(sample_home, tmp_path / "home"), row_cap=7).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            r = c.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"})
            assert r.headers["x-kgsearch-truncated"] == "true"
            body = r.json()
            assert body["truncated"] is True and len(body["results"]["bindings"]) == 7
            small = c.get("/sparql", params={"query": FILMS_OF_SPIELBERG + " LIMIT 7"})
            assert "x-kgsearch-truncated" not in small.headers
    finally:
        server.stop()


def test_updates_with_the_token_are_seen_by_later_queries(writable_server):
    auth = {"authorization": f"Bearer {UPDATE_TOKEN}"}
    with httpx.Client(base_url=writable_server.url, timeout=60) as c:
        assert c.post("/sparql", data={"update": "CLEAR DEFAULT"}).status_code == 403
        r = c.post("/sparql", data={"update": "CLEAR DEFAULT"}, headers={"authorization": "Bearer wrong"})
        assert r.status_code == 403
        update = f'INSERT DATA {{ <http://ex/new> <{DIRECTED_BY}> <{SPIELBERG}> . <http://ex/new> <http://www.w3.org/2000/01/rdf-schema#label> "Brand New Film" }}'
        r = c.post("/sparql", content=update, headers=auth | {"content-type": "application/sparql-update"})
        assert r.status_code == 200, r.text
        films = c.get("/sparql", params={"query": FILMS_OF_SPIELBERG}).json()["results"]["bindings"]
        assert {"type": "uri", "value": "http://ex/new"} in [b["f"] for b in films]
        assert "SPARQL11Update" in c.get("/sparql").text
        # the catalogue follows the update: the new entity has a card
        assert c.get("/entities/Brand New Film").json()["iri"] == "http://ex/new"
        # using-graph-uri applies to the update's WHERE
        r = c.post(
            "/sparql",
            params={"using-graph-uri": "http://ex/empty"},
            content=f"DELETE {{ ?f <{DIRECTED_BY}> ?d }} WHERE {{ ?f <{DIRECTED_BY}> ?d }}",
            headers=auth | {"content-type": "application/sparql-update"},
        )
        assert r.status_code == 200
        assert c.get("/sparql", params={"query": FILMS_OF_SPIELBERG}).json()["results"]["bindings"]


def test_post_documents_ingests_and_returns_links(writable_server):
    auth = {"authorization": f"Bearer {UPDATE_TOKEN}"}
    doc = {"id": "note-1", "title": "Vertigo", "text": "Vertigo is a 1958 film directed by Alfred Hitchcock."}
    with httpx.Client(base_url=writable_server.url, timeout=120) as c:
        assert c.post("/documents", json={"documents": [doc]}).status_code == 403
        r = c.post("/documents", json={"documents": [doc, {"id": "empty", "text": ""}]}, headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["report"]["added"] == 1 and len(body["report"]["failed"]) == 1
        links = {link["iri"] for link in body["documents"][0]["links"]}
        assert "http://kgsearch.org/movies/person/Alfred_Hitchcock" in links
        found = c.get("/search", params={"q": "Vertigo 1958"}).json()["documents"]
        assert found[0]["id"] == "note-1"
        r = c.post(
            "/documents", content=json.dumps({"documents": "nope"}), headers=auth | {"content-type": "application/json"}
        )
        assert r.status_code == 400 and "documents" in error_of(r)["message"]
