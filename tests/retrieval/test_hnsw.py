"""HnswVectorIndex against the shared contract, in memory and on disk, plus what only it does."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import retrieval._hnsw as hnsw_module
from retrieval._hnsw import MANIFEST, HnswVectorIndex
from retrieval.errors import RetrievalError
from tests.retrieval.vector_contract import ALIEN_QUERY, DIM, FILMS, VectorIndexContract, vectors


class TestHnswInMemory(VectorIndexContract):
    @pytest.fixture
    def vector_index(self):
        index = HnswVectorIndex(dim=DIM)
        yield index
        index.close()


class TestHnswOnDisk(VectorIndexContract):
    @pytest.fixture
    def vector_index(self, tmp_path):
        index = HnswVectorIndex(tmp_path / "vectors", dim=DIM, capacity=2)
        yield index
        index.close()

    @pytest.fixture
    def reopen(self, tmp_path):
        def reopen(index):
            index.close()
            return HnswVectorIndex(tmp_path / "vectors")

        return reopen


class TestHnswFilteredByGraph(VectorIndexContract):
    """``ids`` filters answered by hnswlib's filtered search rather than exactly."""

    @pytest.fixture
    def vector_index(self):
        index = HnswVectorIndex(dim=DIM, exact_below=0)
        yield index
        index.close()


