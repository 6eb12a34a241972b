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
from kgsearch.settings import ServerSettings, Settings
from retrieval.errors import RetrievalError

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
        engine = Engine(_settings(home))
    except KgError as e:
        _fail(e)
    for note in engine.recovery_notes():
        err.print(f"[bold yellow]warning:[/] {escape(note)}", highlight=False, soft_wrap=True)
    return engine


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
    """Load RDF files; a file that does not parse stores nothing, and re-running a load (after a
    crash or a full disk) completes it without duplicates."""
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
    """Run a SPARQL query against the knowledge base (with SPARQL+Text: kgs:contains-word, kgs:contains-entity)."""
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
        except (KgError, RetrievalError) as e:
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
def demo(
    home: HomeOption = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="End by serving the console.")] = True,
    port: Annotated[int, typer.Option("--port", help="Port for the console (127.0.0.1).")] = 8000,
) -> None:
    """Build the sample movie KB (if not yet loaded), show what kgsearch answers, then serve the console."""
    from kgsearch.demo import run_demo

    with _engine(home) as engine:
        try:
            run_demo(engine, out)
        except KgError as e:
            _fail(e)
        if serve:
            _serve(engine, ServerSettings.from_env(port=port))


def _serve(engine: Engine, settings: ServerSettings) -> None:
    from kgsearch.server import serve as run_server

    base = f"http://{settings.host}:{settings.port}"
    out.rule("the HTTP service")
    out.print(f"Open [bold]{base}/console/[/] in a browser (API docs: {base}/docs, SPARQL endpoint: {base}/sparql).")
    out.print("Press Ctrl-C to stop.", style="dim")
    run_server(engine, settings, log_level="warning")


@app.command()
def serve(
    home: HomeOption = None,
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [default: 127.0.0.1, KGSEARCH_HOST].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [default: 8000, KGSEARCH_PORT].")] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Seconds a SPARQL query may run [default: 30, KGSEARCH_QUERY_TIMEOUT]."),
    ] = None,
    row_cap: Annotated[
        int | None, typer.Option("--row-cap", help="Most rows per SPARQL result [default: 10000, KGSEARCH_ROW_CAP].")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="SPARQL query processes [default: 2, KGSEARCH_QUERY_WORKERS].")
    ] = None,
) -> None:
    """Serve the HTTP API, the SPARQL endpoint (/sparql) and the analyst console (/console).

    Read-only unless KGSEARCH_UPDATE_TOKEN is set; SERVICE targets must be listed in KGSEARCH_SERVICE_ALLOW.
    """
    try:
        settings = ServerSettings.from_env(
            host=host, port=port, query_timeout=timeout, row_cap=row_cap, query_workers=workers
        )
    except ValueError as e:
        _fail(e)
    with _engine(home) as engine:
        _serve(engine, settings)


