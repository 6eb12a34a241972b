"""Fuzzing ingestion with corrupt text, images and audio mixed into batches of good documents.

Each batch is a folder with good documents (a text file, JSON Lines lines between the bad ones,
a small valid image or silent audio) and bad ones: binary and non-UTF-8 text, empty files, NUL
bytes, broken JSON Lines (not JSON, no id, wrong types, lone surrogates, over-long ids),
truncated or random images and audio, an empty image, a PNG whose header claims 200,000 x 200,000
pixels. Properties of :meth:`Engine.ingest`:

* it returns a report and raises nothing;
* every bad document is in ``report.failed`` under its file (and line, for JSON Lines);
* every good document is ingested (in the ledger) and none is reported failed.

Image and audio cases are a fixed handful (Tesseract and Whisper are slow); they are skipped
when Tesseract or faster-whisper is not installed.
"""

from __future__ import annotations

import importlib.util
import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kgsearch.engine import Engine
from retrieval.ingest import IngestReport
from tests.fuzz.conftest import UPDATE_TOKEN, fuzz_settings
from tests.fuzz.strategies import BAD_AUDIO, BAD_IMAGES, OUTCOMES, TRIED, bad_texts, png, wav
from tests.kgsearch.conftest import copy_home

_batches = itertools.count()


@pytest.fixture(scope="module")
def engine(fuzz_home, tmp_path_factory) -> Iterator[Engine]:
    """An engine over a private copy of the fuzz home (the sample KB and 30 documents)."""
    with Engine.open(copy_home(fuzz_home, tmp_path_factory.mktemp("ingest-fuzz") / "home")) as engine:
        yield engine


@pytest.fixture(scope="module")
def batches(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("batches")


def ingest_batch(
    engine: Engine, root: Path, bad: dict[str, bytes], good_media: dict[str, bytes] | None = None, target: str = ""
) -> IngestReport:
    """Ingest ``bad`` files beside good documents (and ``good_media``) in one folder, and check the report."""
    good_media = good_media or {}
    n = next(_batches)
    folder = root / f"batch-{n}"
    folder.mkdir()
    good = {f"good-{n}.txt", f"good-{n}-a", f"good-{n}-b", *good_media}
    (folder / f"good-{n}.txt").write_text(f"Rebecca is a 1940 film directed by Alfred Hitchcock (batch {n}).")
    jsonl = bad.pop("broken.jsonl", b"").splitlines()
    lines = [
        f'{{"id": "good-{n}-a", "title": "Jaws", "text": "Jaws was directed by Steven Spielberg ({n})."}}'.encode()
    ]
    lines += jsonl
    lines.append(f'{{"id": "good-{n}-b", "text": "Grace Kelly starred in Rear Window ({n})."}}'.encode())
    (folder / f"mixed-{n}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    expected_bad = {
        f"mixed-{n}.jsonl:{i}" for i, line in enumerate(lines, start=1) if line.strip() and i not in (1, len(lines))
    }
    for name, data in {**bad, **good_media}.items():
        (folder / name).write_bytes(data)
    expected_bad |= set(bad)

    report = engine.ingest([folder], vectors=False)  # the property: this never raises

    failed = {problem.origin: problem for problem in report.failed}
    for problem in report.failed:
        OUTCOMES[target or "ingest", f"failed: {Path(problem.origin.split(':')[0]).suffix} {problem.field}"] += 1
    missing = expected_bad - set(failed)
    assert not missing, f"bad documents not reported: {sorted(missing)}; reported: {sorted(failed)}"
    wrongly = good & {p.doc_id for p in report.failed}
    assert not wrongly, (
        f"good documents reported as failed: {[str(failed[o]) for o in failed if failed[o].doc_id in wrongly]}"
    )
    ingested = set(engine.ledger().ids())
    assert good <= ingested, f"good documents not ingested: {sorted(good - ingested)}"
    for origin, problem in failed.items():
        assert problem.message, origin
    return report


@fuzz_settings(0.1)
@given(bad=st.lists(bad_texts(), min_size=1, max_size=3, unique_by=lambda f: f[0]))
@example(
    bad=[
        (
            "broken.jsonl",
            b'{"id": "s1", "text": "\\ud800 a lone surrogate"}\n{"id": "s2", "title": "\\udfff", "text": "x"}',
        )
    ]
)
def test_bad_text_is_reported_and_the_rest_ingested(engine, batches, bad):
    TRIED["ingest-text"] += len(bad)
    ingest_batch(engine, batches, dict(bad), target="ingest-text")


needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)",
)
needs_whisper = pytest.mark.skipif(
    importlib.util.find_spec("faster_whisper") is None,
    reason="faster-whisper is not installed (pip install -e '.[speech]')",
)


@needs_tesseract
@fuzz_settings(0.02)
@given(names=st.lists(st.sampled_from(sorted(BAD_IMAGES)), min_size=1, unique=True))
@example(names=sorted(BAD_IMAGES))
def test_corrupt_images_are_reported_and_the_rest_ingested(engine, batches, names):
    TRIED["ingest-image"] += len(names)
    ingest_batch(engine, batches, {name: BAD_IMAGES[name]() for name in names}, {"grey.png": png()}, "ingest-image")


@needs_whisper
@fuzz_settings(0.02)
@given(names=st.lists(st.sampled_from(sorted(BAD_AUDIO)), min_size=1, unique=True))
@example(names=sorted(BAD_AUDIO))
def test_corrupt_audio_is_reported_and_the_rest_ingested(engine, batches, names):
    TRIED["ingest-audio"] += len(names)
    ingest_batch(engine, batches, {name: BAD_AUDIO[name]() for name in names}, {"silence.wav": wav()}, "ingest-audio")


# -- regressions: what this fuzzing found, each fixed in kgsearch ----------------------------------


def test_regression_a_lone_surrogate_in_json_lines_is_reported(engine, batches):
    # JSON can write "\ud800", UTF-8 cannot: hashing the document raised UnicodeEncodeError and the
    # whole ingest stopped, with nothing reported.
    lines = b'{"id": "s1", "text": "\\ud800 alone"}\n{"id": "s2", "title": "ok", "text": "ok", "note": ["\\udfff"]}\n'
    report = ingest_batch(engine, batches, {"broken.jsonl": lines})
    failed = {p.origin.rsplit(":", 1)[1]: p for p in report.failed if ".jsonl:" in p.origin}
    assert (failed["2"].doc_id, failed["2"].field) == ("s1", "text")
    assert (failed["3"].doc_id, failed["3"].field) == ("s2", "note")


def test_regression_a_posted_document_with_a_lone_surrogate_is_reported(fuzz_writable_server):
    # POST /documents wrote the batch as UTF-8 JSON Lines and failed on the surrogate (400 for all).
    body = '{"documents": [{"id": "s1", "text": "\\ud800 alone"}, {"id": "fine", "text": "Jaws is a 1975 film."}]}'
    headers = {"Authorization": f"Bearer {UPDATE_TOKEN}", "Content-Type": "application/json"}
    response = httpx.post(fuzz_writable_server.url + "/documents", content=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    report = response.json()["report"]
    assert report["added"] == 1 and [(p["id"], p["field"]) for p in report["failed"]] == [("s1", "text")]


def test_regression_a_json_line_nested_too_deep_is_reported(engine, batches):
    # json.loads raises RecursionError (not a ValueError) past the recursion limit: the ingest stopped.
    line = b'{"id": "deep", "text": "t", "m": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    report = ingest_batch(engine, batches, {"broken.jsonl": line})
    assert [p.message for p in report.failed] == ["not a JSON object: it is nested too deeply to read"]
