"""Measuring topic-entity linking on MetaQA questions.

MetaQA marks each question's topic entity with brackets and names entities by
their KB name, so a question is linked correctly when, with the brackets removed,
the linker's top-ranked topic entity carries exactly the bracketed name as label.

>>> strip_brackets("what movies did [Temuera Morrison] act in")
('what movies did Temuera Morrison act in', 'Temuera Morrison')
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rich.progress import Progress
from rich.table import Table

from kg.errors import InputFileError
from linking.errors import LinkingError
from linking.evaluation._common import SPLITS, sample, track
from linking.types import Link

#: Question sets: name -> folder under the benchmark data; files are ``qa_{split}.txt``.
QUESTION_SETS = {
    "1-hop": Path("metaqa") / "1-hop" / "vanilla",
    "2-hop": Path("metaqa") / "2-hop" / "vanilla",
    "3-hop": Path("metaqa") / "3-hop" / "vanilla",
    "1-hop-ntm": Path("metaqa") / "1-hop" / "ntm",
}

_TOPIC = re.compile(r"\[([^\[\]]+)\]")


class TopicLinker(Protocol):
    """What the question evaluation needs of a linker."""

    def topic_entities(self, question: str) -> list[Link]: ...


def strip_brackets(question: str) -> tuple[str, str]:
    """Remove the brackets around the topic entity; returns ``(question, topic entity name)``.

    Raises:
        LinkingError: The question does not mark exactly one topic entity.
    """
    found = _TOPIC.findall(question)
    if len(found) != 1:
        raise LinkingError(f"expected one [topic entity] in the question, found {len(found)}: {question!r}")
    return _TOPIC.sub(lambda m: m.group(1), question), found[0]


@dataclass(frozen=True)
class Question:
    """A MetaQA question without brackets, its gold topic entity name and where it came from."""

    text: str
    gold: str
    line: int


def read_questions(path: Path, *, limit: int | None = None, seed: int = 0) -> list[Question]:
    """Read a MetaQA ``qa_*.txt`` file (question TAB answers).

    Args:
        path: The file.
        limit: Keep a deterministic sample of this many questions (in file order).
        seed: Seed of the sample.

    Raises:
        InputFileError: The file is missing.
        LinkingError: A line lacks its bracketed topic entity (file and line are named).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file; MetaQA questions are under metaqa/ in ../shared/data")
    questions = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                text, gold = strip_brackets(line.split("\t", 1)[0])
            except LinkingError as e:
                raise LinkingError(f"{path}, line {lineno}, question: {e}") from None
            questions.append(Question(text, gold, lineno))
    return sample(questions, limit, seed)


@dataclass(frozen=True)
class QuestionFailure:
    """A question whose top-ranked topic entity was not the gold one, with the top 3 as ``(label, score)``."""

    question: str
    gold: str
    predicted: tuple[tuple[str | None, float], ...]


@dataclass(frozen=True)
class QuestionResult:
    """Topic-entity accuracy on one question file."""

    name: str
    split: str
    total: int
    correct: int
    seconds: float
    failures: tuple[QuestionFailure, ...] = ()

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "split": self.split,
            "total": self.total,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "seconds": round(self.seconds, 2),
            "failures": [
                {"question": f.question, "gold": f.gold, "predicted": [list(p) for p in f.predicted]}
                for f in self.failures
            ],
        }


def evaluate_questions(
    linker: TopicLinker,
    questions: Sequence[Question],
    *,
    name: str = "",
    split: str = "",
    max_failures: int = 30,
    progress: Progress | None = None,
) -> QuestionResult:
    """Count the questions whose top topic entity's label is the gold name; keep the first failures."""
    started = time.perf_counter()
    correct = 0
    failures: list[QuestionFailure] = []
    for q in track(questions, progress, f"questions {name} {split}".strip()):
        ranked = linker.topic_entities(q.text)
        if ranked and ranked[0].label == q.gold:
            correct += 1
        elif len(failures) < max_failures:
            top = tuple((link.label, round(link.score, 4)) for link in ranked[:3])
            failures.append(QuestionFailure(q.text, q.gold, top))
    return QuestionResult(name, split, len(questions), correct, time.perf_counter() - started, tuple(failures))


def evaluate_question_sets(
    linker: TopicLinker,
    shared_data: Path,
    split: str,
    *,
    sets: Iterable[str] = tuple(QUESTION_SETS),
    limit: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[QuestionResult]:
    """Evaluate every question set (1/2/3-hop vanilla and 1-hop NTM) of one split.

    Args:
        linker: Anything with ``topic_entities(question) -> list[Link]``, best first.
        shared_data: The benchmark data folder.
        split: ``dev`` or ``test``.
        sets: Names from :data:`QUESTION_SETS`.
        limit: A deterministic sample of this many questions per file.
        seed: Seed of the sample.
        progress: Shows a bar per file when given.

    Raises:
        LinkingError: Unknown split or set name.
    """
    if split not in SPLITS:
        raise LinkingError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    results = []
    for name in sets:
        if name not in QUESTION_SETS:
            raise LinkingError(f"unknown question set {name!r}; use one of {', '.join(QUESTION_SETS)}")
        questions = read_questions(Path(shared_data) / QUESTION_SETS[name] / f"qa_{split}.txt", limit=limit, seed=seed)
        results.append(evaluate_questions(linker, questions, name=name, split=split, progress=progress))
    return results


def overall(results: Sequence[QuestionResult]) -> QuestionResult:
    """All files of one split pooled into one result (micro-average); failures are not kept."""
    split = results[0].split if results else ""
    return QuestionResult(
        "all",
        split,
        sum(r.total for r in results),
        sum(r.correct for r in results),
        sum(r.seconds for r in results),
    )


def questions_table(results: Iterable[QuestionResult], *, target: float | None = None) -> Table:
    """A rich table of topic-entity accuracy, one row per file plus a pooled row per split."""
    caption = "correct: the top-ranked entity's label is the bracketed name"
    if target is not None:
        caption += f"; target ≥ {target:.0%} on dev"
    table = Table(
        "split", "questions", "n", "top-1 accuracy", "per second", title="MetaQA topic entities", caption=caption
    )
    by_split: dict[str, list[QuestionResult]] = {}
    for r in results:
        by_split.setdefault(r.split, []).append(r)
    for rows in by_split.values():
        for r in [*rows, overall(rows)]:
            mark = "" if target is None else (" ✓" if r.accuracy >= target else " ✗")
            rate = f"{r.total / r.seconds:,.0f}" if r.seconds else "-"
            style = "bold" if r.name == "all" else None
            table.add_row(r.split, r.name, f"{r.total:,}", f"{r.accuracy:.2%}{mark}", rate, style=style)
    return table
