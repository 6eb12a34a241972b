"""Backups of a whole home: :func:`dump` writes one archive, :func:`restore` makes a home from one.

The archive (see :mod:`kgsearch.backup_archive`) holds the KB as N-Quads (``kb.nq.gz``: every
graph, the mention provenance too, blank nodes under their stored names) rather than the
RocksDB files, so it outlives changes of Oxigraph's storage format; and copies of what is slow
or impossible to rebuild: the entity catalogue and the document ledger (SQLite's backup API,
consistent while they are open), the text index (tantivy) and the vector index (hnswlib) as
their last committed versions, the text relation model and the face gallery cache.

A home that another process holds (``kgsearch serve``) is dumped from a read-only snapshot
of its store; an ingest that writes during the dump is noticed through the document ledger
(every checkpoint marks itself there before it touches an index) and the dump is taken again.
A restore unpacks into a sibling folder, checks every member's checksum and the counts of the
manifest, and only then puts the new home in place, so a failure leaves the old home as it was.

>>> import tempfile
>>> from kgsearch.engine import Engine
>>> from kgsearch.settings import PROJECT_ROOT
>>> with tempfile.TemporaryDirectory() as d:
...     with Engine.open(Path(d, "home")) as engine:
...         _ = engine.load([PROJECT_ROOT / "ontologies" / "movies.ttl"])
...     dumped = dump(Settings(Path(d, "home")), Path(d, "home.tar"))
...     restored = restore(Settings(Path(d, "copy")), Path(d, "home.tar"))
...     restored.graphs == dumped.graphs, restored.entities == dumped.entities
(True, True)
"""

from __future__ import annotations

import contextlib
import errno
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kg.errors import StoreError
from kgsearch import __version__
from kgsearch.backup_archive import (
    MANIFEST,
    ArchiveError,
    BackupError,
    Progress,
    describe_time,
    fsync_folder,
    pack,
    replace_path,
    unpack,
)
from kgsearch.backup_home import (
    ENGINE_FILES,
    JSON_FILES,
    KB_MEMBER,
    SQLITE_FILES,
    HomeInUseError,
    HomeNotEmptyError,
    check_free,
    copy_parts,
    dump_kb,
    hnsw_count,
    home_contents,
    ledger_state,
    load_kb,
    sqlite_count,
    tantivy_count,
)
from kgsearch.settings import Settings

__all__ = [
    "ArchiveError",
    "BackupError",
    "DumpReport",
    "HomeInUseError",
    "HomeNotEmptyError",
    "RestoreReport",
    "dump",
    "restore",
]

#: Parts of a home that are in an archive some other way, or that it does without: the store is
#: the N-Quads member; the load journal names files on this machine (a load it records is
#: reported by the dump instead).
ARCHIVED = {"store", "journal", "text", "vectors", *SQLITE_FILES, *JSON_FILES, *ENGINE_FILES}
#: Tries of a dump while another process keeps writing the home, and the pause before the
#: next try (times the try's number), to let the writer finish its checkpoint.
ATTEMPTS = 3
RETRY_PAUSE = 0.5
#: Tries to open a read-only snapshot of a store that another process compacts.
OPEN_ATTEMPTS = 20


@dataclass(frozen=True)
class DumpReport:
    """What :func:`dump` wrote. ``documents``: ``None`` without a document ledger (or with
    ``kb_only``); ``live``: the home was in use and was read from a snapshot; ``skipped``:
    entries of the home that are not archived; ``notes``: what the user should know."""

    archive: Path
    bytes: int
    quads: int
    graphs: dict[str, int]
    entities: int
    documents: int | None
    seconds: float
    kb_only: bool
    live: bool
    skipped: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class RestoreReport:
    """What :func:`restore` made. ``replaced``: an existing home was replaced (``--force``);
    ``rebuilt``: parts made anew because the archive lacked them; ``notes``: what to do next."""

    home: Path
    quads: int
    graphs: dict[str, int]
    entities: int
    documents: int | None
    seconds: float
    replaced: bool
    rebuilt: tuple[str, ...]
    notes: tuple[str, ...]


def _new_sibling(path: Path, what: str) -> Path:
    """A new empty folder beside ``path`` (same file system, so it can be renamed into place),
    with the permissions the user's umask gives new folders."""
    folder = path.with_name(f".{path.name}.{what}-{secrets.token_hex(4)}")
    folder.mkdir()
    return folder


def _embedded_home(settings: Settings) -> Path:
    if settings.kg.store != "oxigraph":
        raise BackupError(
            f"KGSEARCH_STORE={settings.kg.store} keeps the KB in a server: back it up with the server's own tools "
            "(dump and restore work on the embedded store)"
        )
    return settings.home


