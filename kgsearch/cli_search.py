"""Documents on the command line: ``kgsearch ingest`` and ``kgsearch search``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from kg.errors import KgError
from kgsearch.cli import HomeOption, _engine, _fail, _settings, app, err, eval_app, out
from linking.errors import LinkingError, ModelUnavailableError
from retrieval.errors import RetrievalError
from retrieval.ingest import CHECKPOINT
from retrieval.sources import SourceError

#: Problems listed one by one after an ingest; the rest are counted.
SHOWN_PROBLEMS = 20

_TAG = re.compile(r"</?b>")


def highlighted(snippet: str) -> str:
    """A ``<b>``-highlighted HTML snippet as rich markup (bold), everything else escaped."""
    import html

    parts = _TAG.split(snippet)
    tags = _TAG.findall(snippet)
    outp = escape(html.unescape(parts[0]))
    for tag, part in zip(tags, parts[1:], strict=True):
        outp += ("[bold yellow]" if tag == "<b>" else "[/]") + escape(html.unescape(part))
    return outp


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Text files (.txt, .md), JSON Lines (.jsonl), or folders.")],
    no_vectors: Annotated[bool, typer.Option("--no-vectors", help="Skip passage embeddings (BM25 only).")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    checkpoint: Annotated[
        int, typer.Option(min=1, help="Documents written per checkpoint; an interrupted ingest redoes at most one.")
    ] = CHECKPOINT,
    home: HomeOption = None,
) -> None:
    """Link documents to the KB and index them: text, entity ids, passage vectors, mention provenance.

    Re-running skips documents already ingested with the same content; a document whose id was
    ingested with other content replaces it. Bad documents are reported with file and line. An
    ingest that is killed (or hits a full disk) is undone back to its last checkpoint when the home
    is next opened; running it again completes it.
    """
    from linking.evaluation import progress_bar
    from retrieval.sources import count_documents

    try:
        total = count_documents(paths)
    except SourceError as e:
        _fail(e)
    with _engine(home) as engine, progress_bar(err) as bar:
        task = bar.add_task("ingesting", total=total)
        try:
            report = engine.ingest(
                paths,
                vectors=not no_vectors,
                checkpoint=checkpoint,
                progress=lambda done: bar.update(task, completed=done),
            )
        except ModelUnavailableError as e:
            _fail(ModelUnavailableError(f"{e}; or ingest without embeddings: kgsearch ingest --no-vectors"))
        except (SourceError, KgError, LinkingError, RetrievalError, OSError) as e:
            _fail(e)
    if json_out:
        print(json.dumps(report.as_json(), ensure_ascii=False))
        return
    out.print(
        f"ingested {report.added:,} new and {report.updated:,} updated documents "
        f"({report.links:,} entity links); {report.unchanged:,} unchanged; "
        f"{len(report.failed):,} failed; {report.seconds:.1f} s"
    )
    for problem in report.failed[:SHOWN_PROBLEMS]:
        err.print(f"[red]skipped[/] {escape(str(problem))}", highlight=False, soft_wrap=True)
    if len(report.failed) > SHOWN_PROBLEMS:
        err.print(f"... and {len(report.failed) - SHOWN_PROBLEMS:,} more (use --json for all)")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='Words and "quoted phrases" (may be empty with --image).')] = "",
    limit: Annotated[int, typer.Option(help="Documents (and entities) to show.")] = 10,
    entity: Annotated[
        list[str] | None, typer.Option(help="Keep documents that mention this entity (IRI or name); repeatable.")
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(
            help="Query by example: the people and words recognised in this image, and the documents that mention them."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    home: HomeOption = None,
) -> None:
    """Search the ingested documents (BM25 and embeddings fused); shows documents and the entities they mention."""
    if image is not None:
        _search_by_example(image, query, limit, json_out, home)
        return
    if not query.strip():
        _fail(ValueError("give search words, or an example image with --image"))
    with _engine(home) as engine:
        try:
            iris = [engine.entity(e).iri for e in entity or []]
            results = engine.search(query, limit=limit, entities=iris)
        except (KgError, LinkingError, RetrievalError) as e:
            _fail(e)
    if json_out:
        print(json.dumps(results.as_json(), ensure_ascii=False))
        return
    if not results.documents:
        out.print("[yellow]no documents match[/]")
        return
    table = Table("#", "document", "snippet", "sources", show_edge=False, show_lines=True)
    for rank, doc in enumerate(results.documents, start=1):
        sources = ", ".join(f"{e.source} #{e.rank}" for e in doc.evidence)
        table.add_row(str(rank), escape(doc.title or doc.id), highlighted(doc.snippet), sources)
    out.print(table)
    if results.entities:
        names = ", ".join(escape(e.label) for e in results.entities)
        out.print(f"[bold]entities:[/] {names}", highlight=False)


def _search_by_example(image: Path, query: str, limit: int, json_out: bool, home) -> None:
    with _engine(home) as engine:
        try:
            found = engine.search_by_example(image, query, limit=limit)
            cards = {link.entity_iri: engine.entity(link.entity_iri) for link in found.entities}
        except (KgError, LinkingError, RetrievalError, SourceError) as e:
            _fail(e)
    if json_out:
        print(json.dumps(found.as_json(), ensure_ascii=False))
        return
    skipped = found.reading.metadata.get("skipped", {})
    for name, why in skipped.items():
        err.print(f"[dim]{name} skipped: {escape(why)}[/]")
    if not found.entities:
        faces = sum(1 for link in found.reading.links if link.method.startswith("faces"))
        out.print(f"[yellow]no KB entity recognised in {escape(str(image))}[/] ({faces} face(s) found)")
        return
    table = Table("entity", "how", "score", "where", "about", show_edge=False)
    for link in found.entities:
        box = link.mention.bbox
        where = "box " + ",".join(f"{v:.0f}" for v in box) if box else ""
        entity = cards[link.entity_iri]
        table.add_row(escape(entity.label), link.method, f"{link.score:.2f}", where, escape(entity.description[:90]))
    out.print(table)
    if not found.documents:
        out.print("[yellow]no ingested document mentions them[/]")
        return
    docs = Table("#", "document", "snippet", show_edge=False, show_lines=True)
    for rank, doc in enumerate(found.documents, start=1):
        docs.add_row(str(rank), escape(doc.title or doc.id), highlighted(doc.snippet))
    out.print(docs)


@eval_app.command("scifact")
def eval_scifact(
    split: Annotated[str, typer.Option(help="train (for tuning) or test (for reporting).")] = "test",
    dense: Annotated[
        bool, typer.Option("--dense/--no-dense", help="Also run dense and hybrid (embeds 5,183 abstracts).")
    ] = True,
    home: HomeOption = None,
) -> None:
    """nDCG@10 and recall@100 of BM25, dense and hybrid retrieval on SciFact (BEIR format, ../shared/data/scifact).

    Hybrid uses the shipped document fusion (fitted on the train queries). bench/retrieval_scifact.py
    adds RRF variants, refits the weights and writes JSON.
    """
    from dataclasses import replace

    from linking.embeddings import PRECISION_ENV, SentenceTransformerEmbedder
    from retrieval.beir import DenseRetriever, HybridRetriever, build_text_index, evaluate, read_corpus, read_queries
    from retrieval.hybrid import document_scorer

    settings = _settings(home)
    directory = settings.shared_data / "scifact"
    try:
        corpus, queries = read_corpus(directory), read_queries(directory, split)
        results = {}
        with build_text_index(corpus) as bm25:
            results["bm25"] = evaluate(bm25, queries)
            if dense:
                import os

                embedder = SentenceTransformerEmbedder(precision=os.environ.get(PRECISION_ENV) or "auto")
                err.print(f"embedding {len(corpus):,} abstracts ...")
                vectors = DenseRetriever.build(corpus, embedder)
                results["dense"] = evaluate(vectors, queries)
                hybrid = HybridRetriever({"text": bm25, "vector": vectors})
                results["hybrid (RRF)"] = evaluate(hybrid, queries)
                results["hybrid (fitted)"] = evaluate(replace(hybrid, scorer=document_scorer()), queries)
    except (RetrievalError, LinkingError, OSError) as e:
        _fail(e)
    table = Table("method", "nDCG@10", "recall@100", "p50 ms", title=f"SciFact {split} ({len(queries)} queries)")
    for name, r in results.items():
        table.add_row(name, f"{r.ndcg:.4f}", f"{r.recall:.4f}", f"{r.latency_percentile(50):.1f}")
    out.print(table)
