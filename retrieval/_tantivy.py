"""The embedded :class:`~retrieval.text_index.TextIndex`: tantivy, in memory or in a directory.

Title and text go through tantivy's ``en_stem`` analyzer (simple tokenizer, lowercase,
Porter/Snowball English stemmer): on SciFact (test, nDCG@10, tantivy's own query parser over
both fields) it gives 0.656 against 0.622 for the default tokenizer. Positions are indexed,
so "quoted phrases" work. The simple query syntax is turned into tantivy ``Query`` objects
directly, never through the query parser, so no user text can fail to parse (and the same
SciFact run scores 0.689 with this module's queries and title boost).

>>> with TantivyTextIndex() as index:
...     index.add([IndexedDocument("d1", "Heat", "Neil McCauley plans one last heist in Los Angeles.")])
...     [(h.ref, h.snippet) for h in index.search("the heists")]
1
[('d1', 'Neil McCauley plans one last <b>heist</b> in Los Angeles')]
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import tantivy

from retrieval.errors import QuerySyntaxError, RetrievalError
from retrieval.text_index import check_document, check_search_args, has_words, split_query
from retrieval.types import Hit, IndexedDocument

#: Writer memory: tantivy splits it between its indexing threads (at least 15 MB each).
HEAP_BYTES = 128_000_000
#: Indexing threads; two keep a 2-core machine busy while Python builds the next documents.
WRITER_THREADS = 2
#: Longest snippet, in characters (tantivy's default).
SNIPPET_CHARS = 150
#: Weight of a title match against a text match. SciFact (test, nDCG@10): 0.689 at 0.5, 0.668 at
#: 1.0 (plain BM25 over both fields), 0.626 at 2.0; the only benchmark with text relevance labels.
TITLE_BOOST = 0.5

_FIELDS = ("title", "text")
# Mirrors tantivy's built-in "en_stem" (tokenizer/tokenizer_manager.rs) so that query words are
# analyzed exactly as the indexed text was; tests/retrieval/test_tantivy.py checks they agree.
_EN_STEM = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(40))
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.stemmer("english"))
    .build()
)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem", index_option="position")
    builder.add_text_field("text", stored=True, tokenizer_name="en_stem", index_option="position")
    builder.add_text_field("modality", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("entities", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_bytes_field("metadata", stored=True, indexed=False)  # JSON, UTF-8; stored, never searched
    return builder.build()


class TantivyTextIndex:
    """A :class:`~retrieval.text_index.TextIndex` backed by tantivy.

    Args:
        path: Directory of the index, created if missing and reopened if it holds one;
            ``None`` keeps the index in memory.
        title_boost: Weight of a title match against a text match.
        heap_bytes: Writer memory, split between ``threads`` (at least 15 MB each).
        threads: Indexing threads.

    Raises:
        RetrievalError: ``path`` holds an index with another schema, or another process is writing it.

    >>> index = TantivyTextIndex()
    >>> index.add([IndexedDocument("a", "", "Bank robbery in Los Angeles", modality="audio")])
    1
    >>> index.search("robbery", modality="text"), index.search("robbery", modality="audio")[0].ref
    ([], 'a')
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        title_boost: float = TITLE_BOOST,
        heap_bytes: int = HEAP_BYTES,
        threads: int = WRITER_THREADS,
    ):
        self.path = None if path is None else Path(path)
        self.title_boost = title_boost
        self._heap_bytes = heap_bytes
        self._threads = threads
        self._schema = _schema()
        self._lock = threading.Lock()
        self._writer: tantivy.IndexWriter | None = None
        if self.path is None:
            self._index: tantivy.Index | None = tantivy.Index(self._schema)
            return
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._index = tantivy.Index(self._schema, str(self.path), reuse=True)
        except ValueError as e:
            raise RetrievalError(
                f"cannot open the text index in {self.path}: {e}. If it was made by another version of "
                "kgsearch, delete the directory and ingest again, or choose another path."
            ) from e

    def __repr__(self) -> str:
        return f"TantivyTextIndex({str(self.path) if self.path else None!r})"

    def __enter__(self) -> TantivyTextIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def add(self, docs: Iterable[IndexedDocument]) -> int:
        """Add or replace documents in one commit; a bad document rolls the whole batch back.

        Raises:
            DocumentError: A document is malformed; names its id and field. Nothing was stored.
        """
        with self._lock:
            writer = self._open_writer()
            n = 0
            try:
                for doc in docs:
                    metadata = check_document(doc)
                    # Delete then add within one commit: tantivy applies a delete only to the
                    # documents added before it, so the new version survives.
                    writer.delete_documents_by_term("id", doc.id)
                    writer.add_document(self._to_tantivy(doc, metadata))
                    n += 1
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            self._index.reload()
            return n

    def delete(self, ids: Iterable[str]) -> int:
        """Delete documents by id in one commit; unknown ids are ignored.

        Returns:
            How many documents were deleted.
        """
        with self._lock:
            writer = self._open_writer()
            before = self.count()
            try:
                for doc_id in ids:
                    writer.delete_documents_by_term("id", str(doc_id))
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            self._index.reload()
            return before - self.count()

    # -- reading ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        modality: str | None = None,
        entities: Sequence[str] = (),
        ids: Sequence[str] | None = None,
        syntax: str = "simple",
        require_all: bool = False,
    ) -> list[Hit]:
        """Rank documents by BM25 over title and text; see :meth:`TextIndex.search`.

        ``syntax="native"`` takes tantivy's query language (``title:heat AND "los angeles"``).
        """
        check_search_args(limit, syntax)
        index = self._open_index()
        if limit == 0 or (ids is not None and not ids):
            return []
        filters = self._filters(modality, entities, ids)
        if syntax == "native":
            text_query = self._native_query(index, query)
        elif has_words(query):
            text_query = self._simple_query(query, require_all)
        else:
            text_query = None
        if text_query is None:
            if not filters:
                return []
            # Every document that passes the filters, equally: like ql:contains-entity alone.
            full = tantivy.Query.const_score_query(self._all_of(filters), 1.0)
        elif filters:
            # Filters score zero so that the ranking stays pure BM25.
            full = self._all_of([text_query, tantivy.Query.const_score_query(self._all_of(filters), 0.0)])
        else:
            full = text_query
        searcher = index.searcher()
        found = searcher.search(full, limit, count=False).hits
        snippets = _Snippets(searcher, text_query, self._schema)
        hits = []
        for rank, (score, address) in enumerate(found, start=1):
            doc = searcher.doc(address)
            hits.append(Hit("text", doc.get_first("id"), float(score), rank, snippets.of(doc)))
        return hits

    def get(self, id: str) -> IndexedDocument | None:
        """The stored document with this id, or ``None``."""
        searcher = self._open_index().searcher()
        found = searcher.search(tantivy.Query.term_query(self._schema, "id", id), 1, count=False).hits
        if not found:
            return None
        return _from_tantivy(searcher.doc(found[0][1]))

    def count(self) -> int:
        """Number of documents in the index."""
        return self._open_index().searcher().num_docs

    def close(self) -> None:
        """Finish pending merges and release the directory lock; the index is unusable afterwards."""
        with self._lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()
            self._writer = None
            self._index = None

    # -- helpers ---------------------------------------------------------------------------

    def _open_index(self) -> tantivy.Index:
        if self._index is None:
            raise RetrievalError(f"{self!r} is closed; open a new TantivyTextIndex")
        return self._index

    def _open_writer(self) -> tantivy.IndexWriter:
        index = self._open_index()
        if self._writer is None:
            # Made on the first write, so that readers can open a directory another process writes.
            try:
                self._writer = index.writer(self._heap_bytes, self._threads)
            except ValueError as e:
                raise RetrievalError(
                    f"cannot write the text index in {self.path}: {e}. Close the other writer first "
                    "(only one process may write an index at a time)."
                ) from e
        return self._writer

    def _to_tantivy(self, doc: IndexedDocument, metadata: str) -> tantivy.Document:
        out = tantivy.Document()
        out.add_text("id", doc.id)
        out.add_text("title", doc.title)
        out.add_text("text", doc.text)
        out.add_text("modality", doc.modality)
        for iri in doc.entities:
            out.add_text("entities", iri)
        out.add_bytes("metadata", metadata.encode("utf-8"))
        return out

    def _simple_query(self, query: str, require_all: bool = False) -> tantivy.Query | None:
        words, phrases = split_query(query)
        clauses = [
            self._over_fields(tantivy.Query.term_query, self._schema, token) for token in _EN_STEM.analyze(words)
        ]
        for phrase in phrases:
            tokens = _EN_STEM.analyze(phrase)
            if len(tokens) == 1:
                clauses.append(self._over_fields(tantivy.Query.term_query, self._schema, tokens[0]))
            elif tokens:
                clauses.append(self._over_fields(tantivy.Query.phrase_query, self._schema, tokens))
        if not clauses:
            return None
        # Must and Should sum the same clause scores, so requiring every term keeps the ranking.
        occur = tantivy.Occur.Must if require_all else tantivy.Occur.Should
        return tantivy.Query.boolean_query([(occur, clause) for clause in clauses])

    def _over_fields(self, make: Any, schema: tantivy.Schema, words: Any) -> tantivy.Query:
        # The score of a word is the sum of its title and text scores, as tantivy's own query
        # parser does with several default fields.
        title = tantivy.Query.boost_query(make(schema, "title", words), self.title_boost)
        text = make(schema, "text", words)
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, title), (tantivy.Occur.Should, text)])

    def _native_query(self, index: tantivy.Index, query: str) -> tantivy.Query | None:
        if not query.strip():
            return None
        try:
            return index.parse_query(query, list(_FIELDS), field_boosts={"title": self.title_boost})
        except ValueError as e:
            raise QuerySyntaxError(
                f"{e}. Quote phrases, escape special characters with a backslash, or search with syntax='simple'"
            ) from None

    def _filters(self, modality: str | None, entities: Sequence[str], ids: Sequence[str] | None) -> list:
        schema = self._schema
        if isinstance(entities, str):
            raise TypeError("entities must be a sequence of IRIs, not one string; wrap it in a list")
        filters = [tantivy.Query.term_query(schema, "entities", iri) for iri in entities]
        if modality is not None:
            filters.append(tantivy.Query.term_query(schema, "modality", modality))
        if ids is not None:
            filters.append(tantivy.Query.term_set_query(schema, "id", list(ids)))
        return filters

    @staticmethod
    def _all_of(queries: list[tantivy.Query]) -> tantivy.Query:
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])


