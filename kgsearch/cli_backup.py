"""``kgsearch dump`` and ``kgsearch restore``: a whole home to one archive and back (see :mod:`kgsearch.backup`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from kg.errors import KgError
from kgsearch.cli import HomeOption, _fail, _settings, app, err, out
from retrieval.errors import RetrievalError


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _reporter(progress: Progress):
    tasks: dict[str, int] = {}

    def report(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(step, total=total)
        progress.update(tasks[step], completed=done, total=total)

    return report


def _graphs_rows(table: Table, graphs: dict[str, int]) -> None:
    for graph, n in graphs.items():
        table.add_row("statements (default graph)" if graph == "" else f"statements in <{escape(graph)}>", f"{n:,}")


def _notes(notes) -> None:
    for note in notes:
        err.print(f"[bold yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


@app.command()
def dump(
    archive: Annotated[
        Path,
        typer.Argument(help="Where to write: a .tar or .tar.gz file, else a folder (created).", show_default=False),
    ],
    kb_only: Annotated[
        bool, typer.Option("--kb-only", help="Only the KB (N-Quads): no catalogue, document ledger or indexes.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace ARCHIVE if it exists.")] = False,
    home: HomeOption = None,
) -> None:
    """Back up the whole home to one archive: the KB as N-Quads, the catalogue, the document ledger
    and the indexes, with a manifest of counts and checksums. Works while `kgsearch serve` runs."""
    from kgsearch.backup import dump as dump_home

    settings = _settings(home)
    try:
        with _progress_bar() as progress:
            report = dump_home(settings, archive, kb_only=kb_only, force=force, progress=_reporter(progress))
    except (KgError, RetrievalError) as e:
        _fail(e)
    _notes(report.notes)
    table = Table("what", "count", title=f"dumped {escape(str(settings.home))} to {escape(str(report.archive))}")
    _graphs_rows(table, report.graphs)
    table.add_row("entities", f"{report.entities:,}")
    documents = "none" if report.documents is None else f"{report.documents:,}"
    table.add_row("documents", "not archived (--kb-only)" if report.kb_only else documents)
    table.add_row("archive size", f"{report.bytes / 1e6:,.1f} MB")
    table.add_row("seconds", f"{report.seconds:.2f}")
    out.print(table)
    if report.skipped:
        out.print(f"not archived (not kgsearch's): {escape(', '.join(report.skipped))}", style="dim")


@app.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive written by `kgsearch dump`.", show_default=False)],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a home that holds data (kept as it was until the restore succeeds)."),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Make a home from a `kgsearch dump` archive, after checking every checksum, into a new or
    empty home (or, with --force, replacing one); a failed restore changes nothing."""
    from kgsearch.backup import restore as restore_home

    settings = _settings(home)
    try:
        with _progress_bar() as progress:
            report = restore_home(settings, archive, force=force, progress=_reporter(progress))
    except (KgError, RetrievalError) as e:
        _fail(e)
    _notes(report.notes)
    verb = "replaced" if report.replaced else "restored"
    table = Table("what", "count", title=f"{verb} {escape(str(report.home))} from {escape(str(archive))}")
    _graphs_rows(table, report.graphs)
    table.add_row(
        "entities" + (" (catalogue rebuilt)" if "catalogue" in report.rebuilt else ""), f"{report.entities:,}"
    )
    table.add_row("documents", "none" if report.documents is None else f"{report.documents:,}")
    table.add_row("seconds", f"{report.seconds:.2f}")
    out.print(table)
