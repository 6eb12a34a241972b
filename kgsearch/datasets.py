"""The benchmark knowledge bases kgsearch can build from ``../shared/data``."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from kg.errors import DatasetError, InputFileError

DATASETS = ("movies", "lubm")


def build_dataset(name: str, shared_data: Path, out_dir: Path, *, console: Console | None = None) -> list[Path]:
    """Build dataset ``name`` and return the RDF files to load (ontology first).

    Args:
        name: ``movies`` (MetaQA/WikiMovies KB, converted to RDF) or ``lubm`` (LUBM(1,0), already RDF).
        shared_data: The benchmark data directory.
        out_dir: Where converted files are written.
        console: Where to report progress.

    Raises:
        DatasetError: Unknown dataset name or malformed source data.
        InputFileError: The source data is not in ``shared_data``.
    """
    shared_data = Path(shared_data)
    if not shared_data.is_dir():
        raise InputFileError(f"{shared_data}: benchmark data directory not found; pass --shared-data DIR")
    if name == "movies":
        from kg.datasets.movies import ONTOLOGY_PATH, build_movies

        report = build_movies(shared_data, out_dir)
        if console:
            console.print(
                f"movies: {report.facts:,} facts, {report.triples:,} triples from {report.input_lines:,} lines -> {report.output}"
            )
        return [ONTOLOGY_PATH, Path(report.output)]
    if name == "lubm":
        return [shared_data / "lubm" / "univ-bench.owl", shared_data / "lubm" / "University0_all.nt"]
    raise DatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


#: The quick-start documents: Wikipedia leads of films in the sample KB (``data/movies-sample.ttl``).
DOCS_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "movies-sample-docs.jsonl"

#: Films whose leads the documents sample always holds (the README and demo use them).
DOCS_SAMPLE_FILMS = ("Jaws", "Rebecca", "Vertigo", "Psycho", "Rear Window", "Heat", "Alien")


def write_docs_sample(shared_data: Path, films: set[str], *, n: int = 150, out: Path = DOCS_SAMPLE) -> int:
    """(Re)write the documents sample: the Wikipedia leads (``movie-text``, source ``wiki_intro_prust``)
    of the named films plus the first ``n`` other films of ``films`` in name order; returns the count."""
    import json

    docs_of: dict[str, list[str]] = {}
    with open(shared_data / "movie-text" / "kb_movie_to_docs.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            film, doc_id, source, *_ = line.rstrip("\n").split("\t")
            if source == "wiki_intro_prust" and film in films:
                docs_of.setdefault(film, []).append(doc_id)
    chosen = [f for f in DOCS_SAMPLE_FILMS if f in docs_of]
    chosen += [f for f in sorted(docs_of) if f not in chosen][: max(0, n - len(chosen))]
    wanted = {d for f in chosen for d in docs_of[f]}
    rows = []
    with open(shared_data / "movie-text" / "docs.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if doc["doc_id"] in wanted:
                rows.append({"id": doc["doc_id"], "title": doc["title"], "text": doc["text"], "url": doc["url"]})
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)
