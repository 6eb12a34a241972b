"""Namespaces of kgsearch's own vocabularies, as typed constants that fail on a typo.

>>> str(MOVIES.Film)
'http://kgsearch.org/ns/movies#Film'
>>> MOVIES.Flim
Traceback (most recent call last):
...
AttributeError: term 'Flim' not in namespace 'http://kgsearch.org/ns/movies#'
"""

from __future__ import annotations

from rdflib.namespace import DefinedNamespace, Namespace
from rdflib.term import URIRef

#: Properties whose values are pictures of an entity (the face gallery, entity cards).
IMAGE_PROPERTIES = ("http://schema.org/image", "https://schema.org/image", "http://xmlns.com/foaf/0.1/depiction")

#: Base of the IRIs minted for movie KB resources: ``{MOVIES_DATA}film/Alien``.
MOVIES_DATA = "http://kgsearch.org/movies/"


class MOVIES(DefinedNamespace):
    """The movie ontology (``ontologies/movies.ttl``): the WikiMovies / MetaQA schema."""

    _fail = True
    _NS = Namespace("http://kgsearch.org/ns/movies#")

    Film: URIRef
    Person: URIRef
    Genre: URIRef
    Language: URIRef
    Tag: URIRef

    directedBy: URIRef
    writtenBy: URIRef
    starredActors: URIRef
    releaseYear: URIRef
    hasGenre: URIRef
    inLanguage: URIRef
    hasTags: URIRef
    hasImdbRating: URIRef
    hasImdbVotes: URIRef


class KGS(DefinedNamespace):
    """kgsearch's own terms: catalogue annotations, provenance, SPARQL+Text predicates."""

    _fail = True
    _NS = Namespace("http://kgsearch.org/ns/kgs#")

    description: URIRef
    popularity: URIRef
