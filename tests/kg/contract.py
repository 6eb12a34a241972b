"""The contract every TripleStore backend must pass.

A backend's test class inherits :class:`TripleStoreContract` and overrides the
``store`` fixture to yield an empty store (and ``graph_iri`` if named graphs
must be unique on a shared server).
"""

from __future__ import annotations

import uuid

import pyoxigraph as ox
import pytest

from kg import AskResult, Bindings, GraphResult, InputFileError, RdfSyntaxError, SparqlSyntaxError, UnknownFormatError
from kg.store import TripleStore

EX = "http://example.org/kgs-contract/"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"

TURTLE = f"""\
@prefix ex: <{EX}> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

ex:alien a ex:Film ;
    rdfs:label "Alien"@en ;
    ex:year 1979 ;
    ex:rating "8.5"^^xsd:decimal ;
    ex:director ex:scott .
ex:blade_runner a ex:Film ;
    rdfs:label "Blade Runner" ;
    ex:year 1982 ;
    ex:director ex:scott .
ex:scott a ex:Person ;
    rdfs:label "Ridley Scott" ;
    ex:note "Zoë — «unicode» \\"quoted\\"" ;
    ex:address [ ex:city "South Shields" ; ex:country "UK" ] .
"""


class TripleStoreContract:
    """Behaviour shared by every backend."""

    @pytest.fixture
    def store(self) -> TripleStore:  # pragma: no cover - overridden
        raise NotImplementedError("override the `store` fixture")

    @pytest.fixture
    def graph_iri(self) -> str:
        return f"{EX}graph/{uuid.uuid4().hex}"

    @pytest.fixture
    def films_file(self, tmp_path):
        path = tmp_path / "films.ttl"
        path.write_text(TURTLE, encoding="utf-8")
        return path

    def _labels(self, store: TripleStore) -> list[str]:
        # ORDER BY STR(?l), not ?l: SPARQL 1.1 (section 15.1) leaves the order of a language-tagged
        # literal against a simple one undefined, and Virtuoso puts every simple literal first.
        result = store.query(f"SELECT ?l WHERE {{ ?s <{RDFS_LABEL}> ?l }} ORDER BY STR(?l)")
        return [row[0].value for row in result]

    def test_is_a_triple_store(self, store):
        assert isinstance(store, TripleStore)

    def test_empty_store(self, store):
        assert store.count() == 0
        assert not store.query("ASK { ?s ?p ?o }")

    def test_load_counts_and_queries(self, store, films_file):
        assert store.load(films_file) == 15
        assert store.count() == 15
        assert self._labels(store) == ["Alien", "Blade Runner", "Ridley Scott"]

    def test_select_returns_typed_terms(self, store, films_file):
        store.load(films_file)
        result = store.query(
            f"SELECT ?film ?label ?year ?rating WHERE {{ ?film <{EX}year> ?year ; <{RDFS_LABEL}> ?label . "
            f"OPTIONAL {{ ?film <{EX}rating> ?rating }} }} ORDER BY ?year"
        )
        assert isinstance(result, Bindings)
        assert result.variables == ("film", "label", "year", "rating")
        first, second = result.rows
        assert first[0] == ox.NamedNode(f"{EX}alien")
        assert first[1] == ox.Literal("Alien", language="en")
        assert int(first[2].value) == 1979 and first[2].datatype.value.endswith("#integer")
        assert float(first[3].value) == 8.5 and first[3].datatype.value.endswith("#decimal")
        assert second[3] is None  # unbound OPTIONAL

    def test_unicode_round_trip(self, store, films_file):
        store.load(films_file)
        (row,) = store.query(f"SELECT ?n WHERE {{ ?s <{EX}note> ?n }}").rows
        assert row[0].value == 'Zoë — «unicode» "quoted"'

    def test_blank_nodes_keep_identity_within_a_file(self, store, films_file):
        store.load(films_file)
        result = store.query(
            f"SELECT ?city ?country WHERE {{ <{EX}scott> <{EX}address> ?a . ?a <{EX}city> ?city ; <{EX}country> ?country }}"
        )
        assert [(r[0].value, r[1].value) for r in result] == [("South Shields", "UK")]

    def test_join_filter_and_group_by(self, store, films_file):
        store.load(films_file)
        result = store.query(
            f"SELECT ?d (COUNT(?f) AS ?n) WHERE {{ ?f <{EX}director> ?d ; <{EX}year> ?y FILTER(?y > 1980) }} GROUP BY ?d"
        )
        assert [(r[0].value, int(r[1].value)) for r in result] == [(f"{EX}scott", 1)]
        result = store.query(f'SELECT ?f WHERE {{ ?f <{RDFS_LABEL}> ?l FILTER(CONTAINS(LCASE(STR(?l)), "blade")) }}')
        assert result.column("f") == [ox.NamedNode(f"{EX}blade_runner")]

    def test_ask_and_construct(self, store, films_file):
        store.load(films_file)
        assert store.query(f"ASK {{ <{EX}alien> <{EX}director> <{EX}scott> }}") == AskResult(True)
        assert store.query(f"ASK {{ <{EX}alien> <{EX}director> <{EX}nobody> }}") == AskResult(False)
        graph = store.query(f"CONSTRUCT {{ ?f <{EX}by> ?d }} WHERE {{ ?f <{EX}director> ?d }}")
        assert isinstance(graph, GraphResult)
        assert sorted(t.subject.value for t in graph) == [f"{EX}alien", f"{EX}blade_runner"]
        assert b"by" in graph.serialize("ntriples")

    def test_update_insert_and_delete(self, store):
        store.update(f'INSERT DATA {{ <{EX}a> <{RDFS_LABEL}> "A" . <{EX}b> <{RDFS_LABEL}> "B" }}')
        store.update(f'DELETE DATA {{ <{EX}a> <{RDFS_LABEL}> "A" }}')
        assert self._labels(store) == ["B"]
        store.update(f"DELETE WHERE {{ ?s <{RDFS_LABEL}> ?l }}")
        assert store.count() == 0

    def test_add_quads(self, store, graph_iri):
        quads = [
            ox.Quad(ox.NamedNode(f"{EX}a"), ox.NamedNode(RDFS_LABEL), ox.Literal("A")),
            ox.Quad(ox.NamedNode(f"{EX}a"), ox.NamedNode(RDFS_LABEL), ox.Literal("A-in-g"), ox.NamedNode(graph_iri)),
        ]
        assert store.add(quads) == 2
        assert self._labels(store) == ["A"]
        assert store.count(graph_iri) == 1

    def test_load_into_named_graph(self, store, films_file, graph_iri):
        store.load(films_file, graph=graph_iri)
        assert store.count() == 0
        assert store.count(graph_iri) == 15
        assert graph_iri in store.named_graphs()
        result = store.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph_iri}> {{ ?s ?p ?o }} }}")
        assert int(result.rows[0][0].value) == 15

    def test_load_ntriples_and_rdfxml(self, store, tmp_path):
        nt = tmp_path / "a.nt"
        nt.write_text(f'<{EX}x> <{RDFS_LABEL}> "X" .\n', encoding="utf-8")
        xml = tmp_path / "b.rdf"
        xml.write_text(
            '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">\n'
            f'<rdf:Description rdf:about="{EX}y"><rdfs:label>Y</rdfs:label></rdf:Description>\n</rdf:RDF>\n',
            encoding="utf-8",
        )
        assert store.load(nt) == 1
        assert store.load(xml) == 1
        assert self._labels(store) == ["X", "Y"]

    def test_malformed_file_stores_nothing(self, store, films_file, tmp_path):
        store.load(films_file)
        bad = tmp_path / "bad.ttl"
        lines = [f'<{EX}n{i}> <{RDFS_LABEL}> "ok {i}" .' for i in range(50)]
        lines.append(f'<{EX}broken> <{RDFS_LABEL}> "no closing quote .')
        lines += [f'<{EX}m{i}> <{RDFS_LABEL}> "after {i}" .' for i in range(5)]
        bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(RdfSyntaxError) as info:
            store.load(bad)
        assert info.value.line == 51
        assert "bad.ttl" in str(info.value) and "line 51" in str(info.value)
        assert store.count() == 15  # earlier data intact, nothing of bad.ttl stored
        assert self._labels(store) == ["Alien", "Blade Runner", "Ridley Scott"]

    def test_missing_empty_and_unknown_files(self, store, tmp_path):
        with pytest.raises(InputFileError, match="no such file"):
            store.load(tmp_path / "missing.ttl")
        empty = tmp_path / "empty.ttl"
        empty.write_bytes(b"")
        with pytest.raises(InputFileError, match="empty"):
            store.load(empty)
        odd = tmp_path / "facts.docx"
        odd.write_text("x", encoding="utf-8")
        with pytest.raises(UnknownFormatError, match=r"\.ttl"):
            store.load(odd)
        assert store.count() == 0

    def test_invalid_sparql(self, store):
        with pytest.raises(SparqlSyntaxError):
            store.query("SELEC ?x WHERE { ?x ?y ?z }")
        with pytest.raises(SparqlSyntaxError):
            store.update("INSERT DATA { <a> }")

    def test_result_serialization(self, store, films_file):
        store.load(films_file)
        result = store.query(f"SELECT ?l WHERE {{ <{EX}alien> <{RDFS_LABEL}> ?l }}")
        parsed = list(ox.parse_query_results(result.serialize("json"), format=ox.QueryResultsFormat.JSON))
        assert parsed[0]["l"] == ox.Literal("Alien", language="en")
        parsed = list(ox.parse_query_results(result.serialize("xml"), format=ox.QueryResultsFormat.XML))
        assert parsed[0]["l"] == ox.Literal("Alien", language="en")
        assert result.serialize("csv") == b"l\r\nAlien\r\n"
        assert result.serialize("tsv") == b'?l\n"Alien"@en\n'
