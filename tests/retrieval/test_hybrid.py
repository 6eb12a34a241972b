"""Hybrid search and ask on the quick-start KB plus the real Wikipedia leads of its films.

Facts are deleted from the KB before the leads are ingested; the text relation model is then
trained from the facts left (distant supervision), and ``ask`` must still answer the deleted
facts from the leads, with the sentence as evidence.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kgsearch.cli import app
from kgsearch.engine import Engine
from kgsearch.settings import PROJECT_ROOT
from retrieval.provenance import MENTIONS_GRAPH

F = "http://kgsearch.org/movies/film/"
P = "http://kgsearch.org/movies/person/"
M = "http://kgsearch.org/ns/movies#"
#: Films of the sample whose lead names the director; their directedBy facts are deleted.
DELETED = {"Jaws": "Steven_Spielberg", "Rebecca": "Alfred_Hitchcock", "Vertigo": "Alfred_Hitchcock"}


def sample_leads(shared_data, films: set[str], path):
    """Write the Wikipedia leads of these films (by KB name) to a JSON Lines file; returns how many."""
    wanted = set()
    with open(shared_data / "movie-text" / "kb_movie_to_docs.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            film, doc_id, source, *_ = line.rstrip("\n").split("\t")
            if source == "wiki_intro_prust" and film in films:
                wanted.add(doc_id)
    kept = 0
    with (
        open(shared_data / "movie-text" / "docs.jsonl", encoding="utf-8") as f,
        open(path, "w", encoding="utf-8") as out,
    ):
        for line in f:
            if json.loads(line)["doc_id"] in wanted:
                out.write(line)
                kept += 1
    return kept


@pytest.fixture(scope="module")
def home(shared_data, tmp_path_factory):
    home = tmp_path_factory.mktemp("hybrid")
    with Engine.open(home) as engine:
        engine.load([PROJECT_ROOT / "ontologies" / "movies.ttl", PROJECT_ROOT / "data" / "movies-sample.ttl"])
        films = {
            row[0].value
            for row in engine.sparql(
                f"SELECT ?l WHERE {{ ?f a <{M}Film> ; <http://www.w3.org/2000/01/rdf-schema#label> ?l }}"
            )
        }
        leads = home / "leads.jsonl"
        assert sample_leads(shared_data, films, leads) > 900
        for film, person in DELETED.items():
            engine.store.update(f"DELETE DATA {{ <{F}{film}> <{M}directedBy> <{P}{person}> }}")
        report = engine.ingest([leads], vectors=False)
        assert report.added > 900 and not report.failed
    return home


@pytest.fixture()
def engine(home):
    with Engine.open(home) as engine:
        yield engine


@pytest.mark.parametrize("film", sorted(DELETED))
def test_a_fact_missing_from_the_kb_is_read_from_the_text(engine, film):
    assert not list(engine.sparql(f"SELECT ?d WHERE {{ <{F}{film}> <{M}directedBy> ?d }}"))
    result = engine.ask(f"who directed {film}")
    top = result.answers[0]
    assert top.entity_iri == P + DELETED[film]
    evidence = [e for e in top.evidence if e.source == "text"]
    assert evidence, "the answer carries its sentence"
    assert "<b>" in evidence[0].snippet and "directed" in evidence[0].snippet
    assert "KB has no answer to the best reading" in result.note


def test_kb_answers_come_first_when_the_kb_has_them(engine):
    result = engine.ask("who directed Psycho")
    assert result.answers[0].entity_iri == P + "Alfred_Hitchcock"
    assert "kb" in {e.source for e in result.answers[0].evidence}
    assert result.parsed is not None and "directedBy" in result.parsed.sparql


def test_search_returns_documents_and_entities_with_evidence(engine):
    results = engine.search("shark island police chief", limit=5)
    assert results.documents and results.documents[0].title == "Jaws"
    assert "<b>" in results.documents[0].snippet
    assert F + "Jaws" in {e.entity_iri for e in results.entities}
    only = engine.search("film", entities=[P + "Alfred_Hitchcock"], limit=50)
    assert only.documents and all(P + "Alfred_Hitchcock" in d.entities for d in only.documents)


def test_sparql_text_joins_documents_with_the_kb(engine):
    rows = engine.sparql(
        f"""PREFIX kgs: <http://kgsearch.org/ns/kgs#> PREFIX m: <{M}>
        SELECT ?film (SUM(?s) AS ?score) WHERE {{
            ?t kgs:contains-word "shark" ; kgs:contains-entity ?film ; kgs:text-score ?s . ?film a m:Film
        }} GROUP BY ?film ORDER BY DESC(?score)"""
    )
    assert F + "Jaws" in [row[0].value for row in rows]


def test_provenance_lives_in_its_own_graph(engine):
    about = engine.sparql(
        f"SELECT ?d WHERE {{ GRAPH <{MENTIONS_GRAPH}> {{ ?d <http://kgsearch.org/ns/kgs#about> <{F}Jaws> }} }}"
    )
    assert len(list(about)) >= 1
    in_default = engine.sparql("ASK { ?d <http://kgsearch.org/ns/kgs#about> ?x }")
    assert not bool(in_default)


def test_cli_ask_and_search_print_evidence(home):
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "who directed Jaws", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["answers"][0]["iri"] == P + "Steven_Spielberg"
    assert any(e["source"] == "text" for e in data["answers"][0]["evidence"])
    result = runner.invoke(app, ["search", "shark", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["documents"][0]["title"] == "Jaws"


def test_cli_ingest_reports_bad_documents(home, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "x1", "text": ""}\n\xff\xfe\n{"id": "x2", "title": "Note", "text": "A note on Jaws."}\n')
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(bad), "--no-vectors", "--json", "--home", str(home)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["added"] == 1
    assert [(p["origin"], p["field"]) for p in report["failed"]] == [("bad.jsonl:1", "text"), ("bad.jsonl:2", None)]
    result = runner.invoke(app, ["ingest", str(tmp_path / "missing.jsonl"), "--home", str(home)])
    assert result.exit_code != 0 and "no such file" in result.output
