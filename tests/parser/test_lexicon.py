"""Distant supervision and the relation lexicon, on the quick-start sample KB."""

from __future__ import annotations

import pytest

from kg import OxigraphStore
from kg.catalogue import EntityCatalogue
from kg.catalogue_build import update_catalogue
from kgsearch.settings import PROJECT_ROOT
from parser.errors import ParseError
from parser.lexicon import RelationLexicon, mask
from parser.schema import KbSchema
from parser.train import QaPair, iter_pairs, label_questions

M = "http://kgsearch.org/ns/movies#"


@pytest.fixture(scope="module")
def kb():
    store = OxigraphStore()
    store.load(PROJECT_ROOT / "ontologies" / "movies.ttl")
    store.load(PROJECT_ROOT / "data" / "movies-sample.ttl")
    catalogue = EntityCatalogue()
    update_catalogue(catalogue, store)
    return store, catalogue, KbSchema.from_store(store)


def test_schema_reads_the_observed_edges(kb):
    _, _, schema = kb
    keys = {(s.prop, s.forward, s.target) for s in schema.steps_from({M + "Person"})}
    assert (M + "directedBy", False, M + "Film") in keys
    assert schema.numeric_properties({M + "Film"})[0].prop == M + "releaseYear"


def test_distant_supervision_finds_the_answering_path(kb):
    store, catalogue, schema = kb
    pairs = [
        QaPair("who directed [Jaws]", frozenset({"Steven Spielberg"}), 1, min_hops=1),
        QaPair("what films did [Alfred Hitchcock] direct", frozenset(), 1),  # no gold: dropped
        QaPair(
            "which films share the director of [Jaws]",
            frozenset(
                row[0].value
                for row in store.query(
                    f"SELECT ?l {{ <http://kgsearch.org/movies/film/Jaws> <{M}directedBy> ?d . ?f <{M}directedBy> ?d ; "
                    "<http://www.w3.org/2000/01/rdf-schema#label> ?l FILTER(?f != <http://kgsearch.org/movies/film/Jaws>) }"
                )
            ),
            2,
            min_hops=2,
        ),
    ]
    sup = label_questions(pairs, store, catalogue, schema)
    assert sup.total == 3 and sup.dropped == 1
    assert sup.questions == ["who directed ENT", "which films share the director of ENT"]
    assert sup.labels == [f"{M}directedBy>", f"{M}directedBy>|{M}directedBy<"]


def test_lexicon_round_trips(tmp_path):
    lex = RelationLexicon.fit(
        ["who directed ENT", "what did ENT direct", "who wrote ENT", "what did ENT write"], ["d>", "d<", "w>", "w<"]
    )
    lex.save(tmp_path / "lex.json")
    again = RelationLexicon.load(tmp_path / "lex.json")
    assert again.classes == lex.classes
    a, b = lex.scores("who directed ENT"), again.scores("who directed ENT")
    assert max(a, key=a.get) == max(b, key=b.get) == "d>"
    assert abs(a["d>"] - b["d>"]) < 1e-2


def test_lexicon_errors(tmp_path):
    with pytest.raises(ParseError, match="at least two"):
        RelationLexicon.fit(["who directed ENT"], ["d>"])
    with pytest.raises(ParseError, match="cannot read"):
        RelationLexicon.load(tmp_path / "missing.json")


def test_mask_and_metaqa_reader():
    assert mask("films after 1990 by Tom Hanks", [(20, 29)]) == "films after NUM by ENT"
    pairs = list(iter_pairs(["what films did [Tom Hanks] star in\tBig|Splash\n", "\n"], 1))
    assert pairs[0].plain == "what films did Tom Hanks star in" and pairs[0].answers == {"Big", "Splash"}
