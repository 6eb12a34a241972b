"""Intent records: what a load was doing when its process died.

Oxigraph's bulk loader is not atomic: a process killed while it writes (``kill -9``, power
loss, a full disk) may leave part of a file in the store, and the entity catalogue, which is
updated after the store, without it. Before a file is written, :class:`LoadJournal` records
its path and sha256 in the home's ``journal/`` folder, durably (written to a temporary name,
fsynced, renamed); the record is removed once the store and the catalogue both have the file.
A record found when a home is opened is a load that did not finish: loading the same file
again completes it, and adds no duplicates (blank nodes are named from the file's hash, see
:mod:`kg.formats`), and the catalogue is brought up to date for the file even though no
statement is new.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as home:
...     journal = LoadJournal(home)
...     intent = journal.begin("movies.nt", "9f2c" * 16, None)
...     [Path(i.path).name for i in LoadJournal(home).pending()]      # what a restart would find
...     journal.end(intent)
...     LoadJournal(home).pending()
['movies.nt']
[]
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class LoadIntent:
    """A load that was started: the file (absolute path), its sha256, the target graph (``None``:
    the default graph) and when it started (Unix time)."""

    path: str
    digest: str
    graph: str | None
    started: float

    @property
    def name(self) -> str:
        """The record's file name: one per file content and target graph."""
        return f"load-{self.digest[:16]}-{zlib.crc32((self.graph or '').encode()):08x}.json"

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        target = f" into graph <{self.graph}>" if self.graph else ""
        return f"the load of {self.path}{target} started {when} did not finish"


class LoadJournal:
    """The ``journal/`` folder of a home; see the module docstring."""

    def __init__(self, home: str | Path):
        self.folder = Path(home) / "journal"

    def begin(self, path: str | Path, digest: str, graph: str | None) -> LoadIntent:
        """Record, durably, that ``path`` (with this sha256) is about to be written."""
        intent = LoadIntent(str(Path(path).resolve()), digest, graph, time.time())
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / intent.name
        temporary = target.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(asdict(intent), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
        _fsync_folder(self.folder)
        return intent

    def end(self, intent: LoadIntent) -> None:
        """The file is wholly in the store and the catalogue: forget the intent."""
        (self.folder / intent.name).unlink(missing_ok=True)
        _fsync_folder(self.folder)

    def pending(self) -> list[LoadIntent]:
        """Loads that began and did not end, oldest first (unreadable records are skipped)."""
        if not self.folder.is_dir():
            return []
        intents = []
        for record in sorted(self.folder.glob("load-*.json")):
            try:
                intents.append(LoadIntent(**json.loads(record.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue  # a record torn by a crash before its rename cannot exist; anything else is not ours
        return sorted(intents, key=lambda i: i.started)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
