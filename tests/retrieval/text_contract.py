"""The contract every TextIndex backend must pass.

A backend's test class inherits :class:`TextIndexContract` and overrides the ``text_index``
fixture to yield an empty index; a backend that keeps its documents when closed also
overrides :meth:`TextIndexContract.reopen`.
"""

from __future__ import annotations

import pytest

from retrieval.errors import DocumentError, QuerySyntaxError, RetrievalError
from retrieval.text_index import TextIndex
from retrieval.types import Hit, IndexedDocument

P = "http://kgsearch.org/movies/person/"
MANN, PACINO, DE_NIRO, HITCHCOCK, SCOTT = (P + n for n in ("Michael_Mann", "Al_Pacino", "Robert_De_Niro", "Alfred_Hitchcock", "Ridley_Scott"))  # fmt: skip

CORPUS = (
    IndexedDocument(
        "heat",
        "Heat",
        "Heat is a 1995 crime film directed by Michael Mann. Al Pacino and Robert De Niro star in a story "
        "about a bank heist in Los Angeles.",
        entities=(MANN, PACINO, DE_NIRO),
        metadata={"year": 1995, "url": "https://en.wikipedia.org/wiki/Heat_(1995_film)", "tags": ["crime", "drama"]},
    ),
    IndexedDocument(
        "thief",
        "Thief",
        "Thief is a 1981 neo-noir crime film directed by Michael Mann about a safecracker's last heist.",
        entities=(MANN,),
    ),
    IndexedDocument(
        "rebecca",
        "Rebecca",
        "Rebecca is a 1940 psychological thriller directed by Alfred Hitchcock.",
        entities=(HITCHCOCK,),
    ),
    IndexedDocument(
        "psycho",
        "Psycho",
        "Psycho is a 1960 horror film directed by Alfred Hitchcock. A secretary steals money and hides at a motel.",
        entities=(HITCHCOCK,),
    ),
    IndexedDocument(
        "alien", "Alien", "Alien is a 1979 science fiction horror film directed by Ridley Scott.", entities=(SCOTT,)
    ),
    IndexedDocument(
        "interview",
        "Interview with Michael Mann",
        "An audio interview: the director talks about the film Heat and about Los Angeles at night.",
        modality="audio",
        entities=(MANN,),
    ),
    IndexedDocument(
        "poster",
        "",
        "HEAT poster: Pacino, De Niro. A Los Angeles crime saga.",
        modality="image",
        entities=(PACINO, DE_NIRO),
    ),
)

HOSTILE_QUERIES = (
    "what's up? (foo) AND:",
    "title:heat",
    '"unclosed phrase',
    '""',
    '" "',
    "AND OR NOT",
    "NOT heist",
    "+heist -film",
    "heist~2 heist^3",
    "[1 TO 5] {a TO b}",
    "field: IN [a b]",
    "/regex.*/",
    "\\",
    ":",
    "*",
    "?",
    "-",
    "&& || !",
    "heist" * 200,
    " ".join(["heist"] * 2000),
    " ".join(f"w{i}" for i in range(5000)),
    "-".join(["x"] * 5000),
    '"' + " ".join(["heist"] * 5000) + '"',
    "\x00\x01",
    "ｈｅｉｓｔ",
    "🎬 heist 🎬",
)


