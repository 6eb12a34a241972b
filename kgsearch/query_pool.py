"""SPARQL queries that can be stopped: evaluated in worker processes over a read-only store.

Oxigraph cannot interrupt a query once it runs (a ``COUNT`` over a cross product computes
inside one call), so the endpoint never evaluates user queries in the server process. Each
worker opens the home's store with ``Store.read_only`` and answers one query at a time; a query
past its deadline gets its worker killed (``SIGKILL``) and a fresh one started, so the server
stays responsive and the CPU is freed. Writes go through the server's own (primary) store; it
calls :meth:`QueryPool.invalidate` after each, and workers reopen before their next query.

>>> import tempfile
>>> from kg import OxigraphStore
>>> with tempfile.TemporaryDirectory() as d:
...     store = OxigraphStore(d)
...     store.update("INSERT DATA { <http://ex/a> <http://ex/p> 1, 2, 3 }")
...     with QueryPool(d, workers=1) as pool:
...         result = pool.run("SELECT ?o WHERE { ?s ?p ?o } ORDER BY ?o", cap=2)
...     store.close()
>>> [t.value for (t,) in result], result.truncated
(['1', '2'], True)
"""

from __future__ import annotations

import pickle
import queue
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from kg._oxigraph import unsupported_query
from kg.errors import KgError, SparqlSyntaxError, StoreError
from kg.results import QueryResult
from kg.sparql_limits import check_query_shape


class QueryTimeoutError(KgError, RuntimeError):
    """A query ran past the endpoint's time limit and was stopped."""


class ServerBusyError(KgError, RuntimeError):
    """Every query worker stayed busy for as long as a query may run."""


@dataclass(frozen=True)
class QueryRequest:
    """What a worker needs to run one query (picklable)."""

    sparql: str
    cap: int | None = None
    default_graph: tuple[str, ...] | None = None
    named_graphs: tuple[str, ...] | None = None
    base_iri: str | None = None


#: Attempts to open the store read-only; an open can race with a compaction of the primary.
_OPEN_ATTEMPTS = 20


def _open_read_only(path: str):
    import pyoxigraph as ox

    for attempt in range(_OPEN_ATTEMPTS):
        try:
            return ox.Store.read_only(path)
        except (OSError, RuntimeError):
            if attempt == _OPEN_ATTEMPTS - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


def _evaluate(store, request: QueryRequest) -> QueryResult:
    import pyoxigraph as ox

    from kg._oxigraph import materialize

    def graph(iri: str):
        return ox.DefaultGraph() if iri == "" else ox.NamedNode(iri)

    kwargs = {}
    if request.default_graph is not None:
        kwargs["default_graph"] = [graph(g) for g in request.default_graph]
    if request.named_graphs is not None:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in request.named_graphs]
    if request.base_iri:
        kwargs["base_iri"] = request.base_iri
    return materialize(store.query(request.sparql, **kwargs), request.cap)


def _worker_main(path: str, conn) -> None:  # runs in the child process (``python -m kgsearch.query_pool``)
    store, generation = None, None
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        wanted, request = message
        try:
            if store is None or generation != wanted:
                store, generation = None, None
                store, generation = _open_read_only(path), wanted
            try:
                result = _evaluate(store, request)
            except (OSError, RuntimeError) as e:
                if unsupported_query(e) is not None:
                    raise
                # A file the old snapshot needed was compacted away: reopen once and retry.
                store = _open_read_only(path)
                result = _evaluate(store, request)
            conn.send(("ok", result))
        except SyntaxError as e:
            conn.send(("syntax", str(e)))
        except ValueError as e:  # bad dataset IRIs and the like
            conn.send(("syntax", str(e)))
        except Exception as e:  # noqa: BLE001 - reported to the parent with its type
            if unsupported_query(e) is not None:
                conn.send(("unsupported", str(e)))
            else:
                conn.send(("error", f"{type(e).__name__}: {e}"))


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen
    conn: Connection
    started: float = field(default_factory=time.monotonic)

    def kill(self) -> None:
        self.process.kill()

    def join(self, timeout: float) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def is_alive(self) -> bool:
        return self.process.poll() is None


