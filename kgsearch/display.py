"""Compact text for RDF terms in terminal output.

>>> shorten("http://kgsearch.org/movies/film/Blade_Runner")
'film:Blade_Runner'
>>> import pyoxigraph as ox
>>> term_text(ox.Literal("1982", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")))
'1982'
"""

from __future__ import annotations

import pyoxigraph as ox

from kg.namespaces import KGS, MOVIES, MOVIES_DATA

PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "schema": "http://schema.org/",
    "movies": str(MOVIES._NS),
    "kgs": str(KGS._NS),
    "film": MOVIES_DATA + "film/",
    "person": MOVIES_DATA + "person/",
    "genre": MOVIES_DATA + "genre/",
    "language": MOVIES_DATA + "language/",
    "tag": MOVIES_DATA + "tag/",
    "ub": "http://swat.cse.lehigh.edu/onto/univ-bench.owl#",
}


def shorten(iri: str) -> str:
    """``prefix:local`` for IRIs under a known namespace, else ``<iri>``."""
    for prefix, ns in PREFIXES.items():
        if iri.startswith(ns) and len(iri) > len(ns):
            return f"{prefix}:{iri[len(ns) :]}"
    return f"<{iri}>"


def term_text(term) -> str:
    """A term as an analyst reads it: short IRIs, literal values, ``_:b`` blank nodes, blank for unbound."""
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        return shorten(term.value)
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.Literal):
        return f"{term.value}@{term.language}" if term.language else term.value
    return str(term)
