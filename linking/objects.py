"""Objects in images linked to the KB's classes: a zero-shot detector asked for each class by name.

An :class:`ObjectLinker` runs an open-vocabulary detector of the OWL-ViT family (OWL-ViT,
Minderer et al. 2022; OWLv2, Minderer et al. 2023) with the labels and alternative labels of
the ontology's classes as its text queries (:func:`classes_from_ontology`), and links every box
scoring above a threshold to the class whose name found it. A detection names a *kind* of thing,
so its link goes to a class IRI (``movies:Person``), never to an individual: faces
(:mod:`linking.faces`) and words (:mod:`linking.ocr`) say *which* person or film it is.

The model is configuration, not a dependency: no detector's weights come in a package this
project can pin, so ``KGSEARCH_OBJECT_MODEL`` names a local directory holding an OWL-ViT or
OWLv2 checkpoint saved with ``save_pretrained`` (model, tokenizer and image processor), for
example ``google/owlv2-base-patch16-ensemble``. It is read from that directory only, never from
a hub, on the first document (importing this module imports neither torch nor transformers).

How it is run. The model is loaded by transformers' ``zero-shot-object-detection`` pipeline,
but the pipeline's own ``__call__`` is not used: it runs the whole image tower once per
candidate label (a ``ChunkPipeline``), which for 20 class names is 20 forward passes of the
ViT. OWL-ViT scores every text query against every box independently (a sigmoid per query, not
a softmax across them), so the linker embeds all names and the image in one forward pass, which
gives the same scores (checked against the pipeline), and keeps each box's best-scoring name, as the image processor's
``post_process_object_detection`` does (it also undoes OWLv2's square padding). There is no
non-maximum suppression: OWL-ViT is fine-tuned with DETR's one-to-one bipartite matching loss,
which teaches it one box per object.

>>> from kg import OxigraphStore
>>> store = OxigraphStore()
>>> store.update('''PREFIX owl: <http://www.w3.org/2002/07/owl#>
...   PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
...   PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
...   INSERT DATA { <http://ex/Film> a owl:Class ; rdfs:label "film" ; skos:altLabel "movie" .
...                 <http://ex/Person> a owl:Class ; rdfs:label "person" }''')
>>> classes_from_ontology(store)
{'http://ex/Film': ('film', 'movie'), 'http://ex/Person': ('person',)}
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from kg.ontology import Ontology
from kg.store import TripleStore
from linking.errors import LinkingError, ModelUnavailableError
from linking.media import open_image
from linking.types import Document, Link, Mention, Reading

#: How an object link says how it was made.
METHOD = "objects:owlvit"

#: Lowest detection score kept, the default of transformers' zero-shot-object-detection pipeline.
#: Scores are per-query sigmoids (one box can score high for several names) and run low.
DEFAULT_THRESHOLD = 0.1

#: Most links per image, best first.
DEFAULT_MAX_DETECTIONS = 20

#: The setting that names the model directory.
MODEL_ENV = "KGSEARCH_OBJECT_MODEL"

#: ``model_type`` values in ``config.json`` that this linker runs (see the module docstring).
MODEL_TYPES = ("owlvit", "owlv2")

INSTALL = "pip install torch==2.13.0 transformers pillow"

_HOW_TO_CONFIGURE = (
    f"set {MODEL_ENV} to a local OWL-ViT or OWLv2 directory saved with save_pretrained "
    "(model, tokenizer and image processor), e.g. google/owlv2-base-patch16-ensemble"
)


def classes_from_ontology(ontology: Ontology | TripleStore) -> dict[str, tuple[str, ...]]:
    """The KB's classes and the names the detector is asked for.

    Args:
        ontology: The schema, or a store to read it from (:meth:`Ontology.from_store`).

    Returns:
        Class IRI -> its label (``rdfs:label``, else the humanized local name) followed by its
        alternative labels (``skos:altLabel``), by IRI. Drop the classes that cannot be seen
        (a language, a tag) from this mapping to spare the detector those queries.
    """
    if not isinstance(ontology, Ontology):
        ontology = Ontology.from_store(ontology)
    out = {}
    for term in sorted(ontology.classes, key=lambda t: t.iri):
        names = tuple(dict.fromkeys(n.strip() for n in (term.label, *term.alt_labels) if n and n.strip()))
        if names:
            out[term.iri] = names
    return out


class ObjectLinker:
    """Links the objects a zero-shot detector finds in an image to the KB classes that name them.

    Each detection gives one link: ``Mention(surface=<the name that found it>, bbox=(left, top,
    right, bottom), modality="image")`` in pixels of the upright image, clipped to it; the
    link's ``entity_iri`` is the class, its ``label`` the class's label, its ``score`` the
    detector's, and its method ``objects:owlvit``.

    >>> ObjectLinker(None, {"http://ex/Film": "film"})
    Traceback (most recent call last):
    ...
    linking.errors.ModelUnavailableError: no object detector is configured: set KGSEARCH_OBJECT_MODEL ...

    Args:
        model_path: The model directory (``KGSEARCH_OBJECT_MODEL``); ``None`` when not configured.
        classes: Class IRI -> its name or names, the first being its label (see
            :func:`classes_from_ontology`). A name given for two classes asks for the first.
        threshold: Lowest score kept (a detection must score above it); above 1 keeps nothing.
        max_detections: Most links per image, best first.

    Raises:
        ModelUnavailableError: No model is configured, or the directory holds no OWL-ViT/OWLv2
            model; the message says what to set.
        LinkingError: ``classes`` names nothing, or ``threshold``/``max_detections`` are out of range.
    """

    def __init__(
        self,
        model_path: str | Path | None,
        classes: Mapping[str, str | Sequence[str]],
        *,
        threshold: float = DEFAULT_THRESHOLD,
        max_detections: int = DEFAULT_MAX_DETECTIONS,
    ):
        if model_path is None or not str(model_path).strip():
            raise ModelUnavailableError(f"no object detector is configured: {_HOW_TO_CONFIGURE}")
        if not threshold >= 0:
            raise LinkingError(f"threshold is a detection score, 0 or more (above 1 keeps nothing); not {threshold}")
        if max_detections < 1:
            raise LinkingError(f"max_detections must be 1 or more, not {max_detections}")
        self.model_path = Path(model_path).expanduser()
        self.model_type = _model_type(self.model_path)
        self._set_classes(classes)
        self.threshold = threshold
        self.max_detections = max_detections
        self._pipeline = None
        self._failure: ModelUnavailableError | None = None
        self._lock = threading.Lock()

    def _set_classes(self, classes: Mapping[str, str | Sequence[str]]) -> None:
        self.labels: dict[str, str] = {}  # class IRI -> its label
        self.names: dict[str, str] = {}  # name asked for -> class IRI
        for iri, names in classes.items():
            names = [names] if isinstance(names, str) else list(names)
            names = [n.strip() for n in names if isinstance(n, str) and n.strip()]
            if not names:
                continue
            self.labels[iri] = names[0]
            for name in names:
                self.names.setdefault(name, iri)
        if not self.names:
            raise LinkingError(
                "there are no class names to detect: give classes as {class IRI: label or labels}, "
                "e.g. classes_from_ontology(store) for a KB whose ontology declares classes"
            )

    def link(self, document: Document) -> list[Link]:
        """The document's object links, best first (see :meth:`read`)."""
        return list(self.read(document).links)

    def read(self, document: Document) -> Reading:
        """Detect the KB's classes in an image document and link each detection to its class.

        Returns:
            A :class:`~linking.types.Reading` with no text, one link per detection, best first,
            and metadata ``objects`` (how many), ``object_model`` (the model directory's name)
            and ``image_size`` ``[width, height]``.

        Raises:
            LinkingError: The document is not an image with a path.
            InputImageError: The file is missing or not a readable image; names the file.
            ModelUnavailableError: torch or transformers is not installed, or the model cannot be loaded.
        """
        if document.modality != "image" or document.path is None:
            raise LinkingError(
                f"document {document.id!r}: ObjectLinker reads image documents with a path, "
                f"not {document.modality} documents"
            )
        image = open_image(document.path)
        width, height = image.size
        links = []
        for (left, top, right, bottom), score, name in self._detect(image):
            box = (
                min(max(left, 0.0), width),
                min(max(top, 0.0), height),
                min(max(right, 0.0), width),
                min(max(bottom, 0.0), height),
            )
            if box[2] <= box[0] or box[3] <= box[1]:
                continue  # wholly outside the picture once clipped
            iri = self.names[name]
            mention = Mention(document.id, name, bbox=box, modality="image")
            links.append(Link(mention, iri, score, METHOD, self.labels[iri]))
        links = links[: self.max_detections]
        meta = {"objects": len(links), "object_model": self.model_path.name, "image_size": [width, height]}
        return Reading("", tuple(links), meta)

    def _detect(self, image) -> list[tuple[tuple[float, float, float, float], float, str]]:
        """Boxes ``(left, top, right, bottom)`` in pixels, scores and names, best first, scoring above the threshold."""
        import torch

        pipe = self._detector()
        model = pipe.model
        names = list(self.names)
        # OWL-ViT's text tower has 16 positions; a longer name is cut (keeping its end token,
        # where the tower pools), not refused.
        text = pipe.tokenizer(
            names,
            padding=True,
            truncation=True,
            max_length=model.config.text_config.max_position_embeddings,
            return_tensors="pt",
        )
        pixels = pipe.image_processor(images=image, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            outputs = model(
                input_ids=text["input_ids"].to(model.device),
                attention_mask=text["attention_mask"].to(model.device),
                pixel_values=pixels.to(model.device, model.dtype),
            )
            found = pipe.image_processor.post_process_object_detection(
                outputs, threshold=self.threshold, target_sizes=[(image.height, image.width)]
            )[0]
        scores = found["scores"].float().tolist()
        labels = found["labels"].tolist()
        boxes = found["boxes"].float().tolist()
        out = [(tuple(box), score, names[k]) for box, score, k in zip(boxes, scores, labels, strict=True)]
        return sorted(out, key=lambda d: -d[1])

    def _detector(self):
        """The transformers pipeline, loaded on first use (once; a failure is kept and raised again)."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._pipeline is None:
                try:
                    self._pipeline = _load(self.model_path)
                except ModelUnavailableError as e:
                    self._failure = e
                    raise
            return self._pipeline


def _model_type(path: Path) -> str:
    """The ``model_type`` of the checkpoint in ``path``, which must be one this linker runs."""
    config = path / "config.json"
    if not path.is_dir():
        raise ModelUnavailableError(f"{path}: no such model directory; {_HOW_TO_CONFIGURE}")
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as e:
        raise ModelUnavailableError(f"{config}: not a readable model config ({e}); {_HOW_TO_CONFIGURE}") from e
    if model_type not in MODEL_TYPES:
        raise ModelUnavailableError(
            f"{path} holds a {model_type!r} model; the object linker runs {' or '.join(MODEL_TYPES)}: "
            f"{_HOW_TO_CONFIGURE}"
        )
    return model_type


def _load(path: Path):
    try:
        import torch  # noqa: F401
        from transformers import pipeline
        from transformers.utils import logging as transformers_logging
    except ImportError as e:
        raise ModelUnavailableError(f"object detection needs torch and transformers: {INSTALL}") from e
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # "Loading weights" would print to stderr
    try:
        # local_files_only: a file missing from the directory is an error, never a download.
        return pipeline("zero-shot-object-detection", model=str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        raise ModelUnavailableError(
            f"{path}: cannot load the object detector ({e}); it needs the model, tokenizer and image "
            "processor files that save_pretrained writes"
        ) from e
    finally:
        if bars:
            transformers_logging.enable_progress_bar()
