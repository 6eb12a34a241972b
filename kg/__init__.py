"""The knowledge base: RDF stores, ontology, entity catalogue and loading.

``kg`` knows nothing of documents, questions or indexes. Backends are chosen by
name through :func:`kg.backends.open_store`; the server-backed ones import their
client libraries only when asked for.
"""

from kg._oxigraph import OxigraphStore
from kg.errors import (
    BackendUnavailableError,
    EntityNotFoundError,
    InputFileError,
    KgError,
    RdfSyntaxError,
    SparqlSyntaxError,
    StoreError,
    UnknownFormatError,
)
from kg.results import AskResult, Bindings, GraphResult, QueryResult
from kg.store import TripleStore


def __getattr__(name: str):
    # SPARQLWrapper is imported only when the endpoint store is used.
    if name == "SparqlEndpointStore":
        from kg._endpoint import SparqlEndpointStore

        return SparqlEndpointStore
    raise AttributeError(f"module 'kg' has no attribute {name!r}")


__all__ = [
    "AskResult",
    "BackendUnavailableError",
    "Bindings",
    "EntityNotFoundError",
    "GraphResult",
    "InputFileError",
    "KgError",
    "OxigraphStore",
    "QueryResult",
    "RdfSyntaxError",
    "SparqlEndpointStore",
    "SparqlSyntaxError",
    "StoreError",
    "TripleStore",
    "UnknownFormatError",
]
