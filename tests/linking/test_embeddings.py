"""The sentence-transformers embedder with the real packaged model (all-MiniLM-L6-v2).

CI installs the model, so a missing package fails here; ``KGSEARCH_SKIP_MODELS=1`` skips the
tests that load it, for quick local runs.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from linking.embeddings import Embedder, SentenceTransformerEmbedder
from linking.errors import InputTextError, ModelUnavailableError

#: Real sentences from ../shared/data/movie-text/docs.jsonl, and one from elsewhere.
REBECCA = "Rebecca is a 1940 American romantic psychological thriller film directed by Alfred Hitchcock."
LADY_VANISHES = (
    "The Lady Vanishes is a 1938 British mystery thriller film directed by Alfred Hitchcock, "
    "starring Margaret Lockwood and Michael Redgrave."
)
ENCHANTED = "The Enchanted Drawing is a 1900 silent film directed by J. Stuart Blackton."
UNRELATED = "Whisk two eggs with the flour, then bake the batter for twenty minutes at 180 degrees."


def _skip_without_models() -> None:
    if os.environ.get("KGSEARCH_SKIP_MODELS") == "1":
        pytest.skip("KGSEARCH_SKIP_MODELS=1: not loading the embedding model")


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    _skip_without_models()
    # A small batch, so that the texts below span several length-sorted batches.
    return SentenceTransformerEmbedder(batch_size=2)


def test_satisfies_the_protocol_with_384_dimensions(embedder):
    assert isinstance(embedder, Embedder)
    assert embedder.dim == 384


def test_rows_are_unit_float32(embedder):
    vectors = embedder.embed([REBECCA, "Hitchcock", "", UNRELATED])
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_sentences_are_closer_than_unrelated_ones(embedder):
    rebecca, lady, enchanted, unrelated = embedder.embed([REBECCA, LADY_VANISHES, ENCHANTED, UNRELATED])
    assert rebecca @ lady > rebecca @ enchanted > rebecca @ unrelated
    assert rebecca @ lady > 0.5 > rebecca @ unrelated


def test_length_sorted_batches_keep_the_input_order(embedder):
    texts = ["Hitchcock", LADY_VANISHES, "a film", REBECCA, UNRELATED, ENCHANTED, "thriller"]
    embedder.cache_clear()
    one_by_one = np.stack([embedder.embed([text])[0] for text in texts])
    embedder.cache_clear()
    batched = embedder.embed(texts)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert len({int(np.argmax(batched @ v)) for v in one_by_one}) == len(texts)


def test_repeated_texts_come_from_the_cache(embedder):
    embedder.cache_clear()
    first = embedder.embed([REBECCA, ENCHANTED])
    assert embedder.cache_info()[:2] == (0, 2)
    again = embedder.embed([ENCHANTED, UNRELATED, ENCHANTED])
    info = embedder.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 3, 3)
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[2], first[1])


def test_callers_cannot_corrupt_the_cache(embedder):
    vectors = embedder.embed([REBECCA])
    vectors[:] = 0.0
    np.testing.assert_allclose(np.linalg.norm(embedder.embed([REBECCA])[0]), 1.0, atol=1e-5)


def test_the_cache_is_bounded_and_evicts_the_least_recently_used():
    _skip_without_models()
    embedder = SentenceTransformerEmbedder(cache_size=2)
    embedder.embed(["a", "b"])
    embedder.embed(["a"])  # "b" is now the least recently used
    embedder.embed(["c"])
    assert embedder.cache_info().currsize == 2
    embedder.embed(["a"])
    assert embedder.cache_info().hits == 2
    embedder.embed(["b"])
    assert embedder.cache_info().misses == 4


def test_no_texts_give_an_empty_matrix(embedder):
    assert embedder.embed([]).shape == (0, 384)


def test_a_single_string_is_refused():
    with pytest.raises(InputTextError, match=r"embed\(\[text\]\)"):
        SentenceTransformerEmbedder().embed("Rebecca")
    with pytest.raises(InputTextError, match="text 1 is a int"):
        SentenceTransformerEmbedder().embed(["Rebecca", 1940])


def test_the_model_path_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KGSEARCH_EMBEDDING_MODEL", str(tmp_path / "missing"))
    embedder = SentenceTransformerEmbedder()
    assert embedder.model_path == str(tmp_path / "missing")
    _skip_without_models()
    with pytest.raises(ModelUnavailableError, match="KGSEARCH_EMBEDDING_MODEL"):
        embedder.embed(["Rebecca"])


# bfloat16: the fast path for ingestion (bench/embeddings.py), checked against float32.

#: A long text, past all-MiniLM-L6-v2's 256 word pieces, so that truncation is exercised too.
LONG = " ".join([REBECCA, LADY_VANISHES, ENCHANTED] * 12)
TEXTS = [REBECCA, "Hitchcock", LADY_VANISHES, "", UNRELATED, ENCHANTED, LONG]


@pytest.fixture(scope="module")
def bf16_embedder() -> SentenceTransformerEmbedder:
    _skip_without_models()
    return SentenceTransformerEmbedder(batch_size=3, precision="bfloat16")


def test_bfloat16_vectors_are_unit_float32_rows(bf16_embedder):
    vectors = bf16_embedder.embed(TEXTS)
    assert bf16_embedder.compute_precision == "bfloat16"
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_bfloat16_vectors_match_float32_ones(embedder, bf16_embedder):
    embedder.cache_clear()
    bf16_embedder.cache_clear()
    cosines = np.sum(embedder.embed(TEXTS) * bf16_embedder.embed(TEXTS), axis=1)
    assert cosines.min() >= 0.9999, cosines


def test_bfloat16_keeps_the_input_order_and_the_cache(bf16_embedder):
    bf16_embedder.cache_clear()
    one_by_one = np.stack([bf16_embedder.embed([text])[0] for text in TEXTS])
    assert bf16_embedder.cache_info()[:2] == (0, len(TEXTS))
    np.testing.assert_array_equal(bf16_embedder.embed(TEXTS[::-1]), one_by_one[::-1])  # all from the cache
    assert bf16_embedder.cache_info().hits == len(TEXTS)
    bf16_embedder.cache_clear()
    batched = bf16_embedder.embed(TEXTS)
    # Batches of other shapes round differently in bfloat16, in about the fourth decimal.
    np.testing.assert_allclose(batched, one_by_one, atol=2e-3)
    assert np.sum(batched * one_by_one, axis=1).min() >= 0.9999


def test_auto_precision_follows_the_cpu():
    _skip_without_models()
    import torch

    native = bool(torch.cpu.get_capabilities().get("avx512_bf16") or torch.cpu.get_capabilities().get("amx_bf16"))
    assert SentenceTransformerEmbedder(precision="auto").compute_precision == ("bfloat16" if native else "float32")
    assert SentenceTransformerEmbedder(precision="float32").compute_precision == "float32"


def test_the_precision_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("KGSEARCH_EMBEDDING_PRECISION", "bfloat16")
    assert SentenceTransformerEmbedder().precision == "bfloat16"
    assert SentenceTransformerEmbedder(precision="float32").precision == "float32"
    monkeypatch.setenv("KGSEARCH_EMBEDDING_PRECISION", "int8")
    with pytest.raises(ValueError, match="KGSEARCH_EMBEDDING_PRECISION must be one of float32, bfloat16, auto"):
        SentenceTransformerEmbedder()


def test_an_unknown_precision_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16, auto, not 'fp16'"):
        SentenceTransformerEmbedder(precision="fp16")
