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

from retrieval._es_client import ElasticsearchIndexBase
from retrieval.errors import QuerySyntaxError, RetrievalError
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


class ElasticsearchTextIndex(ElasticsearchIndexBase):
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
        super().__init__(
            url,
            index_name,
            client,
            what="text index",
            alternative="the tantivy text index",
            **client_kwargs,
        )
        self.title_boost = title_boost
        with self._calls():
            self._create(MAPPINGS, SETTINGS)

    def __repr__(self) -> str:
        return f"ElasticsearchTextIndex({self.url!r}, {self.index_name!r})"

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
        require_all: bool = False,
    ) -> list[Hit]:
        """Rank documents by BM25 over title and text; see :meth:`TextIndex.search`.

        ``syntax="native"`` takes Lucene's query-string syntax (``title:heat AND "los angeles"``).
        """
        check_search_args(limit, syntax)
        if limit == 0 or (ids is not None and not ids):
            return []
        body = self.query_body(
            query,
            modality=modality,
            entities=entities,
            ids=ids,
            syntax=syntax,
            title_boost=self.title_boost,
            require_all=require_all,
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
        require_all: bool = False,
    ) -> dict[str, Any] | None:
        """The Elasticsearch query for a search, or ``None`` when it can match nothing.

        With ``require_all``, each word becomes a ``must`` clause of its own, so that a word may
        match in the title and another in the text (``operator: and`` on one ``multi_match``
        would ask for all of them in one field); the sum of the clauses scores as the any-word query.
        """
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
            if require_all:
                # A word that the analyzer drops (a stop word) must not make the whole query match nothing.
                each = {"fields": fields, "type": "most_fields", "operator": "and", "zero_terms_query": "all"}
                should += [{"multi_match": {"query": word, **each}} for word in words.split() if has_words(word)]
            elif has_words(words):
                should.append({"multi_match": {"query": words, "fields": fields, "type": "most_fields"}})
            for phrase in phrases:
                title = {"match_phrase": {"title": {"query": phrase, "boost": title_boost}}}
                should.append({"bool": {"should": [title, {"match_phrase": {"text": phrase}}]}})
            if require_all:
                text_query = {"bool": {"must": should}}
            else:
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


def _snippet(highlight: dict[str, list[str]]) -> str:
    """The text fragment with a match, else the title with one, else the start of the text."""
    text = (highlight.get("text") or [""])[0]
    if "<b>" in text:
        return text
    title = (highlight.get("title") or [""])[0]
    return title if "<b>" in title else text
