"""Settings of the knowledge-base layer, read from ``KGSEARCH_*`` environment variables.

>>> s = KgSettings.from_env({"KGSEARCH_STORE": "sparql", "KGSEARCH_SPARQL_URL": "http://127.0.0.1:8890/sparql"})
>>> s.store, s.sparql_graph
('sparql', 'http://kgsearch.org/graph/default')
>>> KgSettings.from_env({"KGSEARCH_STORE": "sparql"})
Traceback (most recent call last):
...
kg.errors.KgError: Config 'KGSEARCH_SPARQL_URL' is missing, and has no default: the 'sparql' store needs the endpoint's query URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from kg.backends import STORES
from kg.errors import KgError


@dataclass(frozen=True)
class KgSettings:
    """Which triple store kgsearch uses and how to reach it.

    Attributes:
        store: Backend name: ``oxigraph`` (embedded, in the home directory) or ``sparql``.
        sparql_url: Query URL of a SPARQL 1.1 endpoint (``sparql`` store).
        sparql_update_url: Update URL; the query URL when unset.
        sparql_graph: Graph IRI that holds the facts on the endpoint.
        sparql_user: User for HTTP authentication, if the endpoint needs it.
        sparql_password: Its password.
    """

    store: str = "oxigraph"
    sparql_url: str | None = None
    sparql_update_url: str | None = None
    sparql_graph: str = "http://kgsearch.org/graph/default"
    sparql_user: str | None = None
    sparql_password: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KgSettings:
        """Read ``KGSEARCH_STORE``, ``KGSEARCH_SPARQL_URL``, ``KGSEARCH_SPARQL_UPDATE_URL``,
        ``KGSEARCH_SPARQL_GRAPH``, ``KGSEARCH_SPARQL_USER`` and ``KGSEARCH_SPARQL_PASSWORD``.

        Raises:
            KgError: An unknown backend, or a setting the backend requires is missing.
        """
        env = os.environ if env is None else env
        store = env.get("KGSEARCH_STORE", cls.store)
        if store not in STORES:
            raise KgError(
                f"KGSEARCH_STORE={store!r} is not a store backend; choose one of: {', '.join(sorted(STORES))}"
            )
        url = env.get("KGSEARCH_SPARQL_URL")
        if store == "sparql" and not url:
            raise KgError(
                "Config 'KGSEARCH_SPARQL_URL' is missing, and has no default: the 'sparql' store needs the endpoint's query URL."
            )
        return cls(
            store=store,
            sparql_url=url,
            sparql_update_url=env.get("KGSEARCH_SPARQL_UPDATE_URL"),
            sparql_graph=env.get("KGSEARCH_SPARQL_GRAPH", cls.sparql_graph),
            sparql_user=env.get("KGSEARCH_SPARQL_USER"),
            sparql_password=env.get("KGSEARCH_SPARQL_PASSWORD"),
        )
