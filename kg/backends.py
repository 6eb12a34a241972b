"""Triple-store backends chosen by name from a lazy table.

Like rdflib's plugin registry, the table holds module paths, not classes, so a
backend's client library is imported only when that backend is opened.

>>> sorted(STORES)
['oxigraph', 'sparql']
>>> open_store("oxigraph").count()
0
"""

from __future__ import annotations

import importlib

from kg.errors import BackendUnavailableError, KgError
from kg.store import TripleStore

#: name -> (module, class)
STORES: dict[str, tuple[str, str]] = {
    "oxigraph": ("kg._oxigraph", "OxigraphStore"),
    "sparql": ("kg._endpoint", "SparqlEndpointStore"),
}


def open_store(name: str, *args, **kwargs) -> TripleStore:
    """Open the store backend registered under ``name`` with the backend's own arguments.

    Raises:
        KgError: No backend has that name.
        BackendUnavailableError: The backend's client library is not installed.
    """
    try:
        module_name, class_name = STORES[name]
    except KeyError:
        raise KgError(f"unknown store backend {name!r}; choose one of: {', '.join(sorted(STORES))}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BackendUnavailableError(
            f"the {name!r} store needs {e.name!r}, which is not installed; pip install kgsearch with its extra"
        ) from e
    return getattr(module, class_name)(*args, **kwargs)