def clustered(n: int, dim: int, seed: int, clusters: int = 50) -> np.ndarray:
    """Vectors around random centres, like embeddings of texts on a few topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    rows = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim))
    return rows.astype(np.float32)


def recall_at_10(index: HnswVectorIndex, data: np.ndarray, queries: np.ndarray) -> float:
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.argsort(-(q @ unit.T), axis=1)[:, :10]
    found = index.search_many(queries, limit=10)
    return float(
        np.mean([len({int(h.ref) for h in hits} & set(row)) / 10 for hits, row in zip(found, truth, strict=True)])
    )


@pytest.mark.parametrize("kind", ["iid gaussian", "clustered"])
def test_recall_at_10_with_default_parameters(kind):
    """Against brute force, at a scale a unit test can afford; full-scale figures belong in bench/."""
    if kind == "clustered":
        data, queries = clustered(2000, 384, seed=1), clustered(100, 384, seed=2)
    else:
        rng = np.random.default_rng(1)
        data, queries = rng.standard_normal((2000, 384)), rng.standard_normal((100, 384))
    index = HnswVectorIndex(dim=384)
    index.add([str(i) for i in range(len(data))], data)
    assert recall_at_10(index, data, queries) >= 0.98


def test_filtered_graph_search_agrees_with_exact():
    data = clustered(1000, 32, seed=3)
    ids = [str(i) for i in range(len(data))]
    graph, exact = HnswVectorIndex(dim=32, exact_below=0), HnswVectorIndex(dim=32)
    for index in (graph, exact):
        index.add(ids, data)
    allowed = ids[::3]
    for query in clustered(20, 32, seed=4):
        by_graph = [h.ref for h in graph.search(query, ids=allowed)]
        assert by_graph == [h.ref for h in exact.search(query, ids=allowed)]
        assert set(by_graph) <= set(allowed)


def test_grows_past_its_initial_capacity():
    index = HnswVectorIndex(dim=8, capacity=4)
    data = clustered(300, 8, seed=5)
    for start in range(0, 300, 7):
        index.add([f"d{i}" for i in range(start, min(start + 7, 300))], data[start : start + 7])
    assert index.count() == 300
    assert index._index.get_max_elements() >= 300
    assert [hits[0].ref for hits in index.search_many(data[:50], limit=1)] == [f"d{i}" for i in range(50)]


def test_deleted_slots_are_reused():
    index = HnswVectorIndex(dim=8, capacity=4)
    data = clustered(40, 8, seed=6)
    index.add([f"a{i}" for i in range(20)], data[:20])
    index.delete([f"a{i}" for i in range(10)])
    index.add([f"b{i}" for i in range(20)], data[20:])
    assert index.count() == 30
    assert index._index.get_current_count() == 30  # 10 freed labels reused, 10 appended
    assert [h.ref for h in index.search(data[25], limit=1)] == ["b5"]
    assert index.search(data[5], limit=1, ids=["a5"]) == []


def test_heavy_deletion_still_returns_what_is_left():
    index = HnswVectorIndex(dim=8)
    data = clustered(60, 8, seed=7)
    index.add([str(i) for i in range(60)], data)
    index.delete([str(i) for i in range(57)])
    assert sorted(h.ref for h in index.search(data[0], limit=10)) == ["57", "58", "59"]


def test_reopen_takes_dim_and_parameters_from_disk(tmp_path):
    with HnswVectorIndex(tmp_path, dim=DIM, M=8, ef_construction=50) as index:
        index.add(["a"], vectors([FILMS["alien"]]))
    reopened = HnswVectorIndex(tmp_path, dim=DIM, M=64)
    assert (reopened.dim, reopened.M, reopened.count()) == (DIM, 8, 1)
    with pytest.raises(RetrievalError, match="holds 4-dimensional vectors, not 384"):
        HnswVectorIndex(tmp_path, dim=384)


def test_an_empty_index_is_saved_on_close(tmp_path):
    HnswVectorIndex(tmp_path / "new", dim=DIM).close()
    assert HnswVectorIndex(tmp_path / "new").dim == DIM


def test_a_new_index_needs_a_dimension(tmp_path):
    with pytest.raises(RetrievalError, match="give dim="):
        HnswVectorIndex(tmp_path / "missing")
    with pytest.raises(ValueError, match="choose one of: cosine"):
        HnswVectorIndex(dim=DIM, space="l2")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RetrievalError, match="is a file"):
        HnswVectorIndex(tmp_path / "file", dim=DIM)


def test_changes_reach_the_disk_on_save_close_or_autosave(tmp_path):
    index = HnswVectorIndex(tmp_path / "a", dim=DIM)
    index.add(["alien"], vectors([FILMS["alien"]]))
    index.save()
    index.add(["heat"], vectors([FILMS["heat"]]))
    assert HnswVectorIndex(tmp_path / "a").count() == 1  # unsaved changes are not on disk
    index.close()
    assert HnswVectorIndex(tmp_path / "a").count() == 2

    auto = HnswVectorIndex(tmp_path / "b", dim=DIM, autosave=True)
    auto.add(["alien", "heat"], vectors([FILMS["alien"], FILMS["heat"]]))
    auto.delete(["heat"])
    assert [h.ref for h in HnswVectorIndex(tmp_path / "b").search(ALIEN_QUERY)] == ["alien"]


def test_a_closed_index_refuses_work():
    index = HnswVectorIndex(dim=DIM)
    index.close()
    index.close()
    with pytest.raises(RetrievalError, match="closed"):
        index.search(ALIEN_QUERY)


def _saved(tmp_path) -> HnswVectorIndex:
    index = HnswVectorIndex(tmp_path, dim=DIM)
    index.add(["alien", "heat"], vectors([FILMS["alien"], FILMS["heat"]]))
    index.save()
    index.add(["rebecca"], vectors([FILMS["rebecca"]]))
    index.delete(["alien"])
    return index


def _files(tmp_path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir())


@pytest.mark.parametrize("failing", ["ids file", "manifest replace"])
def test_a_failed_save_leaves_the_previous_version(tmp_path, monkeypatch, failing):
    index = _saved(tmp_path)
    before = _files(tmp_path)
    if failing == "ids file":
        real = hnsw_module._write_json

        def write_json(path, value):
            if path.name.startswith("ids-"):
                path.write_text('["alien", "he')  # half written, then the disk fills up
                raise OSError(28, "No space left on device")
            real(path, value)

        monkeypatch.setattr(hnsw_module, "_write_json", write_json)
    else:

        def replace(src, dst):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(hnsw_module.os, "replace", replace)
    with pytest.raises(RetrievalError, match="previous saved version is intact"):
        index.save()
    monkeypatch.undo()
    assert _files(tmp_path) == before
    old = HnswVectorIndex(tmp_path)
    assert old.count() == 2 and [h.ref for h in old.search(ALIEN_QUERY, limit=1)] == ["alien"]
    old.close()
    index.close()  # the changes were kept in memory, so a later save succeeds
    assert sorted(h.ref for h in HnswVectorIndex(tmp_path).search(ALIEN_QUERY)) == ["heat", "rebecca"]


def test_files_of_a_crashed_save_are_ignored_and_removed(tmp_path):
    _saved(tmp_path)  # never closed: the second batch is lost, as in a crash
    committed = _files(tmp_path)
    for name in ("index-2.bin", "vectors-2.npy", "ids-2.json", f"{MANIFEST}.tmp"):
        (tmp_path / name).write_bytes(b"\0garbage")
    (tmp_path / "notes.txt").write_text("not ours")
    index = HnswVectorIndex(tmp_path)
    assert index.count() == 2
    assert _files(tmp_path) == sorted([*committed, "notes.txt"])


def test_damaged_files_are_reported(tmp_path):
    _saved(tmp_path).close()
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    index_file = tmp_path / manifest["files"]["index"]
    index_file.write_bytes(index_file.read_bytes()[:-10])
    with pytest.raises(RetrievalError, match="damaged.*rebuild it"):
        HnswVectorIndex(tmp_path)
    for text in ("{not json", '{"format": 1}'):
        (tmp_path / MANIFEST).write_text(text)
        with pytest.raises(RetrievalError, match="damaged"):
            HnswVectorIndex(tmp_path)


def test_threads_may_add_and_search_at_once():
    index = HnswVectorIndex(dim=16, capacity=8)
    data = clustered(400, 16, seed=8)

    def work(part: int) -> list[str]:
        rows = range(part * 100, part * 100 + 100)
        for start in range(rows.start, rows.stop, 10):
            index.add([f"d{i}" for i in range(start, start + 10)], data[start : start + 10])
            index.search(data[start], limit=3)
        return [index.search(data[i], limit=1)[0].ref for i in rows]

    with ThreadPoolExecutor(4) as pool:
        found = [ref for refs in pool.map(work, range(4)) for ref in refs]
    assert index.count() == 400
    assert found == [f"d{i}" for i in range(400)]
