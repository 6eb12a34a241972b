"""Errors of the semantic parser. One base class; callers catch :class:`ParseError`.

>>> err = CannotParseError("who is foo", "no KB entity found in the question", 0.0)
>>> str(err)
"could not parse 'who is foo': no KB entity found in the question (best guess confidence 0.00)"
"""

from __future__ import annotations


class ParseError(Exception):
    """Base class of the parser's errors."""


class CannotParseError(ParseError, ValueError):
    """A question the parser cannot map to a query, with the reason and the best guess's confidence."""

    def __init__(self, question: str, reason: str, confidence: float = 0.0, best_guess: str | None = None):
        self.question = question
        self.reason = reason
        self.confidence = confidence
        self.best_guess = best_guess
        shown = question if len(question) <= 80 else question[:77] + "..."
        super().__init__(f"could not parse {shown!r}: {reason} (best guess confidence {confidence:.2f})")
