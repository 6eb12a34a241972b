"""The contract every VectorIndex backend must pass.

A backend's test class inherits :class:`VectorIndexContract` and overrides the ``vector_index``
fixture to yield an empty index of dimension :data:`DIM`, and, for a backend that persists,
the ``reopen`` fixture to return a function that closes an index and opens it again.
"""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.errors import DocumentError
from retrieval.vector_index import VectorIndex

DIM = 4

#: A fixed set: two "alien" vectors near axis 0, two "Hitchcock" vectors near axis 2.
FILMS = {
    "alien": [1.0, 0.0, 0.0, 0.0],
    "aliens": [0.9, 0.4, 0.0, 0.0],
    "heat": [0.0, 1.0, 0.2, 0.0],
    "rebecca": [0.0, 0.0, 1.0, 0.5],
    "vertigo": [0.1, 0.0, 0.8, 0.6],
    "psycho": [-1.0, 0.2, 0.0, 0.3],
}
ALIEN_QUERY = np.array([1.0, 0.2, 0.0, 0.1], dtype=np.float32)
HITCHCOCK_QUERY = np.array([0.0, 0.1, 1.0, 0.4], dtype=np.float32)


def vectors(rows) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32)


def ranked(hits) -> list[tuple[str, float, int]]:
    return [(h.ref, round(h.score, 4), h.rank) for h in hits]


