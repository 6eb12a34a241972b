"""The :class:`VectorIndex` protocol: nearest neighbours by cosine similarity over stored vectors.

Two implementations share one contract test suite (``tests/retrieval/vector_contract.py``):
:class:`~retrieval._hnsw.HnswVectorIndex` (embedded hnswlib, in memory or on disk) and
:class:`~retrieval._es_vector.ElasticsearchVectorIndex` (``dense_vector`` kNN on a server).
An index stores vectors; an :class:`~linking.embeddings.Embedder` makes them.

>>> import numpy as np
>>> from retrieval._hnsw import HnswVectorIndex
>>> index = HnswVectorIndex(dim=3)            # in memory; HnswVectorIndex("dir", dim=3) persists
>>> index.add(["heat", "rebecca", "alien"], np.array([[1, 0, 0], [0, 1, 0], [1, 1, 1]], dtype=np.float32))
3
>>> [(h.ref, round(h.score, 4), h.rank) for h in index.search(np.array([1, 0.1, 0], dtype=np.float32), limit=2)]
[('heat', 0.995, 1), ('alien', 0.6319, 2)]
>>> [h.ref for h in index.search(np.array([1, 0, 0], dtype=np.float32), ids=["rebecca", "unknown"])]
['rebecca']
>>> index.delete(["heat"]), index.count(), index.dim
(1, 2, 3)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from retrieval.errors import DocumentError
from retrieval.text_index import MAX_ID_BYTES
from retrieval.types import Hit


@runtime_checkable
class VectorIndex(Protocol):
    """Vectors of one fixed dimension, keyed by string ids, searched by cosine similarity.

    Adding an existing id replaces its vector. Every write is visible to the next ``search``
    when the call returns. Zero, NaN and infinite vectors are rejected: a cosine needs a direction.
    """

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        ...

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> int:
        """Add or replace vectors in one batch: all of them are stored or none.

        Args:
            ids: One id per row; a repeated id keeps its last row.
            vectors: Float array of shape ``(len(ids), dim)``; need not be normalized.

        Returns:
            How many rows were given.

        Raises:
            DocumentError: An id or a row is unusable (wrong dimension, zero, NaN); nothing was stored.
        """
        ...

    def delete(self, ids: Iterable[str]) -> int:
        """Delete vectors by id; unknown ids are ignored.

        Returns:
            How many vectors were deleted.
        """
        ...

    def search(self, vector: np.ndarray, *, limit: int = 10, ids: Collection[str] | None = None) -> list[Hit]:
        """The stored vectors nearest to ``vector``.

        Args:
            vector: Query of shape ``(dim,)``; need not be normalized.
            limit: Most hits to return.
            ids: Keep only these ids (``None``: no restriction); unknown ids are ignored.

        Returns:
            Hits with ``source="vector"``, the cosine similarity as score, 1-based ranks, best first.

        Raises:
            ValueError: The query has the wrong shape or no direction, or ``limit`` is negative.
        """
        ...

    def search_many(self, vectors: np.ndarray, *, limit: int = 10) -> list[list[Hit]]:
        """:meth:`search` for each row of ``vectors`` (shape ``(n, dim)``), batched where the backend can."""
        ...

    def count(self) -> int:
        """Number of vectors in the index."""
        ...

    def close(self) -> None:
        """Persist what is pending and release files or connections; the index is unusable afterwards."""
        ...


def check_batch(ids: Sequence[str], vectors: object, dim: int) -> tuple[list[str], np.ndarray]:
    """Validate a batch for :meth:`VectorIndex.add` before any of it is written.

    Returns:
        The ids with repeats removed (the last row of an id wins) and their rows as a C-contiguous
        float32 array.

    Raises:
        DocumentError: Names the id and the field (``id`` or ``vector``) at fault.
    """
    if isinstance(ids, str | bytes):
        raise DocumentError("ids must be a sequence of str, not one string: use add([id], vectors[None, :])")
    ids = list(ids)
    matrix = _float_array(vectors, "vectors", DocumentError)
    if matrix.ndim != 2:
        raise DocumentError(f"vectors must be a 2-d array of shape (n, {dim}), not of shape {matrix.shape}")
    if matrix.shape[0] != len(ids):
        raise DocumentError(f"got {len(ids)} ids but {matrix.shape[0]} vectors; give one row per id")
    if matrix.shape[1] != dim:
        raise DocumentError(
            f"vectors have {matrix.shape[1]} dimensions but this index holds {dim}-dimensional vectors; "
            f"embed with the model the index was built with, or open a new index"
        )
    for doc_id in ids:
        if not isinstance(doc_id, str) or not doc_id:
            raise DocumentError(f"the id must be a non-empty str, not {doc_id!r}", field="id")
        if len(doc_id.encode("utf-8")) > MAX_ID_BYTES:
            raise DocumentError(f"the id is longer than {MAX_ID_BYTES} bytes; use a shorter id", doc_id=doc_id)
    bad = np.flatnonzero(~_usable_rows(matrix))
    if bad.size:
        raise DocumentError("the vector is zero, NaN or infinite; it has no cosine", doc_id=ids[bad[0]], field="vector")
    last = {doc_id: row for row, doc_id in enumerate(ids)}
    if len(last) < len(ids):
        ids, matrix = list(last), matrix[list(last.values())]
    return ids, np.ascontiguousarray(matrix)


def check_queries(vectors: object, dim: int, *, single: bool = False) -> np.ndarray:
    """Validate query vectors: one of shape ``(dim,)`` when ``single``, else ``(n, dim)``.

    Returns:
        A C-contiguous float32 array of shape ``(n, dim)``.

    Raises:
        ValueError: Wrong shape, or a zero, NaN or infinite vector.
    """
    matrix = _float_array(vectors, "the query vector", ValueError)
    want = 1 if single else 2
    if matrix.ndim != want:
        shape = f"({dim},)" if single else f"(n, {dim})"
        hint = "; use search_many for a batch" if single and matrix.ndim == 2 else ""
        raise ValueError(f"the query must have shape {shape}, not {matrix.shape}{hint}")
    matrix = matrix.reshape(-1, matrix.shape[-1])
    if matrix.shape[1] != dim:
        raise ValueError(f"the query has {matrix.shape[1]} dimensions but this index holds {dim}-dimensional vectors")
    if not _usable_rows(matrix).all():
        raise ValueError("a query vector is zero, NaN or infinite; it has no cosine")
    return np.ascontiguousarray(matrix)


def check_limit(limit: int) -> None:
    """Reject a ``limit`` that is not an int >= 0."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"limit must be an int >= 0, not {limit!r}")


def check_ids(ids: Iterable[str], what: str = "ids") -> list[str]:
    """The ids of a ``delete`` or an ``ids`` filter as a list, refusing a lone string."""
    if isinstance(ids, str | bytes):
        raise ValueError(f"{what} must be a collection of str, not one string: use [{ids!r}]")
    return list(ids)


def normalize(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (rows are known to be nonzero)."""
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def to_hits(refs: Iterable[str], scores: Iterable[float]) -> list[Hit]:
    """Vector hits, ranked 1, 2, ... in the given order."""
    return [
        Hit("vector", ref, float(score), rank)
        for rank, (ref, score) in enumerate(zip(refs, scores, strict=True), start=1)
    ]


def _float_array(value: object, what: str, error: type[Exception]) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise error(f"{what} must be a float array ({e})") from None
    if array.dtype.kind not in "fiu":
        raise error(f"{what} must be a float array, not of dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def _usable_rows(matrix: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(matrix.astype(np.float64), axis=1)
    return np.isfinite(matrix).all(axis=1) & (norms > 0)
