"""Picking the text and vector index backends by name, from ``KGSEARCH_*`` settings.

Backends are imported only when opened, so importing kgsearch never imports the Elasticsearch
client (or torch, through the embedder).

========================  ============================  ========================================
setting                   values                        meaning
========================  ============================  ========================================
KGSEARCH_TEXT_INDEX       ``tantivy`` (default),        full-text index; tantivy lives in the
                          ``elasticsearch``             home directory
KGSEARCH_VECTOR_INDEX     ``hnsw`` (default),           passage vectors; hnswlib lives in the
                          ``elasticsearch``, ``none``   home directory; ``none`` turns embeddings off
KGSEARCH_ES_URL           ``http://host:9200``          the Elasticsearch server
KGSEARCH_ES_PREFIX        ``kgsearch`` (default)        prefix of the Elasticsearch index names
========================  ============================  ========================================

>>> s = RetrievalSettings.from_env({"KGSEARCH_VECTOR_INDEX": "none"})
>>> s.text_index, s.vector_index
('tantivy', 'none')
>>> RetrievalSettings.from_env({"KGSEARCH_TEXT_INDEX": "elasticsearch"})
Traceback (most recent call last):
...
retrieval.errors.BackendUnavailableError: KGSEARCH_TEXT_INDEX=elasticsearch needs KGSEARCH_ES_URL, the server's URL (e.g. http://127.0.0.1:9200)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import BackendUnavailableError
from retrieval.text_index import TextIndex
from retrieval.vector_index import VectorIndex

TEXT_INDEXES = ("tantivy", "elasticsearch")
VECTOR_INDEXES = ("hnsw", "elasticsearch", "none")


@dataclass(frozen=True)
class RetrievalSettings:
    """Which index backends a home uses; see the module docstring for the variables."""

    text_index: str = "tantivy"
    vector_index: str = "hnsw"
    es_url: str | None = None
    es_prefix: str = "kgsearch"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RetrievalSettings:
        """Read and check the settings.

        Raises:
            BackendUnavailableError: An unknown backend name, or Elasticsearch without a URL.
        """
        env = os.environ if env is None else env
        settings = cls(
            text_index=env.get("KGSEARCH_TEXT_INDEX") or cls.text_index,
            vector_index=env.get("KGSEARCH_VECTOR_INDEX") or cls.vector_index,
            es_url=env.get("KGSEARCH_ES_URL") or None,
            es_prefix=env.get("KGSEARCH_ES_PREFIX") or cls.es_prefix,
        )
        for name, value, known in (
            ("KGSEARCH_TEXT_INDEX", settings.text_index, TEXT_INDEXES),
            ("KGSEARCH_VECTOR_INDEX", settings.vector_index, VECTOR_INDEXES),
        ):
            if value not in known:
                raise BackendUnavailableError(
                    f"{name}={value!r} is not an index backend; choose one of: {', '.join(known)}"
                )
            if value == "elasticsearch" and not settings.es_url:
                raise BackendUnavailableError(
                    f"{name}=elasticsearch needs KGSEARCH_ES_URL, the server's URL (e.g. http://127.0.0.1:9200)"
                )
        return settings


def open_text_index(settings: RetrievalSettings, home: Path) -> TextIndex:
    """The text index of a home: tantivy in ``home/text``, or an Elasticsearch index."""
    if settings.text_index == "elasticsearch":
        from retrieval._es_text import ElasticsearchTextIndex

        return ElasticsearchTextIndex(settings.es_url, f"{settings.es_prefix}-text")
    from retrieval._tantivy import TantivyTextIndex

    return TantivyTextIndex(home / "text")


def open_vector_index(settings: RetrievalSettings, home: Path, dim: int | None) -> VectorIndex | None:
    """The vector index of a home (``None`` when turned off): hnswlib in ``home/vectors``, or Elasticsearch.

    ``dim`` is needed only to create a new index.
    """
    if settings.vector_index == "none":
        return None
    if settings.vector_index == "elasticsearch":
        from retrieval._es_vector import ElasticsearchVectorIndex

        return ElasticsearchVectorIndex(settings.es_url, f"{settings.es_prefix}-vectors", dim)
    from retrieval._hnsw import HnswVectorIndex

    return HnswVectorIndex(home / "vectors", dim)


def has_vector_index(settings: RetrievalSettings, home: Path) -> bool:
    """Whether the home already holds vectors (so opening needs no dimension, hence no model)."""
    if settings.vector_index == "hnsw":
        return (home / "vectors").is_dir() and any((home / "vectors").iterdir())
    return settings.vector_index == "elasticsearch"
