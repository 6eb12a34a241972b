"""The parts of a home, for :mod:`kgsearch.backup`: the KB as N-Quads and back, consistent
copies of the SQLite files and of the indexes' committed versions, and whether a home is empty,
in use, or being written.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     home_contents(Path(d, "new")), home_contents(Path(d))      # missing or empty: free to restore into
(None, None)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sqlite3
from itertools import islice
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kgsearch.backup_archive import ArchiveError, BackupError, Progress, copy_stream, file_entry

KB_MEMBER = "kb.nq.gz"
SQLITE_FILES = ("catalogue.sqlite", "ingest.sqlite")
#: Small JSON files of a home, copied as they are: the text relation model and the face gallery cache.
JSON_FILES = ("text-relations.json", "faces.json")
#: Statements per bulk write of a restore: faster than one write of the whole file (1.5 s
#: against 2.5 s for the full movie KB's 220,078) and memory stays bounded.
LOAD_CHUNK = 100_000

#: Entries that opening a home creates (and SQLite's side files); a home with only these, no
#: statements and no documents is empty.
ENGINE_FILES = (
    "store",
    "journal",
    "text",
    "vectors",
    "catalogue.sqlite",
    "catalogue.sqlite-wal",
    "catalogue.sqlite-shm",
    "ingest.sqlite",
    "ingest.sqlite-journal",
    "ingest.sqlite-wal",
    "ingest.sqlite-shm",
)


#: :func:`ledger_state` of a ledger that a writer holds locked: like a checkpoint in progress.
BUSY = ("busy", 1)


class HomeNotEmptyError(BackupError, FileExistsError):
    """A restore would overwrite a home that holds data, or a folder that is not a home."""


class HomeInUseError(BackupError, RuntimeError):
    """Another process holds the home (a server), or kept writing it during a dump."""


def sqlite_count(path: Path, table: str) -> int | None:
    """Rows of ``table`` in a SQLite file, read-only; ``None`` when the file or table is missing."""
    if not path.is_file():
        return None
    db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 - our own table names
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return None
        raise
    finally:
        db.close()


def ledger_state(home: Path) -> tuple[str, int] | None:
    """A fingerprint of the document ledger (the ids and content hashes of the documents) and the
    number of documents of an unfinished checkpoint; ``None`` without a ledger, :data:`BUSY` while
    another process holds it locked for writing.

    An ingest marks each checkpoint as pending in the ledger before it writes any index and
    records it after, so an unchanged state with nothing pending, before and after copying the
    indexes, means that no ingest wrote them in between.
    """
    path = home / "ingest.sqlite"
    if not path.is_file():
        return None
    db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        for doc_id, content_hash in db.execute("SELECT id, hash FROM documents ORDER BY id"):
            digest.update(f"{doc_id}\t{content_hash}\n".encode())
        pending = db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return None  # created but never written
        if "locked" in str(e) or "busy" in str(e):
            return BUSY
        raise
    finally:
        db.close()
    return digest.hexdigest(), pending


def _open_exclusive(home: Path) -> ox.Store:
    try:
        return ox.Store(str(home / "store"))
    except OSError as e:
        if "lock" in str(e).lower():
            raise HomeInUseError(
                f"{home} is in use by another kgsearch process (a server?); stop it and run restore again"
            ) from None
        raise BackupError(f"cannot open the store of {home} ({e}); restore into a new --home") from None


def check_free(home: Path) -> None:
    """Raise :class:`HomeInUseError` when another process holds the home."""
    if (home / "store").is_dir():
        store = _open_exclusive(home)
        del store


def home_contents(home: Path) -> str | None:
    """What ``home`` holds, in words, or ``None`` when a restore may fill it without ``--force``
    (missing, an empty folder, or a home that was opened but never given data).

    Raises:
        HomeNotEmptyError: ``home`` is a file, or a non-empty folder that is not a kgsearch home
            (never replaced, even with ``--force``).
        HomeInUseError: Another process holds the home.
    """
    if not home.exists():
        return None
    if not home.is_dir():
        raise HomeNotEmptyError(f"{home} is a file; --home must name a folder")
    entries = sorted(p.name for p in home.iterdir())
    if not entries:
        return None
    if not (home / "store").is_dir():
        listed = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise HomeNotEmptyError(
            f"{home} is not empty and is not a kgsearch home (it holds {listed}); restore into a new or empty folder"
        )
    store = _open_exclusive(home)
    try:
        quads = len(store)
    finally:
        del store
    documents = sqlite_count(home / "ingest.sqlite", "documents") or 0
    others = [e for e in entries if e not in ENGINE_FILES and e not in JSON_FILES]
    if not quads and not documents and not others:
        return None
    held = [f"{quads:,} statements", f"{documents:,} documents"]
    if others:
        held.append("also " + ", ".join(others[:5]))
    return "a kgsearch home (" + "; ".join(held) + ")"


def copy_parts(home: Path, staged: Path) -> dict[str, Any]:
    """Copy the catalogue, ledger, indexes and JSON files; returns their manifest entries."""
    members = {}
    for name in SQLITE_FILES:
        if (home / name).is_file():
            members[name] = _backup_sqlite(home / name, staged / name)
    for folder, files in (("text", _tantivy_files), ("vectors", _hnsw_files)):
        if not (home / folder / "meta.json").is_file() and not (home / folder / "manifest.json").is_file():
            continue
        (staged / folder).mkdir()
        for name, data in files(home / folder):
            target = staged / folder / name
            if data is not None:  # the version file itself, as read: it names the files copied with it
                target.write_bytes(data)
                members[f"{folder}/{name}"] = file_entry(target)
            else:
                with open(home / folder / name, "rb") as f:
                    members[f"{folder}/{name}"] = copy_stream(f, target)
    for name in JSON_FILES:
        if (home / name).is_file():
            data = (home / name).read_bytes()
            json.loads(data)  # ValueError when caught half-written by another process
            (staged / name).write_bytes(data)
            members[name] = file_entry(staged / name)
    return members


def _backup_sqlite(source: Path, target: Path) -> dict[str, Any]:
    """A consistent copy of a SQLite file that may be open and written elsewhere (the online backup API)."""
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file; WAL returns when it is opened
        finally:
            dst.close()
    finally:
        src.close()
    return file_entry(target)


def _tantivy_files(folder: Path) -> list[tuple[str, bytes | None]]:
    """The committed version of a tantivy index: ``meta.json`` and the files of the segments it
    names (segments are immutable; older ones a merge has not yet deleted are left out)."""
    meta = (folder / "meta.json").read_bytes()
    segments = tuple(s["segment_id"].replace("-", "") for s in json.loads(meta)["segments"])
    files = sorted(p.name for p in folder.iterdir() if p.name.startswith(segments) and p.is_file()) if segments else []
    return [("meta.json", meta), *((name, None) for name in files)]


def _hnsw_files(folder: Path) -> list[tuple[str, bytes | None]]:
    """The saved version of an hnswlib index: ``manifest.json`` and the files it names."""
    manifest = (folder / "manifest.json").read_bytes()
    return [("manifest.json", manifest), *((name, None) for name in sorted(json.loads(manifest)["files"].values()))]


def tantivy_count(folder: Path) -> int | None:
    if not (folder / "meta.json").is_file():
        return None
    segments = json.loads((folder / "meta.json").read_bytes())["segments"]
    return sum(s["max_doc"] - (s["deletes"] or {}).get("num_deleted_docs", 0) for s in segments)


def hnsw_count(folder: Path) -> int | None:
    if not (folder / "manifest.json").is_file():
        return None
    return int(json.loads((folder / "manifest.json").read_bytes())["count"])


class _CountingWriter:
    """A binary file wrapper that counts and hashes the bytes written, and the lines (statements)."""

    def __init__(self, raw, *, lines_of: tuple[str, int, Progress | None] | None = None):
        self.raw, self.lines_of = raw, lines_of
        self.digest, self.size, self.lines = hashlib.sha256(), 0, 0

    def write(self, data) -> int:
        data = bytes(data)
        if self.lines_of is None:
            self.digest.update(data)
            self.size += len(data)
        else:
            step, total, progress = self.lines_of
            self.lines += data.count(b"\n")  # N-Quads: one statement per line, newlines in literals escaped
            if progress:
                progress(step, min(self.lines, total), total)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _graph_key(term) -> str:
    return term.value if isinstance(term, ox.NamedNode) else f"_:{term.value}"


def graph_counts(store: ox.Store) -> dict[str, int]:
    """Statements per graph: ``""`` is the default graph (the user's facts)."""
    (default,) = next(iter(store.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")))
    counts = {"": int(default.value)}
    for graph, n in store.query("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"):
        counts[_graph_key(graph)] = int(n.value)
    return dict(sorted(counts.items()))


def dump_kb(store: ox.Store, target: Path, progress: Progress | None) -> tuple[dict[str, int], dict[str, Any]]:
    """Every statement as gzipped N-Quads; returns the statements per graph and the member's entry."""
    graphs = graph_counts(store)
    total = sum(graphs.values())
    with open(target, "wb") as raw:
        hashed = _CountingWriter(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=hashed, mtime=0, compresslevel=6) as gz:
            counted = _CountingWriter(gz, lines_of=("writing the KB", total, progress))
            store.dump(counted, ox.RdfFormat.N_QUADS)
        raw.flush()
        os.fsync(raw.fileno())
    if counted.lines != total:
        raise BackupError(f"the store gave {counted.lines:,} statements where it counts {total:,}; run dump again")
    return graphs, {"sha256": hashed.digest.hexdigest(), "bytes": hashed.size}


class _ProgressReader:
    """A binary file wrapper that reports the bytes read."""

    def __init__(self, raw, step: str, total: int, progress: Progress | None):
        self.raw, self.step, self.total, self.progress, self.done = raw, step, total, progress, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.done += len(data)
        if self.progress:
            self.progress(self.step, self.done, self.total)
        return data


def load_kb(kb: Path, store_dir: Path, archive: Path, progress: Progress | None) -> dict[str, int]:
    """Bulk-load the N-Quads member into a new store; returns the statements per graph."""
    store = ox.Store(str(store_dir))
    try:
        with open(kb, "rb") as raw:
            reader = _ProgressReader(raw, "loading the KB", kb.stat().st_size, progress)
            with gzip.GzipFile(fileobj=reader, mode="rb") as gz:
                # ox.parse keeps blank node names (Store.bulk_load would rename them), so a later
                # `kgsearch load` of the same file still finds its blank nodes (see kg.formats).
                quads = ox.parse(gz, ox.RdfFormat.N_QUADS, lenient=True)
                while chunk := list(islice(quads, LOAD_CHUNK)):
                    store.bulk_extend(chunk)
        store.flush()
        return graph_counts(store)
    except (SyntaxError, EOFError, gzip.BadGzipFile) as e:
        raise ArchiveError(f"{archive}: member {KB_MEMBER} does not read as gzipped N-Quads ({e})") from None
    finally:
        del store  # releases the RocksDB lock
