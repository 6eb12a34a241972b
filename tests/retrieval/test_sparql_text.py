"""SPARQL+Text (kgs:contains-word, kgs:contains-entity, kgs:text-score) on a real store and a real text index."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from kg import OxigraphStore
from kg.results import AskResult, Bindings, GraphResult
from retrieval._tantivy import TantivyTextIndex
from retrieval.errors import QuerySyntaxError, TextQueryTooBroadError
from retrieval.provenance import KGS, MENTIONS_GRAPH, document_iri
from retrieval.sparql_text import TextSparql, has_text_patterns
from retrieval.types import IndexedDocument

M = "http://kgsearch.org/ns/movies#"
F = "http://kgsearch.org/movies/film/"
P = "http://kgsearch.org/movies/person/"
PREFIXES = f"""PREFIX kgs: <{KGS}>
PREFIX movies: <{M}>
PREFIX film: <{F}>
PREFIX person: <{P}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""
KB = (
    PREFIXES
    + """INSERT DATA {
  film:Heat a movies:Film ; rdfs:label "Heat" ; movies:directedBy person:Michael_Mann ;
    movies:starredActors person:Al_Pacino, person:Robert_De_Niro .
  film:Thief a movies:Film ; rdfs:label "Thief" ; movies:directedBy person:Michael_Mann ;
    movies:starredActors person:James_Caan .
  film:The_Insider a movies:Film ; rdfs:label "The Insider" ; movies:directedBy person:Michael_Mann ;
    movies:starredActors person:Russell_Crowe, person:Christopher_Plummer .
  film:Rebecca a movies:Film ; rdfs:label "Rebecca" ; movies:directedBy person:Alfred_Hitchcock ;
    movies:starredActors person:Laurence_Olivier .
  person:Michael_Mann a movies:Person . person:Al_Pacino a movies:Person . person:Robert_De_Niro a movies:Person .
  person:James_Caan a movies:Person . person:Russell_Crowe a movies:Person .
  person:Christopher_Plummer a movies:Person . person:Alfred_Hitchcock a movies:Person .
  person:Laurence_Olivier a movies:Person .
  GRAPH kgs:mentions {
    <urn:kgsearch:doc:heat> kgs:title "Heat (1995 film)" .
    <urn:kgsearch:doc:thief> kgs:title "Thief (film)" .
  }
}"""
)


def doc(doc_id: str, text: str, *entities: str) -> IndexedDocument:
    return IndexedDocument(doc_id, "", text, entities=entities)


DOCS = (
    doc(
        "heat",
        "Heat is a 1995 crime film directed by Michael Mann about a bank heist. Al Pacino and Robert De Niro star.",
        F + "Heat", P + "Michael_Mann", P + "Al_Pacino", P + "Robert_De_Niro",
    ),
    doc("heat-review", "The heist scenes of Heat: the heist film of the decade.", F + "Heat"),
    doc(
        "thief",
        "Thief is a 1981 crime film by Michael Mann about a safecracker's last heist. James Caan stars.",
        F + "Thief", P + "Michael_Mann", P + "James_Caan",
    ),
    doc("caan", "James Caan on the heist genre.", P + "James_Caan"),
    doc(
        "insider",
        "The Insider, directed by Michael Mann, earned seven Oscar nominations; Russell Crowe was nominated for "
        "the Oscar for Best Actor and Christopher Plummer starred.",
        F + "The_Insider", P + "Michael_Mann", P + "Russell_Crowe", P + "Christopher_Plummer",
    ),
    doc(
        "rebecca",
        "Rebecca, directed by Alfred Hitchcock, won the Oscar for Best Picture; Laurence Olivier starred.",
        F + "Rebecca", P + "Alfred_Hitchcock", P + "Laurence_Olivier",
    ),
)  # fmt: skip


@pytest.fixture(scope="module")
def store():
    kb = OxigraphStore()
    kb.update(KB)
    yield kb
    kb.close()


