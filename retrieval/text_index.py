"""The :class:`TextIndex` protocol: BM25 full text over documents and the entities linked in them.

Two implementations share one contract test suite (``tests/retrieval/text_contract.py``):
:class:`~retrieval._tantivy.TantivyTextIndex` (embedded, in memory or on disk) and
:class:`~retrieval._es_text.ElasticsearchTextIndex` (an Elasticsearch server).

Like Broccoli and QLever, a document carries the IRIs of the entities linked in it, so one
search can ask for word and entity co-occurrence (``ql:contains-word`` / ``ql:contains-entity``):

>>> from retrieval._tantivy import TantivyTextIndex
>>> hitchcock = "http://kgsearch.org/movies/person/Alfred_Hitchcock"
>>> index = TantivyTextIndex()              # in memory; TantivyTextIndex("dir") persists
>>> index.add([IndexedDocument("d1", "Rebecca", "A 1940 film directed by Alfred Hitchcock.", entities=(hitchcock,)),
...            IndexedDocument("d2", "Heat", "A 1995 heist film directed by Michael Mann.")])
2
>>> [(h.ref, h.rank, h.snippet) for h in index.search("heist films")]
[('d2', 1, 'A 1995 <b>heist</b> <b>film</b> directed by Michael Mann'), ('d1', 2, 'A 1940 <b>film</b> directed by Alfred Hitchcock')]
>>> [h.ref for h in index.search('"directed by"', entities=[hitchcock])]
['d1']
>>> [h.ref for h in index.search("heist films", require_all=True)]  # every word, not any
['d2']
>>> [h.ref for h in index.search("", entities=[hitchcock])]    # every document that mentions the entity
['d1']
>>> index.count(), index.get("d2").title
(2, 'Heat')
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from retrieval.errors import DocumentError
from retrieval.types import Hit, IndexedDocument

#: Query syntaxes every backend accepts: ``simple`` (words and "quoted phrases"; never raises)
#: and ``native`` (the backend's own query language; raises QuerySyntaxError).
SYNTAXES = ("simple", "native")

#: Longest document id, in UTF-8 bytes (Elasticsearch's limit on ``_id``).
MAX_ID_BYTES = 512

#: Most terms a simple query keeps (see :func:`split_query`).
MAX_QUERY_TERMS = 256

_PHRASE = re.compile(r'"([^"]*)"')
_TERM = re.compile(r"[^\W_]+")  # a run of letters and digits, as tantivy's simple tokenizer sees it


@runtime_checkable
class TextIndex(Protocol):
    """A BM25 index of :class:`~retrieval.types.IndexedDocument` with phrase, entity and id filters.

    Documents are keyed by ``id``: adding an existing id replaces the document. Every write
    is one commit, visible to the next ``search`` when the call returns.
    """

    def add(self, docs: Iterable[IndexedDocument]) -> int:
        """Add or replace documents in one batch: all of them are stored or none.

        Returns:
            How many documents were given.

        Raises:
            DocumentError: A document is malformed; names its id and field. Nothing was stored.
        """
        ...

    def delete(self, ids: Iterable[str]) -> int:
        """Delete documents by id in one commit; unknown ids are ignored.

        Returns:
            How many documents were deleted.
        """
        ...

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
        """Rank documents by BM25 over title and text.

        Args:
            query: In the ``simple`` syntax, words (any one may match) and "quoted phrases";
                any other character is ignored, so arbitrary user text never raises (repeated
                words, and terms past :data:`MAX_QUERY_TERMS`, are dropped). A query
                with no words returns every document that passes the filters (score 1.0), or
                nothing when there are no filters.
            limit: Most hits to return.
            modality: Keep only documents of this modality (``text``, ``image``, ``audio``).
            entities: Keep only documents linked to every one of these entity IRIs.
            ids: Keep only documents with these ids (``None``: no restriction).
            syntax: ``simple`` or ``native`` (the backend's own query language).
            require_all: In the ``simple`` syntax, keep only documents that contain every word
                and every phrase of the query, each in the title or the text (QLever's
                ``ql:contains-word`` with several words); the scores stay those of the default
                any-word search. Ignored by the ``native`` syntax, which has its own ``AND``.

        Returns:
            Hits with ``source="text"``, 1-based ranks, best first, and a snippet of the text
            (HTML-escaped, matched terms in ``<b>…</b>``).

        Raises:
            QuerySyntaxError: A ``native`` query does not parse.
        """
        ...

    def get(self, id: str) -> IndexedDocument | None:
        """The stored document with this id, or ``None``."""
        ...

    def count(self) -> int:
        """Number of documents in the index."""
        ...

    def close(self) -> None:
        """Release files or connections; the index is unusable afterwards."""
        ...


def split_query(query: str) -> tuple[str, list[str]]:
    """Split a simple-syntax query into its loose words and its "quoted phrases".

    An unbalanced quote is ignored, and so is a repeated word. Phrases come first; terms past
    the first :data:`MAX_QUERY_TERMS` are dropped, so that no query grows past a server's limit
    on clauses.

    >>> split_query('heist "directed by" (1995) Heist "unclosed')
    ('heist (1995) unclosed', ['directed by'])
    """
    budget = MAX_QUERY_TERMS
    phrases = []
    for phrase in _PHRASE.findall(query):
        phrase, terms = _clip(phrase, budget)
        if terms:
            phrases.append(" ".join(phrase.split()))
            budget -= terms
    words, seen = [], set()
    for word in _PHRASE.sub(" ", query).replace('"', " ").split():
        if word.casefold() in seen:
            continue
        word, terms = _clip(word, budget)
        if terms:
            words.append(word)
            seen.add(word.casefold())
            budget -= terms
    return " ".join(words), phrases


def _clip(text: str, budget: int) -> tuple[str, int]:
    """``text`` cut after its ``budget``-th term, and how many terms that keeps."""
    ends = [m.end() for m in _TERM.finditer(text)]
    if len(ends) <= budget:
        return text, len(ends)
    return (text[: ends[budget - 1]], budget) if budget else ("", 0)


def has_words(query: str) -> bool:
    """Whether a simple-syntax query has anything to search for (a letter or digit)."""
    return any(ch.isalnum() for ch in query)


def check_search_args(limit: int, syntax: str) -> None:
    """Reject a bad ``limit`` or ``syntax`` with a message that lists the valid values."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"limit must be an int >= 0, not {limit!r}")
    if syntax not in SYNTAXES:
        raise ValueError(f"unknown query syntax {syntax!r}; choose one of: {', '.join(SYNTAXES)}")


def check_document(doc: object) -> str:
    """Validate one document before any of its batch is written.

    Returns:
        The document's metadata as a JSON string.

    Raises:
        DocumentError: Names the document id and the field at fault.
    """
    if not isinstance(doc, IndexedDocument):
        raise DocumentError(f"expected an IndexedDocument, got {type(doc).__name__}")
    doc_id = doc.id
    if not isinstance(doc_id, str) or not doc_id:
        raise DocumentError(f"the id must be a non-empty str, not {doc_id!r}", field="id")
    if len(doc_id.encode("utf-8")) > MAX_ID_BYTES:
        raise DocumentError(f"the id is longer than {MAX_ID_BYTES} bytes; use a shorter id", doc_id=doc_id, field="id")
    for name in ("title", "text", "modality"):
        value = getattr(doc, name)
        if not isinstance(value, str):
            raise DocumentError(f"{name} must be a str, not {type(value).__name__}", doc_id=doc_id, field=name)
    if not doc.modality:
        raise DocumentError("modality must not be empty; use text, image or audio", doc_id=doc_id, field="modality")
    for iri in doc.entities:
        if not isinstance(iri, str) or not iri:
            raise DocumentError(f"entities must be non-empty IRI strings, not {iri!r}", doc_id=doc_id, field="entities")
    try:
        return json.dumps(dict(doc.metadata), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise DocumentError(f"metadata must be JSON-serializable ({e})", doc_id=doc_id, field="metadata") from None
