"""Text in images: Tesseract OCR, then the text linker, links carrying word boxes.

:class:`OcrLinker` reads an image document's words with Tesseract (``pytesseract.image_to_data``:
each word with its box and confidence), joins them into lines in reading order, links that text
with :class:`~linking.text.TextLinker` (cased, plus noisy mode's fuzzy matches for misread names:
see :func:`linking.media.link_read_text`), and gives each link the box around the words its characters cover, in the original
image's pixels.

Small print is the main failure: Tesseract reads text whose letters are 20 px or taller exactly
and garbles ~10 px text. So each image is read once as is and, when the words it found are
short (median box height under :data:`MIN_WORD_HEIGHT`), read again upscaled so they reach
:data:`TARGET_WORD_HEIGHT`; the pass with more confident words wins. Each pass starts a
tesseract process (0.2-0.5 s on 2 cores).

Needs Tesseract (Debian: ``apt-get install tesseract-ocr tesseract-ocr-eng``) and ``pytesseract``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from statistics import median

from linking.errors import LinkingError, ModelUnavailableError
from linking.media import link_read_text, open_image
from linking.types import Document, Link, Reading

#: How ``requirements`` and the system provide the OCR engine.
INSTALL = "pip install pytesseract; apt-get install tesseract-ocr tesseract-ocr-eng"
#: Words whose median box is lower than this (px) make the image be read again, upscaled.
MIN_WORD_HEIGHT = 20
#: The word height (px) an upscaled second pass aims at.
TARGET_WORD_HEIGHT = 36
#: Largest upscaling factor (and largest side, px, an upscaled image may have).
MAX_SCALE, MAX_SIDE = 4.0, 6000
#: Words Tesseract is less sure of than this (0-100) are dropped.
MIN_CONFIDENCE = 40.0
#: The method prefix of OCR links: ``ocr+alias:exact``.
METHOD_PREFIX = "ocr+"


@dataclass(frozen=True)
class Word:
    """A word Tesseract read: its text, box (left, top, right, bottom) in the original image, confidence 0-100."""

    text: str
    box: tuple[float, float, float, float]
    confidence: float
    line: tuple[int, int, int]  # Tesseract's block, paragraph and line numbers


class OcrLinker:
    """Links the text in image documents to KB entities, each link with the box of its words.

    Args:
        text_linker: The KB's :class:`~linking.text.TextLinker`.
        lang: Tesseract language(s), e.g. ``eng`` or ``eng+deu``.
        min_confidence: Words below this Tesseract confidence (0-100) are dropped.
        tesseract_cmd: The tesseract binary, when it is not on ``PATH``.

    Raises:
        ModelUnavailableError: pytesseract or the tesseract binary (or the language) is missing.
    """

    def __init__(
        self,
        text_linker,
        *,
        lang: str = "eng",
        min_confidence: float = MIN_CONFIDENCE,
        tesseract_cmd: str | None = None,
    ):
        try:
            import pytesseract
        except ImportError as e:
            raise ModelUnavailableError(f"reading text in images needs pytesseract and Tesseract: {INSTALL}") from e
        if tesseract_cmd:
            pytesseract.pytesseract.tesseract_cmd = tesseract_cmd
        try:
            self.version = str(pytesseract.get_tesseract_version())
            languages = set(pytesseract.get_languages(config=""))
        except (pytesseract.TesseractNotFoundError, OSError) as e:
            raise ModelUnavailableError(f"the tesseract program is not installed: {INSTALL}") from e
        missing = [code for code in lang.split("+") if code not in languages]
        if missing:
            raise ModelUnavailableError(
                f"Tesseract has no language data for {', '.join(missing)} "
                f"(apt-get install {' '.join('tesseract-ocr-' + m for m in missing)})"
            )
        self._tesseract = pytesseract
        self.lang = lang
        self.min_confidence = min_confidence
        self.cased = text_linker.with_config(noisy=False)
        self.noisy = text_linker.with_config(noisy=True)

    def link(self, document: Document) -> list[Link]:
        """The document's text links, in reading order (see :meth:`read`)."""
        return list(self.read(document).links)

    def read(self, document: Document) -> Reading:
        """OCR an image document and link its text.

        Returns:
            A :class:`~linking.types.Reading`: the words as lines of text, one link per mention
            (character span in that text, box in image pixels, method ``ocr+...``), and metadata
            ``ocr_words``, ``ocr_scale``, ``ocr_engine``, ``ocr_seconds`` and ``image_size``.

        Raises:
            LinkingError: The document is not an image with a path.
            InputImageError: The file is missing or not a readable image.
        """
        if document.modality != "image" or document.path is None:
            raise LinkingError(
                f"document {document.id!r}: OcrLinker reads image documents with a path, "
                f"not {document.modality} documents"
            )
        started = time.perf_counter()
        image = open_image(document.path, mode="L")
        words, scale = self.words(image)
        text, spans = _layout(words)
        links: list[Link] = []
        if text.strip():
            for link in link_read_text(self.cased, self.noisy, document.id, text):
                links.append(_with_box(link, words, spans))
        meta = {
            "ocr_words": len(words),
            "ocr_scale": round(scale, 2),
            "ocr_engine": f"tesseract {self.version}",
            "ocr_seconds": round(time.perf_counter() - started, 3),
            "image_size": [image.width, image.height],
        }
        return Reading(text, tuple(links), meta)

    def words(self, image) -> tuple[list[Word], float]:
        """The confident words of a Pillow image (boxes in its pixels) and the scale they were read at."""
        words = self._read(image, 1.0)
        heights = [w.box[3] - w.box[1] for w in words]
        small = not words or median(heights) < MIN_WORD_HEIGHT
        if not small:
            return words, 1.0
        height = median(heights) if words else MIN_WORD_HEIGHT / 2
        scale = min(MAX_SCALE, TARGET_WORD_HEIGHT / max(height, 1.0), MAX_SIDE / max(image.width, image.height))
        if scale <= 1.2:
            return words, 1.0
        again = self._read(image, scale)
        if sum(w.confidence for w in again) > sum(w.confidence for w in words):
            return again, scale
        return words, 1.0

    def _read(self, image, scale: float) -> list[Word]:
        from PIL import Image

        if scale != 1.0:
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
        data = self._tesseract.image_to_data(image, lang=self.lang, output_type=self._tesseract.Output.DICT)
        out = []
        for i, raw in enumerate(data["text"]):
            word = raw.strip()
            confidence = float(data["conf"][i])
            if not word or confidence < self.min_confidence:
                continue
            left, top = data["left"][i] / scale, data["top"][i] / scale
            box = (left, top, left + data["width"][i] / scale, top + data["height"][i] / scale)
            line = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            out.append(Word(word, box, confidence, line))
        return out


def _layout(words: list[Word]) -> tuple[str, list[tuple[int, int]]]:
    """The words as text, one line per paragraph (lines wrapped inside a paragraph are joined with
    a space, so a name broken across lines is still one mention), and each word's span in it."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    previous = None
    for word in words:
        if previous is not None:
            separator = " " if word.line[:2] == previous[:2] else "\n"
            parts.append(separator)
            position += 1
        parts.append(word.text)
        spans.append((position, position + len(word.text)))
        position += len(word.text)
        previous = word.line
    return "".join(parts), spans


def _with_box(link: Link, words: list[Word], spans: list[tuple[int, int]]) -> Link:
    """The text link as an image link: the box around the words its span covers."""
    from dataclasses import replace

    start, end = link.mention.span or (0, 0)
    covered = [w.box for w, (a, b) in zip(words, spans, strict=True) if a < end and b > start]
    box = None
    if covered:
        box = (
            min(b[0] for b in covered),
            min(b[1] for b in covered),
            max(b[2] for b in covered),
            max(b[3] for b in covered),
        )
    mention = replace(link.mention, bbox=box, modality="image")
    return replace(link, mention=mention, method=METHOD_PREFIX + link.method)
