"""Ingestion: documents -> text linker -> text index, vector index and mention provenance.

``Document -> Linker.link() -> [Link] -> index`` (DESIGN.md, "Ingest"). For each document the
:class:`Ingester` writes

- the text index: title, text and the IRIs of the linked entities (Broccoli/QLever style);
- the vector index: one embedding of the passage (title and text, cut at the model's length);
- the KB: the mentions, in the named graph :data:`~retrieval.provenance.MENTIONS_GRAPH` only;
- the ledger (``ingest.sqlite``): the document's id and content hash.

Work is written in checkpoints (every ``checkpoint`` documents, default 4,096). The ledger
first records the checkpoint's ids as *pending* (one SQLite commit); then come the vectors,
the text index (one commit), the provenance, and last the ledger's record of the documents,
which clears them from pending in the same transaction. The ledger is the record of what is
done. A process that dies inside a checkpoint (``kill -9``, a full disk) leaves its ids
pending: :func:`recover` (run when a home is opened, and before every ingest) deletes them from
the vector index, the text index and the mention graph, so that every index holds exactly the
documents the ledger holds; re-running the ingest then does the checkpoint again. Every write
replaces by id, so nothing is duplicated. A document that was being *replaced* when the
process died is gone until the re-run brings its new content.

Bad documents (empty, binary, not UTF-8, malformed JSON, missing id) are reported one by one in
the :class:`IngestReport` with file and line; the rest of the batch goes on. A document whose id
was ingested before with other content is an update: it replaces the old one everywhere.

>>> import tempfile, kg
>>> from retrieval._tantivy import TantivyTextIndex
>>> from retrieval.sources import SourceDocument
>>> from linking.types import Link, Mention
>>> class Hitchcock:                      # any Linker; kgsearch uses linking.text.TextLinker
...     def link(self, doc):
...         at = doc.text.find("Alfred Hitchcock")
...         return [Link(Mention(doc.id, "Alfred Hitchcock", (at, at + 16)), "http://ex/Hitchcock", 0.9, "alias:exact")] if at >= 0 else []
>>> store, text = kg.OxigraphStore(), TantivyTextIndex()
>>> ingester = Ingester(store=store, linker=Hitchcock(), text_index=text, ledger=DocumentLedger(":memory:"))
>>> docs = [SourceDocument("d1", "Rebecca", "A 1940 film directed by Alfred Hitchcock."), SourceDocument("d2", "Empty", " ")]
>>> report = ingester.ingest(docs)
>>> report.added, report.links, [str(p) for p in report.failed]
(1, 1, ["document 'd2', field 'text': the document is empty"])
>>> text.get("d1").entities, ingester.ingest(docs[:1]).unchanged
(('http://ex/Hitchcock',), 1)
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from kg.errors import StoreError
from kg.store import TripleStore
from linking.types import Document, Link, Reading
from retrieval.errors import DocumentError, RetrievalError
from retrieval.provenance import delete_documents_update, provenance_quads
from retrieval.relations import (
    ClassGazetteer,
    MentionContext,
    create_tables,
    document_subject,
    mention_contexts,
    read_contexts,
    replace_contexts,
)
from retrieval.sources import SourceDocument, SourceProblem
from retrieval.text_index import TextIndex, check_document
from retrieval.types import IndexedDocument
from retrieval.vector_index import VectorIndex

#: Documents written per checkpoint (one text-index commit, one vector save, one ledger commit).
CHECKPOINT = 4096

#: Called as ``progress(documents_done)`` after every document read (ingested, skipped or failed).
IngestProgress = Callable[[int], None]


@dataclass
class IngestReport:
    """What one ingest did.

    Attributes:
        added: New documents ingested.
        updated: Documents whose id was known with other content (replaced everywhere).
        unchanged: Documents skipped because the same id and content were ingested before.
        failed: One problem per unusable document, with file, line, id and field.
        links: Entity links written (NIL mentions not counted).
        seconds: Wall time.
        timings: Seconds per stage: ``link``, ``embed``, ``vectors``, ``text``, ``kb``.
    """

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[SourceProblem] = field(default_factory=list)
    links: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def documents(self) -> int:
        """Documents read, whatever happened to them."""
        return self.added + self.updated + self.unchanged + len(self.failed)

    def as_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [
                {"origin": p.origin, "id": p.doc_id, "field": p.field, "message": p.message} for p in self.failed
            ],
            "links": self.links,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


class DocumentLedger:
    """Which documents are ingested, with which content hash (SQLite; ``":memory:"`` for tests)."""

    def __init__(self, path: str | Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS documents (id TEXT PRIMARY KEY, hash TEXT NOT NULL, title TEXT NOT NULL, "
                "links INTEGER NOT NULL, ingested REAL NOT NULL)"
            )
            # Ids of the checkpoint being written; see the module docstring.
            self._db.execute("CREATE TABLE IF NOT EXISTS pending (id TEXT PRIMARY KEY)")
            create_tables(self._db)
            self._db.commit()
        except sqlite3.Error as e:
            raise RetrievalError(
                f"cannot open the document ledger {path}: {e}; free disk space or use a writable home"
            ) from e

    def hash_of(self, doc_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT hash FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return row[0] if row else None

    def begin(self, ids: Iterable[str]) -> None:
        """Mark documents as being written (durably), before any index is touched."""
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO pending (id) VALUES (?)", [(i,) for i in ids])

    def pending(self) -> list[str]:
        """Ids marked by :meth:`begin` and not yet recorded or forgotten: an unfinished checkpoint."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT id FROM pending ORDER BY id")]

    def record(self, rows: Iterable[tuple[str, str, str, int]], contexts: Iterable[MentionContext] = ()) -> None:
        """Record ``(id, hash, title, links)`` rows, replace those documents' mention contexts and
        clear them from pending, in one transaction."""
        now = time.time()
        rows = list(rows)
        with self._lock, self._db:
            replace_contexts(self._db, [row[0] for row in rows], contexts)
            self._db.executemany(
                "INSERT OR REPLACE INTO documents (id, hash, title, links, ingested) VALUES (?, ?, ?, ?, ?)",
                [(*row, now) for row in rows],
            )
            self._db.executemany("DELETE FROM pending WHERE id = ?", [(row[0],) for row in rows])

    def forget(self, ids: Iterable[str]) -> None:
        """Remove documents (and their contexts and pending marks) from the ledger, in one transaction."""
        ids = [(i,) for i in ids]
        with self._lock, self._db:
            self._db.executemany("DELETE FROM documents WHERE id = ?", ids)
            self._db.executemany("DELETE FROM contexts WHERE doc_id = ?", ids)
            self._db.executemany("DELETE FROM pending WHERE id = ?", ids)

    def contexts(self, *, subject: str | None = None, mention: str | None = None) -> list[MentionContext]:
        """Stored mention contexts with this subject or mention (all of them when neither is given)."""
        with self._lock:
            return list(read_contexts(self._db, subject=subject, mention=mention))

    def ids(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT id FROM documents ORDER BY id")]

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.hash_of(doc_id) is not None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def recover(
    ledger: DocumentLedger,
    *,
    store: TripleStore,
    text_index: TextIndex,
    vector_index: VectorIndex | None = None,
) -> list[str]:
    """Undo an unfinished checkpoint: delete its documents from every index and the ledger.

    Returns:
        The ids that were pending (none when the last ingest finished).
    """
    ids = ledger.pending()
    if not ids:
        return []
    if vector_index is not None:
        vector_index.delete(ids)
        save = getattr(vector_index, "save", None)
        if save is not None:
            save()
    text_index.delete(ids)
    update = delete_documents_update(ids)
    if update:
        store.update(update)
    ledger.forget(ids)
    return ids


class MediaReader(Protocol):
    """Reads an image or audio document into text and links (see :class:`linking.types.Reading`)."""

    def read(self, document: Document) -> Reading: ...


@dataclass(frozen=True)
class _Prepared:
    source: SourceDocument
    links: list[Link]
    indexed: IndexedDocument
    update: bool
    contexts: list[MentionContext]
    subject: str | None


class Ingester:
    """Links documents and writes them to the indexes and the KB; see the module docstring.

    Args:
        store: The KB; only :data:`~retrieval.provenance.MENTIONS_GRAPH` is written.
        linker: Any :class:`~linking.linker.Linker`.
        text_index: Where text and entity ids go.
        ledger: The record of ingested documents.
        vector_index: Where passage embeddings go (``None``: no vectors).
        embedder: Makes them (required with ``vector_index``).
        gazetteer: Names of small classes to read relations from (see :class:`~retrieval.relations.ClassGazetteer`).
        checkpoint: Documents per checkpoint.
        media: Readers of image and audio documents by modality, each with ``read(Document) -> Reading``
            (OCR, faces, objects, speech); a modality without one is reported per document.
    """

    def __init__(
        self,
        *,
        store: TripleStore,
        linker: Any,
        text_index: TextIndex,
        ledger: DocumentLedger,
        vector_index: VectorIndex | None = None,
        embedder: Any = None,
        gazetteer: ClassGazetteer | None = None,
        checkpoint: int = CHECKPOINT,
        media: Mapping[str, MediaReader] | None = None,
    ):
        if vector_index is not None and embedder is None:
            raise ValueError("a vector index needs an embedder to make its vectors")
        if checkpoint < 1:
            raise ValueError(f"checkpoint must be at least 1, not {checkpoint}")
        self.store = store
        self.linker = linker
        self.text_index = text_index
        self.ledger = ledger
        self.vector_index = vector_index
        self.embedder = embedder
        self.checkpoint = checkpoint
        self.gazetteer = gazetteer
        self.media = dict(media or {})

    def ingest(
        self, items: Iterable[SourceDocument | SourceProblem], *, progress: IngestProgress | None = None
    ) -> IngestReport:
        """Ingest documents (problems from the reader are passed through to the report).

        Raises:
            RetrievalError: An index or the KB failed as a whole (disk full, server gone); the
                checkpoints written before stay, the current one is redone by the next run.
        """
        started = time.perf_counter()
        report = IngestReport(timings={"link": 0.0, "embed": 0.0, "vectors": 0.0, "text": 0.0, "kb": 0.0})
        recover(self.ledger, store=self.store, text_index=self.text_index, vector_index=self.vector_index)
        pending: dict[str, _Prepared] = {}
        done = 0
        for item in items:
            done += 1
            if isinstance(item, SourceProblem):
                report.failed.append(item)
            else:
                self._prepare(item, pending, report)
                if len(pending) >= self.checkpoint:
                    self._write(pending, report)
                    pending = {}
            if progress:
                progress(done)
        if pending:
            self._write(pending, report)
        report.seconds = time.perf_counter() - started
        return report

    def _prepare(self, doc: SourceDocument, pending: dict[str, _Prepared], report: IngestReport) -> None:
        digest = doc.content_hash
        known = self.ledger.hash_of(doc.id)
        if doc.id not in pending and known == digest:
            report.unchanged += 1
            return
        problem = _problem(doc)
        if problem is None:
            t = time.perf_counter()
            try:
                if doc.modality == "text":
                    links = self.linker.link(
                        Document(doc.id, text=doc.text, modality=doc.modality, metadata=doc.metadata)
                    )
                else:
                    doc, links = self._read_media(doc)
            except Exception as e:  # a linker failure on one document must not stop the batch
                what = "linking" if doc.modality == "text" else f"reading the {doc.modality}"
                field = "text" if doc.modality == "text" else "file"
                problem = SourceProblem(doc.origin, doc.id, field, f"{what} failed: {type(e).__name__}: {e}")
            report.timings["link"] += time.perf_counter() - t
        if problem is None:
            entities = tuple(dict.fromkeys(link.entity_iri for link in links if link.entity_iri is not None))
            t = time.perf_counter()
            contexts = mention_contexts(doc.id, doc.title, doc.text, links, self.gazetteer)
            subject = contexts[0].subject if contexts else document_subject(doc.title, links)
            report.timings["link"] += time.perf_counter() - t
            metadata = {**doc.metadata, "content_hash": digest}
            if doc.origin:
                metadata["origin"] = doc.origin
            if subject:
                metadata["subject"] = subject
            indexed = IndexedDocument(doc.id, doc.title, doc.text, doc.modality, entities, metadata)
            try:
                check_document(indexed)
            except DocumentError as e:
                problem = SourceProblem(doc.origin, doc.id, e.field, str(e))
        if problem is not None:
            report.failed.append(problem)
            return
        update = doc.id in pending or known is not None
        if doc.id in pending:  # the same id twice in one run: the later one wins
            del pending[doc.id]
        pending[doc.id] = _Prepared(doc, links, indexed, update, contexts, subject)

    def _read_media(self, doc: SourceDocument) -> tuple[SourceDocument, list[Link]]:
        """Read an image or audio document: its text (OCR, transcript) plus a line naming what was
        recognised without words (faces, objects), so that text search finds it too."""
        reader = self.media.get(doc.modality)
        if reader is None:
            raise LookupError(f"no reader for {doc.modality} documents is configured")
        reading = reader.read(Document(doc.id, path=Path(doc.metadata["path"]), modality=doc.modality))
        links = list(reading.links)
        text = reading.text
        seen = [link.label or link.entity_iri for link in links if link.mention.span is None and link.entity_iri]
        if seen:
            text = (text + "\n" if text.strip() else "") + "Shows: " + ", ".join(dict.fromkeys(seen)) + "."
        metadata = {**doc.metadata, **{k: v for k, v in reading.metadata.items() if k not in doc.metadata}}
        return replace(doc, text=text if text.strip() else doc.title, metadata=metadata), links

    def _write(self, pending: dict[str, _Prepared], report: IngestReport) -> None:
        items = list(pending.values())
        ids = [p.source.id for p in items]
        try:
            self._write_checkpoint(items, ids, report)
        except RetrievalError:
            raise
        except (OSError, sqlite3.Error, ValueError, StoreError) as e:
            # Disk full, read-only home, index server gone: the checkpoint stays pending and is
            # undone by the next open or ingest (see the module docstring).
            raise RetrievalError(
                f"writing {len(ids)} documents to the indexes failed ({type(e).__name__}: {e}); "
                "the documents ingested before them are kept. Fix the cause (free disk space, a writable "
                "home) and run the ingest again: it redoes these documents and skips the finished ones"
            ) from e

    def _write_checkpoint(self, items: list[_Prepared], ids: list[str], report: IngestReport) -> None:
        self.ledger.begin(ids)
        if self.vector_index is not None:
            t = time.perf_counter()
            vectors = self.embedder.embed([passage(p.source.title, p.source.text) for p in items])
            report.timings["embed"] += time.perf_counter() - t
            t = time.perf_counter()
            self.vector_index.add(ids, vectors)
            save = getattr(self.vector_index, "save", None)
            if save is not None:
                save()
            report.timings["vectors"] += time.perf_counter() - t
        t = time.perf_counter()
        self.text_index.add([p.indexed for p in items])
        report.timings["text"] += time.perf_counter() - t
        t = time.perf_counter()
        update = delete_documents_update(ids)
        if update:
            self.store.update(update)
        quads = []
        for p in items:
            quads += provenance_quads(
                p.source.id,
                title=p.source.title,
                modality=p.source.modality,
                content_hash=p.source.content_hash,
                links=p.links,
                about=p.subject,
            )
        self.store.add(quads, bulk=True)  # redone with the checkpoint after a crash: see the module docstring
        report.timings["kb"] += time.perf_counter() - t
        self.ledger.record(
            [
                (p.source.id, p.source.content_hash, p.source.title, sum(1 for link in p.links if not link.is_nil))
                for p in items
            ],
            [c for p in items for c in p.contexts],
        )
        for p in items:
            report.links += sum(1 for link in p.links if not link.is_nil)
            if p.update:
                report.updated += 1
            else:
                report.added += 1


def passage(title: str, text: str) -> str:
    """The text a document's embedding is made from: its title, then its text."""
    if title and not text.startswith(title):
        return f"{title}. {text}"
    return text


def _problem(doc: SourceDocument) -> SourceProblem | None:
    if doc.modality == "text" and not doc.text.strip():
        return SourceProblem(doc.origin, doc.id, "text", "the document is empty")
    return None
