"""The parser on the movie ontology (with the shipped lexicon): every construction, checked against hand-written SPARQL.

The KB is the quick-start sample (1,000 real films); the gold queries are written by hand and
run on the same store, so a reading that returns different answers fails.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kgsearch.cli import app
from kgsearch.engine import Engine
from kgsearch.settings import PROJECT_ROOT
from parser.errors import CannotParseError

M = "PREFIX m: <http://kgsearch.org/ns/movies#> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
P = "http://kgsearch.org/movies/person/"
F = "http://kgsearch.org/movies/film/"

QUESTIONS = [
    # one, two and three hops, both directions
    ("which films did Alfred Hitchcock direct", f"SELECT ?x {{ ?x m:directedBy <{P}Alfred_Hitchcock> }}"),
    ("who directed Jaws", f"SELECT ?x {{ <{F}Jaws> m:directedBy ?x }}"),
    ("what genre is Rebecca", f"SELECT ?x {{ <{F}Rebecca> m:hasGenre ?x }}"),
    (
        "which films share a director with Jaws",
        f"SELECT DISTINCT ?x {{ <{F}Jaws> m:directedBy ?d . ?x m:directedBy ?d FILTER(?x != <{F}Jaws>) }}",
    ),
    (
        "who starred in the films directed by Ron Howard",
        f"SELECT DISTINCT ?x {{ ?f m:directedBy <{P}Ron_Howard> ; m:starredActors ?x }}",
    ),
    (
        "who directed the films that share actors with Jaws",
        f"SELECT DISTINCT ?x {{ <{F}Jaws> m:starredActors ?a . ?f m:starredActors ?a . ?f m:directedBy ?x FILTER(?f != <{F}Jaws>) }}",
    ),
    # literal constraints
    (
        "which films did Alfred Hitchcock direct after 1950",
        f"SELECT ?x {{ ?x m:directedBy <{P}Alfred_Hitchcock> ; m:releaseYear ?y FILTER(?y > 1950) }}",
    ),
    (
        "which films did Alfred Hitchcock direct before 1940",
        f"SELECT ?x {{ ?x m:directedBy <{P}Alfred_Hitchcock> ; m:releaseYear ?y FILTER(?y < 1940) }}",
    ),
    (
        "which films did Steven Spielberg direct in 1993",
        f"SELECT ?x {{ ?x m:directedBy <{P}Steven_Spielberg> ; m:releaseYear 1993 }}",
    ),
    (
        "films directed by Steven Spielberg between 1980 and 1990",
        f"SELECT ?x {{ ?x m:directedBy <{P}Steven_Spielberg> ; m:releaseYear ?y FILTER(?y >= 1980 && ?y <= 1990) }}",
    ),
    # counts
    (
        "how many films did Alfred Hitchcock direct",
        f"SELECT (COUNT(DISTINCT ?x) AS ?count) {{ ?x m:directedBy <{P}Alfred_Hitchcock> }}",
    ),
    (
        "how many movies did Tom Hanks star in",
        f"SELECT (COUNT(DISTINCT ?x) AS ?count) {{ ?x m:starredActors <{P}Tom_Hanks> }}",
    ),
    # superlatives
    (
        "what is the earliest film directed by Alfred Hitchcock",
        f"SELECT ?x {{ ?x m:directedBy <{P}Alfred_Hitchcock> ; m:releaseYear ?y {{ SELECT (MIN(?z) AS ?y) {{ ?f m:directedBy <{P}Alfred_Hitchcock> ; m:releaseYear ?z }} }} }}",
    ),
    (
        "what is the latest movie Steven Spielberg directed",
        f"SELECT ?x {{ ?x m:directedBy <{P}Steven_Spielberg> ; m:releaseYear ?y {{ SELECT (MAX(?z) AS ?y) {{ ?f m:directedBy <{P}Steven_Spielberg> ; m:releaseYear ?z }} }} }}",
    ),
    # conjunctions of two topic entities
    (
        "which films star both Christopher Lloyd and Michael J. Fox",
        f"SELECT ?x {{ ?x m:starredActors <{P}Christopher_Lloyd>, <{P}Michael_J._Fox> }}",
    ),
    (
        "which movies star Christian Bale and Michael Caine",
        f"SELECT ?x {{ ?x m:starredActors <{P}Christian_Bale>, <{P}Michael_Caine> }}",
    ),
]


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    home = tmp_path_factory.mktemp("movies")
    engine = Engine.open(home)
    engine.load([PROJECT_ROOT / "ontologies" / "movies.ttl", PROJECT_ROOT / "data" / "movies-sample.ttl"])
    yield engine
    engine.close()


@pytest.mark.parametrize(("question", "gold"), QUESTIONS, ids=[q for q, _ in QUESTIONS])
def test_movie_question(movies, question, gold):
    expected = {row[0].value for row in movies.sparql(M + gold)}
    assert expected, f"the gold query for {question!r} has no answers; fix the test"
    result = movies.ask(question, limit=10_000)
    got = {a.entity_iri or a.literal for a in result.answers}
    assert got == expected, f"{result.parsed.explanation}\n{result.parsed.sparql}"


def test_the_shipped_lexicon_applies(movies):
    assert movies.parser().lexicon is not None


def test_parse_explains_and_keeps_keywords(movies):
    parsed = movies.parser().parse("which films did Alfred Hitchcock direct after 1950")
    assert "Alfred Hitchcock" in parsed.explanation and "after 1950" in parsed.explanation
    assert [link.entity_iri for link in parsed.entities] == [f"{P}Alfred_Hitchcock"]
    assert "direct" in parsed.keywords and "Hitchcock" not in parsed.keywords
    assert 0.5 < parsed.confidence <= 1.0


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 1001, "characters"),
        ("what is the airspeed velocity of an unladen swallow", "no KB entity"),
    ],
)
def test_bad_questions_say_why(movies, question, reason):
    with pytest.raises(CannotParseError, match=reason) as info:
        movies.parser().parse(question)
    assert 0.0 <= info.value.confidence <= 1.0


def test_hostile_names_never_reach_the_query_text(movies):
    """Labels and numbers from the question are bound as IRIs and typed literals, never pasted in."""
    hostile = 'who directed Jaws" } ; DROP ALL ; SELECT * { ?s ?p "'
    before = movies.store.count()
    try:
        parsed = movies.parser().parse(hostile)
    except CannotParseError:
        return
    assert "DROP" not in parsed.sparql and '"' not in parsed.sparql
    movies.ask(hostile)
    assert movies.store.count() == before


def test_ask_cli_json_and_batch(movies, tmp_path):
    home = movies.settings.home
    movies.close()
    try:
        runner = CliRunner()
        r = runner.invoke(app, ["ask", "--json", "who directed Jaws", "--home", str(home)])
        assert r.exit_code == 0, r.output
        obj = json.loads(r.output)
        assert set(obj) >= {"question", "sparql", "confidence", "answers"}
        top = obj["answers"][0]
        assert (top["iri"], top["label"], top["literal"]) == (f"{P}Steven_Spielberg", "Steven Spielberg", None)
        assert top["evidence"][0]["source"] == "kb" and top["evidence"][0]["ref"] == obj["sparql"]
        batch = tmp_path / "q.jsonl"
        batch.write_text('{"question": "who directed Jaws"}\nwho wrote Rebecca\nzzzz qqqq\n', encoding="utf-8")
        r = runner.invoke(app, ["ask", "--json", "--batch", str(batch), "--home", str(home)])
        lines = [json.loads(line) for line in r.output.splitlines()]
        assert r.exit_code == 0 and len(lines) == 3
        assert lines[2]["answers"] == [] and "no KB entity" in lines[2]["error"]
        r = runner.invoke(app, ["ask", "who directed Jaws", "--home", str(home)])
        assert r.exit_code == 0 and "Steven Spielberg" in r.output and "SELECT" in r.output
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"q": 1}\n', encoding="utf-8")
        r = runner.invoke(app, ["ask", "--batch", str(bad), "--home", str(home)])
        assert r.exit_code == 1 and "line 1" in r.output
    finally:
        movies.__init__(movies.settings)
