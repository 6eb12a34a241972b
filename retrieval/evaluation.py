"""Ranking metrics for the retrieval evaluations.

>>> round(ndcg(["d3", "d1", "d2"], {"d1": 1, "d2": 1}, 10), 4)
0.6934
>>> hits_at(["b", "a"], {"a"}, 1), hits_at(["b", "a"], {"a"}, 2)
(0.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence


def ndcg(ranked: Sequence[str], relevance: Mapping[str, float], k: int = 10) -> float:
    """nDCG@k with linear gains (the trec_eval / BEIR definition); 0 when nothing is relevant."""
    gains = sorted((g for g in relevance.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    if ideal == 0:
        return 0.0
    dcg = sum(relevance.get(key, 0) / math.log2(i + 2) for i, key in enumerate(ranked[:k]) if relevance.get(key, 0) > 0)
    return dcg / ideal


def hits_at(ranked: Sequence[str], gold: Collection[str], k: int = 1) -> float:
    """1.0 when one of the first ``k`` keys is gold, else 0.0."""
    return 1.0 if any(key in gold for key in ranked[:k]) else 0.0
