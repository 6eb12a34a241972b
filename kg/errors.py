"""Errors raised by the knowledge-base layer.

Every error derives from :class:`KgError`; the subclasses are the ones a caller
can act on. Messages say what went wrong and what to do next.
"""

from __future__ import annotations

from pathlib import Path


class KgError(Exception):
    """Base class of every error raised by ``kg``."""


class SparqlSyntaxError(KgError, ValueError):
    """A SPARQL query or update could not be parsed."""


class RdfSyntaxError(KgError, ValueError):
    """An RDF document is malformed.

    Args:
        source: The file (or a description of the input) that failed.
        message: What the parser expected.
        line: 1-based line of the error, when the parser reported one.
        column: 1-based column of the error, when known.
    """

    def __init__(self, source: str | Path, message: str, line: int | None = None, column: int | None = None):
        self.source = str(source)
        self.message = message
        self.line = line
        self.column = column
        where = self.source
        if line is not None:
            where += f", line {line}"
            if column is not None:
                where += f", column {column}"
        super().__init__(f"{where}: {message}. Nothing from this file was stored; fix the file and load it again.")


class UnknownFormatError(KgError, ValueError):
    """The RDF serialization of a file cannot be determined or is not supported."""


class InputFileError(KgError, OSError):
    """An input file is missing, unreadable, or empty."""


class EntityNotFoundError(KgError, LookupError):
    """No entity with the given IRI or alias is known."""


class BackendUnavailableError(KgError, RuntimeError):
    """A backend was asked for but its server or optional dependency is missing."""


class StoreError(KgError, RuntimeError):
    """A triple store rejected a request (for example a remote endpoint returned an error)."""
