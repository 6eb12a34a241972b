"""Measuring a text linker on real movie text: a silver set built from the KB, and MetaQA questions.

The silver set comes from the Wikipedia lead sections in ``../shared/data/movie-text``
(``source == "wiki_intro_prust"``) that ``kb_movie_to_docs.tsv`` maps to exactly one
KB film. In a lead, every exact, case-sensitive occurrence on word boundaries of the
film's KB name is a gold mention of the film, and every occurrence of the name of one
of its KB directors, writers or actors a gold mention of that person. Where gold spans
overlap the longest wins; a span two entities claim at once (a biopic named after its
subject) is ambiguous and ignored by the metrics. Leads are split by a hash of their id
into ``dev`` (tuning) and ``test`` (reporting).

MetaQA questions mark their topic entity with brackets; with the brackets removed, a
question is linked correctly when the top-ranked topic entity's label is the bracketed name.

The benchmark (``bench/linking.py``) and ``kgsearch eval linking`` both run these.

>>> from linking.types import Document, Link, Mention
>>> doc = Document("d", text="Rebecca is a 1940 film directed by Alfred Hitchcock.")
>>> film, hitch = "http://ex/film/Rebecca", "http://ex/person/Alfred_Hitchcock"
>>> silver = SilverDoc(doc, film, *gold_mentions(doc.text, [("Rebecca", film), ("Alfred Hitchcock", hitch)]))
>>> links = [Link(Mention("d", "Rebecca", (0, 7)), film, 0.9, "alias:exact"),
...          Link(Mention("d", "Alfred", (35, 41)), "http://ex/person/Alfred", 0.5, "alias:exact")]
>>> counts = score_document(silver, links)
>>> counts.precision, counts.recall, round(counts.f1, 3)
(0.5, 0.5, 0.5)
"""

from linking.evaluation._common import SPLITS, progress_bar, sample, split_of, track
from linking.evaluation._metrics import (
    LinkCounts,
    SilverResult,
    evaluate_silver,
    outside_links,
    score_document,
    sentence_around,
    silver_table,
    write_outside_sample,
)
from linking.evaluation._questions import (
    QUESTION_SETS,
    Question,
    QuestionFailure,
    QuestionResult,
    evaluate_question_sets,
    evaluate_questions,
    overall,
    questions_table,
    read_questions,
    strip_brackets,
)
from linking.evaluation._silver import (
    DOCS_FILE,
    DOCS_MAP_FILE,
    WIKI_SOURCE,
    GoldMention,
    SilverDoc,
    build_silver_set,
    gold_mentions,
    read_documents,
)

__all__ = [
    "DOCS_FILE",
    "DOCS_MAP_FILE",
    "QUESTION_SETS",
    "SPLITS",
    "WIKI_SOURCE",
    "GoldMention",
    "LinkCounts",
    "Question",
    "QuestionFailure",
    "QuestionResult",
    "SilverDoc",
    "SilverResult",
    "build_silver_set",
    "evaluate_question_sets",
    "evaluate_questions",
    "evaluate_silver",
    "gold_mentions",
    "outside_links",
    "overall",
    "progress_bar",
    "questions_table",
    "read_documents",
    "read_questions",
    "sample",
    "score_document",
    "sentence_around",
    "silver_table",
    "split_of",
    "strip_brackets",
    "track",
    "write_outside_sample",
]
