"""The hybrid scorer: reciprocal-rank and normalized-score fusion, evidence, fitting, persistence."""

from __future__ import annotations

import pytest

from retrieval.errors import RetrievalError
from retrieval.evaluation import hits_at, ndcg
from retrieval.fusion import EVIDENCE_PER_SOURCE, Candidate, HybridScorer
from retrieval.types import Evidence


def ranked(source, keys, scores=None):
    scores = scores or [10.0 - i for i in range(len(keys))]
    return [
        Candidate(k, Evidence(source, f"doc-{k}", "", s, i))
        for i, (k, s) in enumerate(zip(keys, scores, strict=True), start=1)
    ]


def test_rrf_matches_the_formula():
    fused = HybridScorer().fuse({"text": ranked("text", ["a", "b"]), "vector": ranked("vector", ["b", "c"])})
    scores = {a.key: a.score for a in fused}
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61)
    assert [a.key for a in fused] == ["b", "a", "c"]


def test_shared_ranks_count_as_ties():
    kb = [Candidate(k, Evidence("kb", "SELECT", "", 1.0, 1)) for k in ["x", "y", "z"]]
    scores = {a.key: a.score for a in HybridScorer().fuse({"kb": kb})}
    assert scores["x"] == scores["y"] == scores["z"]


def test_weights_and_zero_weight_keep_evidence():
    rankings = {"text": ranked("text", ["a", "b"]), "vector": ranked("vector", ["b", "a"])}
    fused = HybridScorer({"text": 3.0}).fuse(rankings)
    assert fused[0].key == "a"
    muted = HybridScorer({"vector": 0.0}).fuse(rankings)
    assert [a.key for a in muted] == ["a", "b"]
    assert {e.source for e in muted[0].evidence} == {"text", "vector"}


def test_evidence_is_capped_per_source_and_literals_are_literals():
    many = [Candidate("a", Evidence("text", f"d{i}", "", 1.0, i)) for i in range(1, 10)]
    answer = HybridScorer().fuse({"text": many})[0]
    assert len(answer.evidence) == EVIDENCE_PER_SOURCE
    year = HybridScorer().fuse({"kb": [Candidate("1940", Evidence("kb", "q", "", 1, 1), "1940", literal=True)]})[0]
    assert year.literal == "1940" and year.entity_iri is None


def test_norm_uses_score_margins():
    text = ranked("text", ["a", "b", "c"], [10.0, 9.9, 1.0])
    vector = ranked("vector", ["b", "c", "a"], [0.9, 0.5, 0.1])
    assert [a.key for a in HybridScorer(method="norm").fuse({"text": text, "vector": vector})][0] == "b"


def test_fit_finds_the_better_source_and_round_trips(tmp_path):
    examples = []
    for i in range(10):
        gold = f"z{i}"  # sorts last: ties do not favour it
        good = ranked("good", [gold, f"x{i}", f"y{i}"])
        bad = ranked("bad", [f"y{i}", f"x{i}", gold])
        examples.append(({"bad": bad, "good": good}, {gold: 1}))
    scorer, score = HybridScorer.fit(examples, method="norm")
    assert score == pytest.approx(1.0)
    assert scorer.weight("good") > scorer.weight("bad")
    scorer.save(tmp_path / "f.json")
    again = HybridScorer.load(tmp_path / "f.json")
    assert (again.weights, again.method, again.k) == (scorer.weights, "norm", 60)


def test_bad_settings_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown fusion method"):
        HybridScorer(method="max")
    with pytest.raises(ValueError, match="weight of 'text'"):
        HybridScorer({"text": -1})
    with pytest.raises(RetrievalError, match="at least one training query"):
        HybridScorer.fit([])
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(RetrievalError, match="bad fusion settings"):
        HybridScorer.load(tmp_path / "bad.json")
    with pytest.raises(RetrievalError, match="cannot read fusion settings"):
        HybridScorer.load(tmp_path / "missing.json")


def test_metrics():
    assert ndcg(["a"], {"a": 1}) == 1.0
    assert ndcg(["b"], {"a": 1}) == 0.0
    assert ndcg(["a"], {}) == 0.0
    assert hits_at(["a", "b"], {"b"}, 1) == 0.0
