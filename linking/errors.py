"""Errors raised by the linkers."""

from __future__ import annotations


class LinkingError(Exception):
    """Base class of every error raised by ``linking``."""


class InputTextError(LinkingError, ValueError):
    """A document's text cannot be linked (for example it is not valid UTF-8)."""


class ModelUnavailableError(LinkingError, RuntimeError):
    """An optional model (NER, embeddings) was asked for but is not installed or not configured."""
