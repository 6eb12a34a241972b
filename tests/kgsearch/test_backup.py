"""kgsearch dump / restore: a whole home to one archive and back, and every way that can go wrong."""

from __future__ import annotations

import json
import sqlite3
import tarfile
from pathlib import Path

import numpy as np
import pyoxigraph as ox
import pytest
from typer.testing import CliRunner

from kgsearch import backup
from kgsearch.backup import (
    ArchiveError,
    BackupError,
    HomeInUseError,
    HomeNotEmptyError,
    dump,
    restore,
)
from kgsearch.cli import app
from kgsearch.engine import Engine
from kgsearch.settings import Settings
from tests.kgsearch.conftest import copy_home

#: Blank nodes in the default graph and in a named graph: restored under their stored names, so
#: that loading the same file again still adds nothing (see kg.formats).
BLANK_TTL = """@prefix ex: <http://example.org/> .
ex:Jaws ex:review [ ex:stars 5 ; ex:by [ ex:name "a critic" ] ] .
"""
EXTRA_GRAPH = "http://example.org/reviews"


def settings(home: Path) -> Settings:
    return Settings(home)


def quads(home: Path) -> set[str]:
    with Engine.open(home) as engine:
        return {str(q) for q in engine.store.native}


def catalogue_rows(home: Path) -> list[tuple]:
    db = sqlite3.connect(home / "catalogue.sqlite")
    try:
        return db.execute("SELECT * FROM entities ORDER BY iri").fetchall()
    finally:
        db.close()


def behaviour(home: Path) -> dict:
    """What a user sees of a home: stats, ledger, a search and a question."""
    with Engine.open(home) as engine:
        stats = engine.stats()
        return {
            "stats": (stats.triples, stats.named_graphs, stats.entities, stats.types),
            "ledger": engine.ledger().ids(),
            "search": engine.search("shark island police chief", limit=5).as_json(),
            "ask": engine.ask("who directed Jaws").as_json(),
        }


@pytest.fixture(scope="module")
def source_home(sample_home, tmp_path_factory) -> Path:
    """The sample home plus blank nodes in the default graph and in a named graph."""
    home = copy_home(sample_home, tmp_path_factory.mktemp("backup-source") / "home")
    blank = home.parent / "reviews.ttl"
    blank.write_text(BLANK_TTL, encoding="utf-8")
    with Engine.open(home) as engine:
        engine.load([blank])
        engine.load([blank], graph=EXTRA_GRAPH)
    return home


@pytest.fixture(scope="module")
def source_behaviour(source_home) -> dict:
    return behaviour(source_home)


@pytest.mark.parametrize("name", ["home.tar", "home.tar.gz", "home-folder"])
def test_round_trip_gives_the_same_home(source_home, source_behaviour, tmp_path, name):
    dumped = dump(settings(source_home), tmp_path / name)
    assert dumped.archive.exists() and not dumped.live
    assert (tmp_path / name).is_dir() == (name == "home-folder")
    restored = restore(settings(tmp_path / "restored"), tmp_path / name)

    target = tmp_path / "restored"
    assert quads(target) == quads(source_home)  # every graph, blank nodes under the same names
    assert restored.graphs == dumped.graphs and set(dumped.graphs) == {
        "",
        EXTRA_GRAPH,
        "http://kgsearch.org/ns/kgs#mentions",
    }
    assert (restored.entities, restored.documents) == (dumped.entities, dumped.documents) == (dumped.entities, 193)
    assert catalogue_rows(target) == catalogue_rows(source_home)
    assert behaviour(target) == source_behaviour
    assert not restored.replaced and not restored.rebuilt and not restored.notes
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "restored"])  # nothing staged is left


def test_blank_nodes_keep_their_names_so_a_reload_adds_nothing(source_home, tmp_path):
    dump(settings(source_home), tmp_path / "home.tar")
    restore(settings(tmp_path / "restored"), tmp_path / "home.tar")
    with Engine.open(tmp_path / "restored") as engine:
        (report,) = engine.load([source_home.parent / "reviews.ttl"])
    assert report.added == 0


