"""SparqlEndpointStore against a real Virtuoso 7, through the shared contract and its own quirks."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pyoxigraph as ox
import pytest

from kg import AskResult, BackendUnavailableError, KgError, SparqlEndpointStore, SparqlSyntaxError, StoreError
from kg._endpoint import STAGING_PREFIX, query_form
from kg.testing import VirtuosoServer, virtuoso_available
from kg.testing.virtuoso import DEBIAN_PACKAGE, free_port
from tests.kg.contract import EX, RDFS_LABEL, TripleStoreContract


def _install_virtuoso() -> str | None:
    """Install Virtuoso when this is a root shell with apt; return why not otherwise."""
    reason = virtuoso_available()
    if reason is None:
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return reason
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", DEBIAN_PACKAGE]
    done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    return virtuoso_available() and f"{reason}; apt-get install failed: {done.stderr.strip()[-500:]}"


@pytest.fixture(scope="session")
def virtuoso(tmp_path_factory):
    reason = _install_virtuoso()
    if reason:
        pytest.skip(reason)
    server = VirtuosoServer(tmp_path_factory.mktemp("virtuoso"))
    server.start()
    yield server
    server.stop()


def _staging_graphs(server: VirtuosoServer) -> int:
    out = server.isql(
        f"SPARQL SELECT COUNT(*) WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER(STRSTARTS(STR(?g), '{STAGING_PREFIX}')) }}"
    )
    return int(out.split()[0])


@pytest.mark.server
class TestVirtuosoEndpoint(TripleStoreContract):
    @pytest.fixture
    def store(self, virtuoso, graph_iri):
        default_graph = f"{EX}default/{uuid.uuid4().hex}"
        store = virtuoso.store(default_graph)
        yield store
        store.close()
        virtuoso.store(default_graph).update(f"DROP SILENT GRAPH <{default_graph}> ; DROP SILENT GRAPH <{graph_iri}>")

    def test_default_graph_is_the_configured_graph(self, store, graph_iri):
        store.add([ox.Quad(ox.NamedNode(f"{EX}a"), ox.NamedNode(RDFS_LABEL), ox.Literal("A"))])
        store.update(f'INSERT DATA {{ GRAPH <{graph_iri}> {{ <{EX}b> <{RDFS_LABEL}> "B" }} }}')
        assert store.count(store.default_graph) == 1
        assert store.default_graph not in store.named_graphs()
        graphs = store.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }").column("g")
        assert ox.NamedNode(graph_iri) in graphs and ox.NamedNode(store.default_graph) not in graphs
        # A query that names its own dataset keeps it.
        result = store.query(f"SELECT ?l FROM <{graph_iri}> WHERE {{ ?s <{RDFS_LABEL}> ?l }}")
        assert result.column("l") == [ox.Literal("B")]

    def test_query_form_detection(self, store):
        assert (
            query_form("# SELECT\nPREFIX ask: <http://ex/select#>\nconstruct { ?s ask:p ?o } WHERE {}") == "CONSTRUCT"
        )
        assert query_form('WITH <http://ex/g> DELETE { ?s ?p "SELECT" } WHERE { ?s ?p ?o }') == "WITH"
        assert query_form("SELEC ?x") is None
        assert store.query("PREFIX ex: <http://ex/> # a comment\nASK { ?s ex:p ?o }") == AskResult(False)
        with pytest.raises(SparqlSyntaxError, match="update"):
            store.query(f'INSERT DATA {{ <{EX}a> <{RDFS_LABEL}> "A" }}')
        with pytest.raises(SparqlSyntaxError, match="query"):
            store.update("SELECT * WHERE { ?s ?p ?o }")

    def test_syntax_error_quotes_the_server(self, store):
        with pytest.raises(SparqlSyntaxError, match="SP030"):
            store.query("SELEC ?x WHERE { ?x ?y ?z }")

    def test_rejected_update_is_a_store_error(self, store):
        # SPARQL 1.1 Update 3.2.2: DROP without SILENT fails on a graph that does not exist.
        with pytest.raises(StoreError, match="SPARUL_DROP") as info:
            store.update(f"DROP GRAPH <{EX}never-created/{uuid.uuid4().hex}>")
        assert not isinstance(info.value, SparqlSyntaxError)

    def test_large_load_goes_in_batches(self, virtuoso, tmp_path):
        path = tmp_path / "big.nt"
        lines = [f'<{EX}s{i}> <{RDFS_LABEL}> "label {i}" .' for i in range(19_900)]
        # Blank nodes used all over the file must stay the same nodes across batches.
        lines += [f"_:b{i % 20} <{EX}link> <{EX}s{i}> ." for i in range(100)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        default_graph = f"{EX}default/{uuid.uuid4().hex}"
        store = SparqlEndpointStore(virtuoso.sparql_url, default_graph=default_graph, batch_size=3_000)
        sent: list[int] = []
        try:
            assert store.load(path, progress=sent.append) == 20_000
            assert store.count() == 20_000
            assert len(sent) == 7 and sent == sorted(sent) and sent[-1] == path.stat().st_size
            (row,) = store.query(f"SELECT (COUNT(DISTINCT ?b) AS ?n) WHERE {{ ?b <{EX}link> ?s }}").rows
            assert int(row[0].value) == 20
            assert _staging_graphs(virtuoso) == 0
        finally:
            store.update(f"DROP SILENT GRAPH <{default_graph}>")

    def test_failed_load_stores_nothing(self, store, films_file, tmp_path, monkeypatch, virtuoso):
        path = tmp_path / "many.nt"
        path.write_text("".join(f'<{EX}m{i}> <{RDFS_LABEL}> "m {i}" .\n' for i in range(50)), encoding="utf-8")
        store.load(films_file)
        store.batch_size = 10
        real_send, calls = store._send, []

        def failing_send(sparql, form, params=()):
            calls.append(form)
            if len(calls) == 3:
                raise StoreError("simulated failure in the third batch")
            return real_send(sparql, form, params)

        monkeypatch.setattr(store, "_send", failing_send)
        with pytest.raises(StoreError, match="simulated"):
            store.load(path)
        monkeypatch.undo()
        assert store.count() == 15
        assert _staging_graphs(virtuoso) == 0

    def test_bulk_load_through_isql(self, virtuoso, store, graph_iri, tmp_path):
        folder = virtuoso.workdir / "load" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        (folder / "a.nt").write_text(f'<{EX}bulk> <{RDFS_LABEL}> "bulk" .\n', encoding="utf-8")
        virtuoso.bulk_load(folder, "*.nt", graph_iri)
        assert store.count(graph_iri) == 1
        (folder / "bad.nt").write_text(f'<{EX}bulk> <{RDFS_LABEL}> "unterminated .\n', encoding="utf-8")
        with pytest.raises(StoreError, match="bad.nt"):
            virtuoso.bulk_load(folder, "bad.nt", graph_iri)
        with pytest.raises(StoreError, match="load_dirs"):
            virtuoso.bulk_load(tmp_path, "*.nt", graph_iri)

    def test_closed_store_refuses_requests(self, store):
        store.close()
        with pytest.raises(StoreError, match="closed"):
            store.count()


def test_unreachable_server_is_unavailable():
    store = SparqlEndpointStore(f"http://127.0.0.1:{free_port()}/sparql", default_graph=f"{EX}default", timeout=5)
    with pytest.raises(BackendUnavailableError, match="cannot reach the SPARQL endpoint.*is the server running"):
        store.query("ASK { ?s ?p ?o }")
    with pytest.raises(BackendUnavailableError):
        store.update(f'INSERT DATA {{ <{EX}a> <{RDFS_LABEL}> "A" }}')
    assert issubclass(BackendUnavailableError, KgError)
