"""Foreign SPARQL clients, used as their documentation shows, against kgsearch's ``/sparql``.

SPARQLWrapper, rdflib's ``SPARQLStore`` / ``SPARQLUpdateStore`` and Apache Jena's ``arq.rsparql``
query the live server over the sample movie KB. Every expected answer is computed by rdflib's own
SPARQL engine (or graph API) over the same two files the server loaded, so the tests check values
(IRIs with non-ASCII letters, typed and language-tagged literals, counts, graphs), not only that a
response came back. A client that is not installed skips its tests with the reason.
"""

from __future__ import annotations

import json
import urllib.error
from xml.dom.minidom import Document, Element

import pytest
from rdflib import RDF, RDFS, BNode, Graph, Literal, Namespace, URIRef
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID

from kgsearch.settings import PROJECT_ROOT
from tests.kgsearch.conftest import UPDATE_TOKEN

try:
    from SPARQLWrapper.SPARQLExceptions import QueryBadFormed  # what SPARQLWrapper raises for a 400
except ImportError:  # its tests skip
    QueryBadFormed = Exception

MOVIES = Namespace("http://kgsearch.org/ns/movies#")
FILM = Namespace("http://kgsearch.org/movies/film/")
GENRE = Namespace("http://kgsearch.org/movies/genre/")

PREFIXES = """\
PREFIX movies: <http://kgsearch.org/ns/movies#>
PREFIX film: <http://kgsearch.org/movies/film/>
PREFIX genre: <http://kgsearch.org/movies/genre/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""

#: One row holding each kind of term: an IRI with non-ASCII letters (Mikael Håfström), a plain
#: literal, an ``xsd:integer`` and a language-tagged label from the ontology.
SELECT_FILM = (
    PREFIXES
    + """\
SELECT ?director ?name ?year ?kind WHERE {
  film:1408 a ?class ; movies:directedBy ?director ; movies:releaseYear ?year .
  ?director rdfs:label ?name .
  ?class rdfs:label ?kind .
}"""
)

COUNT_HORROR = (
    PREFIXES + "SELECT (COUNT(DISTINCT ?film) AS ?films) WHERE { ?film a movies:Film ; movies:hasGenre genre:Horror }"
)

#: ``ASK`` queries, one true and one false on the sample (checked in :func:`kb`).
ASK_DIRECTOR = PREFIXES + 'ASK { film:1408 movies:directedBy ?who . ?who rdfs:label "Mikael Håfström" }'
ASK_WRITER = PREFIXES + 'ASK { film:1408 movies:writtenBy ?who . ?who rdfs:label "Mikael Håfström" }'

#: A graph built from a template unlike its pattern, over several films.
CONSTRUCT_HORROR = (
    PREFIXES
    + """\
CONSTRUCT { ?director movies:directed ?film . ?film rdfs:label ?title }
WHERE { ?film movies:hasGenre genre:Horror ; movies:directedBy ?director ; rdfs:label ?title }"""
)


@pytest.fixture(scope="module")
def kb() -> Graph:
    """The server's KB files parsed by rdflib: the oracle for expected answers."""
    graph = Graph()
    graph.parse(PROJECT_ROOT / "ontologies" / "movies.ttl")
    graph.parse(PROJECT_ROOT / "data" / "movies-sample.ttl")
    # the queries must discriminate: a true and a false ASK, non-empty rows and graphs
    assert graph.query(ASK_DIRECTOR).askAnswer and not graph.query(ASK_WRITER).askAnswer
    assert len(graph.query(SELECT_FILM)) == 1 and len(graph.query(CONSTRUCT_HORROR).graph) > 20
    return graph


@pytest.fixture(scope="module")
def endpoint(live_server) -> str:
    return f"{live_server}/sparql"


