"""Helpers for the crash-safety tests and benchmark: kill a real ``kgsearch`` process mid-work, and
see which documents each part of a home holds.

Not imported by kgsearch itself.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kgsearch.engine import Engine
from retrieval.provenance import MENTIONS_GRAPH, document_id, term

#: The ``kgsearch`` command of the running interpreter's environment.
KGSEARCH = [str(Path(sys.executable).with_name("kgsearch"))]


def kill_when(args: Sequence[str | Path], ready: Callable[[], bool], delay: float, *, timeout: float = 600) -> bool:
    """Start ``kgsearch *args``, wait until ``ready()``, sleep ``delay`` seconds, then ``kill -9`` it.

    Returns:
        Whether the process was still running when it was killed.
    """
    process = subprocess.Popen([*KGSEARCH, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    alive = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait(60)
    return alive


def ledger_rows(home: Path, table: str = "documents") -> int:
    """Rows of a table of a home's ledger (``documents`` or ``pending``), read without locking it; 0 when unreadable."""
    ledger = Path(home) / "ingest.sqlite"
    if not ledger.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=0.1) as db:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 (a fixed table name)
    except sqlite3.Error:
        return 0


def holdings(engine: Engine, ids: Sequence[str]) -> dict[str, set[str]]:
    """Which of ``ids`` each part of a home holds: the ledger, the text index, the vector index
    (empty without one) and the mention graph. After any crash and reopening, all four must agree."""
    wanted = set(ids)
    ledger = set(engine.ledger().ids()) & wanted
    text = {i for i in ids if engine.text_index().get(i) is not None}
    vectors: set[str] = set()
    index = engine.vector_index()
    if index is not None:
        probe = np.ones(index.dim, dtype=np.float32)
        vectors = {hit.ref for hit in index.search(probe, limit=len(wanted), ids=list(wanted))}
    rows = engine.store.query(
        f"SELECT DISTINCT ?d WHERE {{ GRAPH <{MENTIONS_GRAPH}> {{ ?d a <{term('Document').value}> }} }}"
    )
    graph = {document_id(d.value) for (d,) in rows} & wanted
    return {"ledger": ledger, "text": text, "vectors": vectors, "mentions": graph}


def quad_set(engine: Engine) -> set[str]:
    """Every quad of an embedded store, as N-Quads lines."""
    return {str(q) for q in engine.store.native.quads_for_pattern(None, None, None, None)}