class TextIndexContract:
    """Behaviour shared by every backend."""

    @pytest.fixture
    def text_index(self) -> TextIndex:  # pragma: no cover - overridden
        raise NotImplementedError("override the `text_index` fixture")

    def reopen(self, index: TextIndex) -> TextIndex | None:
        """Close ``index`` and open it again; ``None`` when the backend keeps nothing once closed."""
        return None

    @pytest.fixture
    def loaded(self, text_index) -> TextIndex:
        assert text_index.add(CORPUS) == len(CORPUS)
        return text_index

    @staticmethod
    def refs(hits: list[Hit]) -> list[str]:
        return [hit.ref for hit in hits]

    # -- adding, getting, counting ---------------------------------------------------------

    def test_is_a_text_index(self, text_index):
        assert isinstance(text_index, TextIndex)

    def test_empty_index(self, text_index):
        assert text_index.count() == 0
        assert text_index.search("heist") == []
        assert text_index.get("heat") is None

    def test_add_get_count(self, loaded):
        assert loaded.count() == len(CORPUS)
        for doc in CORPUS:
            assert loaded.get(doc.id) == doc
        assert loaded.get("heat").metadata["tags"] == ["crime", "drama"]
        assert loaded.get("nope") is None

    def test_add_nothing_and_generators(self, text_index):
        assert text_index.add([]) == 0
        assert text_index.add(doc for doc in CORPUS[:2]) == 2
        assert text_index.count() == 2

    def test_update_replaces(self, loaded):
        assert loaded.add([IndexedDocument("heat", "Heat", "A quiet film about a frozen lake.")]) == 1
        assert loaded.count() == len(CORPUS)
        assert "heat" not in self.refs(loaded.search("heist"))
        assert self.refs(loaded.search("lake")) == ["heat"]
        assert loaded.get("heat").text == "A quiet film about a frozen lake."
        assert loaded.get("heat").entities == ()
        assert "heat" not in self.refs(loaded.search("", entities=[PACINO]))

    def test_last_duplicate_in_a_batch_wins(self, text_index):
        text_index.add([IndexedDocument("d", "", "first version"), IndexedDocument("d", "", "second version")])
        assert text_index.count() == 1
        assert text_index.get("d").text == "second version"
        assert text_index.search("first") == []

    def test_delete(self, loaded):
        assert loaded.delete(["psycho", "nope"]) == 1
        assert loaded.count() == len(CORPUS) - 1
        assert loaded.get("psycho") is None
        assert loaded.search("motel") == []
        assert loaded.delete([]) == 0
        assert loaded.delete(["psycho"]) == 0
        assert loaded.delete(doc.id for doc in CORPUS) == len(CORPUS) - 1
        assert loaded.count() == 0

    # -- ranking and query syntax ----------------------------------------------------------

    def test_hits_are_ranked_bm25(self, loaded):
        hits = loaded.search("film", limit=3)
        assert [h.rank for h in hits] == [1, 2, 3]
        assert all(h.source == "text" and isinstance(h.score, float) for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].score > 0
        assert loaded.search("film", limit=0) == []

    def test_ranking_is_pinned(self, loaded):
        # Both words beat one; a shorter document beats a longer one for the same word.
        assert self.refs(loaded.search("Hitchcock thriller")) == ["rebecca", "psycho"]
        assert self.refs(loaded.search("heist")) == ["thief", "heat"]
        assert self.refs(loaded.search("alien")) == ["alien"]
        assert self.refs(loaded.search("secretary motel money")) == ["psycho"]

    def test_stemming(self, loaded):
        assert self.refs(loaded.search("heists")) == ["thief", "heat"]
        assert "psycho" in self.refs(loaded.search("stealing"))

    def test_phrase_versus_bag_of_words(self, loaded):
        assert self.refs(loaded.search('"Los Angeles at night"')) == ["interview"]
        assert {"heat", "interview", "poster"} <= set(self.refs(loaded.search("night Los Angeles")))
        assert loaded.search('"angeles los"') == []
        assert self.refs(loaded.search('"bank heists"')) == ["heat"]  # stemmed inside the phrase too

    def test_words_and_phrases_combine(self, loaded):
        assert set(self.refs(loaded.search('motel "science fiction"'))) == {"psycho", "alien"}

    def test_require_all_words(self, loaded):
        # QLever's ql:contains-word "heist Pacino": every word, not any of them.
        assert set(self.refs(loaded.search("heist Pacino"))) == {"thief", "heat", "poster"}
        assert self.refs(loaded.search("heist Pacino", require_all=True)) == ["heat"]
        assert self.refs(loaded.search("heists films", require_all=True)) == ["thief", "heat"]  # stemmed
        assert loaded.search("heist Hitchcock", require_all=True) == []
        # One word may match in the title and another in the text.
        assert self.refs(loaded.search("Mann night", require_all=True)) == ["interview"]

    def test_require_all_phrases(self, loaded):
        assert self.refs(loaded.search('"directed by" heist', require_all=True)) == ["thief", "heat"]
        assert self.refs(loaded.search('"bank heist" Mann', require_all=True)) == ["heat"]
        assert loaded.search('"heist bank" Mann', require_all=True) == []
        assert self.refs(loaded.search('"Los Angeles" night', require_all=True)) == ["interview"]

    def test_require_all_keeps_scores_and_filters(self, loaded):
        plain = {h.ref: h.score for h in loaded.search("heist film", limit=10)}
        strict = {h.ref: h.score for h in loaded.search("heist film", require_all=True)}
        assert set(strict) == {"heat", "thief"}
        assert strict == pytest.approx({ref: plain[ref] for ref in strict})
        assert self.refs(loaded.search("heist film", entities=[PACINO], require_all=True)) == ["heat"]
        assert sorted(self.refs(loaded.search("", entities=[HITCHCOCK], require_all=True))) == ["psycho", "rebecca"]
        assert loaded.search("?! ()", require_all=True) == []
        for query in HOSTILE_QUERIES:
            assert isinstance(loaded.search(query, require_all=True), list), query

    def test_snippets_highlight_and_escape(self, loaded):
        (hit,) = loaded.search("safecracker")
        assert "<b>safecracker</b>" in hit.snippet
        loaded.add([IndexedDocument("tj", "", "Tom & Jerry <i>plan</i> a daring caper.")])
        (hit,) = loaded.search("caper")
        assert "<b>caper</b>" in hit.snippet
        assert "<i>" not in hit.snippet and "&amp;" in hit.snippet

    def test_hostile_queries_never_raise(self, loaded):
        for query in HOSTILE_QUERIES:
            hits = loaded.search(query)
            assert isinstance(hits, list), query
            loaded.search(query, entities=[MANN], modality="text", ids=["heat"])
        assert "heat" in self.refs(loaded.search("what's the heist? (AND:"))

    def test_empty_query(self, loaded):
        assert loaded.search("") == []
        assert loaded.search("   ") == []
        assert loaded.search("?! ()") == []
        assert self.refs(loaded.search("", modality="image")) == ["poster"]

    def test_native_syntax(self, loaded):
        assert self.refs(loaded.search("title:thief", syntax="native")) == ["thief"]
        with pytest.raises(QuerySyntaxError):
            loaded.search("title:(heat", syntax="native")

    def test_bad_arguments(self, loaded):
        with pytest.raises(ValueError, match="simple, native"):
            loaded.search("heist", syntax="lucene")
        with pytest.raises(ValueError, match="limit"):
            loaded.search("heist", limit=-1)
        with pytest.raises(TypeError, match="wrap it in a list"):
            loaded.search("heist", entities=MANN)

    # -- filters ---------------------------------------------------------------------------

    def test_modality_filter(self, loaded):
        assert self.refs(loaded.search("Los Angeles", modality="audio")) == ["interview"]
        assert self.refs(loaded.search("Los Angeles", modality="image")) == ["poster"]
        assert loaded.search("Los Angeles", modality="video") == []
        assert "poster" not in self.refs(loaded.search("Los Angeles", modality="text"))

    def test_word_and_entity_co_occurrence(self, loaded):
        # QLever's ql:contains-word "heist" + ql:contains-entity ?x, for given entities.
        assert self.refs(loaded.search("heist", entities=[MANN])) == ["thief", "heat"]
        assert self.refs(loaded.search("heist", entities=[PACINO])) == ["heat"]
        assert self.refs(loaded.search("heist", entities=[MANN, DE_NIRO])) == ["heat"]
        assert loaded.search("heist", entities=[HITCHCOCK]) == []
        assert loaded.search("heist", entities=["http://example.org/nobody"]) == []

    def test_entity_filter_does_not_change_scores(self, loaded):
        plain = {h.ref: h.score for h in loaded.search("heist")}
        filtered = {h.ref: h.score for h in loaded.search("heist", entities=[MANN])}
        assert filtered == pytest.approx(plain)

    def test_documents_of_an_entity(self, loaded):
        hits = loaded.search("", entities=[HITCHCOCK])
        assert sorted(self.refs(hits)) == ["psycho", "rebecca"]
        assert [h.rank for h in hits] == [1, 2]
        assert all(h.score == 1.0 and "<b>" not in h.snippet and h.snippet for h in hits)
        assert sorted(self.refs(loaded.search("", entities=[PACINO, DE_NIRO]))) == ["heat", "poster"]
        assert len(loaded.search("", entities=[MANN], limit=2)) == 2

    def test_ids_filter(self, loaded):
        assert self.refs(loaded.search("film", ids=["alien", "rebecca", "unknown"])) == ["alien"]
        assert loaded.search("film", ids=[]) == []
        assert sorted(self.refs(loaded.search("", ids=["heat", "psycho", "unknown"]))) == ["heat", "psycho"]

    # -- content ---------------------------------------------------------------------------

    def test_unicode(self, text_index):
        doc = IndexedDocument(
            "film/amélie",
            "Le Fabuleux Destin d'Amélie Poulain",
            'Amélie est un film français avec Zoë — «unicode» "quoted"; 東京物語 est japonais.',
            entities=("http://example.org/Zoë",),
            metadata={"titre": "Amélie", "note": "✓"},
        )
        text_index.add([doc])
        assert text_index.get("film/amélie") == doc
        assert self.refs(text_index.search("Amélie")) == ["film/amélie"]
        assert self.refs(text_index.search("zoë")) == ["film/amélie"]
        assert self.refs(text_index.search("東京物語")) == ["film/amélie"]
        assert self.refs(text_index.search("", entities=["http://example.org/Zoë"])) == ["film/amélie"]

    @pytest.mark.parametrize(
        ("bad", "field"),
        [
            (IndexedDocument("bad", "t", 42), "text"),  # type: ignore[arg-type]
            (IndexedDocument("bad", None, "t"), "title"),  # type: ignore[arg-type]
            (IndexedDocument("bad", "t", "t", modality=""), "modality"),
            (IndexedDocument("bad", "t", "t", entities=(7,)), "entities"),  # type: ignore[arg-type]
            (IndexedDocument("bad", "t", "t", metadata={"x": object()}), "metadata"),
        ],
    )
    def test_a_bad_document_stores_nothing_of_its_batch(self, loaded, bad, field):
        new_heat = IndexedDocument("heat", "Heat", "replaced")
        batch = [new_heat, IndexedDocument("fresh", "Fresh", "fresh words"), bad]
        with pytest.raises(DocumentError, match="document bad") as caught:
            loaded.add(batch)
        assert (caught.value.doc_id, caught.value.field) == ("bad", field)
        assert loaded.count() == len(CORPUS)
        assert loaded.get("fresh") is None and loaded.search("fresh") == []
        assert loaded.get("heat") == CORPUS[0]

    def test_bad_ids_and_non_documents(self, text_index):
        with pytest.raises(DocumentError, match="field id"):
            text_index.add([IndexedDocument("", "t", "t")])
        with pytest.raises(DocumentError, match="512 bytes"):
            text_index.add([IndexedDocument("x" * 600, "t", "t")])
        with pytest.raises(DocumentError, match="IndexedDocument"):
            text_index.add([{"id": "d", "text": "t"}])
        assert text_index.count() == 0

    def test_a_failing_iterable_stores_nothing(self, loaded):
        def docs():
            yield IndexedDocument("fresh", "", "fresh words")
            raise OSError("the source broke")

        with pytest.raises(OSError, match="source broke"):
            loaded.add(docs())
        assert loaded.get("fresh") is None
        assert loaded.count() == len(CORPUS)
        assert loaded.add([IndexedDocument("fresh", "", "fresh words")]) == 1  # still writable

    # -- life cycle ------------------------------------------------------------------------

    def test_persistence(self, loaded):
        reopened = self.reopen(loaded)
        if reopened is None:
            pytest.skip("this backend keeps nothing once closed")
        assert reopened.count() == len(CORPUS)
        assert reopened.get("heat") == CORPUS[0]
        assert self.refs(reopened.search("heist", entities=[PACINO])) == ["heat"]
        reopened.add([IndexedDocument("new", "", "written after reopening")])
        assert self.refs(reopened.search("reopening")) == ["new"]

    def test_closed_index_raises(self, text_index):
        text_index.close()
        with pytest.raises(RetrievalError, match="closed"):
            text_index.search("heist")
        text_index.close()  # twice is harmless