def expected_rows(kb: Graph, query: str) -> tuple[list[str], list[tuple]]:
    """Variables and rows of ``query`` evaluated by rdflib over the KB files."""
    result = kb.query(query)
    return [str(v) for v in result.vars], sorted((tuple(row) for row in result), key=repr)


def horror_films(kb: Graph) -> int:
    """The number of Horror films, counted with rdflib's graph API (no SPARQL)."""
    return len(set(kb.subjects(MOVIES.hasGenre, GENRE.Horror)) & set(kb.subjects(RDF.type, MOVIES.Film)))


def json_term(binding: dict):
    """An rdflib term from a SPARQL 1.1 Query Results JSON binding."""
    if binding["type"] == "uri":
        return URIRef(binding["value"])
    if binding["type"] == "bnode":
        return BNode(binding["value"])
    return Literal(binding["value"], lang=binding.get("xml:lang"), datatype=binding.get("datatype"))


def json_rows(results: dict) -> tuple[list[str], list[tuple]]:
    variables = results["head"]["vars"]
    rows = [tuple(json_term(b[v]) if v in b else None for v in variables) for b in results["results"]["bindings"]]
    return variables, sorted(rows, key=repr)


def _children(node) -> list[Element]:
    return [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE]


def xml_term(element: Element):
    """An rdflib term from a SPARQL Query Results XML ``<uri>``, ``<literal>`` or ``<bnode>``."""
    text = "".join(c.data for c in element.childNodes if c.nodeType == c.TEXT_NODE)
    if element.tagName == "uri":
        return URIRef(text)
    if element.tagName == "bnode":
        return BNode(text)
    return Literal(
        text, lang=element.getAttribute("xml:lang") or None, datatype=element.getAttribute("datatype") or None
    )


def xml_rows(doc: Document) -> tuple[list[str], list[tuple]]:
    variables = [v.getAttribute("name") for v in doc.getElementsByTagName("variable")]
    rows = []
    for result in doc.getElementsByTagName("result"):
        bound = {b.getAttribute("name"): xml_term(_children(b)[0]) for b in _children(result)}
        rows.append(tuple(bound.get(v) for v in variables))
    return variables, sorted(rows, key=repr)


def xml_boolean(doc: Document) -> bool:
    (element,) = doc.getElementsByTagName("boolean")
    return element.firstChild.data.strip() == "true"


# -- SPARQLWrapper -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sparqlwrapper():
    return pytest.importorskip("SPARQLWrapper", reason="SPARQLWrapper is not installed (pip install SPARQLWrapper)")


def wrapper(sw, endpoint: str, query: str, return_format: str, method: str = "GET"):
    client = sw.SPARQLWrapper(endpoint)
    client.setQuery(query)
    client.setReturnFormat(return_format)
    client.setMethod(method)
    return client


