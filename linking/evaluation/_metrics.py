"""Silver-set metrics: precision and recall on gold spans, links outside them, and the result table.

Precision is measured on gold spans only: of the non-NIL links overlapping a gold
span, the share that ground it to the gold entity. Recall: the share of gold
mentions that a non-NIL link overlapping them grounds to the gold entity (exact
recall asks for the exact span too). F1 is micro: counts are pooled over documents.
Links outside every gold span are counted and sampled for checking by hand, since
the silver set cannot tell whether they are right.
"""

from __future__ import annotations

import csv
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress
from rich.table import Table

from linking.evaluation._common import track
from linking.evaluation._silver import SilverDoc, overlaps
from linking.linker import Linker
from linking.types import Link


@dataclass(frozen=True)
class LinkCounts:
    """Pooled counts for the silver-set metrics; add them up over documents with ``+``.

    Attributes:
        gold: Gold mentions.
        found: Gold mentions that a non-NIL link overlapping them grounds to the gold entity.
        found_exact: Those whose link has exactly the gold span.
        in_gold: Non-NIL links overlapping a gold span.
        correct: Of those, links whose entity is the gold entity of a span they overlap.
        outside: Non-NIL links overlapping no gold and no ignored span.
        ignored: Non-NIL links overlapping only ignored (ambiguous) spans.
        nil: NIL links.
        gold_by_kind / found_by_kind: ``gold`` and ``found`` for ``film`` and ``person`` mentions.
    """

    gold: int = 0
    found: int = 0
    found_exact: int = 0
    in_gold: int = 0
    correct: int = 0
    outside: int = 0
    ignored: int = 0
    nil: int = 0
    gold_by_kind: dict[str, int] = field(default_factory=dict, hash=False)
    found_by_kind: dict[str, int] = field(default_factory=dict, hash=False)

    def __add__(self, other: LinkCounts) -> LinkCounts:
        def merged(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(a.keys() | b.keys())}

        ints = {k: getattr(self, k) + getattr(other, k) for k in _INT_FIELDS}
        return LinkCounts(
            **ints,
            gold_by_kind=merged(self.gold_by_kind, other.gold_by_kind),
            found_by_kind=merged(self.found_by_kind, other.found_by_kind),
        )

    @property
    def precision(self) -> float:
        """Correct / in_gold: of the links on gold spans, the share with the gold entity."""
        return self.correct / self.in_gold if self.in_gold else 0.0

    @property
    def recall(self) -> float:
        """Found / gold."""
        return self.found / self.gold if self.gold else 0.0

    @property
    def exact_recall(self) -> float:
        """Found_exact / gold: recall when the span must match exactly too."""
        return self.found_exact / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (micro: over pooled counts)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_json(self) -> dict:
        metrics = {k: round(getattr(self, k), 4) for k in ("precision", "recall", "f1", "exact_recall")}
        recall_by_kind = {k: round(self.found_by_kind.get(k, 0) / n, 4) for k, n in self.gold_by_kind.items() if n}
        counts = {k: getattr(self, k) for k in _INT_FIELDS}
        return metrics | counts | {"gold_by_kind": self.gold_by_kind, "recall_by_kind": recall_by_kind}


_INT_FIELDS = ("gold", "found", "found_exact", "in_gold", "correct", "outside", "ignored", "nil")


def outside_links(doc: SilverDoc, links: Iterable[Link]) -> list[Link]:
    """The non-NIL links of ``doc`` that overlap no gold and no ignored span."""
    spans = [g.span for g in doc.gold] + list(doc.ignored)
    return [
        link
        for link in links
        if not link.is_nil and not (link.mention.span and any(overlaps(link.mention.span, s) for s in spans))
    ]


def score_document(doc: SilverDoc, links: Iterable[Link]) -> LinkCounts:
    """Count one document's links against its gold mentions (see :class:`LinkCounts`)."""
    links = list(links)
    grounded = [link for link in links if not link.is_nil and link.mention.span is not None]
    in_gold = correct = ignored = 0
    for link in grounded:
        hit = [g for g in doc.gold if overlaps(link.mention.span, g.span)]
        if hit:
            in_gold += 1
            correct += any(g.entity_iri == link.entity_iri for g in hit)
        elif any(overlaps(link.mention.span, s) for s in doc.ignored):
            ignored += 1
    gold_by_kind: defaultdict[str, int] = defaultdict(int)
    found_by_kind: defaultdict[str, int] = defaultdict(int)
    found = found_exact = 0
    for g in doc.gold:
        gold_by_kind[g.kind] += 1
        right = [link for link in grounded if link.entity_iri == g.entity_iri and overlaps(link.mention.span, g.span)]
        if right:
            found += 1
            found_by_kind[g.kind] += 1
            found_exact += any(link.mention.span == g.span for link in right)
    return LinkCounts(
        gold=len(doc.gold),
        found=found,
        found_exact=found_exact,
        in_gold=in_gold,
        correct=correct,
        outside=len(outside_links(doc, links)),
        ignored=ignored,
        nil=sum(link.is_nil for link in links),
        gold_by_kind=dict(gold_by_kind),
        found_by_kind=dict(found_by_kind),
    )


