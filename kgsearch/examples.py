"""Example queries and questions for the console's menu, chosen by what the KB holds.

Any KB gets generic exploration queries; the movie KB also gets the quick-start's queries and
questions (:mod:`kgsearch.demo`).
"""

from __future__ import annotations

from typing import Any

from kgsearch.engine import Engine

GENERIC = [
    (
        "Classes and how many instances each has",
        "SELECT ?class (COUNT(?s) AS ?instances) WHERE { ?s a ?class } GROUP BY ?class ORDER BY DESC(?instances) LIMIT 20",
    ),
    (
        "Properties and how often they are used",
        "SELECT ?property (COUNT(*) AS ?uses) WHERE { ?s ?property ?o } GROUP BY ?property ORDER BY DESC(?uses) LIMIT 20",
    ),
    (
        "Documents and the entities they mention (SPARQL+Text)",
        "PREFIX kgs: <http://kgsearch.org/ns/kgs#>\nSELECT ?title ?entity WHERE {\n"
        "  GRAPH kgs:mentions { ?doc kgs:title ?title ; kgs:mentions ?entity }\n} LIMIT 20",
    ),
]


def examples_for(engine: Engine, prefixes: dict[str, str]) -> dict[str, Any]:
    """``{"queries": [{"title", "sparql"}], "questions": [...]}`` for this engine's KB."""
    from kgsearch import demo

    queries = [{"title": t, "sparql": q} for t, q in GENERIC]
    questions: list[str] = []
    if engine.store.query(demo.PREFIXES + "ASK { ?film a movies:Film }"):
        queries = [
            {"title": "The director with the most films", "sparql": demo.TOP_DIRECTOR},
            {"title": "Genres of films released after 2000", "sparql": demo.GENRES},
            {"title": "Films whose documents mention murder (SPARQL+Text)", "sparql": demo.TEXT_QUERY},
            {
                "title": "Films directed by Alfred Hitchcock, with their year",
                "sparql": demo.PREFIXES
                + 'SELECT ?film ?title ?year WHERE {\n  ?film movies:directedBy/rdfs:label "Alfred Hitchcock" ;'
                " rdfs:label ?title .\n  OPTIONAL { ?film movies:releaseYear ?year }\n} ORDER BY ?year",
            },
        ] + queries
        questions = [
            "who directed Jaws",
            "which films did Grace Kelly star in",
            "what genre is Rebecca",
            "how many films did Alfred Hitchcock direct",
        ]
    return {"queries": queries, "questions": questions}