@pytest.fixture(scope="module")
def index():
    text = TantivyTextIndex()
    text.add(DOCS)
    yield text
    text.close()


@pytest.fixture
def ts(store, index) -> TextSparql:
    return TextSparql(store, index)


def values(result: Bindings, variable: str) -> list[str]:
    return [term.value for term in result.column(variable)]


# -- the example queries ----------------------------------------------------------------------


def test_films_whose_documents_mention_heist_ranked_by_text_score(ts, index):
    result = ts.query(
        PREFIXES
        + """SELECT ?film (SUM(?s) AS ?score) WHERE {
             ?t kgs:contains-word "heist" ; kgs:contains-entity ?film ; kgs:text-score ?s .
             ?film a movies:Film
           } GROUP BY ?film ORDER BY DESC(?score)"""
    )
    assert values(result, "film") == [F + "Heat", F + "Thief"]  # two documents beat one; James Caan is no film
    score = {hit.ref: hit.score for hit in index.search("heist")}
    assert [float(s.value) for s in result.column("score")] == pytest.approx(
        [score["heat"] + score["heat-review"], score["thief"]]
    )
    assert result.column("score")[0].datatype == ox.NamedNode("http://www.w3.org/2001/XMLSchema#double")


def test_people_co_occurring_with_oscar_in_documents_about_films_directed_by_mann(ts):
    result = ts.query(
        PREFIXES
        + """SELECT DISTINCT ?person WHERE {
             ?film movies:directedBy person:Michael_Mann .
             ?t kgs:contains-entity ?film ; kgs:contains-word "Oscar" ; kgs:contains-entity ?person .
             ?person a movies:Person .
             FILTER(?person != person:Michael_Mann)
           } ORDER BY ?person"""
    )
    # Laurence Olivier co-occurs with "Oscar" too, but in a document about a Hitchcock film.
    assert values(result, "person") == [P + "Christopher_Plummer", P + "Russell_Crowe"]


def test_count_documents_per_entity_and_join_on_provenance_titles(ts):
    result = ts.query(
        PREFIXES
        + """SELECT ?film (COUNT(?t) AS ?n) WHERE {
             ?t kgs:contains-word "crime heist" ; kgs:contains-entity ?film . ?film a movies:Film
           } GROUP BY ?film ORDER BY ?film"""
    )
    assert [(r["film"].value, int(r["n"].value)) for r in result.as_dicts()] == [(F + "Heat", 1), (F + "Thief", 1)]
    titles = ts.query(
        PREFIXES + 'SELECT ?title WHERE { GRAPH kgs:mentions { ?t kgs:contains-word "heist" ; kgs:title ?title } }'
    )
    assert sorted(values(titles, "title")) == ["Heat (1995 film)", "Thief (film)"]


# -- query forms and shapes ---------------------------------------------------------------------


def test_ask(ts):
    ask = PREFIXES + 'ASK { ?t kgs:contains-word "heist" ; kgs:contains-entity person:%s }'
    assert ts.query(ask % "James_Caan") == AskResult(True)
    assert ts.query(ask % "Alfred_Hitchcock") == AskResult(False)


def test_construct_keeps_text_predicates_in_its_template(ts):
    result = ts.query(
        PREFIXES
        + """CONSTRUCT { ?film kgs:text-score ?s ; kgs:mentionedIn ?t } WHERE {
             ?t kgs:contains-word "heist" ; kgs:contains-entity ?film ; kgs:text-score ?s . ?film a movies:Film }"""
    )
    assert isinstance(result, GraphResult)
    mentioned = {(t.subject.value, t.object.value) for t in result if t.predicate.value == KGS + "mentionedIn"}
    assert mentioned == {
        (F + "Heat", document_iri("heat")),
        (F + "Heat", document_iri("heat-review")),
        (F + "Thief", document_iri("thief")),
    }
    assert {t.predicate.value for t in result} == {KGS + "mentionedIn", KGS + "text-score"}