def test_manifest_lists_counts_and_checksums(source_home, tmp_path):
    dumped = dump(settings(source_home), tmp_path / "folder")
    manifest = json.loads((tmp_path / "folder" / "manifest.json").read_text())
    assert manifest["format"] == "kgsearch-home-archive" and manifest["format_version"] == 1
    assert manifest["kb"]["quads"] == dumped.quads == sum(dumped.graphs.values())
    assert manifest["counts"] == {"entities": dumped.entities, "documents": 193, "text": 193, "vectors": None}
    files = {p.relative_to(tmp_path / "folder").as_posix() for p in (tmp_path / "folder").rglob("*") if p.is_file()}
    assert files == set(manifest["members"]) | {"manifest.json"}
    assert {"kb.nq.gz", "catalogue.sqlite", "ingest.sqlite", "text/meta.json", "text-relations.json"} <= files


def test_cli_round_trip_and_refusals(source_home, tmp_path):
    runner = CliRunner()
    archive, target = tmp_path / "home.tar.gz", tmp_path / "restored"
    dumped = runner.invoke(app, ["dump", str(archive), "--home", str(source_home)])
    assert dumped.exit_code == 0, dumped.output
    assert "dumped" in dumped.output and "193" in dumped.output
    again = runner.invoke(app, ["dump", str(archive), "--home", str(source_home)])
    assert again.exit_code == 1 and "already exists" in again.output and "--force" in again.output
    assert runner.invoke(app, ["dump", str(archive), "--force", "--home", str(source_home)]).exit_code == 0

    restored = runner.invoke(app, ["restore", str(archive), "--home", str(target)])
    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.output
    assert quads(target) == quads(source_home)
    refused = runner.invoke(app, ["restore", str(archive), "--home", str(target)])
    assert refused.exit_code == 1 and "already holds" in refused.output and "--force" in refused.output
    forced = runner.invoke(app, ["restore", str(archive), "--force", "--home", str(target)])
    assert forced.exit_code == 0 and "replaced" in forced.output


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def archive_tar(source_home, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("archives") / "home.tar"
    dump(settings(source_home), out)
    return out


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("member", ["kb.nq.gz", "catalogue.sqlite", "text/meta.json"])
def test_a_flipped_byte_is_named_and_nothing_is_restored(archive_tar, tmp_path, member):
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(archive_tar.read_bytes())
    with tarfile.open(damaged) as tar:
        info = tar.getmember(member)
    _flip_byte(damaged, info.offset_data + info.size // 2)
    with pytest.raises(ArchiveError, match=f"member {member} is damaged"):
        restore(settings(tmp_path / "new"), damaged)
    assert not (tmp_path / "new").exists() and not _leftovers(tmp_path)


def test_a_damaged_folder_member_is_named(source_home, tmp_path):
    dump(settings(source_home), tmp_path / "folder")
    _flip_byte(tmp_path / "folder" / "ingest.sqlite", 5000)
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "folder"), "--home", str(tmp_path / "new")])
    assert result.exit_code == 1 and "member ingest.sqlite is damaged" in result.output
    assert not (tmp_path / "new").exists()


