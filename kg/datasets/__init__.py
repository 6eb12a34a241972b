"""Converters that turn the benchmark data in ``../shared/data`` into RDF.

One module per dataset; each offers a ``build_<name>(shared_data, out_dir)`` for
``kgsearch datasets build <name>``. The names below are imported on first use,
so that ``python -m kg.datasets.movies`` does not import its own module twice.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ConversionReport": "kg.datasets.movies",
    "SkippedLine": "kg.datasets.movies",
    "build_movies": "kg.datasets.movies",
    "convert_metaqa": "kg.datasets.movies",
    "movie_iri": "kg.datasets._iri",
    "parse_movie_iri": "kg.datasets._iri",
    "select_sample_films": "kg.datasets.movies",
    "slug": "kg.datasets._iri",
    "unslug": "kg.datasets._iri",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kg.datasets' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
