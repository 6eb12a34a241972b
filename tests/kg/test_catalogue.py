"""The entity catalogue built from a store: names, types, descriptions, popularity, incremental updates."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg import EntityNotFoundError, OxigraphStore
from kg.catalogue import EntityCatalogue, normalize
from kg.catalogue_build import update_catalogue

DATA = Path(__file__).resolve().parent.parent / "data"
FILM = "http://kgsearch.org/movies/film/"
PERSON = "http://kgsearch.org/movies/person/"
MOVIES = "http://kgsearch.org/ns/movies#"


@pytest.fixture
def built():
    store = OxigraphStore()
    store.load(DATA / "tiny_kb.ttl")
    catalogue = EntityCatalogue()
    update_catalogue(catalogue, store)
    return store, catalogue


def test_entities_exclude_schema_terms(built):
    _, catalogue = built
    assert len(catalogue) == 8  # 3 films, 4 people, 1 tag
    assert f"{MOVIES}Film" not in catalogue and f"{MOVIES}directedBy" not in catalogue
    with pytest.raises(EntityNotFoundError, match="no entity"):
        catalogue.get(f"{MOVIES}Film")


def test_lookup_by_label_alias_and_normalized_form(built):
    _, catalogue = built
    assert [e.iri for e in catalogue.lookup("Ridley Scott")][:1] == [f"{PERSON}Ridley_Scott"]
    assert [e.iri for e in catalogue.lookup("sir ridley  SCOTT!")] == [f"{PERSON}Ridley_Scott"]
    # Same name, different kinds of thing: both come back, the better connected first.
    both = catalogue.lookup("mark twain")
    assert {e.iri for e in both} == {f"{FILM}Mark_Twain", f"{PERSON}Mark_Twain"}
    # "ridley scott" is also a tag; the person is far better connected.
    assert catalogue.lookup("ridley scott")[0].iri == f"{PERSON}Ridley_Scott"


def test_entity_fields(built):
    _, catalogue = built
    scott = catalogue.get(f"{PERSON}Ridley_Scott")
    assert scott.label == "Ridley Scott"
    assert scott.aliases == ("Sir Ridley Scott",)
    assert scott.types == (f"{MOVIES}Person",)
    assert scott.description == "person. Alien, Blade Runner directed by Ridley Scott."
    alien = catalogue.get(f"{FILM}Alien")
    assert "directed by: Ridley Scott" in alien.description and "release year: 1979" in alien.description
    popularity = {e.iri: e.popularity for e in catalogue.entities()}
    assert sum(popularity.values()) == pytest.approx(1.0)
    # Alien links a director, an actor and a tag: the best connected node.
    assert max(popularity, key=popularity.get) == f"{FILM}Alien"
    assert popularity[f"{PERSON}Ridley_Scott"] > popularity[f"{PERSON}Sigourney_Weaver"]


def test_incremental_update_touches_only_new_facts(built):
    store, catalogue = built
    store.update(
        f"""PREFIX movies: <{MOVIES}> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        INSERT DATA {{ <{FILM}Gladiator> a movies:Film ; rdfs:label "Gladiator" ; movies:directedBy <{PERSON}Ridley_Scott> }}"""
    )
    report = update_catalogue(catalogue, store, [f"{FILM}Gladiator", f"{PERSON}Ridley_Scott"])
    assert report.updated == 2 and report.entities == 9
    assert "Gladiator" in catalogue.get(f"{PERSON}Ridley_Scott").description
    assert catalogue.lookup("gladiator")[0].types == (f"{MOVIES}Film",)
    # Deleting an entity's facts removes it on the next update.
    store.update(f"DELETE WHERE {{ <{FILM}Gladiator> ?p ?o }}")
    report = update_catalogue(catalogue, store, [f"{FILM}Gladiator"])
    assert report.removed == 1 and f"{FILM}Gladiator" not in catalogue


def test_persisted_catalogue_reopens(tmp_path):
    store = OxigraphStore()
    store.load(DATA / "tiny_kb.ttl")
    catalogue = EntityCatalogue(tmp_path / "c.sqlite")
    update_catalogue(catalogue, store)
    catalogue.close()
    reopened = EntityCatalogue(tmp_path / "c.sqlite")
    assert reopened.lookup("Blade Runner")[0].iri == f"{FILM}Blade_Runner"
    assert len(list(reopened.aliases())) >= 9


def test_normalize_is_accent_and_case_insensitive():
    assert normalize("Amélie") == normalize("AMELIE") == "amelie"
    assert normalize("...") == ""


def test_lubm_catalogue_is_not_movie_specific(shared_data):
    store = OxigraphStore()
    store.load(shared_data / "lubm" / "univ-bench.owl")
    store.load(shared_data / "lubm" / "University0_all.nt")
    catalogue = EntityCatalogue()
    update_catalogue(catalogue, store)
    # ub:name is a datatype property named "name": it is taken as the label property.
    student = catalogue.get("http://www.Department0.University0.edu/GraduateStudent12")
    assert student.label == "GraduateStudent12"
    assert "graduate student" in student.description
    counts = catalogue.type_counts()
    assert counts["http://swat.cse.lehigh.edu/onto/univ-bench.owl#UndergraduateStudent"] == 5916