def test_missing_truncated_foreign_and_newer_archives(archive_tar, source_home, tmp_path):
    with pytest.raises(ArchiveError, match="no such archive"):
        restore(settings(tmp_path / "a"), tmp_path / "missing.tar")
    truncated = tmp_path / "truncated.tar.gz"
    dump(settings(source_home), truncated)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    with pytest.raises(ArchiveError, match="damaged|not a readable archive"):
        restore(settings(tmp_path / "b"), truncated)
    foreign = tmp_path / "notes.tar"
    (tmp_path / "notes.txt").write_text("hello")
    with tarfile.open(foreign, "w") as tar:
        tar.add(tmp_path / "notes.txt", arcname="notes.txt")
    with pytest.raises(ArchiveError, match="not a kgsearch archive"):
        restore(settings(tmp_path / "c"), foreign)
    newer = tmp_path / "newer"
    dump(settings(source_home), newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    (newer / "manifest.json").write_text(json.dumps(manifest | {"format_version": 99}))
    with pytest.raises(ArchiveError, match="newer kgsearch.*upgrade kgsearch"):
        restore(settings(tmp_path / "d"), newer)
    assert not any((tmp_path / name).exists() for name in "abcd") and not _leftovers(tmp_path)


def test_member_names_cannot_leave_the_home(tmp_path):
    payload = tmp_path / "payload"
    payload.write_bytes(b"x")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "kgsearch-home-archive",
                "format_version": 1,
                "members": {"../escaped": {"sha256": "0" * 64, "bytes": 1}},
            }
        )
    )
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        tar.add(manifest, arcname="manifest.json")
        tar.add(payload, arcname="../escaped")
    with pytest.raises(ArchiveError, match="not allowed"):
        restore(settings(tmp_path / "new" / "home"), evil)
    assert not (tmp_path / "new" / "escaped").exists() and not (tmp_path / "escaped").exists()


def test_extra_members_are_refused(source_home, tmp_path):
    dump(settings(source_home), tmp_path / "folder")
    (tmp_path / "folder" / "text" / "stray.bin").write_bytes(b"?")
    with pytest.raises(ArchiveError, match=r"member text/stray\.bin is not in manifest\.json"):
        restore(settings(tmp_path / "new"), tmp_path / "folder")


def test_force_with_a_bad_archive_keeps_the_old_home(archive_tar, sample_home, tmp_path):
    home = copy_home(sample_home, tmp_path / "home")
    before = quads(home)
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(archive_tar.read_bytes())
    with tarfile.open(damaged) as tar:
        info = tar.getmember("kb.nq.gz")
    _flip_byte(damaged, info.offset_data + 100)
    result = CliRunner().invoke(app, ["restore", str(damaged), "--force", "--home", str(home)])
    assert result.exit_code == 1 and "kb.nq.gz" in result.output
    assert quads(home) == before and not _leftovers(tmp_path)


def test_force_replaces_a_home_and_what_it_held(archive_tar, sample_home, tmp_path):
    home = copy_home(sample_home, tmp_path / "home")
    (home / "datasets").mkdir()
    report = restore(settings(home), archive_tar, force=True)
    assert report.replaced and not (home / "datasets").exists()
    assert EXTRA_GRAPH in report.graphs and not _leftovers(tmp_path)


def test_restore_into_an_opened_but_empty_home_needs_no_force(archive_tar, tmp_path):
    Engine.open(tmp_path / "home").close()  # what any command does to a new home
    assert not restore(settings(tmp_path / "home"), archive_tar).replaced


def test_a_folder_that_is_not_a_home_is_never_replaced(archive_tar, tmp_path):
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "thesis.tex").write_text("\\begin{document}")
    with pytest.raises(HomeNotEmptyError, match="not a kgsearch home"):
        restore(settings(tmp_path / "documents"), archive_tar, force=True)
    assert (tmp_path / "documents" / "thesis.tex").exists()


def test_restore_refuses_a_home_in_use(archive_tar, sample_home, tmp_path):
    home = copy_home(sample_home, tmp_path / "home")
    with Engine.open(home), pytest.raises(HomeInUseError, match="in use"):
        restore(settings(home), archive_tar, force=True)


def test_kb_only_rebuilds_the_catalogue_and_asks_for_an_ingest(source_home, tmp_path):
    dumped = dump(settings(source_home), tmp_path / "kb.tar", kb_only=True)
    with tarfile.open(tmp_path / "kb.tar") as tar:
        assert tar.getnames() == ["manifest.json", "kb.nq.gz"]
    restored = restore(settings(tmp_path / "restored"), tmp_path / "kb.tar")
    assert restored.rebuilt == ("catalogue",) and restored.documents is None
    assert restored.entities == dumped.entities and restored.graphs == dumped.graphs
    assert any("kgsearch ingest" in note for note in restored.notes)
    rebuilt, original = catalogue_rows(tmp_path / "restored"), catalogue_rows(source_home)
    # Popularity is recomputed over the whole graph, where the source's was updated per load.
    assert [row[:-1] for row in rebuilt] == [row[:-1] for row in original]
    assert [row[-1] for row in rebuilt] == pytest.approx([row[-1] for row in original], rel=1e-2)


