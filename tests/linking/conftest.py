"""Fixtures shared by the linker tests."""

from __future__ import annotations

import json

import pytest

from kg import OxigraphStore
from kg.catalogue import EntityCatalogue
from kg.catalogue_build import update_catalogue
from kgsearch.datasets import DOCS_SAMPLE
from kgsearch.settings import PROJECT_ROOT
from linking.text import TextLinker


@pytest.fixture(scope="session")
def sample_linker() -> TextLinker:
    """The text linker over the quick-start's sample movie KB (in memory)."""
    store = OxigraphStore()
    store.load(PROJECT_ROOT / "ontologies" / "movies.ttl")
    store.load(PROJECT_ROOT / "data" / "movies-sample.ttl")
    catalogue = EntityCatalogue()
    update_catalogue(catalogue, store)
    return TextLinker.build(catalogue, store)


def sample_sentence(title: str) -> str:
    """The first sentence of the sample document about the film ``title`` (a real Wikipedia lead)."""
    for line in DOCS_SAMPLE.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        if doc.get("title") == title:
            return doc["text"].split(". ")[0] + "."
    raise LookupError(f"no sample document is titled {title!r}")