def query_and_convert(client):
    """``client.queryAndConvert()``, closing the HTTP response of an error it raises.

    SPARQLWrapper raises urllib's ``HTTPError`` (or its own exception from one) with the response
    still open. Freed by the cycle collector, the socket warns (``ResourceWarning``), and
    ``filterwarnings = error`` fails whichever later test is running at the time.
    """
    try:
        return client.queryAndConvert()
    except Exception as e:
        cause = e
        while cause is not None:
            if isinstance(cause, urllib.error.HTTPError):
                cause.close()
            cause = cause.__context__
        raise


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_sparqlwrapper_select_json(sparqlwrapper, endpoint, kb, method):
    results = query_and_convert(wrapper(sparqlwrapper, endpoint, SELECT_FILM, sparqlwrapper.JSON, method))
    assert json_rows(results) == expected_rows(kb, SELECT_FILM)
    (row,) = results["results"]["bindings"]
    assert row["director"]["value"] == "http://kgsearch.org/movies/person/Mikael_Håfström"
    assert row["kind"] == {"type": "literal", "value": "film", "xml:lang": "en"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_sparqlwrapper_select_xml(sparqlwrapper, endpoint, kb, method):
    doc = query_and_convert(wrapper(sparqlwrapper, endpoint, SELECT_FILM, sparqlwrapper.XML, method))
    assert isinstance(doc, Document)
    assert xml_rows(doc) == expected_rows(kb, SELECT_FILM)


@pytest.mark.parametrize("fmt", ["JSON", "XML"])
def test_sparqlwrapper_count(sparqlwrapper, endpoint, kb, fmt):
    converted = query_and_convert(wrapper(sparqlwrapper, endpoint, COUNT_HORROR, getattr(sparqlwrapper, fmt)))
    _, [(films,)] = json_rows(converted) if fmt == "JSON" else xml_rows(converted)
    assert films.datatype == URIRef("http://www.w3.org/2001/XMLSchema#integer")
    assert films.toPython() == horror_films(kb) > 0


@pytest.mark.parametrize("fmt", ["JSON", "XML"])
@pytest.mark.parametrize("query", [ASK_DIRECTOR, ASK_WRITER], ids=["true", "false"])
def test_sparqlwrapper_ask(sparqlwrapper, endpoint, kb, query, fmt):
    converted = query_and_convert(wrapper(sparqlwrapper, endpoint, query, getattr(sparqlwrapper, fmt)))
    answer = converted["boolean"] if fmt == "JSON" else xml_boolean(converted)
    assert answer is kb.query(query).askAnswer


# SPARQLWrapper sends its return format again as non-standard parameters (format=, output=,
# results=), several times and as names or media types, besides the Accept header; for a graph its
# default, format=xml, means RDF/XML.
@pytest.mark.parametrize("fmt", ["TURTLE", "RDFXML", "XML", "N3", "JSONLD"])
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")  # inside SPARQLWrapper
@pytest.mark.filterwarnings(
    "ignore:Dataset.default_context is deprecated:DeprecationWarning"
)  # rdflib's JSON-LD parser
def test_sparqlwrapper_construct(sparqlwrapper, endpoint, kb, fmt):
    converted = query_and_convert(wrapper(sparqlwrapper, endpoint, CONSTRUCT_HORROR, getattr(sparqlwrapper, fmt)))
    if isinstance(converted, bytes):  # SPARQLWrapper hands Turtle, N3 and JSON-LD back unparsed
        rdflib_format = {"TURTLE": "turtle", "N3": "n3", "JSONLD": "json-ld"}[fmt]
        converted = Graph().parse(data=converted, format=rdflib_format)
    assert set(converted) == set(kb.query(CONSTRUCT_HORROR).graph)


# -- rdflib SPARQLStore / SPARQLUpdateStore ------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "POST_FORM"])
def test_sparqlstore_select(endpoint, kb, method):
    from rdflib.plugins.stores.sparqlstore import SPARQLStore

    graph = Graph(store=SPARQLStore(endpoint, method=method))
    result = graph.query(SELECT_FILM)
    assert ([str(v) for v in result.vars], sorted(map(tuple, result), key=repr)) == expected_rows(kb, SELECT_FILM)
    (films,) = next(iter(graph.query(COUNT_HORROR)))
    assert films.toPython() == horror_films(kb)


@pytest.mark.parametrize("return_format", ["xml", "json"])
@pytest.mark.parametrize("query", [ASK_DIRECTOR, ASK_WRITER], ids=["true", "false"])
def test_sparqlstore_ask(endpoint, kb, query, return_format):
    from rdflib.plugins.stores.sparqlstore import SPARQLStore

    graph = Graph(store=SPARQLStore(endpoint, returnFormat=return_format))
    assert graph.query(query).askAnswer is kb.query(query).askAnswer


def test_sparqlstore_construct(endpoint, kb):
    # rdflib asks for graphs only with its default "xml" returnFormat (Accept: application/rdf+xml, ...)
    from rdflib.plugins.stores.sparqlstore import SPARQLStore

    graph = Graph(store=SPARQLStore(endpoint))
    assert set(graph.query(CONSTRUCT_HORROR).graph) == set(kb.query(CONSTRUCT_HORROR).graph)


def test_sparqlstore_graph_api(endpoint, kb):
    """``Graph`` methods, which SPARQLStore turns into SELECT queries of its own."""
    from rdflib.plugins.stores.sparqlstore import SPARQLStore

    graph = Graph(store=SPARQLStore(endpoint))
    film = FILM["1408"]
    director = kb.value(film, MOVIES.directedBy)
    assert graph.value(film, MOVIES.directedBy) == director
    assert graph.value(director, RDFS.label) == Literal("Mikael Håfström")
    assert (film, MOVIES.releaseYear, Literal(2007)) in graph
    assert set(graph.predicate_objects(film)) == set(kb.predicate_objects(film))
    assert set(graph.subjects(MOVIES.directedBy, director)) == set(kb.subjects(MOVIES.directedBy, director))


def test_sparqlupdatestore_writes_with_bearer_token(writable_server, kb):
    from rdflib.plugins.stores.sparqlstore import SPARQLStore, SPARQLUpdateStore

    endpoint = f"{writable_server.url}/sparql"
    new = FILM["Interop_Test_Film"]
    refused = Graph(store=SPARQLUpdateStore(endpoint, endpoint), identifier=DATASET_DEFAULT_GRAPH_ID)
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        refused.add((new, RDFS.label, Literal("Refused")))
    excinfo.value.close()  # see query_and_convert
    assert excinfo.value.code == 403

    store = SPARQLUpdateStore(endpoint, endpoint, headers={"Authorization": f"Bearer {UPDATE_TOKEN}"})
    # DATASET_DEFAULT_GRAPH_ID makes Graph.add write to the default graph, not GRAPH <a bnode>
    graph = Graph(store=store, identifier=DATASET_DEFAULT_GRAPH_ID)
    graph.add((new, RDFS.label, Literal("Interop Test Film")))
    # store.update, not graph.update: rdflib wraps the latter in GRAPH <urn:x-rdflib:default> { }
    store.update(PREFIXES + "INSERT DATA { film:Interop_Test_Film a movies:Film ; movies:hasGenre genre:Horror }")

    reader = Graph(store=SPARQLStore(endpoint))  # a separate connection, without the token
    assert set(reader.predicate_objects(new)) == {
        (RDFS.label, Literal("Interop Test Film")),
        (RDF.type, MOVIES.Film),
        (MOVIES.hasGenre, GENRE.Horror),
    }
    (films,) = next(iter(reader.query(COUNT_HORROR)))
    assert films.toPython() == horror_films(kb) + 1

    graph.remove((new, None, None))
    assert not reader.query(PREFIXES + "ASK { film:Interop_Test_Film ?p ?o }").askAnswer


# -- Apache Jena arq.rsparql -------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsparql(tmp_path_factory):
    from kg.testing.jena import RSparql, jena_available

    reason = jena_available()
    if reason:
        pytest.skip(f"Jena's rsparql cannot run: {reason}")
    return RSparql(tmp_path_factory.mktemp("jena"))


def test_rsparql_select_json(rsparql, endpoint, kb):
    results = json.loads(rsparql.run(endpoint, SELECT_FILM, results="json"))
    assert json_rows(results) == expected_rows(kb, SELECT_FILM)


def test_rsparql_ask_post(rsparql, endpoint, kb):
    answer = json.loads(rsparql.run(endpoint, ASK_DIRECTOR, results="json", post=True))["boolean"]
    assert answer is kb.query(ASK_DIRECTOR).askAnswer is True


def test_rsparql_construct_turtle(rsparql, endpoint, kb):
    turtle = rsparql.run(endpoint, CONSTRUCT_HORROR, results="ttl")
    assert set(Graph().parse(data=turtle, format="turtle")) == set(kb.query(CONSTRUCT_HORROR).graph)
