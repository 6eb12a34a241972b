"""The ``kgsearch`` command line: load, sparql, stats, entity, catalogue, datasets, demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kg.errors import KgError
from kg.results import AskResult, Bindings, GraphResult
from kgsearch.display import shorten, term_text
from kgsearch.engine import Engine
from kgsearch.settings import Settings

app = typer.Typer(
    help="kgsearch: semantic search over a knowledge graph and documents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
datasets_app = typer.Typer(help="Build the benchmark knowledge bases from ../shared/data.", no_args_is_help=True)
catalogue_app = typer.Typer(help="The entity catalogue (names, types, descriptions, popularity).", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(catalogue_app, name="catalogue")

out = Console()
err = Console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", help="Data directory (default: $KGSEARCH_HOME or ~/.local/share/kgsearch).", show_default=False
    ),
]


def _settings(home: Path | None) -> Settings:
    try:
        return Settings.from_env(home=home)
    except KgError as e:
        _fail(e)


def _engine(home: Path | None) -> Engine:
    try:
        return Engine(_settings(home))
    except KgError as e:
        _fail(e)


def _fail(error: Exception) -> None:
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def load_files(engine: Engine, files: list[Path], fmt: str | None = None, graph: str | None = None) -> None:
    """Load files into an engine with a progress bar and print a summary table."""
    with _progress() as progress:
        tasks: dict[Path, int] = {}

        def report(path: Path, done: int, total: int) -> None:
            if path not in tasks:
                tasks[path] = progress.add_task(path.name, total=total)
            progress.update(tasks[path], completed=done)

        reports = engine.load(files, format=fmt, graph=graph, progress=report)
    table = Table("file", "statements added", "entities catalogued", "seconds", title="loaded")
    for r in reports:
        table.add_row(str(r.path), f"{r.added:,}", f"{r.catalogued:,}", f"{r.seconds:.2f}")
    out.print(table)


@app.command()
def load(
    files: Annotated[
        list[Path], typer.Argument(help="RDF files: .ttl .nt .nq .trig .n3 .rdf/.owl/.xml .jsonld, optionally .gz")
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="Format of all files (turtle, ntriples, nquads, trig, n3, rdfxml, jsonld)."),
    ] = None,
    graph: Annotated[str | None, typer.Option(help="Load into this named graph instead of the default graph.")] = None,
    home: HomeOption = None,
) -> None:
    """Load RDF files; each file is stored whole or not at all."""
    with _engine(home) as engine:
        try:
            load_files(engine, files, fmt, graph)
        except KgError as e:
            _fail(e)


def print_result(result, fmt: str) -> None:
    """Print a query result as a table, or in a SPARQL results format."""
    if fmt != "table":
        if isinstance(result, GraphResult) and fmt in ("json", "csv", "tsv", "xml"):
            fmt = {"json": "jsonld", "xml": "rdfxml"}.get(fmt, "ntriples")
        sys.stdout.buffer.write(result.serialize(fmt))
        sys.stdout.flush()
        return
    if isinstance(result, AskResult):
        out.print("yes" if result else "no")
        return
    if isinstance(result, GraphResult):
        table = Table("subject", "predicate", "object")
        for t in result:
            table.add_row(term_text(t.subject), term_text(t.predicate), term_text(t.object))
    else:
        assert isinstance(result, Bindings)
        table = Table(*result.variables)
        for row in result:
            table.add_row(*(term_text(t) for t in row))
    out.print(table)
    out.print(f"{len(result):,} result{'s' if len(result) != 1 else ''}", style="dim")


@app.command()
def sparql(
    query: Annotated[
        str, typer.Argument(help="A SPARQL 1.1 query; '-' reads it from standard input, '@FILE' from a file.")
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="table, json, xml, csv or tsv (CONSTRUCT: turtle, ntriples, jsonld).")
    ] = "table",
    home: HomeOption = None,
) -> None:
    """Run a SPARQL query against the knowledge base."""
    if query == "-":
        query = sys.stdin.read()
    elif query.startswith("@"):
        try:
            query = Path(query[1:]).read_text(encoding="utf-8")
        except OSError as e:
            _fail(KgError(f"cannot read the query file {query[1:]}: {e.strerror}"))
    with _engine(home) as engine:
        try:
            print_result(engine.sparql(query), fmt)
        except KgError as e:
            _fail(e)


@app.command()
def stats(home: HomeOption = None) -> None:
    """Print what the knowledge base holds."""
    with _engine(home) as engine:
        s = engine.stats()
    table = Table("what", "count", title=f"kgsearch home {engine.settings.home}")
    table.add_row("triples (default graph)", f"{s.triples:,}")
    for g, n in s.named_graphs.items():
        table.add_row(f"triples in <{g}>", f"{n:,}")
    table.add_row("entities", f"{s.entities:,}")
    for t, n in list(s.types.items())[:15]:
        table.add_row(f"  of type {shorten(t)}", f"{n:,}")
    out.print(table)


@app.command()
def entity(
    ref: Annotated[str, typer.Argument(help="An entity IRI or name, e.g. 'Ridley Scott'.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    home: HomeOption = None,
) -> None:
    """Look up an entity by IRI or name and print its card."""
    import dataclasses
    import json

    with _engine(home) as engine:
        try:
            e = engine.entity(ref)
        except KgError as error:
            _fail(error)
        facts = engine.facts(e.iri)
    if json_out:
        doc = dataclasses.asdict(e) | {"facts": [{"property": p, "label": pl, "value": v} for p, pl, v in facts]}
        print(json.dumps(doc, ensure_ascii=False))
        return
    out.print(f"[bold]{e.label}[/]  <{e.iri}>")
    out.print(f"types: {', '.join(shorten(t) for t in e.types)}   popularity: {e.popularity:.2e}")
    if e.aliases:
        out.print(f"also known as: {', '.join(e.aliases)}")
    out.print(e.description, style="italic")
    table = Table("property", "value")
    for _, prop_label, value in facts:
        table.add_row(prop_label, value)
    out.print(table)


@catalogue_app.command("rebuild")
def catalogue_rebuild(home: HomeOption = None) -> None:
    """Rebuild every catalogue entry from the store."""
    with _engine(home) as engine:
        n = engine.rebuild_catalogue()
    out.print(f"catalogue rebuilt: {n:,} entities")


@datasets_app.command("build")
def datasets_build(
    name: Annotated[str, typer.Argument(help="Dataset to build: movies.")],
    shared_data: Annotated[
        Path | None, typer.Option(help="The benchmark data directory (default ../shared/data).")
    ] = None,
    load_it: Annotated[bool, typer.Option("--load/--no-load", help="Load the built KB into the home.")] = True,
    home: HomeOption = None,
) -> None:
    """Convert a benchmark KB to RDF (written to HOME/datasets/) and load it."""
    from kgsearch.datasets import build_dataset

    settings = _settings(home)
    try:
        files = build_dataset(name, shared_data or settings.shared_data, settings.home / "datasets", console=out)
        if load_it:
            with Engine(settings) as engine:
                load_files(engine, files)
    except KgError as e:
        _fail(e)


@app.command()
def demo(home: HomeOption = None) -> None:
    """Build the sample movie KB (if not yet loaded) and show what kgsearch answers."""
    from kgsearch.demo import run_demo

    with _engine(home) as engine:
        try:
            run_demo(engine, out)
        except KgError as e:
            _fail(e)


if __name__ == "__main__":  # pragma: no cover
    app()
