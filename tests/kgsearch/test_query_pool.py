"""The SPARQL query pool: worker processes over a read-only store."""

from __future__ import annotations

import threading

from kg import OxigraphStore
from kg.results import Bindings
from kgsearch.query_pool import QueryPool


def test_the_worker_takes_the_next_query_while_the_server_decodes_a_result(tmp_path, monkeypatch):
    # Under load the server decodes a large (row-capped) result slowly; the worker must already be
    # free by then, or every /sparql query queues behind the decoding.
    store = OxigraphStore(tmp_path / "store")
    store.update("INSERT DATA { <http://ex/a> <http://ex/p> 1, 2, 3 }")
    store.flush()
    decoding, release = threading.Event(), threading.Event()

    def slow_setstate(self, state: dict) -> None:  # unpickling a result, here in the server process
        if not decoding.is_set():
            decoding.set()
            release.wait(60)
        self.__dict__.update(state)

    monkeypatch.setattr(Bindings, "__setstate__", slow_setstate, raising=False)
    query = "SELECT ?o WHERE { ?s ?p ?o } ORDER BY ?o"
    with QueryPool(store.path, workers=1, timeout=30) as pool:
        first: list = []
        decoder = threading.Thread(target=lambda: first.append(pool.run(query, cap=2)))
        decoder.start()
        try:
            assert decoding.wait(30)
            second = pool.run(query, cap=5, timeout=10)  # the only worker, while the first is decoded
        finally:
            release.set()
            decoder.join(60)
    store.close()
    assert [t.value for (t,) in second] == ["1", "2", "3"] and not second.truncated
    assert [t.value for (t,) in first[0]] == ["1", "2"] and first[0].truncated
