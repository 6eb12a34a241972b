"""The :class:`TripleStore` protocol: what kgsearch asks of an RDF store.

Two implementations share one contract test suite (``tests/kg/contract.py``):
:class:`~kg.OxigraphStore` (embedded, on disk) and :class:`~kg.SparqlEndpointStore`
(any SPARQL 1.1 endpoint; tested against Virtuoso).

>>> from kg import OxigraphStore
>>> store = OxigraphStore()            # in memory; OxigraphStore("dir") persists
>>> store.update('INSERT DATA { <http://ex/alien> <http://www.w3.org/2000/01/rdf-schema#label> "Alien" }')
>>> [str(row[0].value) for row in store.query("SELECT ?l WHERE { ?s ?p ?l }")]
['Alien']
>>> store.count()
1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyoxigraph as ox

from kg.results import QueryResult

#: Called with the number of bytes read so far while a file loads.
ProgressCallback = Callable[[int], None]


@runtime_checkable
class TripleStore(Protocol):
    """An RDF dataset that answers SPARQL 1.1 and loads RDF files atomically.

    Triples without a graph live in the store's default graph; ``graph`` arguments
    are IRIs of named graphs. Queries see the default graph by default and named
    graphs through ``GRAPH``.
    """

    def query(self, sparql: str) -> QueryResult:
        """Run a SPARQL 1.1 query.

        Returns:
            :class:`~kg.results.Bindings` for SELECT, :class:`~kg.results.AskResult` for ASK,
            :class:`~kg.results.GraphResult` for CONSTRUCT and DESCRIBE.

        Raises:
            SparqlSyntaxError: The query does not parse.
            StoreError: The store failed to answer.
        """
        ...

    def update(self, sparql: str, *, base_iri: str | None = None) -> None:
        """Run a SPARQL 1.1 Update; relative IRIs in it resolve against ``base_iri`` when given.

        Raises:
            SparqlSyntaxError: The update does not parse.
            StoreError: The store rejected it.
        """
        ...

    def add(self, quads: Iterable[ox.Quad], *, bulk: bool = False) -> int:
        """Add quads in one transaction: all of them are stored or none.

        Args:
            quads: What to add.
            bulk: Write through the store's bulk loader where it has one: much faster into a large
                store, but a crash may leave part of the quads written. Only for writes that the
                caller redoes idempotently (ingestion replaces a document's provenance by id).

        Returns:
            How many quads were given.
        """
        ...

    def load(
        self,
        path: str | Path,
        *,
        format: ox.RdfFormat | None = None,
        graph: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Load one RDF file atomically: a malformed file stores nothing.

        Args:
            path: Turtle, N-Triples, N-Quads, TriG, N3, RDF/XML or JSON-LD, optionally gzipped.
            format: The serialization; guessed from the extension when ``None``.
            graph: Named graph for the file's triples; the default graph when ``None``.
            progress: Called with the number of bytes read so far.

        Returns:
            The number of statements the store grew by.

        Raises:
            InputFileError: The file is missing, unreadable or empty.
            UnknownFormatError: The format cannot be determined.
            RdfSyntaxError: The file is malformed; names file, line and column.
        """
        ...

    def count(self, graph: str | None = None) -> int:
        """Number of triples in a named graph, or in the default graph when ``None``."""
        ...

    def named_graphs(self) -> list[str]:
        """IRIs of the non-empty named graphs."""
        ...

    def close(self) -> None:
        """Release files or connections; the store is unusable afterwards."""
        ...