def test_a_vector_index_and_face_cache_travel(sample_home, tmp_path):
    from retrieval._hnsw import HnswVectorIndex

    home = copy_home(sample_home, tmp_path / "home")
    vectors = np.random.default_rng(7).normal(size=(3, 4)).astype(np.float32)
    with HnswVectorIndex(home / "vectors", dim=4) as index:
        index.add(["a", "b", "c"], vectors)
    (home / "faces.json").write_text('{"format": 1, "images": {}}')
    assert dump(settings(home), tmp_path / "home.tar").graphs
    restore(settings(tmp_path / "restored"), tmp_path / "home.tar")
    with HnswVectorIndex(tmp_path / "restored" / "vectors") as restored:
        assert restored.count() == 3
        assert [h.ref for h in restored.search(vectors[1], limit=1)] == ["b"]
    assert (tmp_path / "restored" / "faces.json").read_text() == (home / "faces.json").read_text()


def test_dump_while_another_engine_holds_the_home(sample_home, tmp_path):
    home = copy_home(sample_home, tmp_path / "home")
    with Engine.open(home) as server:  # as `kgsearch serve` would
        dumped = dump(settings(home), tmp_path / "live.tar")
        assert dumped.live and any("in use" in note for note in dumped.notes)
        expected = {str(q) for q in server.store.native}
    restore(settings(tmp_path / "restored"), tmp_path / "live.tar")
    assert quads(tmp_path / "restored") == expected


def test_an_ingest_during_a_live_dump_is_noticed_and_the_dump_taken_again(sample_home, tmp_path, monkeypatch):
    home = copy_home(sample_home, tmp_path / "home")
    monkeypatch.setattr(backup, "RETRY_PAUSE", 0)
    copies = []
    real_copy = backup.copy_parts

    def copy_while_an_ingest_records(home_dir, staged):
        copies.append(staged)
        if len(copies) == 1:
            server.ledger().record([("late-doc", "hash", "Late", 0)])
        return real_copy(home_dir, staged)

    monkeypatch.setattr(backup, "copy_parts", copy_while_an_ingest_records)
    with Engine.open(home) as server:
        dump(settings(home), tmp_path / "live.tar")
    assert len(copies) == 2
    restore(settings(tmp_path / "restored"), tmp_path / "live.tar")
    with Engine.open(tmp_path / "restored") as restored:
        assert "late-doc" in restored.ledger()


def test_a_checkpoint_that_never_ends_fails_the_dump(sample_home, tmp_path, monkeypatch):
    home = copy_home(sample_home, tmp_path / "home")
    monkeypatch.setattr(backup, "RETRY_PAUSE", 0)
    with Engine.open(home) as server:
        server.ledger().begin(["stuck-doc"])
        with pytest.raises(HomeInUseError, match="run dump again"):
            dump(settings(home), tmp_path / "live.tar")
    assert not (tmp_path / "live.tar").exists() and not _leftovers(tmp_path)


def test_a_failed_dump_leaves_no_archive(sample_home, tmp_path, monkeypatch):
    home = copy_home(sample_home, tmp_path / "home")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup, "dump_kb", disk_full)
    for name in ("home.tar", "home.tar.gz", "folder"):
        with pytest.raises(BackupError, match="no archive was written"):
            dump(settings(home), tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_dump_refuses_what_is_not_a_home(tmp_path):
    with pytest.raises(BackupError, match="holds no kgsearch store"):
        dump(settings(tmp_path / "nothing"), tmp_path / "out.tar")
    with pytest.raises(BackupError, match="does not exist"):
        Engine.open(tmp_path / "home").close()
        dump(settings(tmp_path / "home"), tmp_path / "no" / "such" / "out.tar")


def test_an_unparsable_kb_member_with_a_valid_checksum_is_refused(source_home, tmp_path):
    from kgsearch.backup_archive import file_entry

    folder = tmp_path / "folder"
    dump(settings(source_home), folder)
    import gzip

    (folder / "kb.nq.gz").write_bytes(gzip.compress(b"<http://ex/a> <http://ex/p> .\n"))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["members"]["kb.nq.gz"] = file_entry(folder / "kb.nq.gz")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArchiveError, match="kb.nq.gz does not read as gzipped N-Quads"):
        restore(settings(tmp_path / "new"), folder)
    assert not (tmp_path / "new").exists()


