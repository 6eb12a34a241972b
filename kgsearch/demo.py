"""``kgsearch demo``: load the quick-start sample and show SPARQL answers and entity cards."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax

from kg.errors import InputFileError
from kgsearch.engine import Engine
from kgsearch.settings import PROJECT_ROOT

ONTOLOGY = PROJECT_ROOT / "ontologies" / "movies.ttl"
SAMPLE = PROJECT_ROOT / "data" / "movies-sample.ttl"

PREFIXES = """PREFIX movies: <http://kgsearch.org/ns/movies#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""

TOP_DIRECTOR = (
    PREFIXES
    + """# The director with the most films in the KB
SELECT ?director ?name (COUNT(?film) AS ?films) WHERE {
  ?film movies:directedBy ?director .
  ?director rdfs:label ?name .
} GROUP BY ?director ?name ORDER BY DESC(?films) ?name LIMIT 1"""
)

FILMS_BY = (
    PREFIXES
    + """# Films directed by {name}, with their year
SELECT ?film ?year WHERE {{
  ?f movies:directedBy <{director}> ; rdfs:label ?film .
  OPTIONAL {{ ?f movies:releaseYear ?year }}
}} ORDER BY ?year ?film"""
)

ACTORS_OF = (
    PREFIXES
    + """# Two hops: actors in films directed by {name}, by number of such films
SELECT ?actor (COUNT(DISTINCT ?f) AS ?films) WHERE {{
  ?f movies:directedBy <{director}> ; movies:starredActors ?a .
  ?a rdfs:label ?actor .
}} GROUP BY ?actor ORDER BY DESC(?films) ?actor LIMIT 8"""
)

TEXT_QUERY = (
    PREFIXES
    + """PREFIX kgs: <http://kgsearch.org/ns/kgs#>
# SPARQL+Text: films whose documents mention "murder", with their directors, by text score
SELECT ?name ?director (MAX(?score) AS ?text_score) WHERE {
  ?doc kgs:contains-word "murder" ; kgs:contains-entity ?film ; kgs:text-score ?score .
  ?film a movies:Film ; rdfs:label ?name ; movies:directedBy/rdfs:label ?director .
} GROUP BY ?name ?director ORDER BY DESC(?text_score) LIMIT 5"""
)

GENRES = (
    PREFIXES
    + """# Genres of films released after 2000
SELECT ?genre (COUNT(?f) AS ?films) WHERE {
  ?f movies:releaseYear ?year ; movies:hasGenre/rdfs:label ?genre .
  FILTER(?year > 2000)
} GROUP BY ?genre ORDER BY DESC(?films) ?genre LIMIT 8"""
)


def ensure_sample(engine: Engine, console: Console) -> None:
    """Load the ontology and the sample into the engine's home unless they are already there."""
    from kgsearch.cli import load_files

    if engine.sparql(PREFIXES + "ASK { ?film a movies:Film }"):
        console.print(f"movie data already loaded in {engine.settings.home}", style="dim")
        return
    for path in (ONTOLOGY, SAMPLE):
        if not path.is_file():
            raise InputFileError(f"{path}: not found; run kgsearch demo from a source checkout (pip install -e .)")
    load_files(engine, [ONTOLOGY, SAMPLE])


def _plain(snippet: str) -> str:
    """A ``<b>``-highlighted snippet as rich markup."""
    from kgsearch.cli_search import highlighted

    return highlighted(snippet)


def _show(engine: Engine, console: Console, query: str) -> object:
    from kgsearch.cli import print_result

    console.print(Syntax(query, "sparql", theme="ansi_dark", word_wrap=True))
    result = engine.sparql(query)
    print_result(result, "table")
    return result


def run_demo(engine: Engine, console: Console) -> None:
    """Load the sample if needed, then run example queries and entity look-ups."""
    ensure_sample(engine, console)
    stats = engine.stats()
    console.rule("the sample movie KB")
    console.print(f"{stats.triples:,} triples, {stats.entities:,} entities")
    console.rule("SPARQL")
    top = _show(engine, console, TOP_DIRECTOR)
    director, name = top.rows[0][0].value, top.rows[0][1].value
    films = _show(engine, console, FILMS_BY.format(director=director, name=name))
    _show(engine, console, ACTORS_OF.format(director=director, name=name))
    _show(engine, console, GENRES)
    console.rule("entity look-up")
    for ref in (name, films.rows[-1][0].value):
        e = engine.entity(ref)
        console.print(f"[bold]{ref}[/] -> {e.label} <{e.iri}>")
        console.print(f"  {e.description}", style="italic")
    console.rule("questions to SPARQL")
    for question in (f"which films did {name} direct after 1950", f"how many films did {name} direct"):
        result = engine.ask(question, limit=8)
        console.print(f"[bold]{question}[/]  (confidence {result.parsed.confidence:.2f})")
        console.print(f"  reading: {escape(result.parsed.explanation)}", highlight=False)
        console.print(Syntax(result.parsed.sparql, "sparql", theme="ansi_dark", word_wrap=True))
        console.print("  answers: " + escape(", ".join(a.label for a in result.answers)))
    console.rule("documents: ingest, search, SPARQL+Text, answers with evidence")
    from kgsearch.datasets import DOCS_SAMPLE

    report = engine.ingest([DOCS_SAMPLE], vectors=False)
    console.print(
        f"{DOCS_SAMPLE.name}: {report.added + report.updated:,} documents ingested, "
        f"{report.unchanged:,} already there, {report.links:,} entity links"
    )
    results = engine.search("shark island police chief", limit=3)
    for doc in results.documents:
        console.print(f"[bold]{escape(doc.title)}[/]  " + _plain(doc.snippet), highlight=False)
    _show(engine, console, TEXT_QUERY)
    question = "who directed Jaws"
    answers = engine.ask(question, limit=3).answers
    console.print(f"[bold]{question}[/]")
    for a in answers:
        sources = ", ".join(dict.fromkeys(e.source for e in a.evidence))
        text = next((e for e in a.evidence if e.source == "text"), None)
        line = f"  {escape(a.label)} [dim]({sources})[/]"
        if text is not None:
            line += "  " + _plain(text.snippet)
        console.print(line, highlight=False)
    console.print(
        f"\nNext: kgsearch ask 'who directed Jaws' --home {engine.settings.home}, kgsearch sparql 'SELECT ...', "
        "kgsearch search WORDS, kgsearch ingest FILES, kgsearch entity NAME, kgsearch stats",
        style="dim",
    )