def dump(
    settings: Settings, out: str | Path, *, kb_only: bool = False, force: bool = False, progress: Progress | None = None
) -> DumpReport:
    """Write the home of ``settings`` to one archive.

    Args:
        settings: The home (and its backends).
        out: A ``.tar``, ``.tar.gz`` (or ``.tgz``) file, or else a directory to create.
        kb_only: Archive the KB alone (no catalogue, ledger or indexes: a restore rebuilds the
            catalogue, and documents are ingested again).
        force: Replace ``out`` if it exists.
        progress: Called with ``(step, done, total)``.

    Raises:
        BackupError: The home is not a kgsearch home, ``out`` exists, or writing failed
            (nothing is left behind: the archive is written under a temporary name).
        HomeInUseError: Another process kept writing the home through every try.
    """
    started = time.perf_counter()
    home, out = _embedded_home(settings), Path(out).absolute()
    if not (home / "store").is_dir():
        raise BackupError(f"{home} holds no kgsearch store; check --home (or KGSEARCH_HOME)")
    if out.exists() and not force:
        raise ArchiveError(f"{out} already exists; choose another name, or add --force to replace it")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ArchiveError(f"{out} is a folder that is not a kgsearch archive; --force replaces only an archive")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} does not exist; create it or choose another place for the archive")
    if out.resolve().is_relative_to(home.resolve()):
        raise BackupError(f"{out} is inside the home it would archive; write the archive somewhere else")
    try:
        for attempt in range(ATTEMPTS):
            staged = _new_sibling(out, "staged")
            try:
                taken = _snapshot(settings, staged, kb_only=kb_only, progress=progress)
                if taken is None:
                    time.sleep(RETRY_PAUSE * (attempt + 1))
                    continue
                manifest, live, notes = taken
                size = pack(staged, manifest, out, force=force, progress=progress)
            finally:
                shutil.rmtree(staged, ignore_errors=True)  # gone already when it became a directory archive
            skipped = tuple(sorted(p.name + "/" * p.is_dir() for p in home.iterdir() if p.name not in ARCHIVED))
            kb, counts = manifest["kb"], manifest["counts"]
            return DumpReport(
                out,
                size,
                kb["quads"],
                kb["graphs"],
                counts["entities"],
                counts["documents"],
                time.perf_counter() - started,
                kb_only,
                live,
                skipped,
                tuple(notes),
            )
    except BackupError:
        raise
    except OSError as e:
        raise BackupError(
            f"writing {out} failed ({e}); no archive was written: free disk space and run dump again"
        ) from e
    except sqlite3.Error as e:
        raise BackupError(
            f"reading the SQLite files of {home} failed ({e}); no archive was written: run dump again"
        ) from e
    raise HomeInUseError(
        f"another process kept writing {home} during {ATTEMPTS} tries (an ingest?); run dump again when it is done"
    )


def _open_read_only(path: Path) -> ox.Store | None:
    """A read-only snapshot of a store that another process holds, or ``None`` if it cannot be opened.

    An open can race with the primary's compaction (a file the MANIFEST names is deleted): try again.
    """
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return ox.Store.read_only(str(path))
        except (OSError, RuntimeError):
            time.sleep(0.02 * (attempt + 1))
    return None


@contextlib.contextmanager
def _store_for_dump(settings: Settings) -> Iterator[tuple[ox.Store, bool, list[str]]]:
    """The home's store, exclusively (an :class:`~kgsearch.engine.Engine`, which also undoes what a
    crash left), or a read-only snapshot of it when another process holds the home."""
    from kgsearch.engine import Engine

    try:
        engine = Engine(settings)
    except StoreError as e:
        if "lock" not in str(e).lower():
            raise
        store = _open_read_only(settings.home / "store")
        if store is None:
            raise e from None
        try:
            yield store, True, []
        finally:
            del store
        return
    try:
        yield engine.store.native, False, engine.recovery_notes()
    finally:
        engine.close()


def _snapshot(
    settings: Settings, staged: Path, *, kb_only: bool, progress: Progress | None
) -> tuple[dict[str, Any], bool, list[str]] | None:
    """Copy the home's parts into ``staged``; returns the manifest, or ``None`` when the home
    changed while it was copied."""
    home = settings.home
    # Read before the store's snapshot is taken, so that the window checked below holds it.
    before = None if kb_only else ledger_state(home)
    with _store_for_dump(settings) as (store, live, notes):
        if live and before is not None and before[1]:
            return None  # a checkpoint is being written
        members: dict[str, Any] = {}
        try:
            if not kb_only:
                members |= copy_parts(home, staged)
            graphs, members[KB_MEMBER] = dump_kb(store, staged / KB_MEMBER, progress)
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            # Another process moved an index on to its next version while it was copied, or
            # compacted away a file of the store's snapshot: take the dump again.
            if live and getattr(e, "errno", None) != errno.ENOSPC:
                return None
            if isinstance(e, (OSError, RuntimeError)):
                raise
            raise BackupError(
                f"a file of {home} does not read as kgsearch wrote it ({type(e).__name__}: {e}); "
                "use `kgsearch dump --kb-only` to archive the KB without the indexes"
            ) from e
        if live and not kb_only and ledger_state(home) != before:
            return None
    if live:
        notes.append(f"{home} is in use by another process: it was read from a consistent snapshot")
    source = staged if not kb_only else home
    manifest = {
        "kgsearch_version": __version__,
        "created": describe_time(),
        "kb_only": kb_only,
        "kb": {"member": KB_MEMBER, "quads": sum(graphs.values()), "graphs": graphs},
        "counts": {
            "entities": sqlite_count(source / "catalogue.sqlite", "entities") or 0,
            "documents": None if kb_only else sqlite_count(staged / "ingest.sqlite", "documents"),
            "text": None if kb_only else tantivy_count(staged / "text"),
            "vectors": None if kb_only else hnsw_count(staged / "vectors"),
        },
        "members": members,
    }
    return manifest, live, notes


