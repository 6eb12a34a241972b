"""The scale-out :class:`~retrieval.vector_index.VectorIndex`: ``dense_vector`` kNN in Elasticsearch.

Each vector is one document whose ``_id`` is the vector's id and whose ``vector`` field is a
``dense_vector`` indexed for kNN with cosine similarity. Searches use the search API's ``knn``
option; an ``ids`` restriction is a ``terms`` filter on ``_id``, which Elasticsearch applies
during the kNN search (not after it), so a filtered search still returns ``limit`` hits.
The ``elasticsearch`` client is imported when an index is opened, never by ``import retrieval``.

Elasticsearch scores a cosine kNN hit ``(1 + cosine) / 2``; hits carry the cosine itself, as
the embedded backend's do. The default ``index_options`` keep float vectors (``hnsw``) so that
scores are exact; Elasticsearch 9 would otherwise quantize 384-dimensional vectors (``bbq_hnsw``).

>>> ElasticsearchVectorIndex.mappings(3)["properties"]["vector"]
{'type': 'dense_vector', 'dims': 3, 'index': True, 'similarity': 'cosine', 'index_options': {'type': 'hnsw'}}
>>> ElasticsearchVectorIndex.knn_body([0.0, 1.0], limit=2, ids=["a"])
{'field': 'vector', 'query_vector': [0.0, 1.0], 'k': 2, 'num_candidates': 100, 'filter': {'terms': {'_id': ['a']}}}
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval._es_client import ElasticsearchIndexBase
from retrieval.errors import RetrievalError
from retrieval.types import Hit
from retrieval.vector_index import check_batch, check_ids, check_limit, check_queries, to_hits

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

#: Candidates each shard considers per search (raised to ``limit``); more is better recall, slower.
NUM_CANDIDATES = 100
#: Elasticsearch's ceiling on ``k`` and ``num_candidates``.
MAX_CANDIDATES = 10_000
#: Float vectors in an HNSW graph; ``int8_hnsw`` or ``bbq_hnsw`` trade exact scores for memory.
INDEX_OPTIONS: dict[str, Any] = {"type": "hnsw"}
SETTINGS: dict[str, Any] = {"number_of_shards": 1}


class ElasticsearchVectorIndex(ElasticsearchIndexBase):
    """A :class:`~retrieval.vector_index.VectorIndex` in an Elasticsearch index (created if missing).

    Args:
        url: The server, e.g. ``http://localhost:9200``; ignored when ``client`` is given.
        index_name: The Elasticsearch index (lowercase).
        dim: Vector dimension; required for a new index, checked against an existing one.
        client: An ``elasticsearch.Elasticsearch`` to use instead of making one.
        num_candidates: Candidates per shard for each kNN search.
        index_options: The ``dense_vector`` field's ``index_options`` for a new index.
        **client_kwargs: Passed to ``Elasticsearch`` (``api_key``, ``basic_auth``, ``ca_certs``...).

    Raises:
        BackendUnavailableError: The client is not installed or the server cannot be reached.
        RetrievalError: The index exists with another dimension, or without a ``vector`` field.
    """

    def __init__(
        self,
        url: str | None = None,
        index_name: str = "kgsearch-vectors",
        dim: int | None = None,
        *,
        client: Elasticsearch | None = None,
        num_candidates: int = NUM_CANDIDATES,
        index_options: dict[str, Any] | None = None,
        **client_kwargs: Any,
    ):
        super().__init__(
            url,
            index_name,
            client,
            what="vector index",
            alternative="the hnsw vector index",
            **client_kwargs,
        )
        self.num_candidates = num_candidates
        self._dim = self._open_index(dim, INDEX_OPTIONS if index_options is None else index_options)

    def __repr__(self) -> str:
        return f"ElasticsearchVectorIndex({self.url!r}, {self.index_name!r}, dim={self._dim})"

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        return self._dim

    # -- writing ---------------------------------------------------------------------------

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> int:
        """Add or replace vectors with the bulk API; every row is validated before any is sent.

        Raises:
            DocumentError: An id or a row is unusable; nothing was sent.
            RetrievalError: The server rejected some vectors; the others are stored.
        """
        ids, matrix = check_batch(ids, vectors, self._dim)
        given = len(vectors)
        actions = (
            {"_op_type": "index", "_index": self.index_name, "_id": ref, "_source": {"vector": row}}
            for ref, row in zip(ids, matrix.tolist(), strict=True)
        )
        _, errors = self._bulk(actions) if ids else (0, [])
        if errors:
            raise RetrievalError(
                f"Elasticsearch rejected {len(errors)} of {len(ids)} vectors (the others are stored); "
                f"first error: {errors[0]}"
            )
        return given

    def delete(self, ids: Iterable[str]) -> int:
        """Delete vectors by id; unknown ids are ignored.

        Returns:
            How many vectors were deleted.
        """
        unique = list(dict.fromkeys(check_ids(ids)))
        if not unique:
            return 0
        actions = ({"_op_type": "delete", "_index": self.index_name, "_id": ref} for ref in unique)
        deleted, errors = self._bulk(actions)
        errors = [e for e in errors if e.get("delete", {}).get("status") != 404]  # 404: an unknown id
        if errors:
            raise RetrievalError(f"Elasticsearch could not delete {len(errors)} vectors; first error: {errors[0]}")
        return deleted

    # -- reading ---------------------------------------------------------------------------

    def search(self, vector: np.ndarray, *, limit: int = 10, ids: Collection[str] | None = None) -> list[Hit]:
        """Nearest stored vectors by kNN; see :meth:`VectorIndex.search`. At most 10,000 hits."""
        query = check_queries(vector, self._dim, single=True)
        check_limit(limit)
        if ids is not None:
            ids = list(dict.fromkeys(check_ids(ids, "ids=")))
        if limit == 0 or (ids is not None and not ids):
            return []
        knn = self.knn_body(query[0].tolist(), limit=limit, ids=ids, num_candidates=self.num_candidates)
        with self._calls():
            response = self.client.search(
                index=self.index_name, knn=knn, size=knn["k"], source=False, track_total_hits=False
            )
        return _hits(response)

    def search_many(self, vectors: np.ndarray, *, limit: int = 10) -> list[list[Hit]]:
        """:meth:`search` for each row of ``vectors``, in one multi-search request."""
        queries = check_queries(vectors, self._dim)
        check_limit(limit)
        if limit == 0 or not len(queries):
            return [[] for _ in queries]
        searches: list[dict[str, Any]] = []
        for query in queries.tolist():
            knn = self.knn_body(query, limit=limit, num_candidates=self.num_candidates)
            searches += [{"index": self.index_name}, {"knn": knn, "size": knn["k"], "_source": False}]
        with self._calls():
            responses = self.client.msearch(searches=searches)["responses"]
        failed = [r["error"] for r in responses if "error" in r]
        if failed:
            raise RetrievalError(f"Elasticsearch index {self.index_name!r}: {len(failed)} searches failed: {failed[0]}")
        return [_hits(response) for response in responses]

    def count(self) -> int:
        """Number of vectors in the index."""
        with self._calls():
            return int(self.client.count(index=self.index_name)["count"])

    @staticmethod
    def mappings(dim: int, index_options: dict[str, Any] | None = None) -> dict[str, Any]:
        """The index mappings: one ``dense_vector`` field, nothing else."""
        vector = {"type": "dense_vector", "dims": dim, "index": True, "similarity": "cosine"}
        vector["index_options"] = dict(INDEX_OPTIONS if index_options is None else index_options)
        return {"dynamic": "strict", "properties": {"vector": vector}}

    @staticmethod
    def knn_body(
        vector: list[float], *, limit: int, ids: Sequence[str] | None = None, num_candidates: int = NUM_CANDIDATES
    ) -> dict[str, Any]:
        """The search API's ``knn`` option for one query vector."""
        k = min(limit, MAX_CANDIDATES)
        knn: dict[str, Any] = {"field": "vector", "query_vector": vector, "k": k}
        knn["num_candidates"] = min(max(num_candidates, k), MAX_CANDIDATES)
        if ids is not None:
            knn["filter"] = {"terms": {"_id": list(ids)}}
        return knn

    # -- helpers ---------------------------------------------------------------------------

    def _open_index(self, dim: int | None, index_options: dict[str, Any]) -> int:
        """Create the index, or check an existing one's dimension; returns the dimension."""
        if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim < 1):
            raise ValueError(f"dim must be a positive int, not {dim!r}")
        with self._calls():
            if dim is None and not self.client.indices.exists(index=self.index_name):
                raise RetrievalError(f"Elasticsearch has no index {self.index_name!r}: give dim= to create it")
            if dim is not None and self._create(self.mappings(dim, index_options), SETTINGS):
                return dim
            response = self.client.indices.get_mapping(index=self.index_name)
        (mapping,) = response.body.values()
        field = mapping.get("mappings", {}).get("properties", {}).get("vector", {})
        if field.get("type") != "dense_vector" or field.get("similarity", "cosine") != "cosine":
            raise RetrievalError(
                f"Elasticsearch index {self.index_name!r} has no cosine dense_vector field 'vector'; "
                f"it was not made by kgsearch: choose another index_name"
            )
        saved = int(field["dims"])
        if dim is not None and dim != saved:
            raise RetrievalError(
                f"Elasticsearch index {self.index_name!r} holds {saved}-dimensional vectors, not {dim}: open it "
                f"with dim={saved} (or dim=None), or use another index_name for {dim}-dimensional vectors"
            )
        return saved

    def _bulk(self, actions: Iterable[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        """Send bulk actions, then refresh once so the next search sees them.

        Returns:
            How many actions succeeded, and the items of those that failed.
        """
        from elasticsearch import helpers

        with self._calls():
            succeeded, errors = helpers.bulk(self.client, actions, raise_on_error=False)
            self.client.indices.refresh(index=self.index_name)
        return succeeded, list(errors) if not isinstance(errors, int) else []


def _hits(response: Any) -> list[Hit]:
    """Hits with the cosine recovered from Elasticsearch's ``(1 + cosine) / 2`` score."""
    hits = response["hits"]["hits"]
    return to_hits([hit["_id"] for hit in hits], [2.0 * float(hit["_score"]) - 1.0 for hit in hits])
