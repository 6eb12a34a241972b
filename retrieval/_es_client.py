"""What the Elasticsearch text and vector indexes share: the client, the index's lifecycle, error mapping.

The ``elasticsearch`` client is imported when an index is opened, never by ``import retrieval``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from retrieval.errors import BackendUnavailableError, RetrievalError

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


class ElasticsearchIndexBase:
    """One Elasticsearch index, opened through the official client.

    Args:
        url: The server, e.g. ``http://localhost:9200``; ignored when ``client`` is given.
        index_name: The Elasticsearch index (lowercase).
        client: An ``elasticsearch.Elasticsearch`` to use instead of making one.
        what: What the subclass is ("text index"), for messages.
        alternative: The embedded backend to suggest when the client is missing.
        **client_kwargs: Passed to ``Elasticsearch`` (``api_key``, ``basic_auth``, ``ca_certs``...).

    Raises:
        BackendUnavailableError: The client is not installed, or no url and no client was given.
    """

    def __init__(
        self,
        url: str | None,
        index_name: str,
        client: Elasticsearch | None,
        *,
        what: str,
        alternative: str,
        **client_kwargs: Any,
    ):
        try:
            import elasticsearch
        except ImportError as e:
            raise BackendUnavailableError(
                f"the Elasticsearch {what} needs the 'elasticsearch' client, which is not installed; "
                f"pip install 'elasticsearch>=9' or use {alternative}"
            ) from e
        self._es = elasticsearch
        self._owns_client = client is None
        if client is None:
            if not url:
                raise BackendUnavailableError("give the Elasticsearch server's url, e.g. http://localhost:9200")
            client = elasticsearch.Elasticsearch(url, **client_kwargs)
        self.client = client
        self.url = url
        self.index_name = index_name
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def drop(self) -> None:
        """Delete the Elasticsearch index and everything in it (tests use this to clean up)."""
        with self._calls():
            self.client.indices.delete(index=self.index_name, ignore_unavailable=True)

    def close(self) -> None:
        """Close the connection if this index opened it; the index is unusable afterwards."""
        if not self._closed and self._owns_client:
            self.client.close()
        self._closed = True

    def _create(self, mappings: dict[str, Any], settings: dict[str, Any]) -> bool:
        """Create the index unless it exists; returns whether this call created it. Call inside ``_calls``."""
        if self.client.indices.exists(index=self.index_name):
            return False
        try:
            self.client.indices.create(index=self.index_name, mappings=mappings, settings=settings)
        except self._es.BadRequestError as e:
            if e.error != "resource_already_exists_exception":  # created meanwhile by another process
                raise
            return False
        return True

    @contextlib.contextmanager
    def _calls(self) -> Iterator[None]:
        """Turn client exceptions into retrieval errors that say what to do (the client's stays as ``__cause__``)."""
        if self._closed:
            raise RetrievalError(f"{self!r} is closed; open a new {type(self).__name__}")
        es = self._es
        try:
            yield
        except RetrievalError:
            raise
        except (es.ConnectionError, es.ConnectionTimeout) as e:
            raise BackendUnavailableError(
                f"cannot reach Elasticsearch at {self.url or 'the given client'}: {e}. "
                "Start the server, or fix the url (KGSEARCH_ES_URL)"
            ) from e
        except es.ApiError as e:
            raise RetrievalError(f"Elasticsearch index {self.index_name!r}: {e}") from e