class _Snippets:
    """Snippets of the text (or, failing a match there, the title) with matched terms in ``<b>``."""

    def __init__(self, searcher: tantivy.Searcher, query: tantivy.Query | None, schema: tantivy.Schema):
        self._generators = []
        if query is not None:
            for field in ("text", "title"):
                generator = tantivy.SnippetGenerator.create(searcher, query, schema, field)
                generator.set_max_num_chars(SNIPPET_CHARS)
                self._generators.append(generator)

    def of(self, doc: tantivy.Document) -> str:
        for generator in self._generators:
            snippet = generator.snippet_from_doc(doc)
            if snippet.highlighted():
                return snippet.to_html()
        return lead(doc.get_first("text") or "")


def lead(text: str, chars: int = SNIPPET_CHARS) -> str:
    """The first ``chars`` characters of a text, cut at a word, HTML-escaped (a snippet with no match).

    >>> lead("Neil McCauley plans one last heist & retires", 30)
    'Neil McCauley plans one last'
    """
    if len(text) > chars:
        cut = text[:chars]
        text = cut.rsplit(None, 1)[0] if " " in cut else cut
    return html.escape(text.strip(), quote=False)


def _from_tantivy(doc: tantivy.Document) -> IndexedDocument:
    fields = doc.to_dict()
    metadata = fields.get("metadata") or [b"{}"]
    return IndexedDocument(
        id=fields["id"][0],
        title=(fields.get("title") or [""])[0],
        text=(fields.get("text") or [""])[0],
        modality=fields["modality"][0],
        entities=tuple(fields.get("entities", ())),
        metadata=json.loads(bytes(metadata[0]).decode("utf-8")),
    )