def test_several_text_variables(ts):
    result = ts.query(
        PREFIXES
        + """SELECT DISTINCT ?person WHERE {
             ?t1 kgs:contains-word "heist" ; kgs:contains-entity ?person .
             ?t2 kgs:contains-word "Oscar" ; kgs:contains-entity ?person .
             ?person a movies:Person }"""
    )
    assert values(result, "person") == [P + "Michael_Mann"]


def test_entity_iri_object_full_iris_and_phrases(ts):
    query = f"""SELECT ?t WHERE {{
        ?t <{KGS}contains-entity> <{P}Al_Pacino> .
        ?t <{KGS}contains-word> "\\"bank heist\\" crime" }}"""
    assert values(ts.query(query), "t") == [document_iri("heat")]
    several = PREFIXES + "SELECT ?t { ?t kgs:contains-entity person:Michael_Mann, person:James_Caan }"
    assert values(ts.query(several), "t") == [document_iri("thief")]
    in_order = PREFIXES + 'SELECT ?t { ?t kgs:contains-word "\\"heist the\\"" }'
    assert ts.query(in_order).rows == ()


def test_patterns_in_separate_groups_are_separate_searches(ts):
    result = ts.query(
        PREFIXES
        + """SELECT ?t WHERE { { ?t kgs:contains-word "safecracker" } UNION { ?t kgs:contains-word "decade" } }
             ORDER BY ?t"""
    )
    assert values(result, "t") == [document_iri("heat-review"), document_iri("thief")]
    subquery = PREFIXES + 'SELECT ?t WHERE { { SELECT ?t WHERE { ?t kgs:contains-word "safecracker" } LIMIT 5 } }'
    assert values(ts.query(subquery), "t") == [document_iri("thief")]


def test_no_match_is_an_empty_result(ts):
    result = ts.query(
        PREFIXES
        + 'SELECT ?film ?s WHERE { ?t kgs:contains-word "zebra" ; kgs:contains-entity ?film ; kgs:text-score ?s }'
    )
    assert result.variables == ("film", "s") and result.rows == ()
    assert ts.query(PREFIXES + 'ASK { ?t kgs:contains-word "heist zebra" }') == AskResult(False)


# -- what is left alone -------------------------------------------------------------------------


def test_plain_queries_are_untouched(ts, store):
    plain = PREFIXES + "SELECT ?f WHERE { ?f movies:directedBy person:Michael_Mann } ORDER BY ?f"
    assert not has_text_patterns(plain)
    assert ts.rewrite(plain) == plain
    assert ts.query(plain) == store.query(plain)


