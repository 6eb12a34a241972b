"""The object linker's whole code path, on a tiny randomly initialised OWL-ViT.

No detector weights can be had offline, so :func:`tiny_owlvit` saves a model of the real
architecture, small enough to build in a second: an ``OwlViTConfig`` with 2-layer, 32-wide text
and vision towers on 64 px images (patch 16, so 16 boxes), a CLIP tokenizer over a byte-level
vocabulary, and the OWL-ViT image processor. Its detections mean nothing; the tests check what
the linker does with them: the model read from its directory once, the class names asked for,
boxes clipped into the image, class IRIs on the links, the threshold, and the errors.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

from kg import OxigraphStore
from kg.ontology import Ontology
from kgsearch.settings import PROJECT_ROOT
from linking import objects
from linking.errors import InputImageError, LinkingError, ModelUnavailableError
from linking.objects import METHOD, ObjectLinker, classes_from_ontology
from linking.types import Document

MOVIES = "http://kgsearch.org/ns/movies#"
WIDTH, HEIGHT = 160, 120


def byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values: the alphabet of CLIP's byte-level BPE."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def tiny_owlvit(folder: Path, model_type: str = "owlvit") -> Path:
    """Save a tiny random OWL-ViT (or OWLv2), its tokenizer and its image processor into ``folder`` (~360 KB).

    The tokenizer knows every byte and its end-of-word form and no merges, so any text encodes
    (a character a token). ``<|startoftext|>`` and ``<|endoftext|>`` take the highest ids because
    OWL-ViT pools a query at ``argmax(input_ids)``, which must be the end token.

    Random heads give logits near -100 (every score 0) and boxes squashed to a corner, so two
    are set by hand: the logit shift and scale to 0 and 1 (a score is then the sigmoid of a
    cosine, 0.27-0.73), and the box head to the grid prior with sides grown to ~0.9 of the image
    (boxes around every patch, most reaching past the picture's edges, which the linker must clip).
    """
    import torch
    import transformers

    prefix = {"owlvit": "OwlViT", "owlv2": "Owlv2"}[model_type]
    Config, Model, ImageProcessor = (
        getattr(transformers, prefix + n) for n in ("Config", "ForObjectDetection", "ImageProcessor")
    )

    torch.manual_seed(0)
    symbols = byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="!")
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = Config(
        text_config={
            **tower,
            "vocab_size": len(vocab),
            "max_position_embeddings": 16,  # as the real OWL-ViT: longer names must be cut
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["!"],
        },
        vision_config={**tower, "image_size": 64, "patch_size": 16},
        projection_dim=32,
    )
    model = Model(config)
    with torch.no_grad():
        for layer in (model.class_head.logit_shift, model.class_head.logit_scale, model.box_head.dense2):
            layer.weight.zero_()
            layer.bias.zero_()
        model.box_head.dense2.bias.copy_(torch.tensor([0.0, 0.0, 3.0, 3.0]))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # OWL-ViT stretches the image to a square; OWLv2 pads it to one at the bottom or right.
    ImageProcessor(size={"height": 64, "width": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", autouse=True)
def offline():
    """Nothing here may reach the Hugging Face hub (huggingface_hub reads the variable on import)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        constants = importlib.import_module("huggingface_hub.constants") if _has("huggingface_hub") else None
        if constants is not None:
            patch.setattr(constants, "HF_HUB_OFFLINE", True)
        yield


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    for module in ("torch", "transformers", "PIL"):
        if not _has(module):
            pytest.skip(f"object detection needs {module}: {objects.INSTALL}")
    return tiny_owlvit(tmp_path_factory.mktemp("owlvit"))


@pytest.fixture(scope="module")
def classes() -> dict[str, tuple[str, ...]]:
    store = OxigraphStore()
    store.load(PROJECT_ROOT / "ontologies" / "movies.ttl")
    return classes_from_ontology(store)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    if not _has("PIL"):
        pytest.skip("reading images needs Pillow: pip install pillow")
    from PIL import Image

    path = tmp_path_factory.mktemp("images") / "photo.png"
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    image.paste((200, 30, 30), (40, 30, 100, 90))
    image.save(path)
    return path


def image_doc(path: Path) -> Document:
    return Document(path.name, path=path, modality="image")


def test_class_names_come_from_the_ontology(classes):
    assert {MOVIES + c for c in ("Film", "Person", "Genre")} <= set(classes)
    assert classes[MOVIES + "Film"][0] == "film" and "movie" in classes[MOVIES + "Film"]
    assert classes[MOVIES + "Person"][0] == "person"
    assert all(names and all(n.strip() == n and n for n in names) for names in classes.values())
    store = OxigraphStore()
    store.load(PROJECT_ROOT / "ontologies" / "movies.ttl")
    assert classes_from_ontology(Ontology.from_store(store)) == classes


def test_the_model_is_loaded_from_its_directory_on_first_use_and_once(model_dir, classes, photo, monkeypatch):
    loads = []
    load = objects._load
    monkeypatch.setattr(objects, "_load", lambda path: loads.append(path) or load(path))
    linker = ObjectLinker(model_dir, classes, threshold=0.0)
    assert loads == []
    first, second = linker.read(image_doc(photo)), linker.read(image_doc(photo))
    assert loads == [model_dir] and first == second


def test_the_detector_is_asked_for_every_class_name(model_dir, classes, photo, monkeypatch):
    linker = ObjectLinker(model_dir, classes)
    pipe = linker._detector()
    asked = []
    tokenizer = pipe.tokenizer
    monkeypatch.setattr(pipe, "tokenizer", lambda names, **kw: asked.append(list(names)) or tokenizer(names, **kw))
    linker.read(image_doc(photo))
    assert asked == [[name for names in classes.values() for name in names]]
    assert linker.labels == {iri: names[0] for iri, names in classes.items()}


def test_detections_link_to_classes_with_boxes_clipped_into_the_image(model_dir, classes, photo):
    linker = ObjectLinker(model_dir, classes, threshold=0.0, max_detections=100)
    from PIL import Image

    raw = linker._detect(Image.open(photo).convert("RGB"))
    assert any(left < 0 or top < 0 or right > WIDTH or bottom > HEIGHT for (left, top, right, bottom), _, _ in raw)
    reading = linker.read(image_doc(photo))
    assert reading.text == "" and len(reading.links) == len(raw) == 16  # a box per 16-px patch of 64 px
    for link in reading.links:
        left, top, right, bottom = link.mention.bbox
        assert 0 <= left < right <= WIDTH and 0 <= top < bottom <= HEIGHT
        assert link.mention.modality == "image" and link.mention.doc_id == "photo.png"
        assert link.entity_iri in classes and link.method == METHOD and 0 < link.score < 1
        assert link.mention.surface in classes[link.entity_iri] and link.label == classes[link.entity_iri][0]
    scores = [link.score for link in reading.links]
    assert scores == sorted(scores, reverse=True)
    assert dict(reading.metadata) == {"objects": 16, "object_model": model_dir.name, "image_size": [WIDTH, HEIGHT]}
    assert reading.links[0].as_json()["bbox"] == [round(v, 1) for v in reading.links[0].mention.bbox]


def test_threshold_and_max_detections_filter(model_dir, classes, photo):
    linker = ObjectLinker(model_dir, classes, threshold=0.0, max_detections=100)
    everything = linker.link(image_doc(photo))
    assert len(everything) == 16

    def variant(**settings) -> list:  # the same loaded model, other settings
        other = copy.copy(linker)
        vars(other).update(settings)
        return other.link(image_doc(photo))

    middle = sorted(link.score for link in everything)[8]
    above = variant(threshold=middle)
    assert above == [link for link in everything if link.score > middle] and 0 < len(above) < 16
    assert variant(threshold=1.01) == [] and ObjectLinker(model_dir, classes, threshold=1.01).threshold == 1.01
    assert variant(max_detections=3) == everything[:3]


def test_a_name_longer_than_the_text_tower_is_cut_not_refused(model_dir, photo):
    long_name = "an extraordinarily long name for a class of things"  # 50 tokens here, 16 positions
    links = ObjectLinker(model_dir, {"http://ex/Thing": long_name}, threshold=0.0).link(image_doc(photo))
    assert links and {(link.entity_iri, link.mention.surface) for link in links} == {("http://ex/Thing", long_name)}


def test_owlv2_boxes_in_its_square_padding_are_dropped(tmp_path, classes):
    for module in ("torch", "transformers", "PIL"):
        if not _has(module):
            pytest.skip(f"object detection needs {module}: {objects.INSTALL}")
    from PIL import Image

    wide = tmp_path / "wide.png"
    Image.new("RGB", (WIDTH, WIDTH // 2), "white").save(wide)
    (tmp_path / "owlv2").mkdir()
    linker = ObjectLinker(tiny_owlvit(tmp_path / "owlv2", "owlv2"), classes, threshold=0.0)
    assert linker.model_type == "owlv2"
    # Boxes are scaled to the 160x160 padded square, so the bottom row lies wholly in the padding.
    raw = linker._detect(Image.open(wide).convert("RGB"))
    in_padding = [box for box, _, _ in raw if box[1] >= WIDTH // 2]
    assert len(raw) == 16 and in_padding
    reading = linker.read(image_doc(wide))
    assert len(reading.links) == 16 - len(in_padding) and reading.metadata["image_size"] == [WIDTH, WIDTH // 2]
    for link in reading.links:
        left, top, right, bottom = link.mention.bbox
        assert 0 <= left < right <= WIDTH and 0 <= top < bottom <= WIDTH // 2 and link.entity_iri in classes


@pytest.mark.parametrize("model_path", [None, "", "  "])
def test_no_model_configured_says_what_to_set(model_path, classes):
    with pytest.raises(ModelUnavailableError, match="no object detector is configured: set KGSEARCH_OBJECT_MODEL"):
        ObjectLinker(model_path, classes)


def test_a_directory_without_a_detector_says_what_to_set(tmp_path, classes):
    with pytest.raises(ModelUnavailableError, match="no such model directory; set KGSEARCH_OBJECT_MODEL"):
        ObjectLinker(tmp_path / "nothing-here", classes)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    with pytest.raises(ModelUnavailableError, match="holds a 'bert' model; the object linker runs owlvit or owlv2"):
        ObjectLinker(tmp_path, classes)


def test_a_model_that_cannot_be_loaded_fails_on_first_use_and_stays_failed(model_dir, classes, photo, tmp_path):
    (tmp_path / "config.json").write_bytes((model_dir / "config.json").read_bytes())  # no weights, no tokenizer
    linker = ObjectLinker(tmp_path, classes)
    for _ in range(2):
        with pytest.raises(ModelUnavailableError, match=f"{tmp_path}: cannot load the object detector"):
            linker.read(image_doc(photo))


@pytest.mark.parametrize("content", [b"", b"\xff\xd8\xff\xe0 not really a JPEG"])
def test_an_unreadable_image_is_an_input_error_naming_the_file(model_dir, classes, tmp_path, content):
    (tmp_path / "bad.jpg").write_bytes(content)
    with pytest.raises(InputImageError, match="bad.jpg: not a readable image"):
        ObjectLinker(model_dir, classes).read(image_doc(tmp_path / "bad.jpg"))
    with pytest.raises(InputImageError, match="missing.jpg: no such image file"):
        ObjectLinker(model_dir, classes).read(image_doc(tmp_path / "missing.jpg"))


def test_bad_arguments(model_dir, classes):
    with pytest.raises(LinkingError, match="no class names to detect"):
        ObjectLinker(model_dir, {})
    with pytest.raises(LinkingError, match="no class names to detect"):
        ObjectLinker(model_dir, {"http://ex/A": ("", " ")})
    with pytest.raises(LinkingError, match="threshold is a detection score"):
        ObjectLinker(model_dir, classes, threshold=-0.1)
    with pytest.raises(LinkingError, match="max_detections must be 1 or more"):
        ObjectLinker(model_dir, classes, max_detections=0)
    with pytest.raises(LinkingError, match="ObjectLinker reads image documents"):
        ObjectLinker(model_dir, classes).read(Document("t", text="a film"))
