"""The movie ontology, the MetaQA -> RDF converter, its IRIs, and the committed sample."""

from __future__ import annotations

import gzip

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD

from kg import InputFileError, OxigraphStore, UnknownFormatError
from kg.datasets import movies
from kg.datasets._iri import KINDS, movie_iri, parse_movie_iri, slug, unslug
from kg.datasets.movies import RELATIONS, convert_metaqa, select_sample_films
from kg.errors import DatasetError
from kg.namespaces import MOVIES, MOVIES_DATA
from tests.conftest import ROOT

SCHEMA = "https://schema.org/"
ONTOLOGY = ROOT / "ontologies" / "movies.ttl"
SAMPLE = ROOT / "data" / "movies-sample.ttl"
PREFIXES = f"""
PREFIX movies: <{MOVIES._NS}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""
FULL_COUNTS = {
    "directed_by": 15957,
    "has_genre": 15485,
    "has_imdb_rating": 314,
    "has_imdb_votes": 119,
    "has_tags": 28719,
    "in_language": 3428,
    "release_year": 16715,
    "starred_actors": 33718,
    "written_by": 19127,
}


def _select(store: OxigraphStore, query: str) -> list[tuple]:
    rows = store.query(PREFIXES + query).rows
    return [tuple(term.value if term is not None else None for term in row) for row in rows]


def _count(store: OxigraphStore, pattern: str) -> int:
    return int(_select(store, f"SELECT (COUNT(*) AS ?n) WHERE {{ {pattern} }}")[0][0])


# ------------------------------------------------------------------ slugs and IRIs

TRICKY = [
    "Tatia Rosenthal",
    "Tatia_Rosenthal",
    "Tatia%20Rosenthal",
    "Tatia%5FRosenthal",
    "$9.99",
    "50/50",
    "Who?",
    "#1",
    "<b>",
    'say "hi"',
    "a\\b",
    "{x}|^`[y]",
    "48 Hrs.",
    "48 Hrs%2E",
    ".",
    "..",
    "...",
    "Zoë",
    "Gert Fröbe",
    "¡Three Amigos!",
    "8½",
    "東京物語",
    "bidi\u202eflip",
    "no\u00a0break",
    "zero\u200bwidth",
    "tab\there",
    "😀",
    " lead and trail ",
]


def test_slug_examples():
    assert slug("Tatia Rosenthal") == "Tatia_Rosenthal"
    assert slug("Tatia_Rosenthal") == "Tatia%5FRosenthal"
    assert slug("100%") == "100%25"
    assert slug("50/50") == "50%2F50"
    assert slug("48 Hrs.") == "48_Hrs%2E"
    assert slug("Gert Fröbe") == "Gert_Fröbe"  # non-ASCII letters stay readable
    assert slug("bidi\u202eflip") == "bidi%E2%80%AEflip"  # but invisible controls do not
    assert movie_iri("film", "$9.99") == f"{MOVIES_DATA}film/$9.99"


@pytest.mark.parametrize("name", TRICKY)
def test_slug_round_trips_to_a_valid_iri(name):
    iri = movie_iri("person", name)
    assert ox.NamedNode(iri).value == iri
    assert unslug(slug(name)) == name
    assert parse_movie_iri(iri) == ("person", name)
    assert not slug(name).endswith(".")


def test_slug_is_injective_on_tricky_names():
    assert len({slug(name) for name in TRICKY}) == len(TRICKY)


def test_iris_differ_by_kind():
    assert movie_iri("film", "Mark Twain") != movie_iri("person", "Mark Twain")
    assert movie_iri("tag", "richard brooks") != movie_iri("person", "Richard Brooks")


def test_bad_kind_and_empty_name_are_errors():
    with pytest.raises(DatasetError, match="expected one of film, person, genre, language, tag"):
        movie_iri("actor", "Tom Hanks")
    with pytest.raises(DatasetError, match="empty"):
        movie_iri("film", "")
    with pytest.raises(DatasetError, match="not a movie entity IRI"):
        parse_movie_iri("http://example.org/film/Alien")


@pytest.mark.slow
def test_every_kb_name_maps_to_a_distinct_valid_iri(shared_data):
    names = set()
    for line in (shared_data / movies.KB_FILE).read_text(encoding="utf-8").splitlines():
        head, relation, tail = line.split("|")
        names.add(("film", head))
        if RELATIONS[relation][1] in KINDS:
            names.add((RELATIONS[relation][1], tail))
    assert len(names) > 43_000
    iris = {movie_iri(kind, name) for kind, name in names}
    assert len(iris) == len(names)
    for iri in iris:
        assert ox.NamedNode(iri).value == iri
        kind, name = parse_movie_iri(iri)
        assert movie_iri(kind, name) == iri


# ------------------------------------------------------------------ ontology


@pytest.fixture(scope="module")
def ontology() -> rdflib.Graph:
    return rdflib.Graph().parse(ONTOLOGY, format="turtle")


def test_ontology_parses_with_pyoxigraph_and_rdflib(ontology):
    assert len(list(ox.parse(path=str(ONTOLOGY), format=ox.RdfFormat.TURTLE))) == len(ontology) > 100
    header = rdflib.URIRef(str(MOVIES._NS).rstrip("#"))
    assert (header, RDF.type, OWL.Ontology) in ontology
    assert "CC BY 3.0" in str(ontology.value(header, RDFS.comment))
    assert ontology.value(header, RDFS.label) is not None


@pytest.mark.parametrize("term", list(MOVIES.__annotations__))
def test_every_term_is_declared_with_label_and_schema_alignment(ontology, term):
    iri = MOVIES[term]
    assert ontology.value(iri, RDFS.label) is not None, f"{term} has no rdfs:label"
    assert ontology.value(iri, RDFS.comment) is not None, f"{term} has no rdfs:comment"
    alignments = (RDFS.subClassOf, OWL.equivalentClass, RDFS.subPropertyOf, OWL.equivalentProperty, RDFS.seeAlso)
    links = {o for p in alignments for o in ontology.objects(iri, p)}
    assert any(str(o).startswith(SCHEMA) for o in links), f"{term} is not aligned to schema.org"
    if term[0].isupper():
        assert (iri, RDF.type, OWL.Class) in ontology
        return
    assert ontology.value(iri, RDFS.domain) == MOVIES.Film
    assert ontology.value(iri, RDFS.range) is not None
    assert len(list(ontology.objects(iri, SKOS.altLabel))) >= 2, f"{term} needs at least 2 skos:altLabel"


def test_ontology_agrees_with_the_converter(ontology):
    by_predicate = {predicate: kind for predicate, kind in RELATIONS.values()}
    assert set(by_predicate) == {str(MOVIES[t]) for t in MOVIES.__annotations__ if t[0].islower()}
    for predicate, kind in by_predicate.items():
        rng = ontology.value(rdflib.URIRef(predicate), RDFS.range)
        if kind in KINDS:
            assert str(rng) == KINDS[kind]
            assert (rdflib.URIRef(predicate), RDF.type, OWL.ObjectProperty) in ontology
        else:
            assert rng == (XSD.integer if kind == "year" else XSD.string)
            assert (rdflib.URIRef(predicate), RDF.type, OWL.DatatypeProperty) in ontology


@pytest.mark.parametrize(
    ("term", "words"),
    [
        ("directedBy", {"director", "directed", "filmmaker"}),
        ("writtenBy", {"writer", "screenwriter", "screenplay", "wrote"}),
        ("starredActors", {"starring", "actor", "actress", "cast", "appear in"}),
        ("releaseYear", {"released", "year", "came out"}),
        ("hasGenre", {"genre", "type of film", "kind of movie"}),
        ("inLanguage", {"language", "spoken"}),
        ("hasTags", {"about", "topic", "keyword"}),
        ("hasImdbRating", {"rated", "rating"}),
        ("hasImdbVotes", {"popularity", "votes"}),
    ],
)
def test_properties_carry_the_words_people_use(ontology, term, words):
    labels = {str(o) for o in ontology.objects(MOVIES[term], SKOS.altLabel)}
    assert words <= labels


# ------------------------------------------------------------------ converter on a tiny KB

TINY = """\
$9.99|directed_by|Tatia Rosenthal
$9.99|release_year|2008
$9.99|has_imdb_rating|good
$9.99|has_imdb_votes|well known
1984|release_year|1956
1984|written_by|George Orwell
1984|has_tags|george orwell
Cat on a Hot Tin Roof|directed_by|Richard Brooks
Cat on a Hot Tin Roof|has_tags|richard brooks
Cat on a Hot Tin Roof|has_genre|Drama
Cat on a Hot Tin Roof|in_language|English
Cat on a Hot Tin Roof|release_year|1958
Mark Twain|directed_by|Ken Burns
Mark Twain|release_year|2001
A Million to Juan|written_by|Mark Twain
Under_score Film|starred_actors|Tatia Rosenthal
"""


@pytest.fixture
def tiny_kb(tmp_path):
    path = tmp_path / "kb.txt"
    path.write_text(TINY, encoding="utf-8")
    return path


def _load(path) -> OxigraphStore:
    store = OxigraphStore()
    store.load(path)
    return store


@pytest.mark.parametrize("name", ["kb.ttl", "kb.nt", "kb.nt.gz", "kb.ttl.gz"])
def test_tiny_kb_converts_fact_for_fact(tiny_kb, tmp_path, name):
    report = convert_metaqa(tiny_kb, tmp_path / name)
    assert (report.input_lines, report.facts, report.filtered, report.skipped) == (16, 16, 0, ())
    assert report.entities == {"Film": 6, "Person": 5, "Genre": 1, "Language": 1, "Tag": 2}
    assert report.triples == 16 + 2 * 15
    assert report.facts_by_relation["release_year"] == 4
    store = _load(tmp_path / name)
    assert store.count() == report.triples
    # Same string, different things: four distinct entities.
    assert movie_iri("film", "Mark Twain") != movie_iri("person", "Mark Twain")
    assert _count(store, '?x rdfs:label "Mark Twain"') == 2
    assert _count(store, '?x rdfs:label "richard brooks" ; a movies:Tag') == 1
    assert _count(store, '?x rdfs:label "Richard Brooks" ; a movies:Person') == 1
    # Years are integers, so numeric filters work; 1984 the film is not a year.
    recent = "SELECT ?l WHERE { ?f movies:releaseYear ?y ; rdfs:label ?l FILTER(?y > 2000) } ORDER BY ?l"
    assert _select(store, recent) == [("$9.99",), ("Mark Twain",)]
    assert _select(store, "SELECT ?y WHERE { ?f rdfs:label '1984' ; movies:releaseYear ?y }") == [("1956",)]
    assert _count(store, "?f movies:releaseYear ?y FILTER(datatype(?y) = xsd:integer)") == 4
    # Categorical IMDb words are plain strings; labels carry no language tag.
    assert _select(store, "SELECT ?r ?v WHERE { ?f movies:hasImdbRating ?r ; movies:hasImdbVotes ?v }") == [
        ("good", "well known")
    ]
    assert _count(store, "?x rdfs:label ?l FILTER(lang(?l) != '' || datatype(?l) != xsd:string)") == 0
    film = movie_iri("film", "Under_score Film")
    assert _select(store, f"SELECT ?l WHERE {{ <{film}> rdfs:label ?l }}") == [("Under_score Film",)]


def test_output_is_deterministic(tiny_kb, tmp_path):
    for name in ("a.ttl", "b.ttl", "a.nt.gz", "b.nt.gz"):
        convert_metaqa(tiny_kb, tmp_path / name, header="test header")
    assert (tmp_path / "a.ttl").read_bytes() == (tmp_path / "b.ttl").read_bytes()
    assert (tmp_path / "a.nt.gz").read_bytes() == (tmp_path / "b.nt.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.nt.gz").read_bytes()).startswith(b"# test header\n")


def test_films_restricts_the_output(tiny_kb, tmp_path):
    seen = []
    report = convert_metaqa(tiny_kb, tmp_path / "kb.nt", films={"$9.99", "Mark Twain"}, progress=seen.append)
    assert (report.facts, report.filtered) == (6, 10)
    assert report.entities == {"Film": 2, "Person": 2, "Genre": 0, "Language": 0, "Tag": 0}
    assert seen[-1] == 16
    store = _load(tmp_path / "kb.nt")
    assert _count(store, "?f a movies:Film") == 2


def test_duplicates_and_blank_lines_are_skipped_and_listed(tmp_path):
    kb = tmp_path / "kb.txt"
    kb.write_text("A|release_year|1999\n\nA|release_year|1999\nA|has_genre|Drama\n", encoding="utf-8")
    report = convert_metaqa(kb, tmp_path / "kb.nt")
    assert report.facts == 2
    assert [(s.line, s.reason) for s in report.skipped] == [(2, "blank line"), (3, "duplicate of line 1")]


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("Alien|directed_by", None, "expected 3 '|'-separated fields"),
        ("Alien|directed_by|Ridley Scott|extra", None, "found 4"),
        ("Alien|produced_by|Ridley Scott", "relation", "unknown relation 'produced_by'; expected one of"),
        ("|directed_by|Ridley Scott", "head", "film name is empty"),
        ("Alien|has_genre|", "tail", "has_genre value is empty"),
        ("Alien|release_year|nineteen", "tail", "4-digit year"),
        ("Alien|release_year|19790", "tail", "4-digit year"),
    ],
)
def test_malformed_lines_name_file_line_and_field(tmp_path, line, field, message):
    kb = tmp_path / "bad_kb.txt"
    kb.write_text(f"Alien|release_year|1979\n{line}\n", encoding="utf-8")
    out = tmp_path / "out.nt"
    with pytest.raises(DatasetError, match="bad_kb.txt, line 2") as err:
        convert_metaqa(kb, out)
    assert message in str(err.value)
    assert err.value.line == 2 and err.value.field == field
    if field:
        assert f"line 2, field {field}: " in str(err.value)
    assert not out.exists() and not list(tmp_path.glob("*.part"))  # nothing half-written
    lenient = convert_metaqa(kb, out, strict=False)
    assert lenient.facts == 1 and lenient.skipped[0].line == 2 and message in lenient.skipped[0].reason


def test_bad_bytes_missing_file_and_bad_format(tmp_path, tiny_kb):
    kb = tmp_path / "latin1.txt"
    kb.write_bytes("A|release_year|1999\nAmélie|has_genre|Comedy\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="latin1.txt, line 2: not UTF-8"):
        convert_metaqa(kb, tmp_path / "out.nt")
    with pytest.raises(InputFileError, match="no such file"):
        convert_metaqa(tmp_path / "missing.txt", tmp_path / "out.nt")
    with pytest.raises(UnknownFormatError, match=r"\.nt or \.ttl"):
        convert_metaqa(tiny_kb, tmp_path / "out.jsonld")


# ------------------------------------------------------------------ the full KB


@pytest.mark.slow
def test_full_kb_keeps_every_fact(shared_data, tmp_path):
    report = movies.build_movies(shared_data, tmp_path)
    assert report.input_lines == report.facts == 133_582
    assert report.skipped == ()
    assert report.facts_by_relation == FULL_COUNTS
    assert report.entities == {"Film": 16427, "Person": 21731, "Genre": 23, "Language": 97, "Tag": 4892}
    store = _load(report.output)
    assert store.count() == report.triples == 133_582 + 2 * sum(report.entities.values())
    for relation, expected in FULL_COUNTS.items():
        predicate = RELATIONS[relation][0]
        assert _count(store, f"?s <{predicate}> ?o") == expected, relation
    film = movie_iri("film", "$9.99")
    assert _select(store, f"SELECT ?d WHERE {{ <{film}> movies:directedBy/rdfs:label ?d }}") == [("Tatia Rosenthal",)]
    assert _select(store, f"SELECT ?y WHERE {{ <{film}> movies:releaseYear ?y }}") == [("2008",)]
    assert _count(store, '?f movies:starredActors/rdfs:label "Geoffrey Rush" ; rdfs:label "$9.99"') == 1
    assert _count(store, '?x rdfs:label "Mark Twain"') == 2  # the documentary and the writer
    assert _count(store, "?f a movies:Film ; movies:releaseYear ?y FILTER(?y > 2000)") > 1000


# ------------------------------------------------------------------ the committed sample


@pytest.fixture(scope="module")
def sample() -> OxigraphStore:
    return _load(SAMPLE)


def test_sample_is_small_and_says_where_it_comes_from():
    text = SAMPLE.read_text(encoding="utf-8")
    assert SAMPLE.stat().st_size < 2_000_000
    head = text[:1500]
    assert "CC BY 3.0" in head and "MetaQA" in head and "python -m kg.datasets.movies --sample" in head
    assert "/work/" not in text and "/tmp/" not in text


def test_sample_has_films_with_people_genres_and_tags(sample):
    films = _count(sample, "?f a movies:Film")
    assert 950 <= films <= 1050
    # The selection rule guarantees a director, a year and an actor for each film.
    assert _count(sample, "?f a movies:Film FILTER NOT EXISTS { ?f movies:directedBy ?d }") == 0
    assert _count(sample, "?f a movies:Film FILTER NOT EXISTS { ?f movies:releaseYear ?y }") == 0
    assert _count(sample, "?f a movies:Film FILTER NOT EXISTS { ?f movies:starredActors ?a }") == 0
    assert _count(sample, "?p a movies:Person") > 2000
    assert _count(sample, "?g a movies:Genre") >= 15
    assert _count(sample, "?t a movies:Tag") > 1000
    # Multi-hop structure: most films share a person with another film of the sample.
    shared = _count(
        sample,
        "SELECT DISTINCT ?f WHERE { ?f ?p ?x . ?g ?q ?x . ?x a movies:Person FILTER(?f != ?g) }",
    )
    assert shared > 0.9 * films
    # Every entity has its type and label.
    links = "movies:directedBy|movies:writtenBy|movies:starredActors|movies:hasTags|movies:hasGenre|movies:inLanguage"
    linked = f"?x {links} ?y"
    assert _count(sample, f"{linked} FILTER NOT EXISTS {{ ?y rdfs:label ?l ; a ?class }}") == 0


def test_sample_reads_the_same_in_rdflib():
    oxigraph = {(t.subject.value, t.predicate.value, t.object.value) for t in ox.parse(path=str(SAMPLE))}
    graph = rdflib.Graph().parse(SAMPLE, format="turtle")
    assert {(str(s), str(p), str(o)) for s, p, o in graph} == oxigraph


@pytest.mark.slow
def test_sample_is_up_to_date(shared_data, tmp_path):
    films = select_sample_films(shared_data / movies.KB_FILE, shared_data / movies.DOCS_MAP_FILE)
    assert len(films) == 1000
    movies.write_sample(shared_data, tmp_path / "sample.ttl")
    assert (tmp_path / "sample.ttl").read_bytes() == SAMPLE.read_bytes(), (
        "data/movies-sample.ttl is stale: run python -m kg.datasets.movies --sample"
    )
