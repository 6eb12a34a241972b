"""Questions on the command line: ``kgsearch ask``, ``kgsearch parser train``, ``kgsearch eval metaqa``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from kg.errors import KgError
from kgsearch.cli import HomeOption, _engine, _fail, _settings, app, err, eval_app, out
from linking.errors import LinkingError
from parser.errors import CannotParseError, ParseError
from retrieval.sources import SourceError

parser_app = typer.Typer(help="The semantic parser (questions to SPARQL).", no_args_is_help=True)
app.add_typer(parser_app, name="parser")


def _read_questions(path: Path) -> list[str]:
    """One question per line, or JSON Lines with a "question" field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise KgError(f"cannot read questions from {path}: {e}") from None
    questions = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                q = json.loads(line)["question"]
            except (ValueError, KeyError, TypeError):
                raise KgError(f'{path}, line {n}: expected a JSON object with a "question" field') from None
            questions.append(str(q))
        else:
            questions.append(line.strip())
    return questions


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question, in plain English.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON (one object per question).")] = False,
    batch: Annotated[
        Path | None, typer.Option(help="Read questions from a file: one per line, or JSONL with a 'question' field.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Most answers to print per question.")] = 20,
    audio: Annotated[
        Path | None, typer.Option(help="A spoken question (wav, mp3, flac): transcribed, then answered.")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Answer questions from the KB and the ingested documents: answers with evidence, and the SPARQL."""
    if sum(x is not None for x in (question, batch, audio)) != 1:
        _fail(KgError("give one of: a question, --batch FILE, --audio FILE"))
    try:
        questions = _read_questions(batch) if batch else [question]
    except KgError as e:
        _fail(e)
    failed = 0
    transcript = None
    with _engine(home) as engine:
        if audio is not None:
            try:
                transcript = engine.transcribe(audio)
            except (KgError, LinkingError, SourceError) as e:
                _fail(e)
            questions = [transcript]
            if not json_out:
                out.print(f"[dim]heard:[/] {escape(transcript)}", highlight=False)
        for q in questions:
            try:
                result = engine.ask(q, limit=limit)
            except CannotParseError as e:
                failed += 1
                if json_out:
                    print(
                        json.dumps(
                            {
                                "question": q,
                                "error": e.reason,
                                "confidence": round(e.confidence, 4),
                                "sparql": e.best_guess,
                                "answers": [],
                            },
                            ensure_ascii=False,
                        )
                    )
                else:
                    err.print(f"[bold red]could not parse:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
                continue
            except (KgError, LinkingError, ParseError) as e:
                _fail(e)
            if json_out:
                body = result.as_json()
                if transcript is not None:
                    body["transcript"] = transcript
                print(json.dumps(body, ensure_ascii=False))
                continue
            print_answers(result)
    if failed and not batch:
        raise typer.Exit(1)


def print_answers(result) -> None:
    """A hybrid answer list: the reading, its SPARQL, and each answer with its evidence."""
    from kgsearch.cli_search import highlighted

    parsed = result.parsed
    out.print(f"[bold]{escape(result.question)}[/]")
    if parsed is not None:
        out.print(f"  reading: {escape(parsed.explanation)}", highlight=False)
        flag = " [yellow](low confidence)[/]" if parsed.low_confidence else ""
        out.print(f"  confidence: {parsed.confidence:.2f}{flag}")
    if result.note:
        out.print(f"  [yellow]{escape(result.note)}[/]")
    if not result.answers:
        out.print("  [yellow]no answers[/]")
    else:
        table = Table("answer", "sources", "evidence", show_edge=False)
        for a in result.answers:
            sources = ", ".join(dict.fromkeys(e.source for e in a.evidence))
            text = next((e for e in a.evidence if e.source != "kb" and e.snippet), None)
            shown = f"{escape(text.ref)}: {highlighted(text.snippet)}" if text else ""
            table.add_row(escape(a.label or a.key), sources, shown)
        out.print(table)
    if parsed is not None:
        out.print("[dim]" + escape(parsed.sparql) + "[/]", highlight=False)


@parser_app.command("train")
def parser_train(
    out_path: Annotated[Path | None, typer.Option("--out", help="Where to write the lexicon.")] = None,
    home: HomeOption = None,
) -> None:
    """Learn the movie relation lexicon by distant supervision from the MetaQA and WikiMovies dev sets.

    The home must hold the full movie KB (kgsearch datasets build movies). Test sets are never read.
    """
    from parser.parser import LEXICON_DIR
    from parser.train import fit_lexicon

    settings = _settings(home)
    target = out_path or LEXICON_DIR / "lexicon-movies.json"
    from linking.evaluation import progress_bar

    with _engine(home) as engine, progress_bar(err) as bar:
        task = bar.add_task("labelling the dev questions", total=None)
        try:
            report = fit_lexicon(
                engine.store,
                engine.catalogue,
                engine.linker(),
                settings.shared_data,
                target,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except (KgError, ParseError, OSError) as e:
            _fail(e)
    out.print(json.dumps(report))


@eval_app.command("metaqa")
def eval_metaqa(
    split: Annotated[str, typer.Option(help="dev (for tuning) or test (for reporting).")] = "test",
    limit: Annotated[int | None, typer.Option(help="A fixed sample of N questions per set, for a quick run.")] = None,
    home: HomeOption = None,
) -> None:
    """Hits@1 of `ask` on MetaQA 1/2/3-hop (brackets removed), MetaQA NTM and WikiMovies.

    The home must hold the full movie KB. bench/parser.py adds latency and writes JSON.
    """
    from parser.evaluation import SPLITS, evaluate_sets, question_sets, results_table

    if split not in SPLITS:
        _fail(KgError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}"))
    settings = _settings(home)
    with _engine(home) as engine:
        try:
            sets = question_sets(settings.shared_data, split, limit=limit)
            results = evaluate_sets(engine.parser(), sets, progress_console=err)
        except (KgError, ParseError, LinkingError, OSError) as e:
            _fail(e)
    out.print(results_table(results))
