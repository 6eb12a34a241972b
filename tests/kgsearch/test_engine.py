"""The Engine over a home directory: atomic loads, catalogue upkeep, look-ups."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg import InputFileError, RdfSyntaxError, UnknownFormatError
from kg.catalogue import EntityCatalogue
from kgsearch.engine import Engine
from kgsearch.settings import PROJECT_ROOT

DATA = Path(__file__).resolve().parent.parent / "data"
PERSON = "http://kgsearch.org/movies/person/"


@pytest.fixture
def engine(tmp_path):
    with Engine.open(tmp_path / "home") as engine:
        yield engine


def test_load_updates_catalogue_and_persists(tmp_path):
    with Engine.open(tmp_path / "home") as engine:
        (report,) = engine.load([DATA / "tiny_kb.ttl"])
        assert report.added > 40 and report.catalogued == 8
        assert engine.entity("Ridley Scott").iri == f"{PERSON}Ridley_Scott"
    with Engine.open(tmp_path / "home") as engine:
        assert engine.entity(f"{PERSON}Ridley_Scott").label == "Ridley Scott"
        assert engine.stats().entities == 8


def test_second_file_is_catalogued_incrementally(engine, tmp_path):
    engine.load([DATA / "tiny_kb.ttl"])
    extra = tmp_path / "extra.nt"
    extra.write_text(
        f"<http://kgsearch.org/movies/film/Gladiator> <http://kgsearch.org/ns/movies#directedBy> <{PERSON}Ridley_Scott> .\n"
        '<http://kgsearch.org/movies/film/Gladiator> <http://www.w3.org/2000/01/rdf-schema#label> "Gladiator" .\n',
        encoding="utf-8",
    )
    (report,) = engine.load([extra])
    assert report.added == 2 and report.catalogued == 2
    assert "Gladiator" in engine.entity("Ridley Scott").description


def test_bad_file_in_a_batch_stores_nothing_of_it(engine, tmp_path):
    good = DATA / "tiny_kb.ttl"
    bad = tmp_path / "bad.ttl"
    bad.write_text('<http://ex/a> <http://ex/b> "ok" .\n<http://ex/a> <http://ex/b> .\n', encoding="utf-8")
    with pytest.raises(RdfSyntaxError, match=r"bad\.ttl, line 2"):
        engine.load([good, bad])
    assert engine.sparql("ASK { <http://ex/a> ?p ?o }").value is False
    assert engine.stats().entities == 8  # the good file before it stays


def test_files_are_checked_before_anything_loads(engine, tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        engine.load([DATA / "tiny_kb.ttl", tmp_path / "missing.nt"])
    with pytest.raises(UnknownFormatError):
        engine.load([DATA / "tiny_kb.ttl", DATA])
    assert engine.stats().triples == 0


def test_named_graph_load_is_not_catalogued(engine):
    engine.load([DATA / "tiny_kb.ttl"], graph="http://ex/g")
    assert engine.stats().named_graphs == {"http://ex/g": engine.store.count("http://ex/g")}
    assert engine.stats().entities == 0


def test_facts_of_an_entity(engine):
    engine.load([DATA / "tiny_kb.ttl"])
    facts = engine.facts("http://kgsearch.org/movies/film/Alien")
    assert ("http://kgsearch.org/ns/movies#directedBy", "directed by", "Ridley Scott") in facts


def test_sample_kb_loads(engine):
    reports = engine.load([PROJECT_ROOT / "ontologies" / "movies.ttl", PROJECT_ROOT / "data" / "movies-sample.ttl"])
    assert all(r.added for r in reports)
    films = engine.sparql("SELECT (COUNT(?f) AS ?n) WHERE { ?f a <http://kgsearch.org/ns/movies#Film> }")
    assert 950 <= int(films.rows[0][0].value) <= 1050
    assert isinstance(engine.catalogue, EntityCatalogue) and len(engine.catalogue) > 5000


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    """The README's library example runs as written (from a folder with the sample's paths)."""
    import re

    from kgsearch.settings import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"From Python.*?```python\n(.*?)```", readme, re.S).group(1)
    for name in ("ontologies", "data"):
        (tmp_path / name).symlink_to(PROJECT_ROOT / name)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "Alfred Hitchcock" in printed and "directedBy" in printed
