"""The embedded :class:`~retrieval.vector_index.VectorIndex`: hnswlib, in memory or in a directory.

HNSW is Malkov & Yashunin's hierarchical navigable small-world graph (2018); hnswlib is their
implementation. String ids map to hnswlib's integer labels; a deleted id's label is reused by
the next new id, so an index under churn does not grow.

On disk, a directory holds one *version* of the index: ``index-<v>.bin`` (hnswlib's graph),
``vectors-<v>.npy`` (unit vectors, one row per label, for exact search over a candidate set)
and ``ids-<v>.json`` (the id of each label), named by ``manifest.json``. A save writes and
fsyncs the next version's files, then atomically replaces the manifest, then removes the old
version: a crash at any point leaves a manifest that names a complete set of files.

>>> import numpy as np, tempfile
>>> folder = tempfile.mkdtemp()
>>> with HnswVectorIndex(folder, dim=2) as index:       # saved on close
...     index.add(["a", "b"], np.array([[1, 0], [0, 1]], dtype=np.float32))
2
>>> reopened = HnswVectorIndex(folder)                 # dim, M and ef_construction come from the files
>>> [(h.ref, h.score) for h in reopened.search(np.array([1, 0], dtype=np.float32), limit=1)], reopened.dim
([('a', 1.0)], 2)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import hnswlib
import numpy as np

from retrieval.errors import RetrievalError
from retrieval.types import Hit
from retrieval.vector_index import check_batch, check_ids, check_limit, check_queries, normalize, to_hits

#: The on-disk layout this module writes and reads (``format`` in the manifest).
FORMAT = 1
MANIFEST = "manifest.json"
SPACES = ("cosine",)
_MANIFEST_KEYS = {"format", "version", "dim", "labels", "count", "files", "bytes"}
_VERSIONED = re.compile(r"^(index-\d+\.bin|vectors-\d+\.npy|ids-\d+\.json|manifest\.json\.tmp)$")


class HnswVectorIndex:
    """Cosine nearest neighbours with hnswlib; see the module docstring for the files.

    Writes are visible to ``search`` at once. They reach the disk on :meth:`save`, which
    :meth:`close` calls (and every ``add``/``delete`` when ``autosave``): a save rewrites the
    whole index, so an ingest that adds in small batches should save once at the end.
    One process at a time may open a directory for writing.

    Memory is about twice the raw float32 vectors: hnswlib's copy plus the one used for exact
    search over candidate sets: ``ids=`` filters of up to ``exact_below`` ids are scored exactly;
    larger ones use hnswlib's filtered graph search, which calls back into Python for every node
    it visits.

    Args:
        path: Directory for the index, created if missing; ``None`` keeps it in memory.
        dim: Vector dimension; required for a new index, checked against an existing one.
        space: Similarity; only ``cosine`` is implemented.
        M: Graph degree (hnswlib's ``M``); more is better recall, more memory and slower adds.
        ef_construction: Candidate list size while adding; more is a better graph, slower adds.
        ef: Candidate list size while searching (raised to ``limit`` when smaller).
        capacity: Initial number of slots; the index grows by doubling.
        num_threads: Threads for adds and batched searches; ``-1`` uses every core.
        exact_below: An ``ids`` filter with at most this many known ids is answered exactly.
        autosave: Save at the end of every ``add`` and ``delete`` (on-disk indexes only).

    Raises:
        RetrievalError: The directory holds an index of another dimension, or damaged files.

    >>> index = HnswVectorIndex(dim=3, M=8)
    >>> index.add(["x"], np.array([[3, 4, 0]], dtype=np.float32)), index.count(), index.M
    (1, 1, 8)
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        dim: int | None = None,
        *,
        space: str = "cosine",
        M: int = 32,
        ef_construction: int = 200,
        ef: int = 128,
        capacity: int = 1024,
        num_threads: int = -1,
        exact_below: int = 20_000,
        autosave: bool = False,
    ) -> None:
        if space not in SPACES:
            raise ValueError(f"unknown space {space!r}; choose one of: {', '.join(SPACES)}")
        if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim < 1):
            raise ValueError(f"dim must be a positive int, not {dim!r}")
        self.path = Path(path) if path is not None else None
        self.space = space
        self._ef = ef
        self.num_threads = num_threads
        self.exact_below = exact_below
        self.autosave = autosave
        self._lock = threading.RLock()
        self._version = 0
        manifest = self._read_manifest()
        if manifest is None:
            if dim is None:
                where = f"{str(self.path)!r} holds no index" if self.path else "a new in-memory index"
                raise RetrievalError(f"{where}: give dim= to create one")
            self._dim = dim
            self._index = hnswlib.Index(space=space, dim=dim)
            self._index.init_index(max(capacity, 1), M=M, ef_construction=ef_construction)
            self._vectors = np.zeros((max(capacity, 1), dim), dtype=np.float32)
            self._refs: list[str | None] = []
            self._dirty = self.path is not None
        else:
            self._load(manifest, dim)
            self._dirty = False
        self._labels = {ref: label for label, ref in enumerate(self._refs) if ref is not None}
        self._free = [label for label, ref in enumerate(self._refs) if ref is None]
        self.M, self.ef_construction = self._index.M, self._index.ef_construction
        self._index.set_ef(ef)  # hnswlib searches with max(ef, k)
        self._index.set_num_threads(num_threads if num_threads > 0 else (os.cpu_count() or 1))

    # -- the VectorIndex protocol -------------------------------------------------------------

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        return self._dim

    @property
    def ef(self) -> int:
        """Candidate list size while searching; settable."""
        return self._ef

    @ef.setter
    def ef(self, value: int) -> None:
        with self._lock:
            self._check_open()
            self._index.set_ef(value)
            self._ef = value

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> int:
        """Add or replace vectors; see :meth:`VectorIndex.add`."""
        ids, matrix = check_batch(ids, vectors, self._dim)
        given = len(vectors)  # rows, before repeated ids were merged
        if not ids:
            return given
        matrix = normalize(matrix)
        with self._lock:
            self._check_open()
            labels = [self._labels.get(ref, -1) for ref in ids]
            fresh = [i for i, label in enumerate(labels) if label < 0]
            reused = self._free[len(self._free) - min(len(fresh), len(self._free)) :]
            appended = range(len(self._refs), len(self._refs) + len(fresh) - len(reused))
            for i, label in zip(fresh, [*reused, *appended], strict=True):
                labels[i] = label
            self._reserve(len(self._refs) + len(appended))
            labels_array = np.asarray(labels, dtype=np.int64)
            # An existing label is updated in place; a freed one is unmarked by hnswlib and updated.
            self._index.add_items(matrix, labels_array, num_threads=self.num_threads)
            self._vectors[labels_array] = matrix
            del self._free[len(self._free) - len(reused) :]
            self._refs.extend([None] * len(appended))
            for ref, label in zip(ids, labels, strict=True):
                self._refs[label] = ref
                self._labels[ref] = label
            self._changed()
        return given

    def delete(self, ids: Iterable[str]) -> int:
        """Delete vectors by id; see :meth:`VectorIndex.delete`."""
        refs = check_ids(ids)
        deleted = 0
        with self._lock:
            self._check_open()
            for ref in dict.fromkeys(refs):
                label = self._labels.pop(ref, None) if isinstance(ref, str) else None
                if label is None:
                    continue
                self._index.mark_deleted(label)
                self._refs[label] = None
                self._free.append(label)
                deleted += 1
            if deleted:
                self._changed()
        return deleted

    def search(self, vector: np.ndarray, *, limit: int = 10, ids: Collection[str] | None = None) -> list[Hit]:
        """Nearest stored vectors; see :meth:`VectorIndex.search`."""
        query = normalize(check_queries(vector, self._dim, single=True))
        check_limit(limit)
        with self._lock:
            self._check_open()
            if ids is None:
                return self._knn(query, limit)[0]
            found = [label for label in map(self._labels.get, check_ids(ids, "ids=")) if label is not None]
            labels = np.unique(np.asarray(found, dtype=np.int64))
            if len(labels) <= max(self.exact_below, limit):
                return self._exact(query[0], labels, limit)
            return self._knn(query, limit, allowed=labels.tolist())[0]

    def search_many(self, vectors: np.ndarray, *, limit: int = 10) -> list[list[Hit]]:
        """:meth:`search` for each row of ``vectors``, on ``num_threads`` threads."""
        queries = normalize(check_queries(vectors, self._dim))
        check_limit(limit)
        with self._lock:
            self._check_open()
            return self._knn(queries, limit)

    def count(self) -> int:
        """Number of vectors in the index."""
        return len(self._labels)

    def close(self) -> None:
        """Save (on disk) and release the index; closing twice is harmless."""
        with self._lock:
            if self._index is None:
                return
            self.save()
            self._index = None
            self._vectors = np.zeros((0, self._dim), dtype=np.float32)

    def __enter__(self) -> HnswVectorIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HnswVectorIndex({str(self.path) if self.path else None!r}, dim={self._dim}, count={self.count()})"

    # -- persistence ----------------------------------------------------------------------------

    def save(self) -> None:
        """Write pending changes as the next version of the directory; a no-op in memory or when clean.

        Raises:
            RetrievalError: A file could not be written; the previous version on disk is intact.
        """
        with self._lock:
            self._check_open()
            if self.path is None or not self._dirty:
                return
            self.path.mkdir(parents=True, exist_ok=True)
            version = self._version + 1
            files = {
                key: f"{key}-{version}.{ext}" for key, ext in (("index", "bin"), ("vectors", "npy"), ("ids", "json"))
            }
            written = [self.path / name for name in files.values()]
            try:
                self._index.save_index(str(self.path / files["index"]))
                with open(self.path / files["vectors"], "wb") as f:
                    np.save(f, self._vectors[: len(self._refs)], allow_pickle=False)
                _write_json(self.path / files["ids"], self._refs)
                for path in written:
                    _fsync(path)
                manifest = {
                    "format": FORMAT,
                    "version": version,
                    "dim": self._dim,
                    "space": self.space,
                    "labels": len(self._refs),
                    "count": len(self._labels),
                    "files": files,
                    "bytes": {key: (self.path / name).stat().st_size for key, name in files.items()},
                }
                _write_json(self.path / f"{MANIFEST}.tmp", manifest)
                _fsync(self.path / f"{MANIFEST}.tmp")
                os.replace(self.path / f"{MANIFEST}.tmp", self.path / MANIFEST)  # the commit point
            except (OSError, RuntimeError) as e:
                for path in [*written, self.path / f"{MANIFEST}.tmp"]:
                    with contextlib.suppress(OSError):
                        path.unlink()
                raise RetrievalError(
                    f"could not save the vector index to {str(self.path)!r} ({e}); the previous saved version is "
                    f"intact and this one's changes are still in memory: free disk space and call save() again"
                ) from e
            _fsync(self.path)
            self._version, self._dirty = version, False
            self._remove_stale(set(files.values()))

    def _read_manifest(self) -> dict | None:
        if self.path is None:
            return None
        if self.path.exists() and not self.path.is_dir():
            raise RetrievalError(f"{str(self.path)!r} is a file; a vector index lives in a directory")
        try:
            text = (self.path / MANIFEST).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            manifest = json.loads(text)
        except ValueError as e:
            raise self._damaged(f"{MANIFEST} is not JSON ({e})") from None
        if not isinstance(manifest, dict) or not _MANIFEST_KEYS <= manifest.keys():
            raise self._damaged(f"{MANIFEST} lacks some of {sorted(_MANIFEST_KEYS)}")
        if manifest.get("format") != FORMAT:
            raise RetrievalError(
                f"{str(self.path)!r} holds a vector index in format {manifest.get('format')!r}; this version of "
                f"kgsearch reads format {FORMAT}: rebuild the index"
            )
        return manifest

    def _load(self, manifest: dict, dim: int | None) -> None:
        assert self.path is not None
        saved_dim, files = manifest["dim"], manifest["files"]
        if dim is not None and dim != saved_dim:
            raise RetrievalError(
                f"{str(self.path)!r} holds {saved_dim}-dimensional vectors, not {dim}: open it with dim={saved_dim} "
                f"(or dim=None), or use another directory for {dim}-dimensional vectors"
            )
        if manifest.get("space", "cosine") != self.space:
            raise RetrievalError(f"{str(self.path)!r} holds a {manifest['space']!r} index, not {self.space!r}")
        for key, name in files.items():
            size = (self.path / name).stat().st_size if (self.path / name).is_file() else None
            if size != manifest["bytes"][key]:
                raise self._damaged(f"{name} is {'missing' if size is None else f'{size} bytes'}")
        self._dim = saved_dim
        labels = manifest["labels"]
        self._index = hnswlib.Index(space=self.space, dim=saved_dim)
        try:
            self._index.load_index(str(self.path / files["index"]), max_elements=max(labels, 1))
            vectors = np.load(self.path / files["vectors"], allow_pickle=False)
            self._refs = json.loads((self.path / files["ids"]).read_text(encoding="utf-8"))
        except (OSError, RuntimeError, ValueError) as e:
            raise self._damaged(f"its files do not load ({e})") from e
        live = sum(ref is not None for ref in self._refs)
        if (
            self._index.get_current_count() != labels
            or vectors.shape != (labels, saved_dim)
            or len(self._refs) != labels
            or live != manifest["count"]
        ):
            raise self._damaged("its files disagree on the number of vectors")
        self._vectors = np.zeros((max(labels, 1), saved_dim), dtype=np.float32)
        self._vectors[:labels] = vectors
        self._version = manifest["version"]
        self._remove_stale(set(files.values()))

    def _remove_stale(self, keep: set[str]) -> None:
        """Delete files of older versions and of saves that crashed before their commit."""
        assert self.path is not None
        for entry in self.path.iterdir():
            if _VERSIONED.match(entry.name) and entry.name not in keep:
                with contextlib.suppress(OSError):
                    entry.unlink()

    def _damaged(self, why: str) -> RetrievalError:
        return RetrievalError(
            f"the vector index in {str(self.path)!r} is damaged: {why}; rebuild it from the documents"
        )

    # -- internals ---------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._index is None:
            raise RetrievalError("this vector index is closed; open a new HnswVectorIndex")

    def _changed(self) -> None:
        self._dirty = self.path is not None
        if self.autosave:
            self.save()

    def _reserve(self, labels: int) -> None:
        """Grow hnswlib's and our capacity, by doubling, to hold ``labels`` labels."""
        capacity = self._index.get_max_elements()
        if labels <= capacity:
            return
        capacity = max(labels, 2 * capacity)
        self._index.resize_index(capacity)
        grown = np.zeros((capacity, self._dim), dtype=np.float32)
        grown[: len(self._vectors)] = self._vectors
        self._vectors = grown

    def _knn(self, queries: np.ndarray, limit: int, allowed: list[int] | None = None) -> list[list[Hit]]:
        """Approximate search with hnswlib; exact when hnswlib cannot return ``limit`` neighbours."""
        k = min(limit, len(self._labels) if allowed is None else len(allowed))
        if k == 0:
            return [[] for _ in queries]
        try:
            if allowed is None:
                labels, distances = self._index.knn_query(queries, k=k, num_threads=self.num_threads)
            else:
                # A Python filter holds the GIL on every call: threads would only contend for it.
                labels, distances = self._index.knn_query(queries, k=k, num_threads=1, filter=set(allowed).__contains__)
        except RuntimeError:  # "Cannot return the results in a contiguous 2D array": too few reachable
            candidates = np.asarray(allowed if allowed is not None else sorted(self._labels.values()), dtype=np.int64)
            return [self._exact(query, candidates, limit) for query in queries]
        # hnswlib's cosine distance is 1 - cosine.
        return [
            to_hits([self._refs[label] for label in row], 1.0 - d) for row, d in zip(labels, distances, strict=True)
        ]

    def _exact(self, query: np.ndarray, labels: np.ndarray, limit: int) -> list[Hit]:
        """Exact cosine over the given labels, best first (ties by label, i.e. insertion order)."""
        if not len(labels) or limit == 0:
            return []
        used = len(self._refs)
        # Gathering rows costs more than scoring them all once the candidates are a quarter of the index.
        scores = (self._vectors[:used] @ query)[labels] if 4 * len(labels) > used else self._vectors[labels] @ query
        best = np.argsort(-scores, kind="stable")[:limit]
        return to_hits([self._refs[label] for label in labels[best]], scores[best])


def _write_json(path: Path, value: object) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, separators=(",", ":"))


def _fsync(path: Path) -> None:
    """Flush a file (or a directory's entries) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