eval_app = typer.Typer(help="Measure kgsearch on the benchmark data in ../shared/data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def _read_link_input(path: Path) -> list[tuple[str, str]]:
    """``(doc id, text)`` per document of a ``.jsonl`` file (``text``, optional ``id``) or a text file (one per line)."""
    import json

    from kg.errors import InputFileError
    from linking.errors import InputTextError

    if not path.is_file():
        raise InputFileError(f'{path}: no such file; give a .jsonl file with a "text" field per line, or a .txt file')
    docs = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise InputTextError(f"{path}, line {lineno}: not UTF-8 ({e.reason} at byte {e.start})") from None
            if path.suffix.lower() != ".jsonl":
                docs.append((f"{path.name}:{lineno}", line))
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputTextError(f"{path}, line {lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise InputTextError(f'{path}, line {lineno}, field "text": expected an object with a string "text"')
            doc_id = row.get("id")
            docs.append((str(doc_id) if doc_id is not None else f"{path.name}:{lineno}", row["text"]))
    return docs


@app.command()
def link(
    text: Annotated[str | None, typer.Argument(help="The text to link (or use --file).", show_default=False)] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help='A .jsonl file ("text", optional "id") or a text file, one document per line.'),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object per link.")] = False,
    noisy: Annotated[
        bool, typer.Option("--noisy", help="Text without reliable case or punctuation (transcripts, OCR).")
    ] = False,
    question: Annotated[
        bool, typer.Option("--question", help="Rank the topic entities of a question instead.")
    ] = False,
    home: HomeOption = None,
) -> None:
    """Find the KB entities a text mentions, with their spans, scores and how each was linked."""
    import json

    from linking.errors import LinkingError
    from linking.types import Document

    if (text is None) == (file is None):
        _fail(KgError("give either TEXT or --file FILE"))
    try:
        if file is not None:
            docs = _read_link_input(file)
        else:
            text.encode("utf-8")  # undecodable bytes in argv surface as lone surrogates
            docs = [("text", text)]
    except UnicodeEncodeError:
        _fail(KgError("the TEXT argument is not valid UTF-8"))
    except (KgError, LinkingError) as e:
        _fail(e)
    docs = [(doc_id, t) for doc_id, t in docs if t.strip()]
    if not docs:
        return
    with _engine(home) as engine:
        try:
            linker = engine.linker()
            if noisy:
                linker = linker.with_config(noisy=True)
            table = Table(*(["doc"] if file else []), "surface", "span", "entity", "iri", "score", "method")
            for doc_id, doc_text in docs:
                links = linker.topic_entities(doc_text) if question else linker.link(Document(doc_id, text=doc_text))
                for found in links:
                    row = found.as_json()
                    if json_out:
                        print(json.dumps(({"doc_id": doc_id} if file else {}) | row, ensure_ascii=False))
                        continue
                    span = f"{row['start']}-{row['end']}" if row["start"] is not None else ""
                    iri = shorten(row["iri"]) if row["iri"] else "NIL"
                    cells = [row["surface"], span, row["label"] or "", iri, f"{row['score']:.2f}", row["method"]]
                    table.add_row(*([doc_id] if file else []), *(escape(c) for c in cells))
        except (KgError, LinkingError) as e:
            _fail(e)
    if not json_out:
        out.print(table)


@eval_app.command("linking")
def eval_linking(
    split: Annotated[str, typer.Option(help="dev (for tuning) or test (for reporting).")] = "dev",
    limit: Annotated[
        int | None, typer.Option(help="A fixed sample of N leads and N questions per file, for a quick run.")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Score the text linker on the silver set (Wikipedia leads) and on MetaQA topic entities.

    The home must hold the full movie KB (kgsearch datasets build movies). The full
    benchmark, with speed and both splits, is bench/linking.py.
    """
    from linking.errors import LinkingError
    from linking.evaluation import (
        SPLITS,
        build_silver_set,
        evaluate_question_sets,
        evaluate_silver,
        progress_bar,
        questions_table,
        sample,
        silver_table,
    )

    if split not in SPLITS:
        _fail(KgError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}"))
    settings = _settings(home)
    with _engine(home) as engine:
        try:
            silver = build_silver_set(settings.shared_data, engine.store)
            if not silver:
                _fail(
                    KgError(
                        f"no Wikipedia lead matches a film in {settings.home}; run `kgsearch datasets build movies`"
                    )
                )
            linker = engine.linker()
            with progress_bar(err) as progress:
                docs = sample([d for d in silver if d.split == split], limit)
                silver_result = evaluate_silver(linker, docs, split=split, progress=progress)
                questions = evaluate_question_sets(linker, settings.shared_data, split, limit=limit, progress=progress)
        except (KgError, LinkingError) as e:
            _fail(e)
    out.print(silver_table([silver_result]))
    out.print(questions_table(questions))


from kgsearch import cli_ask, cli_backup, cli_search  # noqa: E402,F401  (register ask, parser, eval metaqa, ingest, search, dump, restore)

if __name__ == "__main__":  # pragma: no cover
    app()
