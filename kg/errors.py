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


class DatasetError(KgError, ValueError):
    """A benchmark data file (not RDF) is malformed, or a dataset was asked for wrongly.

    Args:
        message: What is wrong and what to do about it.
        source: The file that failed, when there is one.
        line: 1-based line of the bad record.
        field: The field of the record at fault (for example ``"tail"``).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ):
        self.source = None if source is None else str(source)
        self.message = message
        self.line = line
        self.field = field
        where = [part for part in (self.source, line and f"line {line}", field and f"field {field}") if part]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class QueryTooComplexError(KgError, ValueError):
    """A SPARQL request nested too deep or too long for the embedded store to evaluate safely
    (see :mod:`kg.sparql_limits`)."""


class UnsupportedQueryError(KgError, ValueError):
    """A SPARQL query asks for what the store does not do: a function it does not know, a
    ``SERVICE`` it cannot call."""


class ResultFormatError(KgError, ValueError):
    """A result holds what the requested format cannot write (XML 1.0 has no control characters);
    another format can carry it."""
