"""The scale-out :class:`~retrieval.text_index.TextIndex`: an Elasticsearch index.

Title and text use Elasticsearch's ``english`` analyzer; id, modality and entities are
``keyword`` fields, so entity filters are exact term matches on the IRIs; metadata is
stored in ``_source`` but not indexed. The ``elasticsearch`` client is imported when an
index is opened, never by ``import retrieval``.

Elasticsearch has no multi-document transactions. Every document of a batch is validated
before anything is sent, so a malformed document stores nothing; but if the server rejects
some documents mid-batch, the ones it accepted stay (the error says how many).

>>> ElasticsearchTextIndex.query_body("heist", entities=["http://ex/Mann"], title_boost=0.5)["bool"]["filter"]
[{'term': {'entities': 'http://ex/Mann'}}]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from retrieval.errors import BackendUnavailableError, QuerySyntaxError, RetrievalError
from retrieval.text_index import check_document, check_search_args, has_words, split_query
from retrieval.types import Hit, IndexedDocument

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

#: Weight of a title match against a text match (as in :mod:`retrieval._tantivy`).
TITLE_BOOST = 0.5
#: Longest snippet, in characters.
SNIPPET_CHARS = 150
#: Ids per delete-by-query request.
DELETE_CHUNK = 10_000

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "title": {"type": "text", "analyzer": "english"},
        "text": {"type": "text", "analyzer": "english"},
        "modality": {"type": "keyword"},
        "entities": {"type": "keyword"},
        "metadata": {"type": "object", "enabled": False},
    },
}
# One shard: BM25 statistics are then exact, and the ranking matches the embedded backend's.
SETTINGS: dict[str, Any] = {"number_of_shards": 1}

HIGHLIGHT: dict[str, Any] = {
    "pre_tags": ["<b>"],
    "post_tags": ["</b>"],
    "encoder": "html",
    "fields": {
        "text": {"number_of_fragments": 1, "fragment_size": SNIPPET_CHARS, "no_match_size": SNIPPET_CHARS},
        "title": {"number_of_fragments": 0},
    },
}


class ElasticsearchTextIndex:
    """A :class:`~retrieval.text_index.TextIndex` in an Elasticsearch index (created if missing).

    Args:
        url: The server, e.g. ``http://localhost:9200``; ignored when ``client`` is given.
        index_name: The Elasticsearch index (lowercase).
        client: An ``elasticsearch.Elasticsearch`` to use instead of making one.
        title_boost: Weight of a title match against a text match.
        **client_kwargs: Passed to ``Elasticsearch`` (``api_key``, ``basic_auth``, ``ca_certs``...).

    Raises:
        BackendUnavailableError: The client is not installed or the server cannot be reached.
    """

    def __init__(
        self,
        url: str | None = None,
        index_name: str = "kgsearch-text",
        *,
        client: Elasticsearch | None = None,
        title_boost: float = TITLE_BOOST,
        **client_kwargs: Any,
    ):
        try:
            import elasticsearch
        except ImportError as e:
            raise BackendUnavailableError(
                "the Elasticsearch text index needs the 'elasticsearch' client, which is not installed; "
                "pip install 'elasticsearch>=9' or use the tantivy text index"
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
        self.title_boost = title_boost
        self._closed = False
        self._create_index()

    def __repr__(self) -> str:
        return f"ElasticsearchTextIndex({self.url!r}, {self.index_name!r})"

    def __enter__(self) -> ElasticsearchTextIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def add(self, docs: Iterable[IndexedDocument]) -> int:
        """Add or replace documents with the bulk API; every document is validated before any is sent.

        Raises:
            DocumentError: A document is malformed; names its id and field. Nothing was sent.
            RetrievalError: The server rejected some documents; the others are stored.
        """
        actions = []
        for doc in docs:
            metadata = json.loads(check_document(doc))
            source = {"id": doc.id, "title": doc.title, "text": doc.text, "modality": doc.modality}
            source |= {"entities": list(doc.entities), "metadata": metadata}
            actions.append({"_op_type": "index", "_index": self.index_name, "_id": doc.id, "_source": source})
        if not actions:
            return 0
        from elasticsearch import helpers

        with self._calls():
            _, errors = helpers.bulk(self.client, actions, raise_on_error=False)
            self.client.indices.refresh(index=self.index_name)
        if errors:
            raise RetrievalError(
                f"Elasticsearch rejected {len(errors)} of {len(actions)} documents (the others are stored); "
                f"first error: {errors[0]}"
            )
        return len(actions)

    def delete(self, ids: Iterable[str]) -> int:
        """Delete documents by id; unknown ids are ignored.

        Returns:
            How many documents were deleted.
        """
        unique = list(dict.fromkeys(str(i) for i in ids))
        deleted = 0
        with self._calls():
            for start in range(0, len(unique), DELETE_CHUNK):
                chunk = unique[start : start + DELETE_CHUNK]
                response = self.client.delete_by_query(
                    index=self.index_name, query={"ids": {"values": chunk}}, refresh=True, conflicts="proceed"
                )
                deleted += int(response["deleted"])
        return deleted

    # -- reading ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        modality: str | None = None,
        entities: Sequence[str] = (),
        ids: Sequence[str] | None = None,
        syntax: str = "simple",
    ) -> list[Hit]:
        """Rank documents by BM25 over title and text; see :meth:`TextIndex.search`.

        ``syntax="native"`` takes Lucene's query-string syntax (``title:heat AND "los angeles"``).
        """
        check_search_args(limit, syntax)
        if limit == 0 or (ids is not None and not ids):
            return []
        body = self.query_body(
            query, modality=modality, entities=entities, ids=ids, syntax=syntax, title_boost=self.title_boost
        )
        if body is None:
            return []
        try:
            with self._calls():
                response = self.client.search(
                    index=self.index_name,
                    query=body,
                    size=limit,
                    highlight=HIGHLIGHT,
                    source=False,
                    track_total_hits=False,
                )
        except RetrievalError as e:
            if syntax == "native" and isinstance(e.__cause__, self._es.BadRequestError):
                raise QuerySyntaxError(
                    f"Elasticsearch could not parse the query: {e.__cause__}. Quote phrases, escape special "
                    "characters with a backslash, or search with syntax='simple'"
                ) from None
            raise
        return [
            Hit("text", hit["_id"], float(hit["_score"] or 0.0), rank, _snippet(hit.get("highlight", {})))
            for rank, hit in enumerate(response["hits"]["hits"], start=1)
        ]

    @staticmethod
    def query_body(
        query: str,
        *,
        modality: str | None = None,
        entities: Sequence[str] = (),
        ids: Sequence[str] | None = None,
        syntax: str = "simple",
        title_boost: float = TITLE_BOOST,
    ) -> dict[str, Any] | None:
        """The Elasticsearch query for a search, or ``None`` when it can match nothing."""
        if isinstance(entities, str):
            raise TypeError("entities must be a sequence of IRIs, not one string; wrap it in a list")
        filters: list[dict[str, Any]] = [{"term": {"entities": iri}} for iri in entities]
        if modality is not None:
            filters.append({"term": {"modality": modality}})
        if ids is not None:
            filters.append({"terms": {"id": list(ids)}})
        fields = [f"title^{title_boost}", "text"]
        text_query: dict[str, Any] | None = None
        if syntax == "native" and query.strip():
            text_query = {"query_string": {"query": query, "fields": fields, "default_operator": "or"}}
        elif syntax == "simple" and has_words(query):
            words, phrases = split_query(query)
            # most_fields sums the title and text scores of each word, as the tantivy backend does.
            should: list[dict[str, Any]] = []
            if has_words(words):
                should.append({"multi_match": {"query": words, "fields": fields, "type": "most_fields"}})
            for phrase in phrases:
                title = {"match_phrase": {"title": {"query": phrase, "boost": title_boost}}}
                should.append({"bool": {"should": [title, {"match_phrase": {"text": phrase}}]}})
            text_query = {"bool": {"should": should, "minimum_should_match": 1}}
        if text_query is None:
            if not filters:
                return None
            return {"constant_score": {"filter": {"bool": {"filter": filters}}, "boost": 1.0}}
        return {"bool": {"must": [text_query], "filter": filters}}

    def get(self, id: str) -> IndexedDocument | None:
        """The stored document with this id, or ``None``."""
        try:
            with self._calls():
                response = self.client.get(index=self.index_name, id=id)
        except RetrievalError as e:
            if isinstance(e.__cause__, self._es.NotFoundError):
                return None
            raise
        source = response["_source"]
        return IndexedDocument(
            id=source["id"],
            title=source.get("title", ""),
            text=source.get("text", ""),
            modality=source["modality"],
            entities=tuple(source.get("entities", ())),
            metadata=source.get("metadata") or {},
        )

    def count(self) -> int:
        """Number of documents in the index."""
        with self._calls():
            return int(self.client.count(index=self.index_name)["count"])

    def drop(self) -> None:
        """Delete the Elasticsearch index and everything in it (tests use this to clean up)."""
        with self._calls():
            self.client.indices.delete(index=self.index_name, ignore_unavailable=True)

    def close(self) -> None:
        """Close the connection if this index opened it; the index is unusable afterwards."""
        if not self._closed and self._owns_client:
            self.client.close()
        self._closed = True

    # -- helpers ---------------------------------------------------------------------------

    def _create_index(self) -> None:
        with self._calls():
            if self.client.indices.exists(index=self.index_name):
                return
            try:
                self.client.indices.create(index=self.index_name, mappings=MAPPINGS, settings=SETTINGS)
            except self._es.BadRequestError as e:
                if e.error != "resource_already_exists_exception":  # created meanwhile by another process
                    raise

    def _calls(self) -> _Calls:
        if self._closed:
            raise RetrievalError(f"{self!r} is closed; open a new ElasticsearchTextIndex")
        return _Calls(self)


class _Calls:
    """Turns client exceptions into retrieval errors that say what to do (the client's stays as ``__cause__``)."""

    def __init__(self, index: ElasticsearchTextIndex):
        self._index = index

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        es, index = self._index._es, self._index
        if exc is None or isinstance(exc, RetrievalError):
            return
        if isinstance(exc, es.ConnectionError | es.ConnectionTimeout):
            raise BackendUnavailableError(
                f"cannot reach Elasticsearch at {index.url or 'the given client'}: {exc}. "
                "Start the server, or fix the url (KGSEARCH_ES_URL)"
            ) from exc
        if isinstance(exc, es.ApiError):
            raise RetrievalError(f"Elasticsearch index {index.index_name!r}: {exc}") from exc


def _snippet(highlight: dict[str, list[str]]) -> str:
    """The text fragment with a match, else the title with one, else the start of the text."""
    text = (highlight.get("text") or [""])[0]
    if "<b>" in text:
        return text
    title = (highlight.get("title") or [""])[0]
    return title if "<b>" in title else text