def restore(
    settings: Settings, archive: str | Path, *, force: bool = False, progress: Progress | None = None
) -> RestoreReport:
    """Make the home of ``settings`` from an archive written by :func:`dump`.

    Args:
        settings: The home to create (new, empty, or with ``force`` one to replace).
        archive: The archive: a ``.tar``/``.tar.gz`` file or a directory.
        force: Replace a home that holds data; it stays untouched until the new one is complete.
        progress: Called with ``(step, done, total)``.

    Raises:
        ArchiveError: The archive is missing, damaged (the message names the member), of a newer
            format, or its contents do not match its manifest.
        HomeNotEmptyError: The home holds data and ``force`` is not set, or the folder is not a kgsearch home.
        HomeInUseError: Another process holds the home.
        BackupError: Writing failed (the home is left as it was).
    """
    started = time.perf_counter()
    home, archive = _embedded_home(settings).absolute(), Path(archive)
    if not archive.exists():
        raise ArchiveError(f"{archive}: no such archive; give the file or folder `kgsearch dump` wrote")
    held = home_contents(home)
    if held and not force:
        raise HomeNotEmptyError(
            f"{home} already holds {held}; restore into a new --home, or add --force to replace it "
            "(the old home is kept until the restored one is complete)"
        )
    if held and archive.resolve().is_relative_to(home.resolve()):
        raise BackupError(f"{archive} is inside the home it would replace; move it out first")
    try:
        home.parent.mkdir(parents=True, exist_ok=True)
        staged = _new_sibling(home, "restoring")
        try:
            manifest = unpack(archive, staged, progress=progress)
            graphs = load_kb(staged / KB_MEMBER, staged / "store", archive, progress)
            (staged / KB_MEMBER).unlink()
            if graphs != manifest["kb"]["graphs"]:
                raise ArchiveError(
                    f"{archive}: the KB restored as {sum(graphs.values()):,} statements in {len(graphs)} graphs where "
                    f"the manifest says {manifest['kb']['quads']:,} in {len(manifest['kb']['graphs'])}"
                )
            counts, rebuilt, notes = _check_parts(settings, staged, manifest, archive)
            if held:
                check_free(home)
            replace_path(staged, home)
        finally:
            shutil.rmtree(staged, ignore_errors=True)  # gone already when it became the home
    except BackupError:
        raise
    except OSError as e:
        raise BackupError(
            f"restoring into {home} failed ({e}); {home} was left as it was: free disk space and run restore again"
        ) from e
    fsync_folder(home.parent)
    return RestoreReport(
        home,
        sum(graphs.values()),
        graphs,
        counts["entities"],
        counts["documents"],
        time.perf_counter() - started,
        bool(held),
        tuple(rebuilt),
        tuple(notes),
    )


def _check_parts(
    settings: Settings, staged: Path, manifest: dict[str, Any], archive: Path
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Open the restored home, rebuild the catalogue if the archive has none, and compare its
    counts with the manifest's; returns the counts, what was rebuilt, and notes for the user."""
    from kgsearch.engine import Engine
    from retrieval.backends import RetrievalSettings

    expected, rebuilt, notes = manifest["counts"], [], []
    local = replace(settings, home=staged, retrieval=RetrievalSettings())  # archives hold tantivy and hnswlib
    with Engine(local) as engine:
        if "catalogue.sqlite" not in manifest["members"]:
            engine.rebuild_catalogue()
            rebuilt.append("catalogue")
        counts = {
            "entities": len(engine.catalogue),
            "documents": len(engine.ledger()) if (staged / "ingest.sqlite").exists() else None,
            "text": engine.text_index().count() if (staged / "text").exists() else None,
            "vectors": engine.vector_index().count() if (staged / "vectors" / "manifest.json").exists() else None,
        }
    for what, n in counts.items():
        want = expected.get(what)
        if n == want or (what == "entities" and rebuilt):
            continue
        raise ArchiveError(f"{archive}: the restored home has {n} {what} where the manifest says {want}")
    if rebuilt and counts["entities"] != expected["entities"]:
        notes.append(
            f"the catalogue rebuilt from the KB has {counts['entities']:,} entities (the dumped home's had "
            f"{expected['entities']:,}: it was out of date)"
        )
    documents = sqlite_count(staged / "ingest.sqlite", "documents")
    if manifest.get("kb_only"):
        notes.append(
            "the archive holds the KB only: the catalogue was rebuilt from it; run `kgsearch ingest` on your "
            "documents again to search them"
        )
    elif documents and counts["text"] is None:
        notes.append(
            f"the archive has no text index for its {documents:,} documents (the home kept it outside, e.g. in "
            "Elasticsearch): run `kgsearch ingest` on them again"
        )
    return counts, rebuilt, notes
