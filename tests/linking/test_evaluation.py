"""The linking evaluation: silver-set gold, metric arithmetic, MetaQA bracket handling, splits."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from kg import OxigraphStore
from linking.errors import LinkingError
from linking.evaluation import (
    SPLITS,
    LinkCounts,
    SilverDoc,
    build_silver_set,
    evaluate_questions,
    evaluate_silver,
    gold_mentions,
    read_questions,
    sample,
    score_document,
    sentence_around,
    split_of,
    strip_brackets,
    write_outside_sample,
)
from linking.evaluation._questions import Question
from linking.types import Document, Link, Mention

ROOT = Path(__file__).resolve().parents[2]
FILM = "http://kgsearch.org/movies/film/"
PERSON = "http://kgsearch.org/movies/person/"
REBECCA = "wiki_intro_prust:12997"


@pytest.fixture(scope="module")
def sample_store():
    store = OxigraphStore()
    store.load(ROOT / "data" / "movies-sample.ttl")
    yield store
    store.close()


def link(start: int, end: int, iri: str | None, text: str = "", doc: str = "d") -> Link:
    return Link(Mention(doc, text[start:end] or "x", (start, end)), iri, 0.5, "test", iri and iri.rsplit("/", 1)[-1])


# --- the silver set -------------------------------------------------------------------------


def test_silver_set_on_the_lead_of_rebecca(shared_data, sample_store):
    (doc,) = build_silver_set(shared_data, sample_store, doc_ids={REBECCA})
    text = doc.document.text
    assert doc.film_iri == f"{FILM}Rebecca" and doc.document.metadata["title"] == "Rebecca"
    assert [(g.surface, g.span, g.entity_iri, g.kind) for g in doc.gold] == [
        ("Rebecca", (0, 7), f"{FILM}Rebecca", "film"),
        ("Alfred Hitchcock", (76, 92), f"{PERSON}Alfred_Hitchcock", "person"),
        ("Robert E. Sherwood", (222, 240), f"{PERSON}Robert_E._Sherwood", "person"),
        ("Joan Harrison", (245, 258), f"{PERSON}Joan_Harrison", "person"),
        ("Philip MacDonald", (278, 294), f"{PERSON}Philip_MacDonald", "person"),
        ("Michael Hogan", (299, 312), f"{PERSON}Michael_Hogan", "person"),
    ]
    assert all(text[g.span[0] : g.span[1]] == g.surface for g in doc.gold)
    # The KB writes "Daphne Du Maurier", the lead "Daphne du Maurier": case-sensitive, so no gold.
    assert "Daphne du Maurier" in text and "Maurier" not in {g.surface for g in doc.gold}
    assert doc.ignored == () and doc.split == split_of(REBECCA)


def test_silver_set_covers_only_films_in_the_store(shared_data, sample_store):
    docs = build_silver_set(shared_data, sample_store)
    films = {
        row[0].value for row in sample_store.query("SELECT ?f WHERE { ?f a <http://kgsearch.org/ns/movies#Film> }")
    }
    assert docs and {d.film_iri for d in docs} <= films
    assert len({d.document.id for d in docs}) == len(docs)
    assert all(d.document.metadata["source"] == "wiki_intro_prust" for d in docs)
    assert set(Counter(d.split for d in docs)) == set(SPLITS)


def test_gold_is_case_sensitive_and_on_word_boundaries():
    text = "Aliens is not Alien; ALIEN neither, but Alien's sequel and $9.99 are."
    gold, _ = gold_mentions(text, [("Alien", f"{FILM}Alien"), ("$9.99", f"{FILM}$9.99")])
    assert [(g.surface, g.span) for g in gold] == [("Alien", (14, 19)), ("Alien", (40, 45)), ("$9.99", (59, 64))]


def test_overlapping_gold_keeps_the_longest_span():
    text = "Rebecca stars Rebecca De Mornay."
    gold, ignored = gold_mentions(text, [("Rebecca", f"{FILM}Rebecca"), ("Rebecca De Mornay", f"{PERSON}RDM")])
    assert [(g.surface, g.span, g.kind) for g in gold] == [
        ("Rebecca", (0, 7), "film"),
        ("Rebecca De Mornay", (14, 31), "person"),
    ]
    assert ignored == ()


def test_a_person_named_like_the_film_makes_the_span_ambiguous():
    text = "Mark Twain is a documentary about Mark Twain by Ken Burns."
    names = [("Mark Twain", f"{FILM}Mark_Twain"), ("Mark Twain", f"{PERSON}Mark_Twain"), ("Ken Burns", f"{PERSON}KB")]
    gold, ignored = gold_mentions(text, names)
    assert [g.surface for g in gold] == ["Ken Burns"]
    assert ignored == ((0, 10), (34, 44))


# --- metrics --------------------------------------------------------------------------------

TEXT = "Rebecca is a film by Alfred Hitchcock, with Joan Fontaine and Laurence Olivier. Also Gothic."
#       0         1         2         3         4         5         6         7         8
#       0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890


@pytest.fixture
def silver() -> SilverDoc:
    doc = Document("d", text=TEXT, metadata={"title": "Rebecca"})
    names = [
        ("Rebecca", f"{FILM}Rebecca"),
        ("Alfred Hitchcock", f"{PERSON}Alfred_Hitchcock"),
        ("Joan Fontaine", f"{PERSON}Joan_Fontaine"),
        ("Laurence Olivier", f"{PERSON}Laurence_Olivier"),
    ]
    gold, ignored = gold_mentions(TEXT, names)
    assert [g.span for g in gold] == [(0, 7), (21, 37), (44, 57), (62, 78)]
    return SilverDoc(doc, f"{FILM}Rebecca", gold, ignored + ((85, 91),))  # pretend "Gothic" is ambiguous


def test_metric_arithmetic(silver):
    links = [
        link(0, 7, f"{FILM}Rebecca", TEXT),  # exact span, right entity
        link(28, 37, f"{PERSON}Alfred_Hitchcock", TEXT),  # "Hitchcock": overlaps gold, right entity
        link(44, 48, f"{PERSON}Joan", TEXT),  # overlaps gold, wrong entity
        link(13, 17, f"{FILM}Film", TEXT),  # outside every gold span
        link(62, 70, None, TEXT),  # NIL on a gold span: neither right nor wrong
        link(85, 91, "http://kgsearch.org/movies/tag/gothic", TEXT),  # on the ignored span
    ]
    c = score_document(silver, links)
    assert (c.gold, c.found, c.found_exact, c.in_gold, c.correct) == (4, 2, 1, 3, 2)
    assert (c.outside, c.ignored, c.nil) == (1, 1, 1)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 4)
    assert c.exact_recall == pytest.approx(1 / 4)
    assert c.f1 == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))
    assert c.gold_by_kind == {"film": 1, "person": 3} and c.found_by_kind == {"film": 1, "person": 1}


def test_a_link_over_two_gold_spans_is_right_if_it_names_either(silver):
    wide = link(21, 57, f"{PERSON}Joan_Fontaine", TEXT)
    c = score_document(silver, [wide])
    assert (c.in_gold, c.correct, c.found, c.found_exact) == (1, 1, 1, 0)


def test_perfect_and_empty_linkers(silver):
    perfect = [link(*g.span, g.entity_iri, TEXT) for g in silver.gold]
    assert (score_document(silver, perfect).precision, score_document(silver, perfect).recall) == (1.0, 1.0)
    nothing = score_document(silver, [])
    assert (nothing.precision, nothing.recall, nothing.f1, nothing.outside) == (0.0, 0.0, 0.0, 0)


def test_counts_pool_over_documents_micro_average():
    a = LinkCounts(gold=1, found=1, in_gold=1, correct=1, gold_by_kind={"film": 1}, found_by_kind={"film": 1})
    b = LinkCounts(gold=9, found=0, in_gold=3, correct=0, outside=2, gold_by_kind={"person": 9})
    total = a + b
    assert (total.gold, total.found, total.in_gold, total.correct, total.outside) == (10, 1, 4, 1, 2)
    assert total.recall == 0.1 and total.precision == 0.25  # not the mean of per-document scores
    assert total.gold_by_kind == {"film": 1, "person": 9}
    assert total.as_json()["recall_by_kind"] == {"film": 1.0, "person": 0.0}


class FakeLinker:
    """Links every capitalized word to an entity named like it."""

    def link(self, document):
        import re

        return [
            Link(Mention(document.id, m.group(), m.span()), f"{FILM}{m.group()}", 0.5, "fake", m.group())
            for m in re.finditer(r"\b[A-Z]\w+", document.text)
        ]


def test_evaluate_silver_samples_links_outside_gold(silver, tmp_path):
    docs = [silver] * 3
    first = evaluate_silver(FakeLinker(), docs, split="dev", sample_size=2, seed=1)
    again = evaluate_silver(FakeLinker(), docs, split="dev", sample_size=2, seed=1)
    assert first.docs == 3 and first.counts.gold == 12
    # Per document only "Also" lies outside: the other capitalized words are on gold or ignored spans.
    assert (first.counts.outside, first.counts.ignored, first.counts.in_gold) == (3, 3, 21)
    assert first.outside_sample == again.outside_sample and len(first.outside_sample) == 2
    row = first.outside_sample[0]
    assert (row["title"], row["surface"], row["sentence"]) == ("Rebecca", "Also", "Also Gothic.")
    write_outside_sample(first, tmp_path / "sample.tsv")
    with (tmp_path / "sample.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == 2 and rows[0]["verdict"] == "" and rows[0]["label"] == row["label"]


def test_sentence_around():
    text = "Directed by J. Stuart Blackton. It was released by Vitagraph Studios! The end."
    assert sentence_around(text, (12, 30)) == "Directed by J. Stuart Blackton."
    assert sentence_around(text, (51, 60)) == "It was released by Vitagraph Studios!"
    assert sentence_around(text, (74, 77)) == "The end."


# --- questions ------------------------------------------------------------------------------


def test_strip_brackets():
    assert strip_brackets("what movies did [Temuera Morrison] act in") == (
        "what movies did Temuera Morrison act in",
        "Temuera Morrison",
    )
    assert strip_brackets("[Se7en] was directed by who") == ("Se7en was directed by who", "Se7en")
    for bad in ("no topic here", "[one] and [two]", "empty [] brackets"):
        with pytest.raises(LinkingError, match="one \\[topic entity\\]"):
            strip_brackets(bad)


def test_read_questions(tmp_path):
    path = tmp_path / "qa_dev.txt"
    lines = [f"who directed [Film {i}]\tDirector {i}" for i in range(20)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    questions = read_questions(path)
    assert questions[0] == Question("who directed Film 0", "Film 0", 1) and len(questions) == 20
    sampled = read_questions(path, limit=5)
    assert sampled == read_questions(path, limit=5) and len(sampled) == 5
    assert [q.line for q in sampled] == sorted(q.line for q in sampled)
    path.write_text("who directed [Alien]\tRidley Scott\nwho directed Alien\tRidley Scott\n", encoding="utf-8")
    with pytest.raises(LinkingError, match="qa_dev.txt, line 2, question"):
        read_questions(path)


def test_metaqa_files_have_one_topic_entity_each(shared_data):
    questions = read_questions(shared_data / "metaqa" / "1-hop" / "ntm" / "qa_dev.txt")
    assert len(questions) == 9992 and all("[" not in q.text for q in questions)


class FakeTopicLinker:
    """Ranks the words of the question, longest first."""

    def topic_entities(self, question):
        words = sorted(set(question.split()), key=lambda w: (-len(w), w))
        return [Link(Mention("q", w), f"{FILM}{w}", 1 / (i + 1), "fake", w) for i, w in enumerate(words)]


def test_evaluate_questions_counts_top_label_matches_and_keeps_failures():
    questions = [Question("who directed Casablanca", "Casablanca", 1), Question("who directed Up", "Up", 2)]
    questions += [Question(f"films by Someone{i}", f"Nobody{i}", i + 3) for i in range(40)]
    result = evaluate_questions(FakeTopicLinker(), questions, name="1-hop", split="dev")
    assert (result.total, result.correct) == (42, 1) and result.accuracy == pytest.approx(1 / 42)
    assert len(result.failures) == 30
    first = result.failures[0]
    assert (first.question, first.gold) == ("who directed Up", "Up")
    assert first.predicted == (("directed", 1.0), ("who", 0.5), ("Up", 0.3333))


# --- splits and samples ---------------------------------------------------------------------


def test_split_is_a_stable_hash_of_the_doc_id():
    assert split_of(REBECCA) == "dev" and split_of("wiki_intro_prust:0") == "test"
    counts = Counter(split_of(f"wiki_intro_prust:{i}") for i in range(10_000))
    assert set(counts) == {"dev", "test"} and abs(counts["dev"] - 5_000) < 250


def test_sample_is_deterministic_and_keeps_order():
    items = list(range(100))
    assert sample(items, 10) == sample(items, 10) == sorted(sample(items, 10))
    assert sample(items, 10, seed=1) != sample(items, 10, seed=2)
    assert sample(items, None) == items and sample(items, 1000) == items
