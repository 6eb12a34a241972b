"""Helpers shared by the silver-set and question evaluations: splits, samples, progress bars."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

SPLITS = ("dev", "test")

T = TypeVar("T")


def progress_bar(console: Console | None = None) -> Progress:
    """The progress display used by the linking benchmark and ``kgsearch eval linking``."""
    console = console or Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def track(items: Sequence[T], progress: Progress | None, description: str) -> Iterator[T]:
    """Yield ``items``, advancing a task of ``progress`` (when given) by one per item."""
    if progress is None:
        yield from items
        return
    task = progress.add_task(description, total=len(items))
    for item in items:
        yield item
        progress.advance(task)
    progress.remove_task(task)


def split_of(doc_id: str) -> str:
    """``dev`` or ``test``, from a stable hash of the id (not Python's salted ``hash``).

    >>> split_of("wiki_intro_prust:12997") in SPLITS, split_of("x") == split_of("x")
    (True, True)
    """
    return SPLITS[hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()[-1] & 1]


def sample(items: Sequence[T], n: int | None, seed: int = 0) -> list[T]:
    """A deterministic sample of ``n`` items in their original order; all of them when ``n`` is None."""
    if n is None or n >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in keep]
