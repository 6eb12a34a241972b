"""One reader per modality, made of the media linkers that apply to it.

An image is read by several linkers (faces, text in the image, objects); :class:`CombinedReader`
runs each on the document and merges their :class:`~linking.types.Reading`\\ s: the text is the
text the linkers read (OCR), the links are all of theirs, the metadata is the union. A linker
whose model is not installed or configured is skipped and named in the reading's metadata
(``skipped``), so an image still gets its faces when, say, no object detector is configured.
The document fails only when every linker is unavailable or the file itself is bad.

Linkers are built on first use from factories, so that configuring a reader costs nothing
until a document of its modality arrives (the face gallery reads every KB image; Whisper loads
a model).

>>> from linking.types import Reading
>>> class Fixed:
...     def __init__(self, reading): self.reading = reading
...     def read(self, document): return self.reading
>>> reader = CombinedReader({"a": lambda: Fixed(Reading("hello", (), {"x": 1})), "b": lambda: Fixed(Reading("", (), {"y": 2}))})
>>> r = reader.read(None)
>>> r.text, dict(r.metadata)
('hello', {'x': 1, 'y': 2, 'readers': ['a', 'b']})
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from linking.errors import InputImageError, ModelUnavailableError
from linking.types import Document, Link, Reading


def open_image(path: str | Path, mode: str = "RGB"):
    """The image at ``path`` as a Pillow image in ``mode``, turned upright by its EXIF orientation.

    Raises:
        InputImageError: The file is missing or is not a readable image; names the file.
        ModelUnavailableError: Pillow is not installed.
    """
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError as e:
        raise ModelUnavailableError("reading images needs Pillow: pip install pillow") from e
    path = Path(path)
    if not path.is_file():
        raise InputImageError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            upright = ImageOps.exif_transpose(im)
            upright.load()
            return upright.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise InputImageError(
            f"{path}: not a readable image ({e}); use a JPEG, PNG, GIF, BMP, TIFF or WebP file"
        ) from e


def link_read_text(cased, noisy, doc_id: str, text: str, *, add: str = "fuzzy") -> list[Link]:
    """Links in text read from an image or audio: the cased linker's, plus the noisy linker's
    fuzzy matches (misread or misheard names) where the cased linker found nothing.

    Tesseract keeps the capitals of print and Whisper writes names with capitals, and capitals
    are the text linker's best evidence that words are a name, which its noisy mode gives up;
    what noisy mode adds is fuzzy matching for wrong letters (its exact matches were already
    judged, with case, by the cased linker). On movie-corpus sentences rendered as images, the
    noisy linker alone missed a quarter of the names the text linker finds in the same words.

    Args:
        cased: The text linker in its normal mode.
        noisy: The same linker with ``noisy=True``.
        add: Which noisy links fill the gaps: ``fuzzy`` ones only (text whose capitals are
            reliable: print), or ``all`` (speech: Whisper often writes titles in lower case).
    """
    document = Document(doc_id, text=text)
    found = [link for link in cased.link(document) if not link.is_nil]
    taken = [link.mention.span for link in found]
    for link in noisy.link(document):
        a, b = link.mention.span
        if not link.is_nil and (add == "all" or "fuzzy" in link.method) and all(b <= s or a >= e for s, e in taken):
            found.append(link)
    return sorted(found, key=lambda link: link.mention.span)


class MediaLinker(Protocol):
    def read(self, document: Document) -> Reading: ...


class CombinedReader:
    """Reads a document with every configured linker of its modality and merges the results.

    Args:
        factories: Name -> a function that builds the linker (called once, on first use). A
            factory or ``read`` that raises :class:`ModelUnavailableError` skips that linker.
    """

    def __init__(self, factories: Mapping[str, Callable[[], MediaLinker]]):
        self.factories = dict(factories)
        self._linkers: dict[str, MediaLinker | ModelUnavailableError] = {}
        self._lock = threading.Lock()

    def _linker(self, name: str) -> MediaLinker | ModelUnavailableError:
        with self._lock:
            if name not in self._linkers:
                try:
                    self._linkers[name] = self.factories[name]()
                except ModelUnavailableError as e:
                    self._linkers[name] = e
            return self._linkers[name]

    def read(self, document: Document) -> Reading:
        """The merged reading of ``document``.

        Raises:
            ModelUnavailableError: No linker of this reader could run (each one's reason is given).
            InputImageError, LinkingError: The file is bad (raised by the first linker that reads it).
        """
        texts: list[str] = []
        links: list[Link] = []
        metadata: dict[str, Any] = {}
        skipped: dict[str, str] = {}
        used: list[str] = []
        for name in self.factories:
            linker = self._linker(name)
            if isinstance(linker, ModelUnavailableError):
                skipped[name] = str(linker)
                continue
            try:
                reading = linker.read(document)
            except ModelUnavailableError as e:
                skipped[name] = str(e)
                continue
            used.append(name)
            offset = sum(len(t) + 1 for t in texts)
            if reading.text.strip():
                texts.append(reading.text)
            links += [_shift(link, offset) for link in reading.links] if offset else reading.links
            for key, value in reading.metadata.items():
                metadata.setdefault(key, value)
        if not used:
            reasons = "; ".join(f"{name}: {why}" for name, why in skipped.items())
            raise ModelUnavailableError(f"no reader for this document could run ({reasons})")
        metadata["readers"] = used
        if skipped:
            metadata["skipped"] = skipped
        return Reading("\n".join(texts), tuple(links), metadata)


def _shift(link: Link, offset: int) -> Link:
    """The link with its character span moved by ``offset`` (its text now follows other text)."""
    from dataclasses import replace

    span = link.mention.span
    if span is None:
        return link
    return replace(link, mention=replace(link.mention, span=(span[0] + offset, span[1] + offset)))
