"""Question-answering evaluation: Hits@1 on MetaQA (brackets removed), MetaQA NTM and WikiMovies.

The topic entity is not given: the marking ``[...]`` is removed, so the parser must find it.
Hits@1 counts a question as answered when the first answer's label is one of the gold answers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kg.catalogue import normalize
from parser.errors import CannotParseError
from parser.train import QaPair, iter_pairs, read_wikimovies

SPLITS = ("dev", "test")


@dataclass
class QaResult:
    name: str
    questions: int = 0
    hits: int = 0
    unparsed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    by_type: dict[str, list[int]] = field(default_factory=dict)

    @property
    def hits_at_1(self) -> float:
        return self.hits / self.questions if self.questions else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))]

    def as_json(self) -> dict:
        return {
            "questions": self.questions,
            "hits_at_1": round(100 * self.hits_at_1, 2),
            "unparsed": self.unparsed,
            "latency_ms_p50": round(self.percentile(0.5), 2),
            "latency_ms_p95": round(self.percentile(0.95), 2),
            "latency_ms_mean": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else 0.0,
            "by_type": {k: round(100 * v[0] / v[1], 2) for k, v in sorted(self.by_type.items())},
        }


def _sample(pairs: list[QaPair], limit: int | None) -> list[QaPair]:
    if limit is None or limit >= len(pairs):
        return pairs
    step = len(pairs) / limit
    return [pairs[int(i * step)] for i in range(limit)]


def question_sets(shared: Path, split: str, *, limit: int | None = None) -> dict[str, list[QaPair]]:
    """The question sets of one split, as users would type them (no topic marking)."""
    metaqa = shared / "metaqa"
    sets: dict[str, list[QaPair]] = {}
    for hops in (1, 2, 3):
        base = metaqa / f"{hops}-hop"
        with open(base / "vanilla" / f"qa_{split}.txt", encoding="utf-8") as f:
            qtypes_path = base / f"qa_{split}_qtype.txt"
            qtypes = qtypes_path.read_text(encoding="utf-8").splitlines() if qtypes_path.exists() else None
            sets[f"MetaQA {hops}-hop"] = list(iter_pairs(f, hops, qtypes))
    with open(metaqa / "1-hop" / "ntm" / f"qa_{split}.txt", encoding="utf-8") as f:
        sets["MetaQA NTM 1-hop"] = list(iter_pairs(f, 1))
    wiki = shared / "wikimovies" / "questions" / "wiki_entities" / f"wiki-entities_qa_{split}.txt"
    with open(wiki, encoding="utf-8") as f:
        sets["WikiMovies wiki_entities"] = list(read_wikimovies(f))
    return {name: _sample(pairs, limit) for name, pairs in sets.items()}


def evaluate(parser, pairs: Iterable[QaPair], name: str, progress: Callable[[], None] | None = None) -> QaResult:
    """Ask every question (topic marking removed) and score the first answer."""
    result = QaResult(name)
    for pair in pairs:
        question = pair.plain
        started = time.perf_counter()
        try:
            parsed = parser.parse(question)
            answers = parser.execute(parsed, limit=1)
        except CannotParseError:
            answers = None
            result.unparsed += 1
        result.latencies_ms.append(1000 * (time.perf_counter() - started))
        gold = {normalize(a) for a in pair.answers}
        # WikiMovies joins answers with ", ", which also occurs inside titles.
        hit = bool(answers) and (
            normalize(answers[0][1]) in gold or all(normalize(part) in gold for part in answers[0][1].split(", "))
        )
        result.questions += 1
        result.hits += hit
        if pair.qtype:
            counts = result.by_type.setdefault(pair.qtype, [0, 0])
            counts[0] += hit
            counts[1] += 1
        if progress is not None:
            progress()
    return result


def evaluate_sets(parser, sets: dict[str, list[QaPair]], *, progress_console=None) -> list[QaResult]:
    """Evaluate every set, with the linking evaluation's progress display on ``progress_console``."""
    from linking.evaluation import progress_bar

    results = []
    with progress_bar(progress_console) as bar:
        for name, pairs in sets.items():
            task = bar.add_task(name, total=len(pairs))
            results.append(evaluate(parser, pairs, name, lambda t=task: bar.advance(t)))
    return results


def results_table(results: list[QaResult]):
    from rich.table import Table

    table = Table("question set", "questions", "Hits@1 %", "unparsed", "p50 ms", "p95 ms")
    for r in results:
        table.add_row(
            r.name,
            str(r.questions),
            f"{100 * r.hits_at_1:.2f}",
            str(r.unparsed),
            f"{r.percentile(0.5):.1f}",
            f"{r.percentile(0.95):.1f}",
        )
    return table
