"""Crash safety: ``kill -9`` during ``kgsearch load`` and ``kgsearch ingest``, a full disk, a read-only home.

The kills hit real ``kgsearch`` processes at points spread over the work (fractions of the
time a clean run takes on this machine), then the home is reopened and checked: the KB and
the catalogue, or the ledger, the text index, the vector index and the mention graph, agree
with each other, nothing recorded as done is lost, and re-running completes the job with
nothing duplicated.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from kgsearch.engine import Engine
from kgsearch.settings import PROJECT_ROOT
from kgsearch.testing import KGSEARCH, holdings, kill_when, ledger_rows, quad_set

SHARED = PROJECT_ROOT.parent / "shared" / "data"
LUBM = SHARED / "lubm" / "University0_all.nt"
CORPUS = SHARED / "movie-text" / "docs.jsonl"
#: Documents in the ingest tests, and per checkpoint.
DOCS, CHECKPOINT = 240, 40

needs_data = pytest.mark.skipif(
    not (LUBM.exists() and CORPUS.exists()), reason="needs ../shared/data (lubm, movie-text)"
)


def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*KGSEARCH, *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"kgsearch {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


def catalogue(engine: Engine) -> list:
    return sorted(engine.catalogue.entities(), key=lambda e: e.iri)


# -- kgsearch load -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_load(tmp_path_factory):
    """LUBM loaded by an uninterrupted ``kgsearch load``: its quads, catalogue and duration."""
    home = tmp_path_factory.mktemp("clean-load")
    journal = home / "journal"
    started = time.monotonic()
    process = subprocess.Popen([*KGSEARCH, "load", "--home", str(home), str(LUBM)], stderr=subprocess.PIPE)
    while not list(journal.glob("load-*.json")) and process.poll() is None:
        time.sleep(0.005)
    begun = time.monotonic()
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr.decode()
    seconds = time.monotonic() - begun
    assert begun > started and not list(journal.glob("load-*.json"))
    with Engine.open(home) as engine:
        return quad_set(engine), catalogue(engine), seconds


@needs_data
@pytest.mark.parametrize("moment", ["parsing", "bulk-write", "cataloguing"])
def test_a_killed_load_is_reported_and_rerunning_completes_it(clean_load, tmp_path, moment):
    """Killed while the file is parsed (nothing written yet), while the bulk loader writes its SST
    files into the store, and while the catalogue is updated (the store has the whole file)."""
    expected_quads, expected_entities, _ = clean_load
    home = tmp_path / "home"
    bulk_seen = []

    def ready() -> bool:
        bulk = any((home / "store").glob("bulk-*.sst"))
        if moment == "parsing":
            return any((home / "journal").glob("load-*.json"))
        if moment == "bulk-write":
            return bulk
        bulk_seen.append(bulk)
        return any(bulk_seen) and not bulk  # the bulk files are ingested: cataloguing has begun

    delay = {"parsing": 0.05, "bulk-write": 0.0, "cataloguing": 0.3}[moment]
    alive = kill_when(["load", "--home", home, LUBM], ready, delay)
    assert alive, "the load ended before the kill; the test must kill it mid-way"
    with Engine.open(home) as engine:  # the store opens after the kill, whatever it holds
        (intent,) = engine.interrupted_loads
        assert intent.path == str(LUBM.resolve())
        assert any("run `kgsearch load" in note for note in engine.recovery_notes())
        assert quad_set(engine) <= expected_quads  # a part of the file, never anything else
    result = run("load", "--home", home, LUBM)
    assert "did not finish" in result.stderr  # the CLI says so before completing it
    with Engine.open(home) as engine:
        assert engine.interrupted_loads == []
        assert quad_set(engine) == expected_quads  # complete, and nothing twice
        entities = catalogue(engine)
        assert [replace(e, popularity=0) for e in entities] == [replace(e, popularity=0) for e in expected_entities]
        # popularity is normalized over the catalogue as it was when each entity was written
        assert [e.popularity for e in entities] == pytest.approx([e.popularity for e in expected_entities], rel=0.05)
    assert "did not finish" not in run("stats", "--home", home).stderr


def test_reloading_a_file_with_blank_nodes_adds_nothing(tmp_path):
    ontology = SHARED / "lubm" / "univ-bench.owl"
    if not ontology.exists():
        pytest.skip("needs ../shared/data/lubm")
    with Engine.open(tmp_path / "home") as engine:
        (first,) = engine.load([ontology])
        (again,) = engine.load([ontology])
        assert first.added == 293 and again.added == 0  # OWL restrictions are blank nodes


# -- kgsearch ingest ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The first documents of the movie corpus, as JSON Lines."""
    path = tmp_path_factory.mktemp("corpus") / "docs.jsonl"
    with CORPUS.open(encoding="utf-8") as source, path.open("w", encoding="utf-8") as target:
        for _, line in zip(range(DOCS), source, strict=False):
            target.write(line)
    return path


@pytest.fixture(scope="module")
def kb_home(tmp_path_factory) -> Path:
    """A home with the sample KB loaded and nothing ingested."""
    home = tmp_path_factory.mktemp("kb") / "home"
    with Engine.open(home) as engine:
        engine.load([PROJECT_ROOT / "ontologies" / "movies.ttl", PROJECT_ROOT / "data" / "movies-sample.ttl"])
    return home


def corpus_ids(path: Path) -> list[str]:
    return [json.loads(line)["doc_id"] for line in path.read_text(encoding="utf-8").splitlines()]