class QueryPool:
    """A fixed number of query worker processes over one on-disk store.

    Args:
        path: The store directory (the primary stays open in the calling process).
        workers: Worker processes; each answers one query at a time.
        timeout: Default seconds a query may run before its worker is killed.
    """

    def __init__(self, path: str | Path, *, workers: int = 2, timeout: float = 30.0):
        if workers < 1:
            raise ValueError(f"a query pool needs at least one worker, not {workers}")
        self.path = str(path)
        self.timeout = timeout
        self.generation = 0
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._size = workers
        self.stats = {"queries": 0, "timeouts": 0, "restarts": 0}
        self._all: set[_Worker] = set()
        for _ in range(workers):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        # A plain subprocess rather than multiprocessing's spawn, which re-imports the caller's
        # __main__ (a script without a main guard, a notebook) in every worker.
        parent, child = socket.socketpair()
        process = subprocess.Popen(
            [sys.executable, "-m", "kgsearch.query_pool", self.path, str(child.fileno())],
            pass_fds=[child.fileno()],
            stdin=subprocess.DEVNULL,
        )
        child.close()
        worker = _Worker(process, Connection(parent.detach()))
        self._all.add(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        """Kill a worker and put a fresh one in its place (in the background: spawning takes ~0.3 s)."""
        worker.kill()
        self._all.discard(worker)

        def respawn():
            worker.join(5)
            worker.conn.close()
            # Under the lock that close() takes: a worker spawned while close() runs would be missed
            # by it and outlive the pool.
            with self._lock:
                if self._closed:
                    return
                fresh = self._spawn()
            self._idle.put(fresh)
            self.stats["restarts"] += 1

        threading.Thread(target=respawn, daemon=True, name="kgsearch-query-respawn").start()

    def invalidate(self) -> None:
        """The store changed: workers reopen it before their next query."""
        with self._lock:
            self.generation += 1

    def run(self, sparql: str, *, cap: int | None = None, timeout: float | None = None, **dataset) -> QueryResult:
        """Run one query in a worker; see :class:`QueryRequest` for ``dataset`` (``default_graph``, ...).

        Raises:
            SparqlSyntaxError: The query (or a dataset IRI) is malformed.
            QueryTooComplexError: The query nests too deep or is too long (:mod:`kg.sparql_limits`).
            UnsupportedQueryError: The query calls a function (or a SERVICE) the store does not have.
            QueryTimeoutError: It ran past ``timeout`` seconds; it was stopped.
            ServerBusyError: No worker became free within ``timeout``.
            StoreError: The store could not be read.
        """
        if self._closed:
            raise StoreError("the query pool is closed")
        check_query_shape(sparql)  # a query too deep for the engine would kill its worker
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        try:
            worker = self._idle.get(timeout=limit)
        except queue.Empty:
            raise ServerBusyError(f"all {self._size} query workers stayed busy for {limit:g} s; retry later") from None
        request = QueryRequest(sparql, cap, **dataset)
        self.stats["queries"] += 1
        try:
            worker.conn.send((self.generation, request))
            if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
                self.stats["timeouts"] += 1
                self._replace(worker)
                worker = None
                raise QueryTimeoutError(
                    f"the query ran past the time limit of {limit:g} s and was stopped; "
                    "add LIMIT, narrow its patterns, or ask the operator for a longer limit"
                )
            # Only the bytes while the worker is held: decoding a large result in this (busy) process
            # would keep the worker from the next query.
            reply = worker.conn.recv_bytes()
        except (EOFError, OSError, BrokenPipeError) as e:
            if worker is not None:
                self._replace(worker)
                worker = None
            raise StoreError(
                f"the query worker died while answering ({e or 'no reply'}); the query was not run"
            ) from None
        finally:
            if worker is not None:
                self._idle.put(worker)
        status, payload = pickle.loads(reply)
        if status == "ok":
            return payload
        if status == "syntax":
            raise SparqlSyntaxError(f"invalid SPARQL query: {payload}")
        if status == "unsupported":
            raise unsupported_query(RuntimeError(payload))
        raise StoreError(f"the query failed: {payload}")

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            self._closed = True
        for worker in list(self._all):
            worker.conn.close()  # an idle worker sees EOF and exits
        for worker in list(self._all):
            worker.join(1)
            if worker.is_alive():
                worker.kill()
                worker.join(1)
        self._all.clear()

    def __enter__(self) -> QueryPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    _worker_main(sys.argv[1], Connection(int(sys.argv[2])))
