"""Reading RDF files: format guessing, gzip, and refusing dangerous RDF/XML (XXE, entity bombs)."""

from __future__ import annotations

import gzip

import pytest

from kg import OxigraphStore, RdfSyntaxError, UnknownFormatError
from kg.formats import MAX_ENTITY_CHARS, guess_format, parse_file, rdf_format

RDF_OPEN = (
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">\n'
)


def rdfxml(tmp_path, dtd: str, label: str, name: str = "doc.rdf"):
    path = tmp_path / name
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n{dtd}\n]>\n{RDF_OPEN}'
        f'<rdf:Description rdf:about="&ex;a"><rdfs:label>{label}</rdfs:label></rdf:Description>\n</rdf:RDF>\n',
        encoding="utf-8",
    )
    return path


def test_guess_and_name_formats():
    assert guess_format("a.ttl").name == "Turtle"
    assert guess_format("dump.nq.gz").name == "N-Quads"
    assert guess_format("univ-bench.owl").name == "RDF/XML"
    assert rdf_format("json-ld").name == "JSON-LD"
    with pytest.raises(UnknownFormatError, match="pass the format explicitly"):
        guess_format("notes.txt")


def test_gzip_is_read_transparently(tmp_path):
    path = tmp_path / "a.nt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write('<http://ex/a> <http://ex/b> "c" .\n')
    assert [q.object.value for q in parse_file(path)] == ["c"]


def test_internal_namespace_entities_are_fine(tmp_path):
    path = rdfxml(tmp_path, '<!ENTITY ex "http://example.org/">', "plain")
    (quad,) = parse_file(path)
    assert quad.subject.value == "http://example.org/a"


def test_external_entity_is_refused_and_nothing_leaks(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    dtd = f'<!ENTITY ex "http://example.org/">\n<!ENTITY secret SYSTEM "{secret.as_uri()}">'
    path = rdfxml(tmp_path, dtd, "&secret;")
    store = OxigraphStore()
    with pytest.raises(RdfSyntaxError, match="external entity 'secret' refused") as info:
        store.load(path)
    assert info.value.line == 4  # the line declaring it
    assert store.count() == 0


def test_billion_laughs_is_refused_before_expansion(tmp_path):
    dtd = ['<!ENTITY ex "http://example.org/">', '<!ENTITY lol0 "lol">']
    dtd += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    path = rdfxml(tmp_path, "\n".join(dtd), "&lol9;")
    with pytest.raises(RdfSyntaxError, match="'lol1' refers to other entities"):
        list(parse_file(path))


def test_huge_entity_value_is_refused(tmp_path):
    dtd = f'<!ENTITY ex "http://example.org/">\n<!ENTITY big "{"x" * (MAX_ENTITY_CHARS + 1)}">'
    with pytest.raises(RdfSyntaxError, match="at most 1024"):
        list(parse_file(rdfxml(tmp_path, dtd, "&big;")))


def test_malformed_xml_names_the_line(tmp_path):
    path = tmp_path / "broken.rdf"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE x [\n<!ENTITY a "b"\n]>\n<x/>\n', encoding="utf-8")
    with pytest.raises(RdfSyntaxError, match=r"broken\.rdf, line 4"):
        list(parse_file(path))


def test_blank_nodes_are_scoped_to_the_file_and_stable_across_loads(tmp_path):
    ontology = tmp_path / "o.ttl"
    ontology.write_text("@prefix e: <http://ex/> .\n_:b1 e:p [ e:q 1 ] .\ne:a e:r ( 1 2 ) .\n", encoding="utf-8")
    other = tmp_path / "other.ttl"
    other.write_text("@prefix e: <http://ex/> .\n_:b1 e:p 2 .\n", encoding="utf-8")
    store = OxigraphStore()
    assert store.load(ontology) == 7
    assert store.load(ontology) == 0  # a re-run (say, after a killed load) adds nothing
    assert store.load(other) == 1  # its _:b1 is another node than the first file's _:b1
    rows = store.query("SELECT DISTINCT ?s WHERE { ?s <http://ex/p> ?o }")
    assert len(list(rows)) == 2
