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
