"""Ingestion: reading sources, per-document errors, updates, resuming, and what lands in each store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kg import OxigraphStore
from linking.types import Link, Mention
from retrieval._hnsw import HnswVectorIndex
from retrieval._tantivy import TantivyTextIndex
from retrieval.ingest import DocumentLedger, Ingester
from retrieval.provenance import MENTIONS_GRAPH, document_iri
from retrieval.sources import SourceDocument, SourceError, count_documents, read_sources

HITCHCOCK = "http://ex/Hitchcock"
REBECCA = "http://ex/Rebecca"


class NameLinker:
    """Links fixed names wherever they occur (the text linker itself is tested in tests/linking)."""

    names = {"Alfred Hitchcock": HITCHCOCK, "Rebecca": REBECCA}

    def __init__(self):
        self.calls = 0

    def link(self, doc):
        self.calls += 1
        if "EXPLODE" in doc.text:
            raise RuntimeError("linker failure")
        links = []
        for name, iri in self.names.items():
            at = doc.text.find(name)
            if at >= 0:
                links.append(Link(Mention(doc.id, name, (at, at + len(name))), iri, 0.9, "alias:exact"))
        return sorted(links, key=lambda link: link.mention.span)


class LetterEmbedder:
    """Deterministic 4-d vectors from letter counts (the real embedder is tested in tests/linking)."""

    dim = 4

    def embed(self, texts):
        return np.array(
            [[1 + t.count("a"), 1 + t.count("e"), 1 + t.count("i"), 1 + t.count("o")] for t in texts], dtype=np.float32
        )


def make(tmp_path, *, vectors=True, checkpoint=4096):
    store = OxigraphStore(tmp_path / "store")
    text = TantivyTextIndex(tmp_path / "text")
    ledger = DocumentLedger(tmp_path / "ingest.sqlite")
    vector = HnswVectorIndex(tmp_path / "vectors", dim=4) if vectors else None
    linker = NameLinker()
    ingester = Ingester(
        store=store,
        linker=linker,
        text_index=text,
        ledger=ledger,
        vector_index=vector,
        embedder=LetterEmbedder() if vectors else None,
        checkpoint=checkpoint,
    )
    return ingester, linker


def close(ingester):
    for part in (ingester.vector_index, ingester.text_index, ingester.ledger, ingester.store):
        if part is not None:
            part.close()


def write_jsonl(path, rows):
    path.write_bytes(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows))
    return path


def test_ingest_writes_text_vectors_provenance_and_ledger(tmp_path):
    ingester, _ = make(tmp_path)
    docs = [SourceDocument("d1", "Rebecca", "Rebecca is a 1940 film directed by Alfred Hitchcock.")]
    report = ingester.ingest(docs)
    assert (report.added, report.updated, report.links, report.failed) == (1, 0, 2, [])
    stored = ingester.text_index.get("d1")
    assert stored.entities == (REBECCA, HITCHCOCK)
    assert stored.metadata["subject"] == REBECCA
    assert ingester.vector_index.count() == 1
    rows = ingester.store.query(
        f"SELECT ?e WHERE {{ GRAPH <{MENTIONS_GRAPH}> {{ <{document_iri('d1')}> <http://kgsearch.org/ns/kgs#mentions> ?e }} }}"
    )
    assert sorted(r[0].value for r in rows) == [HITCHCOCK, REBECCA]
    assert ingester.store.count() == 0, "mentions never go into the default graph (the user's facts)"
    contexts = ingester.ledger.contexts(subject=REBECCA)
    assert {c.mention for c in contexts} == {"1940", HITCHCOCK}
    close(ingester)


def test_rerun_skips_unchanged_and_replaces_changed(tmp_path):
    ingester, linker = make(tmp_path)
    docs = [
        SourceDocument("d1", "Rebecca", "Rebecca, by Alfred Hitchcock."),
        SourceDocument("d2", "Other", "No names."),
    ]
    ingester.ingest(docs)
    calls = linker.calls
    report = ingester.ingest(docs)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 2)
    assert linker.calls == calls, "unchanged documents are not linked again"
    changed = [SourceDocument("d1", "Rebecca", "Rebecca, a film.")]
    report = ingester.ingest(changed)
    assert (report.added, report.updated) == (0, 1)
    assert ingester.text_index.get("d1").entities == (REBECCA,)
    assert ingester.text_index.count() == 2 and ingester.vector_index.count() == 2
    rows = ingester.store.query(
        f"SELECT ?e WHERE {{ GRAPH <{MENTIONS_GRAPH}> {{ <{document_iri('d1')}> <http://kgsearch.org/ns/kgs#mentions> ?e }} }}"
    )
    assert [r[0].value for r in rows] == [REBECCA], "the old mentions of an updated document are gone"
    close(ingester)


def test_same_id_twice_in_one_run_keeps_the_later(tmp_path):
    ingester, _ = make(tmp_path, vectors=False)
    report = ingester.ingest([SourceDocument("d1", "A", "first text"), SourceDocument("d1", "A", "second text")])
    assert (report.added, report.updated) == (0, 1) or (report.added, report.updated) == (1, 0)
    assert ingester.text_index.get("d1").text == "second text"
    assert ingester.text_index.count() == 1
    close(ingester)


def test_bad_documents_are_reported_and_the_batch_goes_on(tmp_path):
    path = write_jsonl(
        tmp_path / "docs.jsonl",
        [
            {"id": "ok1", "title": "Rebecca", "text": "Rebecca is a film."},
            {"id": "empty", "text": "   "},
            b"\xff\xfe not utf-8 \x80",
            b"{broken json",
            {"title": "no id", "text": "x"},
            {"id": "notext", "title": "t"},
            {"id": "nul", "text": "bin\x00ary"},
            {"id": "boom", "text": "EXPLODE the linker"},
            [1, 2],
            {"id": "ok2", "text": "Alfred Hitchcock."},
        ],
    )
    ingester, _ = make(tmp_path)
    report = ingester.ingest(read_sources([path]))
    assert (report.added, len(report.failed)) == (2, 8)
    by_line = {p.origin: (p.field, p.message) for p in report.failed}
    assert by_line["docs.jsonl:2"] == ("text", "the document is empty")
    assert "not UTF-8" in by_line["docs.jsonl:3"][1]
    assert "not a JSON object" in by_line["docs.jsonl:4"][1]
    assert by_line["docs.jsonl:5"][0] == "id"
    assert by_line["docs.jsonl:6"][0] == "text"
    assert "NUL" in by_line["docs.jsonl:7"][1]
    assert "linking failed" in by_line["docs.jsonl:8"][1]
    assert "list" in by_line["docs.jsonl:9"][1]
    assert ingester.text_index.count() == 2
    close(ingester)


def test_nothing_indexed_is_lost_by_a_bad_rerun(tmp_path):
    ingester, _ = make(tmp_path, vectors=False)
    ingester.ingest([SourceDocument("d1", "Rebecca", "Rebecca, by Alfred Hitchcock.")])
    report = ingester.ingest([SourceDocument("d1", "Rebecca", "  ")])
    assert len(report.failed) == 1
    assert "Hitchcock" in ingester.text_index.get("d1").text
    close(ingester)


def test_a_crash_mid_checkpoint_is_redone_without_duplicates(tmp_path):
    ingester, _ = make(tmp_path, checkpoint=2)
    docs = [SourceDocument(f"d{i}", "Rebecca", f"Rebecca number {i} by Alfred Hitchcock.") for i in range(5)]

    def crashing():
        for i, doc in enumerate(docs):
            if i == 3:
                raise KeyboardInterrupt  # killed after the first checkpoint (d0, d1) was written
            yield doc

    with pytest.raises(KeyboardInterrupt):
        ingester.ingest(crashing())
    assert len(ingester.ledger) == 2
    close(ingester)
    ingester, _ = make(tmp_path, checkpoint=2)
    report = ingester.ingest(docs)
    assert (report.unchanged, report.added) == (2, 3)
    assert ingester.text_index.count() == 5 == ingester.vector_index.count() == len(ingester.ledger)
    docs_in_kb = ingester.store.query(
        f"SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE {{ GRAPH <{MENTIONS_GRAPH}> {{ ?d a <http://kgsearch.org/ns/kgs#Document> }} }}"
    )
    assert int(next(iter(docs_in_kb))[0].value) == 5
    close(ingester)


def test_read_sources_folder_text_files_and_errors(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("Rebecca is a film.", encoding="utf-8")
    (tmp_path / "a" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "a" / ".hidden.txt").write_text("skip me", encoding="utf-8")
    (tmp_path / "a" / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "a" / "empty.wav").write_bytes(b"")
    (tmp_path / "a" / "table.xlsx").write_bytes(b"PK")
    items = list(read_sources([tmp_path / "a"]))
    docs = [i for i in items if isinstance(i, SourceDocument)]
    problems = [i for i in items if not isinstance(i, SourceDocument)]
    assert [d.id for d in docs] == ["image.png", "one.txt"] and docs[1].title == "one"
    image = docs[0]
    assert image.modality == "image" and image.text == "" and image.metadata["path"].endswith("image.png")
    assert [(p.origin, p.field) for p in problems] == [("empty.wav", "file"), ("latin1.txt", "text")]
    assert "UTF-8" in problems[1].message and "empty" in problems[0].message
    assert count_documents([tmp_path / "a"]) == 4
    with pytest.raises(SourceError, match="no such file"):
        list(read_sources([tmp_path / "missing.jsonl"]))
    with pytest.raises(SourceError, match="unknown kind of file"):
        list(read_sources([tmp_path / "a" / "table.xlsx"]))


def test_content_hash_covers_what_is_indexed():
    a = SourceDocument("d", "T", "text", metadata={"year": 1})
    assert a.content_hash == SourceDocument("d", "T", "text", metadata={"year": 1}).content_hash
    assert a.content_hash != SourceDocument("d", "T", "text", metadata={"year": 2}).content_hash
    assert a.content_hash != SourceDocument("d", "T2", "text", metadata={"year": 1}).content_hash
