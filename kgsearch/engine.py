"""The :class:`Engine`: one object that the CLI, the HTTP app and notebooks all call.

>>> import tempfile
>>> from kgsearch.settings import PROJECT_ROOT
>>> with tempfile.TemporaryDirectory() as home, Engine.open(home) as engine:
...     _ = engine.load([PROJECT_ROOT / "ontologies" / "movies.ttl"])
...     engine.entity("http://kgsearch.org/ns/movies#Film").label
Traceback (most recent call last):
...
kg.errors.EntityNotFoundError: no entity 'http://kgsearch.org/ns/movies#Film' in the catalogue; load data that describes it, or look it up by name
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kg.backends import open_store
from kg.catalogue import Entity, EntityCatalogue
from kg.catalogue_build import update_catalogue
from kg.errors import EntityNotFoundError, InputFileError, KgError, RdfSyntaxError, StoreError, UnknownFormatError
from kg.formats import file_digest, guess_format, parse_file
from kg.results import QueryResult
from kg.store import TripleStore
from kgsearch.journal import LoadIntent, LoadJournal
from kgsearch.settings import Settings
from retrieval.backends import has_vector_index, open_text_index, open_vector_index
from retrieval.hybrid import HybridAnswers, HybridSearcher, SearchResults, document_scorer, fit_text_relations
from retrieval.ingest import CHECKPOINT, DocumentLedger, IngestProgress, IngestReport
from retrieval.relations import ClassGazetteer, TextRelationModel
from retrieval.text_index import TextIndex
from retrieval.vector_index import VectorIndex

#: Classes with at most this many members have their names read in any case at ingest (genres,
#: languages, tags), for the text relation model.
GAZETTEER_CLASS_SIZE = 5000

#: Where a home keeps its text relation model.
RELATIONS_FILE = "text-relations.json"

#: Called as ``progress(path, bytes_read, total_bytes)`` while a file loads.
LoadProgress = Callable[[Path, int, int], None]


@dataclass(frozen=True)
class LoadReport:
    """What loading one file did."""

    path: Path
    added: int
    seconds: float
    catalogued: int


@dataclass(frozen=True)
class Stats:
    """Sizes of what a home holds."""

    triples: int
    named_graphs: dict[str, int]
    entities: int
    types: dict[str, int]


@dataclass(frozen=True)
class ExampleResults:
    """What query by example found: the reading of the example file, the entities recognised in
    it (the best link per entity, best first), and the documents that mention any of them."""

    reading: Any
    entities: list
    documents: list

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.reading.text,
            "links": [link.as_json() for link in self.reading.links],
            "entities": [link.as_json() for link in self.entities],
            "documents": [d.as_json() for d in self.documents],
            "metadata": dict(self.reading.metadata),
        }


class HomeError(KgError, OSError):
    """The home directory cannot be created, written or opened."""


def _write_failed(path: Path, error: BaseException) -> str:
    return (
        f"{path}: writing to the KB failed ({error}); part of the file may be stored. Fix the cause (free disk "
        f"space, a writable home) and run `kgsearch load {path}` again: re-running completes it without duplicates"
    )


class Engine:
    """kgsearch over one home directory: a triple store plus its entity catalogue.

    Use :meth:`open` (or the constructor with :class:`Settings`), and close it, or use it
    as a context manager. The embedded store allows one process per home at a time.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        try:
            settings.home.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise HomeError(
                f"cannot create the home {settings.home} ({e.strerror}); choose a writable place with "
                "--home or KGSEARCH_HOME"
            ) from e
        self.store: TripleStore = self._open_store()
        try:
            self.catalogue = EntityCatalogue(settings.home / "catalogue.sqlite")
        except sqlite3.Error as e:
            self.store.close()
            raise HomeError(f"cannot open the entity catalogue in {settings.home}: {e}") from e
        self._linker = None
        self._parser = None
        self._text_index = None
        self._vector_index = None
        self._embedder = None
        self._ledger = None
        self._relations = None
        self._relations_loaded = False
        self._media = None
        #: Loads that a killed process left unfinished (see :mod:`kgsearch.journal`); loading the
        #: same file again completes each.
        self.interrupted_loads: list[LoadIntent] = LoadJournal(settings.home).pending()
        #: Ids of documents whose ingest a killed process left half-written; undone at open.
        self.rolled_back: list[str] = self._recover_ingest()

    def _recover_ingest(self) -> list[str]:
        """Undo the checkpoint an ingest was writing when its process died (see :mod:`retrieval.ingest`)."""
        if not (self.settings.home / "ingest.sqlite").exists() or not self.ledger().pending():
            return []
        from retrieval.ingest import recover

        return recover(self.ledger(), store=self.store, text_index=self.text_index(), vector_index=self.vector_index())

    def recovery_notes(self) -> list[str]:
        """What a crash left behind and what was done about it, for the CLI and the server log."""
        notes = [
            f"{intent.describe()}: part of it may be stored; run `kgsearch load {intent.path}` again to complete it "
            "(re-running adds no duplicates)"
            for intent in self.interrupted_loads
        ]
        if self.rolled_back:
            notes.append(
                f"an ingest was interrupted: its last {len(self.rolled_back):,} unfinished documents were removed "
                "from every index; run the ingest again to add them"
            )
        return notes

    @classmethod
    def open(cls, home: str | Path | None = None) -> Engine:
        """Open (creating if needed) the home ``home``, or the one the environment names."""
        return cls(Settings.from_env(home=home))

    def _open_store(self) -> TripleStore:
        kg = self.settings.kg
        if kg.store == "oxigraph":
            return open_store("oxigraph", self.settings.home / "store")
        return open_store(
            "sparql",
            kg.sparql_url,
            kg.sparql_update_url,
            default_graph=kg.sparql_graph,
            user=kg.sparql_user,
            password=kg.sparql_password,
        )

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Flush and release the indexes, the store and the catalogue."""
        for part in (self._vector_index, self._text_index, self._ledger):
            if part is not None:
                part.close()
        self._vector_index = self._text_index = self._ledger = None
        self.catalogue.close()
        self.store.close()

    def load(
        self,
        paths: Iterable[str | Path],
        *,
        format: str | ox.RdfFormat | None = None,
        graph: str | None = None,
        progress: LoadProgress | None = None,
    ) -> list[LoadReport]:
        """Load RDF files, each atomically, and update the catalogue for what they touched.

        Files are checked (exists, non-empty, known format) before any is loaded. A file that
        fails to parse stores nothing and stops the load; files loaded before it stay.

        Args:
            paths: RDF files (Turtle, N-Triples, N-Quads, TriG, N3, RDF/XML, JSON-LD; ``.gz`` too).
            format: Serialization of all the files; guessed per file from its extension when ``None``.
            graph: Named graph to load into; the default graph (the one the catalogue indexes) when ``None``.
            progress: Called with ``(path, bytes_read, total_bytes)``.

        Raises:
            InputFileError, UnknownFormatError, RdfSyntaxError: See :meth:`kg.store.TripleStore.load`.
        """
        from kg.formats import open_rdf, rdf_format

        paths = [Path(p) for p in paths]
        formats = {}
        for path in paths:  # fail fast on missing files or unknown formats, before loading anything
            formats[path] = rdf_format(format) if format else guess_format(path)
            open_rdf(path).close()
        journal = LoadJournal(self.settings.home)
        reports = []
        for path in paths:
            started = time.perf_counter()
            total = path.stat().st_size
            callback = (lambda n, p=path, t=total: progress(p, n, t)) if progress else None
            intent = journal.begin(path, file_digest(path), graph)
            try:
                added = self.store.load(path, format=formats[path], graph=graph, progress=callback)
            except (InputFileError, RdfSyntaxError, UnknownFormatError):
                journal.end(intent)  # refused while parsing, before anything was written
                raise
            except OSError as e:
                raise StoreError(_write_failed(path, e)) from e
            # A file whose earlier load was killed is complete now; its entities still need cataloguing.
            resumed = any(i.name == intent.name for i in self.interrupted_loads)
            catalogued = 0
            if graph is None and (added or resumed):
                try:
                    catalogued = self._update_catalogue(path, formats[path])
                except (OSError, sqlite3.Error) as e:
                    raise StoreError(_write_failed(path, e)) from e
            journal.end(intent)
            self.interrupted_loads = [i for i in self.interrupted_loads if i.name != intent.name]
            reports.append(LoadReport(path, added, time.perf_counter() - started, catalogued))
            # the linkers' indexes (aliases, face gallery, class labels) no longer match the KB
            self._linker = self._parser = self._media = None
        return reports

    def _update_catalogue(self, path: Path, fmt: ox.RdfFormat) -> int:
        touched: set[str] = set()
        for quad in parse_file(path, fmt):
            if isinstance(quad.graph_name, ox.DefaultGraph):
                if isinstance(quad.subject, ox.NamedNode):
                    touched.add(quad.subject.value)
                if isinstance(quad.object, ox.NamedNode):
                    touched.add(quad.object.value)
        # Past about half the catalogue a full rebuild is cheaper than chunked look-ups.
        full = len(touched) > len(self.catalogue) // 2 + 1000
        return update_catalogue(self.catalogue, self.store, None if full else touched).updated

    def linker(self):
        """The text linker over this home's catalogue, built on first use (seconds for the full movie KB).

        Returns:
            linking.text.TextLinker: Rebuilt after data is loaded.
        """
        if self._linker is None:
            from linking.text import TextLinker

            self._linker = TextLinker.build(self.catalogue, self.store)
        return self._linker

    def link(self, text: str, *, noisy: bool = False, question: bool = False, doc_id: str = "text") -> list:
        """Ground the entity mentions of ``text`` in the KB, with spans, scores and methods.

        Args:
            text: The text to link.
            noisy: Text without reliable case or punctuation (ASR transcripts, OCR).
            question: Rank the topic entities of a question instead of linking every mention.

        Returns:
            list[linking.types.Link]: In text order; NIL links (``entity_iri`` ``None``) for
            mentions of nothing in the KB.

        Raises:
            linking.errors.InputTextError: The text is empty.
        """
        from linking.errors import InputTextError
        from linking.types import Document

        if not text or not text.strip():
            raise InputTextError("there is no text to link")
        linker = self.linker().with_config(noisy=True) if noisy else self.linker()
        return linker.topic_entities(text) if question else linker.link(Document(doc_id, text=text))

    def media_readers(self) -> dict:
        """Readers of image and audio documents, built on first use.

        Images are read by the face linker (gallery from the KB's entity images), Tesseract OCR
        and, with ``KGSEARCH_OBJECT_MODEL`` set, a zero-shot object detector; audio by Whisper
        (``KGSEARCH_WHISPER_MODEL``). A linker whose model is missing is skipped and named in
        the document's metadata (see :class:`linking.media.CombinedReader`).

        Returns:
            dict[str, linking.media.CombinedReader]: By modality, ``image`` and ``audio``.
        """
        if self._media is None:
            from linking.media import CombinedReader

            self._media = {
                "image": CombinedReader(
                    {"faces": self._face_linker, "ocr": self._ocr_linker, "objects": self._object_linker}
                ),
                "audio": CombinedReader({"speech": self._speech_linker}),
            }
        return self._media

    def _face_linker(self):
        from linking.faces import FaceGallery, FaceLinker

        return FaceLinker(FaceGallery.from_store(self.store, cache=self.settings.home / "faces.json"))

    def _ocr_linker(self):
        from linking.ocr import OcrLinker

        return OcrLinker(self.linker(), lang=self.settings.media.ocr_lang)

    def _object_linker(self):
        from linking.errors import ModelUnavailableError
        from linking.objects import ObjectLinker, classes_from_ontology

        model = self.settings.media.object_model
        if model is None:
            raise ModelUnavailableError("no object detector is configured (set KGSEARCH_OBJECT_MODEL)")
        return ObjectLinker(model, classes_from_ontology(self.store))

    def _speech_linker(self):
        from linking.speech import SpeechLinker, Transcriber

        return SpeechLinker(self.linker(), Transcriber(self.settings.media.whisper_model))

    def parser(self):
        """The semantic parser over this home's KB, built on first use (reads the schema once).

        Returns:
            parser.parser.SemanticParser: With the shipped relation lexicon when it fits the ontology.
        """
        if self._parser is None:
            from parser.parser import SemanticParser

            self._parser = SemanticParser.build(self.store, self.catalogue, self.linker())
        return self._parser

    # -- documents ---------------------------------------------------------------------------

    def text_index(self) -> TextIndex:
        """The full-text index (``KGSEARCH_TEXT_INDEX``; tantivy in the home by default)."""
        if self._text_index is None:
            self._text_index = open_text_index(self.settings.retrieval, self.settings.home)
        return self._text_index

    def embedder(self):
        """The passage and query embedder (sentence-transformers, the packaged all-MiniLM-L6-v2).

        Precision: ``KGSEARCH_EMBEDDING_PRECISION``, else ``auto`` (bfloat16 where the CPU has it).
        """
        if self._embedder is None:
            from linking.embeddings import PRECISION_ENV, SentenceTransformerEmbedder

            self._embedder = SentenceTransformerEmbedder(precision=os.environ.get(PRECISION_ENV) or "auto")
        return self._embedder

    def vector_index(self, *, create: bool = False) -> VectorIndex | None:
        """The passage vector index, or ``None`` when turned off (or, unless ``create``, when empty)."""
        if self._vector_index is None:
            settings, home = self.settings.retrieval, self.settings.home
            if settings.vector_index == "none" or not (create or has_vector_index(settings, home)):
                return None
            dim = self.embedder().dim if create and not has_vector_index(settings, home) else None
            self._vector_index = open_vector_index(settings, home, dim)
        return self._vector_index

    def ledger(self) -> DocumentLedger:
        """The record of ingested documents and their mention contexts (``ingest.sqlite``)."""
        if self._ledger is None:
            self._ledger = DocumentLedger(self.settings.home / "ingest.sqlite")
        return self._ledger

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        progress: IngestProgress | None = None,
        vectors: bool = True,
        checkpoint: int = CHECKPOINT,
    ) -> IngestReport:
        """Link and index documents: text files, JSON Lines, or folders of them.

        Documents already ingested with the same content are skipped; changed ones are replaced.
        Afterwards the text relation model is refitted from the KB and all mention contexts.

        Args:
            paths: Files or folders (see :mod:`retrieval.sources`).
            progress: Called with the number of documents read so far.
            vectors: Also embed passages (slow on CPU: about 130 passages/s on 2 cores).
            checkpoint: Documents written at a time; a killed ingest is undone to its last checkpoint.

        Raises:
            SourceError: A path is missing or of an unknown kind (nothing is ingested).
        """
        from retrieval.ingest import Ingester
        from retrieval.sources import check_paths, read_sources

        paths = check_paths(list(paths))
        vector_index = self.vector_index(create=True) if vectors else None
        ingester = Ingester(
            store=self.store,
            linker=self.linker(),
            text_index=self.text_index(),
            ledger=self.ledger(),
            vector_index=vector_index,
            embedder=self.embedder() if vector_index is not None else None,
            gazetteer=self.gazetteer(),
            media=self.media_readers(),
            checkpoint=checkpoint,
        )
        report = ingester.ingest(read_sources(paths), progress=progress)
        if report.added or report.updated:
            started = time.perf_counter()
            self.fit_text_relations()
            report.timings["relations"] = time.perf_counter() - started
        return report

    def gazetteer(self) -> ClassGazetteer:
        """Names of the members of the KB's small classes (at most :data:`GAZETTEER_CLASS_SIZE` members)."""
        small = [c for c, n in self.catalogue.type_counts().items() if n <= GAZETTEER_CLASS_SIZE]
        return ClassGazetteer.from_store(self.store, small)

    def fit_text_relations(self) -> TextRelationModel:
        """Refit the text relation model from the KB's facts and the ingested mention contexts; saved in the home."""
        model = fit_text_relations(self.store, self.catalogue, self.ledger().contexts(), self.parser().schema)
        model.save(self.settings.home / RELATIONS_FILE)
        self._relations, self._relations_loaded = model, True
        return model

    def relation_model(self) -> TextRelationModel | None:
        """The text relation model fitted at the last ingest, or ``None``."""
        if not self._relations_loaded:
            path = self.settings.home / RELATIONS_FILE
            self._relations = TextRelationModel.load(path) if path.exists() else None
            self._relations_loaded = True
        return self._relations

    def hybrid(self) -> HybridSearcher:
        """Search and ask over the KB and the ingested documents."""
        return HybridSearcher(
            store=self.store,
            catalogue=self.catalogue,
            text_index=self.text_index(),
            contexts=self.ledger().contexts,
            parser=self.parser(),
            vector_index=self.vector_index(),
            embedder=self.embedder() if self.vector_index() is not None else None,
            relations=self.relation_model(),
            document_scorer=document_scorer(),
        )

    def search(self, query: str, *, limit: int = 10, entities: Sequence[str] = ()) -> SearchResults:
        """Documents (BM25 and vectors fused) and entities for a keyword query, with evidence.

        ``entities`` keeps only documents that mention all of these entity IRIs.
        """
        return self.hybrid().search(query, limit=limit, entities=entities)

    def read_media(self, path: str | Path, *, modality: str | None = None):
        """Read one image or audio file with this KB's media linkers, without ingesting it.

        Args:
            path: The file.
            modality: ``image`` or ``audio``; from the file's suffix when ``None``.

        Returns:
            linking.types.Reading: The text read (OCR words, transcript), the links (faces with
            boxes, words with boxes or time spans) and the reading's metadata.

        Raises:
            SourceError: The file is missing or its kind is not an image or audio suffix.
            linking.errors.InputImageError: The file is not a readable image.
            linking.errors.ModelUnavailableError: No linker for the modality could run.
        """
        from linking.types import Document
        from retrieval.sources import MEDIA_SUFFIXES, SourceError

        path = Path(path)
        if not path.is_file():
            raise SourceError(f"{path}: no such file")
        modality = modality or MEDIA_SUFFIXES.get(path.suffix.lower())
        if modality not in ("image", "audio"):
            kinds = ", ".join(sorted(MEDIA_SUFFIXES))
            raise SourceError(f"{path}: not an image or audio file (known suffixes: {kinds})")
        return self.media_readers()[modality].read(Document(path.name, path=path, modality=modality))

    def transcribe(self, path: str | Path) -> str:
        """The words spoken in an audio file (Whisper), e.g. a question to :meth:`ask`.

        Raises:
            SourceError: The file is missing, or no speech was heard in it.
            The errors of :meth:`read_media`.
        """
        from retrieval.sources import SourceError

        text = self.read_media(path, modality="audio").text.strip()
        if not text:
            raise SourceError(f"{path}: no speech was heard in the audio")
        return text

    def search_by_example(self, path: str | Path, query: str = "", *, limit: int = 10) -> ExampleResults:
        """Query by example: the entities recognised in an image (faces, words), and the documents
        that mention any of them (ranked with ``query``'s keywords when given).

        Raises:
            The errors of :meth:`read_media`.
        """
        reading = self.read_media(path, modality="image")
        best: dict[str, Any] = {}
        for link in reading.links:
            if link.entity_iri and (link.entity_iri not in best or link.score > best[link.entity_iri].score):
                best[link.entity_iri] = link
        found = sorted(best.values(), key=lambda link: -link.score)
        documents: dict[str, Any] = {}
        for link in found:
            for doc in self.search(query, limit=limit, entities=[link.entity_iri]).documents:
                if doc.id not in documents or doc.score > documents[doc.id].score:
                    documents[doc.id] = doc
        ranked = sorted(documents.values(), key=lambda d: -d.score)[:limit]
        return ExampleResults(reading=reading, entities=found, documents=ranked)

    def ask(self, question: str, *, limit: int = 100) -> HybridAnswers:
        """Answer a question from the KB and the ingested documents, fused (KB answers first when sure).

        Raises:
            parser.errors.CannotParseError: The question is empty or too long, or it names no KB
                entity and there are no documents to answer it from.
        """
        return self.hybrid().ask(question, limit=limit)

    def rebuild_catalogue(self) -> int:
        """Rebuild every catalogue entry from the store; returns the number of entities."""
        self._linker = self._parser = self._media = None
        return update_catalogue(self.catalogue, self.store).entities

    def sparql(self, query: str) -> QueryResult:
        """Run a SPARQL 1.1 query on the store; SPARQL+Text patterns (``kgs:contains-word``,
        ``kgs:contains-entity``, ``kgs:text-score``) are answered from the text index.

        Raises:
            SparqlSyntaxError: The query does not parse.
            QuerySyntaxError: A text pattern is misused (the message says how).
            TextQueryTooBroadError: Text patterns match too many documents; add words or entities.
        """
        from retrieval.sparql_text import TextSparql, has_text_patterns

        if has_text_patterns(query):
            return TextSparql(self.store, self.text_index()).query(query)
        return self.store.query(query)

    def entity(self, ref: str) -> Entity:
        """The entity with IRI ``ref``, else the most popular entity named ``ref``.

        Raises:
            EntityNotFoundError: Neither an IRI nor a name of a known entity.
        """
        if ref in self.catalogue:
            return self.catalogue.get(ref)
        found = self.catalogue.lookup(ref, limit=1)
        if found:
            return found[0]
        if ref.startswith(("http://", "https://", "urn:")):
            return self.catalogue.get(ref)  # raises with the IRI in the message
        raise EntityNotFoundError(f"no entity is called {ref!r}; try `kgsearch sparql` with a FILTER on labels")

    def facts(self, iri: str, *, limit: int = 200) -> list[tuple[str, str, str]]:
        """The entity's outgoing facts as ``(property IRI, property label, value text)``, sorted by property."""
        from kg.ontology import Ontology

        onto = Ontology.from_store(self.store)
        rows = self.store.query(
            f"SELECT ?p ?o ?label WHERE {{ <{ox.NamedNode(iri).value}> ?p ?o "
            f"OPTIONAL {{ ?o <http://www.w3.org/2000/01/rdf-schema#label> ?label }} }} LIMIT {int(limit)}"
        )
        facts = []
        for p, o, label in rows:
            text = (
                label.value if label is not None else (o.value if not isinstance(o, ox.BlankNode) else f"_:{o.value}")
            )
            facts.append((p.value, onto.label(p.value), text))
        return sorted(set(facts), key=lambda f: (f[1], f[2]))

    def stats(self) -> Stats:
        """Triples per graph and entities per type."""
        graphs = {g: self.store.count(g) for g in self.store.named_graphs()}
        return Stats(self.store.count(), graphs, len(self.catalogue), self.catalogue.type_counts())
