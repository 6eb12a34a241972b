"""Text in images: real sentences from the sample movie documents rendered with Pillow, read by
Tesseract and linked to the sample KB; each link's box must hold the words where they were drawn."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from linking.errors import InputImageError, LinkingError
from linking.types import Document
from tests.linking.conftest import sample_sentence

FONTS = Path("/usr/share/fonts/truetype/dejavu")
MOVIES = "http://kgsearch.org/movies/"

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("pytesseract") is None, reason="pip install pytesseract"),
    pytest.mark.skipif(shutil.which("tesseract") is None, reason="apt-get install tesseract-ocr tesseract-ocr-eng"),
    pytest.mark.skipif(not (FONTS / "DejaVuSans.ttf").exists(), reason="apt-get install fonts-dejavu-core"),
]


@pytest.fixture(scope="module")
def ocr(sample_linker):
    from linking.ocr import OcrLinker

    return OcrLinker(sample_linker)


def render(path: Path, text: str, size: int, font: str = "DejaVuSans.ttf") -> dict[str, tuple[float, ...]]:
    """Draw ``text`` on one line; returns where each word was drawn (left, top, right, bottom)."""
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(FONTS / font), size)
    margin = size
    image = Image.new("RGB", (int(face.getlength(text)) + 2 * margin, 3 * size), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, size), text, fill="black", font=face)
    boxes, x = {}, margin
    for word in text.split(" "):
        boxes[word] = draw.textbbox((x, size), word, font=face)
        x += face.getlength(word + " ")
    image.save(path)
    return boxes


def inside(inner, outer, slack: float = 4) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


def read(ocr, path: Path):
    return ocr.read(Document(path.name, path=path, modality="image"))


@pytest.mark.parametrize("font", ["DejaVuSans.ttf", "DejaVuSerif.ttf"])
def test_rendered_sentence_is_read_and_linked_with_boxes(ocr, tmp_path, font):
    sentence = sample_sentence("Jaws")
    drawn = render(tmp_path / "jaws.png", sentence, 28, font)
    reading = read(ocr, tmp_path / "jaws.png")
    assert reading.text == sentence
    links = {link.entity_iri: link for link in reading.links if link.entity_iri}
    assert {f"{MOVIES}film/Jaws", f"{MOVIES}person/Steven_Spielberg", f"{MOVIES}person/Peter_Benchley"} <= set(links)
    director = links[f"{MOVIES}person/Steven_Spielberg"]
    assert director.method.startswith("ocr+") and director.mention.modality == "image"
    assert reading.text[slice(*director.mention.span)] == "Steven Spielberg"
    # the box is the union of where "Steven" and "Spielberg," were drawn
    drawn_box = (drawn["Steven"][0], drawn["Steven"][1], drawn["Spielberg,"][2], drawn["Spielberg,"][3])
    assert inside(director.mention.bbox, drawn_box)
    assert director.mention.bbox[2] - director.mention.bbox[0] > 0.8 * (drawn_box[2] - drawn_box[0])
    assert reading.metadata["ocr_words"] == len(sentence.split())


def test_small_print_is_upscaled_and_boxes_stay_in_image_pixels(ocr, tmp_path):
    sentence = sample_sentence("Rebecca")
    drawn = render(tmp_path / "small.png", sentence, 11)
    reading = read(ocr, tmp_path / "small.png")
    assert reading.metadata["ocr_scale"] > 1
    hitchcock = next(link for link in reading.links if link.entity_iri == f"{MOVIES}person/Alfred_Hitchcock")
    assert inside(hitchcock.mention.bbox, (drawn["Alfred"][0], drawn["Alfred"][1], *drawn["Hitchcock."][2:]))


def test_image_without_text_has_no_links(ocr, tmp_path):
    from PIL import Image

    Image.new("RGB", (300, 200), (40, 120, 200)).save(tmp_path / "blue.png")
    reading = read(ocr, tmp_path / "blue.png")
    assert reading.text == "" and reading.links == ()


def test_photo_without_words(ocr, tmp_path):
    data = pytest.importorskip("skimage.data", reason="pip install scikit-image")
    from PIL import Image

    Image.fromarray(data.coffee()).save(tmp_path / "coffee.png")
    reading = read(ocr, tmp_path / "coffee.png")
    assert not [link for link in reading.links if link.entity_iri]


def test_bad_files(ocr, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    for name in ("empty.png", "cut.jpg", "missing.png"):
        with pytest.raises(InputImageError, match=name):
            read(ocr, tmp_path / name)
    with pytest.raises(LinkingError, match="image documents"):
        ocr.read(Document("t", text="Jaws"))