class VectorIndexContract:
    """Behaviour shared by every backend."""

    @pytest.fixture
    def vector_index(self) -> VectorIndex:  # pragma: no cover - overridden
        raise NotImplementedError("override the `vector_index` fixture")

    @pytest.fixture
    def reopen(self):
        """A function ``index -> index`` that closes and reopens a persistent index; ``None`` if in memory."""
        return None

    @pytest.fixture
    def films(self, vector_index) -> VectorIndex:
        vector_index.add(list(FILMS), vectors(list(FILMS.values())))
        return vector_index

    def test_is_a_vector_index(self, vector_index):
        assert isinstance(vector_index, VectorIndex)
        assert vector_index.dim == DIM

    def test_empty_index(self, vector_index):
        assert vector_index.count() == 0
        assert vector_index.search(ALIEN_QUERY) == []
        assert vector_index.search(ALIEN_QUERY, ids=["alien"]) == []
        assert vector_index.search_many(vectors([ALIEN_QUERY, HITCHCOCK_QUERY])) == [[], []]

    def test_add_and_count(self, vector_index):
        assert vector_index.add(list(FILMS), vectors(list(FILMS.values()))) == 6
        assert vector_index.count() == 6
        assert vector_index.add([], np.zeros((0, DIM), dtype=np.float32)) == 0

    def test_search_ranks_by_cosine(self, films):
        assert ranked(films.search(ALIEN_QUERY, limit=3)) == [
            ("alien", 0.9759, 1),
            ("aliens", 0.9711, 2),
            ("heat", 0.1914, 3),
        ]
        assert ranked(films.search(HITCHCOCK_QUERY, limit=2)) == [("rebecca", 0.9923, 1), ("vertigo", 0.9567, 2)]
        assert {h.source for h in films.search(ALIEN_QUERY)} == {"vector"}

    def test_limit(self, films):
        assert films.search(ALIEN_QUERY, limit=0) == []
        every = films.search(ALIEN_QUERY, limit=100)
        assert [h.rank for h in every] == [1, 2, 3, 4, 5, 6]
        assert every[-1].ref == "psycho" and round(every[-1].score, 4) == -0.8538
        with pytest.raises(ValueError, match="limit"):
            films.search(ALIEN_QUERY, limit=-1)

    def test_scale_does_not_matter(self, films):
        assert ranked(films.search(ALIEN_QUERY * 10, limit=2)) == ranked(films.search(ALIEN_QUERY, limit=2))
        films.add(["big"], vectors([[50.0, 0.0, 0.0, 0.0]]))
        assert {(h.ref, round(h.score, 4)) for h in films.search(ALIEN_QUERY, limit=2)} == {
            ("alien", 0.9759),
            ("big", 0.9759),
        }

    def test_search_many_matches_search(self, films):
        many = films.search_many(vectors([ALIEN_QUERY, HITCHCOCK_QUERY]), limit=2)
        assert [ranked(hits) for hits in many] == [
            ranked(films.search(ALIEN_QUERY, limit=2)),
            ranked(films.search(HITCHCOCK_QUERY, limit=2)),
        ]

    def test_re_adding_an_id_replaces_its_vector(self, films):
        assert films.add(["psycho"], vectors([[1.0, 0.2, 0.0, 0.1]])) == 1
        assert films.count() == 6
        assert ranked(films.search(ALIEN_QUERY, limit=1)) == [("psycho", 1.0, 1)]
        assert "psycho" not in [h.ref for h in films.search(-ALIEN_QUERY, limit=3)]

    def test_a_repeated_id_in_one_batch_keeps_its_last_vector(self, vector_index):
        assert vector_index.add(["x", "y", "x"], vectors([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])) == 3
        assert vector_index.count() == 2
        assert ranked(vector_index.search(vectors([0, 0, 1, 0]), limit=1)) == [("x", 1.0, 1)]

    def test_delete(self, films):
        assert films.delete(["alien", "no-such-id", "alien"]) == 1
        assert films.count() == 5
        assert [h.ref for h in films.search(ALIEN_QUERY, limit=2)] == ["aliens", "heat"]
        assert films.delete([]) == 0
        films.add(["alien"], vectors([FILMS["alien"]]))
        assert [h.ref for h in films.search(ALIEN_QUERY, limit=1)] == ["alien"]

    def test_delete_everything(self, films):
        assert films.delete(list(FILMS)) == 6
        assert films.count() == 0
        assert films.search(ALIEN_QUERY) == []

    def test_ids_restrict_the_candidates(self, films):
        hits = films.search(ALIEN_QUERY, ids=["heat", "rebecca", "psycho", "unknown"])
        assert ranked(hits) == [("heat", 0.1914, 1), ("rebecca", 0.0436, 2), ("psycho", -0.8538, 3)]
        assert [h.ref for h in films.search(ALIEN_QUERY, limit=1, ids={"vertigo", "rebecca"})] == ["vertigo"]
        assert films.search(ALIEN_QUERY, ids=[]) == []
        assert films.search(ALIEN_QUERY, ids=["unknown"]) == []
        films.delete(["heat"])
        assert [h.ref for h in films.search(ALIEN_QUERY, ids=["heat", "rebecca"])] == ["rebecca"]

    def test_wrong_dimension_is_rejected(self, films):
        with pytest.raises(DocumentError, match="3 dimensions but this index holds 4-dimensional"):
            films.add(["new"], vectors([[1.0, 0.0, 0.0]]))
        with pytest.raises(ValueError, match="5 dimensions"):
            films.search(vectors([1, 0, 0, 0, 0]))
        with pytest.raises(ValueError, match="search_many"):
            films.search(vectors([ALIEN_QUERY]))
        assert films.count() == 6

    def test_unusable_vectors_are_rejected_and_nothing_is_stored(self, films):
        for bad in ([0.0, 0.0, 0.0, 0.0], [np.nan, 1.0, 0.0, 0.0], [np.inf, 0.0, 0.0, 0.0]):
            with pytest.raises(DocumentError, match="zero, NaN or infinite") as caught:
                films.add(["ok", "bad"], vectors([[0.0, 0.0, 0.0, 1.0], bad]))
            assert caught.value.doc_id == "bad"
        assert films.count() == 6
        with pytest.raises(ValueError, match="zero, NaN or infinite"):
            films.search(np.zeros(DIM, dtype=np.float32))

    def test_malformed_batches_are_rejected(self, vector_index):
        with pytest.raises(DocumentError, match="2 ids but 1 vectors"):
            vector_index.add(["a", "b"], vectors([[1, 0, 0, 0]]))
        with pytest.raises(DocumentError, match="not one string"):
            vector_index.add("a", vectors([[1, 0, 0, 0]]))
        with pytest.raises(DocumentError, match="non-empty str"):
            vector_index.add([""], vectors([[1, 0, 0, 0]]))
        with pytest.raises(DocumentError, match="float array"):
            vector_index.add(["a"], np.array([["x", "y", "z", "w"]]))
        with pytest.raises(ValueError, match="not one string"):
            vector_index.delete("a")
        assert vector_index.count() == 0

    def test_integer_vectors_are_accepted(self, vector_index):
        vector_index.add(["a"], np.array([[0, 3, 4, 0]]))
        assert ranked(vector_index.search(np.array([0, 3, 4, 0]))) == [("a", 1.0, 1)]

    def test_unicode_ids(self, vector_index):
        vector_index.add(["Zoë «x» /é?#"], vectors([[1, 0, 0, 0]]))
        assert [h.ref for h in vector_index.search(ALIEN_QUERY, ids=["Zoë «x» /é?#"])] == ["Zoë «x» /é?#"]

    def test_each_vector_is_its_own_nearest_neighbour(self, vector_index):
        rng = np.random.default_rng(7)
        rows = rng.standard_normal((200, DIM)).astype(np.float32)
        ids = [f"v{i}" for i in range(len(rows))]
        vector_index.add(ids, rows)
        unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        truth = np.argsort(-(unit[:20] @ unit.T), axis=1)[:, :5]
        found = vector_index.search_many(rows[:20], limit=5)
        agreement = np.mean(
            [len({h.ref for h in hits} & {ids[j] for j in row}) / 5 for hits, row in zip(found, truth, strict=True)]
        )
        assert [hits[0].ref for hits in found] == ids[:20]
        assert agreement >= 0.95

    def test_reopen_keeps_vectors(self, films, reopen):
        if reopen is None:
            pytest.skip("this backend does not persist")
        films.delete(["heat"])
        films.add(["psycho"], vectors([[1.0, 0.2, 0.0, 0.1]]))
        reopened = reopen(films)
        assert reopened.count() == 5
        assert reopened.dim == DIM
        assert ranked(reopened.search(ALIEN_QUERY, limit=2)) == [("psycho", 1.0, 1), ("alien", 0.9759, 2)]
        assert [h.ref for h in reopened.search(ALIEN_QUERY, ids=["heat", "rebecca"])] == ["rebecca"]
        reopened.add(["heat"], vectors([FILMS["heat"]]))
        assert reopened.count() == 6
