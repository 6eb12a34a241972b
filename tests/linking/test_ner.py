"""Statistical NER with the real en_core_web_sm 3.8.0 (installed from requirements/ner.txt).

CI installs the model, so a missing package fails here; ``KGSEARCH_SKIP_MODELS=1`` skips the
tests that load it, for quick local runs.
"""

from __future__ import annotations

import os

import pytest

from linking.errors import InputTextError, ModelUnavailableError
from linking.ner import SpacyNer

#: wiki_intro_prust:12997 in ../shared/data/movie-text/docs.jsonl.
REBECCA = (
    "Rebecca is a 1940 American romantic psychological thriller film directed by Alfred Hitchcock. "
    "It was Hitchcock's first American project, and his first film under contract with producer David O. Selznick."
)


def _skip_without_models() -> None:
    if os.environ.get("KGSEARCH_SKIP_MODELS") == "1":
        pytest.skip("KGSEARCH_SKIP_MODELS=1: not loading the NER model")


@pytest.fixture(scope="module")
def ner() -> SpacyNer:
    _skip_without_models()
    return SpacyNer()


def test_finds_people_in_a_real_sentence(ner):
    found = ner.entities(REBECCA)
    assert (REBECCA.index("Alfred Hitchcock"), REBECCA.index("Alfred Hitchcock") + 16, "PERSON") in found
    assert ("David O. Selznick", "PERSON") in [(REBECCA[s:e], label) for s, e, label in found]
    assert ("1940", "DATE") in [(REBECCA[s:e], label) for s, e, label in found]
    assert found == sorted(found)


def test_only_the_ner_component_is_loaded(ner):
    ner.entities("warm up")
    assert ner._nlp.pipe_names == ["ner"]
    assert {"PERSON", "ORG", "GPE", "WORK_OF_ART"} <= set(ner.labels)


def test_batches_match_single_texts_in_order(ner):
    texts = [REBECCA, "", "The Enchanted Drawing is a 1900 silent film directed by J. Stuart Blackton.", "no names"]
    assert ner.entities_batch(texts) == [ner.entities(text) for text in texts]
    assert ner.entities_batch(iter(texts[:1])) == [ner.entities(REBECCA)]


def test_bad_input_is_refused():
    with pytest.raises(InputTextError, match=r"entities\(text\)"):
        SpacyNer().entities_batch(REBECCA)
    with pytest.raises(InputTextError, match="text 0 is a bytes"):
        SpacyNer().entities(REBECCA.encode())


def test_a_missing_model_names_the_install_command(monkeypatch):
    monkeypatch.setenv("KGSEARCH_NER_MODEL", "en_core_web_nonexistent")
    ner = SpacyNer()
    assert ner.model == "en_core_web_nonexistent"
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps --require-hashes -r requirements/ner.txt"):
        ner.entities(REBECCA)