_SENTENCE_END = re.compile(r"[.!?][\"')\]]?\s+")
_NOT_AN_END = re.compile(r"\b(?:[A-Z]|Mrs?|Ms|[DJS]r|St|Mt|vs|No|Vol|Bros|Inc|Co|Corp|Ltd)\.[\"')\]]?\s+$")


def sentence_around(text: str, span: tuple[int, int]) -> str:
    """The sentence holding ``span`` (periods after initials and common abbreviations do not end one).

    >>> sentence_around("A 1900 film. Directed by J. Stuart Blackton. Silent.", (25, 43))
    'Directed by J. Stuart Blackton.'
    >>> text = "A Warner Bros. Pictures film. Out in the U.S. on May 2."
    >>> sentence_around(text, (9, 13)), sentence_around(text, (51, 54))
    ('A Warner Bros. Pictures film.', 'Out in the U.S. on May 2.')
    """
    start, end = 0, len(text)
    for m in _SENTENCE_END.finditer(text):
        if _NOT_AN_END.search(text, 0, m.end()):
            continue
        if m.end() <= span[0]:
            start = m.end()
        elif m.start() >= span[1] - 1:
            end = m.start() + 1
            break
    return text[start:end].strip()


@dataclass(frozen=True)
class SilverResult:
    """A linker's score on one split of the silver set, with a sample of links outside gold spans to check by hand."""

    split: str
    docs: int
    counts: LinkCounts
    seconds: float
    outside_sample: tuple[dict, ...] = ()

    def as_json(self) -> dict:
        return {"split": self.split, "docs": self.docs, "seconds": round(self.seconds, 2)} | self.counts.as_json()


def evaluate_silver(
    linker: Linker,
    docs: Sequence[SilverDoc],
    *,
    split: str = "",
    sample_size: int = 50,
    seed: int = 0,
    progress: Progress | None = None,
) -> SilverResult:
    """Link every document of ``docs`` and score the links against the gold mentions.

    Args:
        linker: Anything with ``link(Document) -> list[Link]``.
        docs: Silver documents, e.g. one split of :func:`build_silver_set`.
        split: The split's name, for the result.
        sample_size: How many links outside gold spans to sample for hand-checking.
        seed: Seed of that sample.
        progress: Shows a bar when given.
    """
    started = time.perf_counter()
    total = LinkCounts()
    outside: list[dict] = []
    for doc in track(docs, progress, f"silver set ({split or 'all'})"):
        links = linker.link(doc.document)
        total += score_document(doc, links)
        for link in outside_links(doc, links):
            span = link.mention.span
            outside.append(
                {
                    "doc_id": doc.document.id,
                    "title": doc.document.metadata.get("title"),
                    "surface": link.mention.surface,
                    "label": link.label,
                    "iri": link.entity_iri,
                    "score": round(link.score, 4),
                    "method": link.method,
                    "sentence": sentence_around(doc.document.text or "", span) if span else "",
                }
            )
    picked = random.Random(seed).sample(outside, min(sample_size, len(outside)))
    return SilverResult(split, len(docs), total, time.perf_counter() - started, tuple(picked))


def write_outside_sample(result: SilverResult, path: Path) -> None:
    """Write the sampled links outside gold spans as TSV, with an empty ``verdict`` column to fill in by hand."""
    columns = ["doc_id", "title", "surface", "label", "iri", "score", "method", "sentence", "verdict"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in result.outside_sample:
            writer.writerow([" ".join(str(row.get(c) or "").split()) for c in columns])


def silver_table(results: Iterable[SilverResult], *, target_f1: float | None = None) -> Table:
    """A rich table of silver-set results, one row per split (R film / R person: recall on titles / people)."""
    caption = "gold: the film's title and its KB directors, writers, actors in its Wikipedia lead"
    if target_f1 is not None:
        caption += f"; target F1 ≥ {target_f1:.2f}"
    table = Table(
        "split", "docs", "gold", "P", "R", "F1", "R exact", "R film", "R person", "outside", "NIL",
        title="silver set", caption=caption,
    )  # fmt: skip
    for r in results:
        c = r.counts
        by_kind = c.as_json()["recall_by_kind"]
        mark = "" if target_f1 is None else (" ✓" if c.f1 >= target_f1 else " ✗")
        table.add_row(
            r.split,
            f"{r.docs:,}",
            f"{c.gold:,}",
            f"{c.precision:.3f}",
            f"{c.recall:.3f}",
            f"{c.f1:.3f}{mark}",
            f"{c.exact_recall:.3f}",
            f"{by_kind.get('film', 0):.3f}",
            f"{by_kind.get('person', 0):.3f}",
            f"{c.outside:,}",
            f"{c.nil:,}",
        )
    return table