def test_strings_comments_and_other_positions_are_not_rewritten(ts, store):
    query = (
        PREFIXES
        + """SELECT ?l WHERE {  # ?t kgs:contains-word "heist" .
             film:Heat rdfs:label ?l .
             FILTER(?l != "?t kgs:contains-word 'x'" && ?l != '''<http://kgsearch.org/ns/kgs#text-score>''')
           }"""
    )
    assert not has_text_patterns(query)
    assert ts.rewrite(query) == query
    assert values(ts.query(query), "l") == ["Heat"]
    # As a subject or an object, a text predicate is just an IRI.
    about = PREFIXES + "SELECT ?o WHERE { kgs:contains-word ?p ?o . ?s ?q kgs:text-score }"
    assert ts.rewrite(about) == about


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("?t kgs:contains-word ?x", r"kgs:contains-word needs a string literal such as \"heist\", got \?x"),
        ("?t kgs:contains-word 42", "needs a string literal .*got 42"),
        ('?t kgs:contains-word "1"^^<http://www.w3.org/2001/XMLSchema#integer>', "needs a string literal"),
        ('?t kgs:contains-word "?!"', 'needs at least one word, got "\\?!"'),
        (
            '?t kgs:contains-wrd "heist"',
            r"unknown SPARQL\+Text predicate kgs:contains-wrd \(did you mean kgs:contains-word\?\); the known ones "
            "are kgs:contains-word, kgs:contains-entity, kgs:text-score",
        ),
        ('?t kgs:containsWord "heist"', "unknown SPARQL.*kgs:containsWord"),
        ("?t kgs:text-score ?s", r"kgs:text-score used on \?t which has no kgs:contains-word/kgs:contains-entity"),
        ("?t kgs:contains-entity ?e", r"\?t has kgs:contains-entity \?e but nothing to look up"),
        ('?t kgs:contains-entity "Heat"', r"needs a variable \(not \?t\) or an entity IRI, got \"Heat\""),
        ('?t kgs:contains-word "heist" ; kgs:text-score 1.0', r"kgs:text-score on \?t needs a variable"),
        ('?t kgs:contains-word "heist" ; kgs:text-score ?t', r"needs a variable \(not \?t\)"),
        ('?t kgs:contains-word "x" ; kgs:contains-entity ?e ; kgs:text-score ?e', r"\?e cannot be both an entity and"),
        ('film:Heat kgs:contains-word "heist"', "needs a variable subject .*got film:Heat"),
        ('?t kgs:contains-word/kgs:title "heist"', "cannot be part of a property path"),
        ('?f movies:x [ kgs:contains-word "heist" ]', r"cannot be used inside \[ \]"),
        ("?t kgs:contains-word }", r"kgs:contains-word on \?t needs an object"),
    ],
)
def test_bad_usage_names_the_problem(ts, where, message):
    with pytest.raises(QuerySyntaxError, match=message):
        ts.query(PREFIXES + "SELECT * WHERE { " + where + " }")


def test_construct_where_cannot_hold_text_patterns(ts):
    with pytest.raises(QuerySyntaxError, match="CONSTRUCT WHERE"):
        ts.query(PREFIXES + 'CONSTRUCT WHERE { ?t kgs:contains-word "heist" }')


def test_too_many_documents_is_an_error_not_a_truncation(store, index):
    query = PREFIXES + 'SELECT ?t WHERE { ?t kgs:contains-word "heist" }'
    assert len(TextSparql(store, index, max_documents=4).query(query)) == 4  # exactly at the limit
    with pytest.raises(TextQueryTooBroadError, match=r"\?t \(words heist\) match more than 3 documents; add words"):
        TextSparql(store, index, max_documents=3).query(query)
    rows = PREFIXES + 'SELECT * WHERE { ?t kgs:contains-word "heist" ; kgs:contains-entity ?a, ?b }'
    with pytest.raises(TextQueryTooBroadError, match="more than 10 document-entity rows"):
        TextSparql(store, index, max_rows=10).query(rows)
    with pytest.raises(ValueError, match="max_documents"):
        TextSparql(store, index, max_documents=0)


def test_injection_through_a_word_or_the_index_changes_nothing(store):
    before = len(store.native)
    nasty = TantivyTextIndex()
    nasty.add([doc("x> } ; DROP ALL ; <y", "heist", F + "Heat", "http://ex/a> } ; DROP ALL ; <urn:b", "urn:ok")])
    ts = TextSparql(store, nasty)
    query = PREFIXES + 'SELECT ?t ?e WHERE { ?t kgs:contains-word "x\\" } ; DROP ALL ; {" ; kgs:contains-entity ?e }'
    assert ts.query(query).rows == ()
    assert "DROP" not in ts.rewrite(query)
    found = ts.query(PREFIXES + 'SELECT ?t ?e WHERE { ?t kgs:contains-word "heist" ; kgs:contains-entity ?e }')
    # The document id is percent-encoded; the entity that is no IRI is left out.
    assert {(r["t"].value, r["e"].value) for r in found.as_dicts()} == {
        (document_iri("x> } ; DROP ALL ; <y"), F + "Heat"),
        (document_iri("x> } ; DROP ALL ; <y"), "urn:ok"),
    }
    assert len(store.native) == before and store.count(MENTIONS_GRAPH) == 2
    nasty.close()