@needs_data
@pytest.mark.parametrize(("checkpoints_before_kill", "delay"), [(1, 0.0), (3, 0.3)])
def test_a_killed_ingest_is_rolled_back_to_its_checkpoint_and_completed_by_rerunning(
    kb_home, corpus, tmp_path, checkpoints_before_kill, delay
):
    home = shutil.copytree(kb_home, tmp_path / "home")
    ids = corpus_ids(corpus)

    def writing() -> bool:
        """This many checkpoints are recorded and the next one has begun its writes."""
        return ledger_rows(home) >= checkpoints_before_kill * CHECKPOINT and ledger_rows(home, "pending") > 0

    args = ["ingest", "--home", home, "--checkpoint", CHECKPOINT, corpus]
    alive = kill_when(args, writing, delay)
    assert alive, "the ingest ended before the kill"
    with Engine.open(home) as engine:
        held = holdings(engine, ids)
        acknowledged = held["ledger"]
        assert len(acknowledged) >= checkpoints_before_kill * CHECKPOINT  # recorded checkpoints survive
        assert all(part == acknowledged for part in held.values()), {k: len(v) for k, v in held.items()}
        assert engine.ledger().pending() == []
        if delay == 0:  # killed inside the checkpoint's writes: it was undone at open
            assert len(engine.rolled_back) == CHECKPOINT
    report = json.loads(run(*args, "--json").stdout)
    assert report["unchanged"] == len(acknowledged)  # finished checkpoints are not redone
    assert report["added"] == len(ids) - len(acknowledged)
    with Engine.open(home) as engine:
        held = holdings(engine, ids)
        assert all(part == set(ids) for part in held.values()), {k: len(v) for k, v in held.items()}
        assert engine.text_index().count() == len(ids) and engine.vector_index().count() == len(ids)


def test_an_unfinished_checkpoint_is_undone_when_the_home_opens(sample_home, tmp_path):
    """The recovery step on its own: ids left pending are removed from every index and the ledger."""
    home = shutil.copytree(sample_home, tmp_path / "home")
    with Engine.open(home) as engine:
        ids = engine.ledger().ids()[:3]
        engine.ledger().begin(ids)  # as a checkpoint does before its first write
    with Engine.open(home) as engine:
        assert sorted(engine.rolled_back) == sorted(ids)
        held = holdings(engine, ids)
        assert all(part == set() for part in held.values()), held
        assert "removed from every index" in engine.recovery_notes()[0]


# -- full disk, read-only home -----------------------------------------------------------------


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs (needs root, like CI; skipped otherwise)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    point = tmp_path / "disk"
    point.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(point))
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot mount a tmpfs here: {e.stderr.decode().strip()}")
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free - leave
    with filler.open("wb") as f:
        f.write(b"\0" * max(free, 0))
    return filler


@needs_data
def test_a_full_disk_during_load_is_a_clear_error_and_the_store_stays_whole(small_disk):
    home = small_disk / "home"
    sample = PROJECT_ROOT / "data" / "movies-sample.ttl"
    run("load", "--home", home, PROJECT_ROOT / "ontologies" / "movies.ttl", sample)
    with Engine.open(home) as engine:
        before = quad_set(engine)
    filler = fill(small_disk, 1 << 20)
    result = run("load", "--home", home, LUBM, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "No space left on device" in result.stderr and "run `kgsearch load" in result.stderr
    filler.unlink()
    _mount("-o", "remount,size=256m", str(small_disk))  # the analyst frees space
    with Engine.open(home) as engine:  # what was stored before is intact
        assert before <= quad_set(engine)
        assert len(engine.interrupted_loads) == 1
    run("load", "--home", home, LUBM)
    with Engine.open(home) as engine:
        assert engine.store.count() == len(before) + 100_573 and engine.interrupted_loads == []


@needs_data
@pytest.mark.parametrize("free", [16 << 10, 1 << 20], ids=["16KB", "1MB"])
def test_a_full_disk_during_ingest_is_a_clear_error_and_the_indexes_agree(kb_home, corpus, small_disk, free):
    home = shutil.copytree(kb_home, small_disk / "home")
    ids = corpus_ids(corpus)
    filler = fill(small_disk, free)
    args = ["ingest", "--home", home, "--no-vectors", "--checkpoint", CHECKPOINT, corpus]
    result = run(*args, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "run the ingest again" in result.stderr or "No space left" in result.stderr, result.stderr
    filler.unlink()
    with Engine.open(home) as engine:
        held = holdings(engine, ids)
        del held["vectors"]  # --no-vectors
        assert all(part == held["ledger"] for part in held.values()), {k: len(v) for k, v in held.items()}
    run(*args)
    with Engine.open(home) as engine:
        held = holdings(engine, ids)
        assert engine.vector_index() is None and held.pop("vectors") == set()
        assert all(part == set(ids) for part in held.values()), {k: len(v) for k, v in held.items()}


def test_a_read_only_home_is_a_clear_error(sample_home, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root (and root ignores file permissions)")
    home = shutil.copytree(sample_home, tmp_path / "ro" / "home")
    point = home.parent
    try:
        _mount("--bind", str(point), str(point))
        _mount("-o", "remount,ro,bind", str(point))
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot bind-mount here: {e.stderr.decode().strip()}")
    try:
        result = run("stats", "--home", home, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "not writable" in result.stderr
        result = run("stats", "--home", point / "new-home", check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "cannot create the home" in result.stderr
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)
