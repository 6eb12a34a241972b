"""Errors raised by the linkers."""

from __future__ import annotations


class LinkingError(Exception):
    """Base class of every error raised by ``linking``."""


class InputTextError(LinkingError, ValueError):
    """A document's text cannot be linked (for example it is not valid UTF-8)."""


class InputImageError(LinkingError, ValueError):
    """An image file is missing or cannot be decoded; the message names the file."""


class InputAudioError(LinkingError, ValueError):
    """An audio file is missing, empty or cannot be decoded; the message names the file."""


class ModelUnavailableError(LinkingError, RuntimeError):
    """An optional model (NER, embeddings) was asked for but is not installed or not configured."""


def text_list(texts, *, hint: str) -> list[str]:
    """``texts`` as a list of strings, or :class:`InputTextError` saying what was wrong.

    Args:
        texts: A sequence of strings (a single string is refused: it would be split into characters).
        hint: The start of the message for a single string, e.g. "embed() takes a sequence of texts".
    """
    if isinstance(texts, str):
        raise InputTextError(hint)
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTextError(f"text {i} is a {type(text).__name__}, not a str")
    return texts
