"""TantivyTextIndex against the shared contract, in memory and on disk, plus what only tantivy does."""

from __future__ import annotations

import json

import pytest
import tantivy

from retrieval._tantivy import _EN_STEM, TantivyTextIndex
from retrieval.errors import RetrievalError
from retrieval.types import IndexedDocument
from tests.retrieval.text_contract import CORPUS, MANN, TextIndexContract


class TestTantivyInMemory(TextIndexContract):
    @pytest.fixture
    def text_index(self):
        index = TantivyTextIndex()
        yield index
        index.close()


class TestTantivyOnDisk(TextIndexContract):
    @pytest.fixture
    def text_index(self, tmp_path):
        self.opened = [TantivyTextIndex(tmp_path / "text")]
        yield self.opened[0]
        for index in self.opened:
            index.close()

    def reopen(self, index):
        index.close()
        self.opened.append(TantivyTextIndex(index.path))
        return self.opened[-1]


@pytest.fixture
def loaded():
    index = TantivyTextIndex()
    index.add(CORPUS)
    yield index
    index.close()


def test_scores_are_pinned(loaded):
    # BM25 (k1=1.2, b=0.75) summed over title (boost 0.5) and text; a regression check.
    assert [(h.ref, round(h.score, 3)) for h in loaded.search("heist")] == [("thief", 1.107), ("heat", 0.908)]
    assert [(h.ref, round(h.score, 3)) for h in loaded.search("Heat", limit=3)] == [
        ("heat", 1.566),
        ("poster", 0.976),
        ("interview", 0.827),
    ]


def test_title_boost_weighs_titles(loaded):
    heavy = TantivyTextIndex(title_boost=10.0)
    heavy.add(CORPUS)
    # "Heat" is the title of one document and a word in three texts.
    assert [h.ref for h in heavy.search("heat")][0] == "heat"
    assert heavy.search("heat")[0].score > 10 * loaded.search("heat")[0].score
    heavy.close()


def test_query_analyzer_matches_the_indexed_one(tmp_path):
    """The query-side analyzer mirrors tantivy's built-in en_stem, or terms would silently miss."""
    text = "Running HEISTS, can't-stop Zoë's Ünïcödé 1,000 x" + "y" * 45 + " 東京物語 naïve café"
    index = TantivyTextIndex()
    index.add([IndexedDocument("d", "", text)])
    searcher = index._index.searcher()
    tokens = _EN_STEM.analyze(text)
    assert "heist" in tokens and "run" in tokens
    assert all(searcher.doc_freq("text", token) == 1 for token in tokens)
    assert index.search("x" + "y" * 45) == []  # dropped as too long on both sides


def test_reopening_and_readers_beside_a_writer(tmp_path):
    with TantivyTextIndex(tmp_path / "t") as writer:
        writer.add(CORPUS)
        reader = TantivyTextIndex(tmp_path / "t")  # a second process may read while one writes
        assert reader.count() == len(CORPUS)
        with pytest.raises(RetrievalError, match="only one process"):
            reader.add([IndexedDocument("x", "", "y")])
        reader.close()
    with TantivyTextIndex(tmp_path / "t") as again:
        assert again.get("thief") == CORPUS[1]
        assert [h.ref for h in again.search("heist", entities=[MANN])] == ["thief", "heat"]


def test_a_directory_with_another_schema_is_refused(tmp_path):
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body", stored=True)
    tantivy.Index(builder.build(), str(tmp_path))
    with pytest.raises(RetrievalError, match="delete the directory"):
        TantivyTextIndex(tmp_path)


def test_native_syntax_reaches_every_field(loaded):
    assert [h.ref for h in loaded.search('title:heat AND "los angeles"', syntax="native")] == ["heat"]
    assert [h.ref for h in loaded.search("heist AND -title:heat", syntax="native")] == ["thief"]
    assert [h.ref for h in loaded.search("", syntax="native", entities=[MANN], limit=1)]


def test_title_only_match_snippet(loaded):
    loaded.add([IndexedDocument("t", "Vertigo", "A 1958 thriller set in San Francisco.")])
    (hit,) = loaded.search("vertigo")
    assert hit.snippet == "<b>Vertigo</b>"


@pytest.mark.slow
def test_movie_corpus(shared_data, tmp_path):
    """All 62k documents of the movie text corpus, on disk (throughput lives in bench/)."""
    docs = []
    with open(shared_data / "movie-text" / "docs.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            docs.append(IndexedDocument(row["doc_id"], row["title"], row["text"], metadata={"year": row.get("year")}))
    with TantivyTextIndex(tmp_path / "movies") as index:
        assert index.add(docs) == len(docs) == 62_245
        assert index.count() == len(docs)
        hits = index.search('"bank robbery" heist', limit=10)
        assert len(hits) == 10 and all("<b>" in h.snippet for h in hits)
        assert index.get(docs[-1].id) == docs[-1]
