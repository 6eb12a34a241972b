"""Errors raised by the retrieval layer.

Every error derives from :class:`RetrievalError`; the subclasses are the ones a caller
can act on. Messages say what went wrong and what to do next.

>>> err = DocumentError("text must be a str, not int", doc_id="d7", field="text")
>>> str(err), err.doc_id, isinstance(err, ValueError)
('document d7, field text: text must be a str, not int', 'd7', True)
"""

from __future__ import annotations


class RetrievalError(Exception):
    """Base class of every error raised by ``retrieval``."""


class QuerySyntaxError(RetrievalError, ValueError):
    """A query in a backend's native syntax does not parse (the default simple syntax never raises this)."""


class BackendUnavailableError(RetrievalError, RuntimeError):
    """A backend was asked for but its server or optional dependency is missing."""


class DocumentError(RetrievalError, ValueError):
    """A document given to an index is malformed; nothing of its batch was stored.

    Args:
        message: What is wrong with the field.
        doc_id: Id of the bad document (``None`` when the id itself is unusable).
        field: The field at fault (for example ``"text"``).
    """

    def __init__(self, message: str, *, doc_id: str | None = None, field: str | None = None):
        self.message = message
        self.doc_id = doc_id
        self.field = field
        where = [part for part in (doc_id is not None and f"document {doc_id}", field and f"field {field}") if part]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class TextQueryTooBroadError(RetrievalError, ValueError):
    """A SPARQL+Text pattern matches more documents (or rows) than allowed; nothing was cut short.

    Add words or ``kgs:contains-entity <IRI>`` patterns to narrow it, or raise the limit.
    """