def test_store_graph_names_as_blank_nodes_round_trip(tmp_path):
    home = tmp_path / "home"
    with Engine.open(home) as engine:
        engine.store.native.add(
            ox.Quad(ox.NamedNode("http://ex/a"), ox.NamedNode("http://ex/p"), ox.Literal("x"), ox.BlankNode("g1"))
        )
    dumped = dump(settings(home), tmp_path / "home.tar")
    assert dumped.graphs == {"": 0, "_:g1": 1}
    restore(settings(tmp_path / "restored"), tmp_path / "home.tar")
    assert quads(tmp_path / "restored") == quads(home)


def test_a_live_dump_of_a_server_taking_documents_is_consistent(writable_server, tmp_path, monkeypatch):
    """A server ingests documents all along; a dump that succeeds holds the same documents in the
    ledger, the text index and the mention provenance."""
    import contextlib
    import threading
    import time

    import httpx

    from tests.kgsearch.conftest import UPDATE_TOKEN

    monkeypatch.setattr(backup, "RETRY_PAUSE", 0.05)
    stop, posted = threading.Event(), []

    def keep_ingesting() -> None:
        with httpx.Client(base_url=writable_server.url, timeout=60) as client:
            while not stop.is_set():
                i = len(posted)
                doc = {"id": f"live-{i}", "title": f"Note {i}", "text": f"Jaws {i} is a film by Steven Spielberg."}
                response = client.post(
                    "/documents", json={"documents": [doc]}, headers={"Authorization": f"Bearer {UPDATE_TOKEN}"}
                )
                assert response.status_code == 200, response.text
                posted.append(doc["id"])
                stop.wait(0.3)

    writer = threading.Thread(target=keep_ingesting, daemon=True)
    writer.start()
    dumped = []
    try:
        while not posted and writer.is_alive():  # past the first ingest, which builds the linker
            time.sleep(0.05)
        for n in range(8):
            if dumped:
                break
            with contextlib.suppress(HomeInUseError):  # the writer kept writing through every try
                dumped.append(dump(settings(writable_server.engine.settings.home), tmp_path / f"live-{n}.tar"))
    finally:
        stop.set()
        writer.join(60)
    assert posted and dumped and all(d.live for d in dumped)
    for n, report in enumerate(dumped):
        home = tmp_path / f"restored-{n}"
        restore(settings(home), report.archive)
        with Engine.open(home) as engine:
            ledger = set(engine.ledger().ids())
            provenance = {
                row[0].value
                for row in engine.sparql(
                    "SELECT ?id WHERE { GRAPH <http://kgsearch.org/ns/kgs#mentions> "
                    "{ ?d <http://kgsearch.org/ns/kgs#docId> ?id } }"
                )
            }
            assert ledger == provenance and engine.text_index().count() == len(ledger)
            assert all(engine.text_index().get(doc_id) is not None for doc_id in ledger)


def test_relative_paths(archive_tar, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    restored = runner.invoke(app, ["restore", str(archive_tar), "--home", "home"])
    assert restored.exit_code == 0, restored.output
    dumped = runner.invoke(app, ["dump", "again.tar", "--home", "home"])
    assert dumped.exit_code == 0, dumped.output
    forced = runner.invoke(app, ["restore", "again.tar", "--force", "--home", "home"])
    assert forced.exit_code == 0, forced.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.tar", "home"]
