"""OxigraphStore against the shared contract, in memory and on disk."""

from __future__ import annotations

import pytest

from kg import OxigraphStore
from tests.kg.contract import TripleStoreContract


class TestOxigraphInMemory(TripleStoreContract):
    @pytest.fixture
    def store(self):
        store = OxigraphStore()
        yield store
        store.close()


class TestOxigraphOnDisk(TripleStoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        store = OxigraphStore(tmp_path / "store")
        yield store
        store.close()


def test_on_disk_store_persists(tmp_path, films_turtle):
    store = OxigraphStore(tmp_path / "store")
    store.load(films_turtle)
    store.close()
    reopened = OxigraphStore(tmp_path / "store")
    assert reopened.count() == 15
    reopened.close()


def test_progress_reports_bytes(tmp_path, films_turtle):
    seen: list[int] = []
    OxigraphStore().load(films_turtle, progress=seen.append)
    assert seen and seen[-1] == films_turtle.stat().st_size
