"""The :class:`HybridScorer`: one ranking out of the KB's, the text index's and the vector index's.

Each source gives a ranked list of :class:`Candidate` (best first). The default fusion is weighted
reciprocal-rank fusion (RRF, Cormack et al. 2009): ``score = sum_s w_s / (k + rank_s)`` with
``k = 60``; it needs no score calibration. ``method="norm"`` instead sums the sources' min-max
normalized scores, weighted; it uses the scores' margins and is better once the weights are
fitted on training queries (:meth:`HybridScorer.fit`), never on the test queries.

>>> from retrieval.types import Evidence
>>> text = [Candidate("heat", Evidence("text", "d2", "", 7.0, 1)), Candidate("alien", Evidence("text", "d9", "", 3.0, 2))]
>>> vector = [Candidate("alien", Evidence("vector", "d9", "", 0.8, 1)), Candidate("heat", Evidence("vector", "d2", "", 0.7, 2))]
>>> [(a.key, round(a.score, 5)) for a in HybridScorer().fuse({"text": text, "vector": vector})]
[('alien', 0.03252), ('heat', 0.03252)]
>>> [a.key for a in HybridScorer({"text": 2.0, "vector": 1.0}).fuse({"text": text, "vector": vector})]
['heat', 'alien']
>>> [(a.key, [e.source for e in a.evidence]) for a in HybridScorer(method="norm").fuse({"text": text, "vector": vector})]
[('alien', ['vector', 'text']), ('heat', ['text', 'vector'])]
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import RetrievalError
from retrieval.types import Answer, Evidence

#: Fusion methods: weighted reciprocal-rank fusion, and weighted sum of min-max normalized scores.
METHODS = ("rrf", "norm")

#: The RRF constant of Cormack et al. (2009).
RRF_K = 60

#: Most evidence items an answer keeps from one source.
EVIDENCE_PER_SOURCE = 3

#: Weights :meth:`HybridScorer.fit` tries for every source but the first (which stays at 1): 0, and
#: 1/16 to 16 in steps of 2^(1/4), the same resolution at every ratio and either source dominant.
#: On SciFact (5-fold cross-validation on the train queries) it fits as well as or better than
#: 0, 0.1, ..., 3.0 for both methods.
WEIGHT_GRID = (0.0, *(round(2 ** (i / 4), 4) for i in range(-16, 17)))


@dataclass(frozen=True)
class Candidate:
    """One source's vote for an answer.

    Attributes:
        key: What answers are merged on: an entity IRI, a literal's lexical form, or a document id.
        evidence: Which document or query says so, with the source's own score and rank.
        label: Display label.
        literal: Whether ``key`` is a literal value rather than an IRI or document id.
    """

    key: str
    evidence: Evidence
    label: str = ""
    literal: bool = False


class HybridScorer:
    """Fuses ranked candidate lists from several sources into :class:`~retrieval.types.Answer` s.

    Args:
        weights: Weight per source name (``kb``, ``text``, ``vector``, ...); a source without
            a weight counts 1.0, one with weight 0 is ignored (its evidence is still kept).
        method: ``rrf`` (default) or ``norm``.
        k: The RRF constant.
    """

    def __init__(self, weights: Mapping[str, float] | None = None, *, method: str = "rrf", k: int = RRF_K):
        if method not in METHODS:
            raise ValueError(f"unknown fusion method {method!r}; choose one of: {', '.join(METHODS)}")
        if k < 0:
            raise ValueError(f"the RRF constant k must be >= 0, not {k}")
        for source, weight in (weights or {}).items():
            if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
                raise ValueError(f"the weight of {source!r} must be a finite number >= 0, not {weight!r}")
        self.weights = dict(weights or {})
        self.method = method
        self.k = k

    def __repr__(self) -> str:
        return f"HybridScorer({self.weights!r}, method={self.method!r}, k={self.k})"

    def weight(self, source: str) -> float:
        return float(self.weights.get(source, 1.0))

    def scores(self, rankings: Mapping[str, Sequence[Candidate]]) -> dict[str, float]:
        """The fused score of every key in any list (no evidence, no sorting): what :meth:`fit` optimizes."""
        fused: dict[str, float] = {}
        for source, candidates in rankings.items():
            w = self.weight(source)
            for key, value in self._contributions(candidates).items():
                fused[key] = fused.get(key, 0.0) + w * value
        return fused

    def fuse(self, rankings: Mapping[str, Sequence[Candidate]], *, limit: int | None = None) -> list[Answer]:
        """Merge the sources' lists (each best first) into answers, best first.

        Every answer carries up to :data:`EVIDENCE_PER_SOURCE` evidence items from each source
        that named it, the most weighty source first. Ties are broken by the number of sources
        that agree, then by key, so the order is deterministic.
        """
        fused = self.scores(rankings)
        evidence: dict[str, list[tuple[float, int, Evidence]]] = {}
        label: dict[str, str] = {}
        literal: dict[str, bool] = {}
        sources: dict[str, set[str]] = {}
        for source, candidates in rankings.items():
            contrib = self._contributions(candidates)
            kept: dict[str, int] = {}
            for c in candidates:
                if kept.get(c.key, 0) >= EVIDENCE_PER_SOURCE:
                    continue
                kept[c.key] = kept.get(c.key, 0) + 1
                evidence.setdefault(c.key, []).append(
                    (-self.weight(source) * contrib[c.key], c.evidence.rank, c.evidence)
                )
                label.setdefault(c.key, c.label)
                if not label[c.key] and c.label:
                    label[c.key] = c.label
                literal.setdefault(c.key, c.literal)
                sources.setdefault(c.key, set()).add(source)
        order = sorted(fused, key=lambda key: (-fused[key], -len(sources[key]), key))
        if limit is not None:
            order = order[:limit]
        answers = []
        for key in order:
            items = tuple(e for _, _, e in sorted(evidence[key], key=lambda t: (t[0], t[1])))
            if literal[key]:
                answers.append(Answer(None, fused[key], items, label=label[key], literal=key))
            else:
                answers.append(Answer(key, fused[key], items, label=label[key]))
        return answers

    def _contributions(self, candidates: Sequence[Candidate]) -> dict[str, float]:
        """Each key's unweighted contribution from one source's list (its best candidate counts)."""
        out: dict[str, float] = {}
        if self.method == "rrf":  # a candidate's rank is its evidence's: sources may rank ties alike
            for c in candidates:
                out.setdefault(c.key, 1.0 / (self.k + max(c.evidence.rank, 1)))
            return out
        if not candidates:
            return out
        values = [c.evidence.score for c in candidates]
        low, high = min(values), max(values)
        for c in candidates:
            norm = 1.0 if high == low else (c.evidence.score - low) / (high - low)
            out[c.key] = max(out.get(c.key, 0.0), norm)
        return out

    # -- fitting and persistence ------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        examples: Sequence[tuple[Mapping[str, Sequence[Candidate]], Mapping[str, float]]],
        *,
        method: str = "norm",
        metric: Callable[[list[str], Mapping[str, float]], float] | None = None,
        grid: Sequence[float] = WEIGHT_GRID,
        k: int = RRF_K,
    ) -> tuple[HybridScorer, float]:
        """Grid-search the source weights that maximize ``metric`` averaged over training examples.

        Args:
            examples: ``(rankings, relevance)`` per training query; ``relevance`` maps keys to gains.
            method: Fusion method to fit.
            metric: ``metric(ranked_keys, relevance)``; nDCG@10 by default.
            grid: Weights tried for each source but the first in sorted order, which stays at 1.0
                (only ratios matter).
            k: The RRF constant (for ``method="rrf"``).

        Returns:
            The best scorer and its mean metric on ``examples``.
        """
        if not examples:
            raise RetrievalError("fitting fusion weights needs at least one training query")
        from retrieval.evaluation import ndcg

        metric = metric or (lambda ranked, rel: ndcg(ranked, rel, 10))
        sources = sorted({s for rankings, _ in examples for s in rankings})
        if not sources:
            raise RetrievalError("the training queries have no ranked lists to fuse")
        # Per-source contributions do not depend on the weights: compute them once.
        probe = cls(method=method, k=k)
        contributions = [{s: probe._contributions(r.get(s, ())) for s in sources} for r, _ in examples]
        # How many sources name each key: ties are broken as fuse() breaks them.
        agree = [_count_sources(contrib) for contrib in contributions]
        best: tuple[float, dict[str, float]] = (-1.0, {})
        for rest in itertools.product(grid, repeat=len(sources) - 1):
            weights = dict(zip(sources, (1.0, *rest), strict=True))
            total = 0.0
            for contrib, n, (_, relevance) in zip(contributions, agree, examples, strict=True):
                fused: dict[str, float] = {}
                for s, values in contrib.items():
                    for key, value in values.items():
                        fused[key] = fused.get(key, 0.0) + weights[s] * value
                ranked = sorted(fused, key=lambda key: (-fused[key], -n[key], key))
                total += metric(ranked, relevance)
            mean = total / len(examples)
            if mean > best[0] + 1e-12:
                best = (mean, weights)
        return cls(best[1], method=method, k=k), best[0]

    def as_json(self) -> dict:
        return {"method": self.method, "k": self.k, "weights": self.weights}

    @classmethod
    def from_json(cls, value: Mapping) -> HybridScorer:
        try:
            return cls(
                dict(value.get("weights") or {}), method=value.get("method", "rrf"), k=int(value.get("k", RRF_K))
            )
        except (AttributeError, TypeError, ValueError) as e:
            raise RetrievalError(f"bad fusion settings {value!r}: {e}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.as_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> HybridScorer:
        """Read fusion settings written by :meth:`save`.

        Raises:
            RetrievalError: The file is missing or not fusion settings; the message names it.
        """
        try:
            value = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RetrievalError(f"cannot read fusion settings from {path}: {e}") from None
        return cls.from_json(value)


def _count_sources(contributions: Mapping[str, Mapping[str, float]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for values in contributions.values():
        for key in values:
            counts[key] = counts.get(key, 0) + 1
    return counts


def candidates_from_hits(hits: Iterable, *, label: Callable[[str], str] | None = None) -> list[Candidate]:
    """Document-level candidates (key = document id) from an index's hits."""
    return [Candidate(h.ref, Evidence.from_hit(h), label(h.ref) if label else "") for h in hits]
