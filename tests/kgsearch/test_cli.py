"""The kgsearch command line, run for real on a temporary home."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgsearch.cli import app

DATA = Path(__file__).resolve().parent.parent / "data"
QUERY = "SELECT ?name WHERE { ?p a <http://kgsearch.org/ns/movies#Person> ; <http://www.w3.org/2000/01/rdf-schema#label> ?name } ORDER BY ?name"


@pytest.fixture
def home(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["load", str(DATA / "tiny_kb.ttl"), "--home", str(tmp_path / "home")])
    assert result.exit_code == 0, result.output
    assert "loaded" in result.output and "statements added" in result.output
    return tmp_path / "home"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_sparql_table_json_csv_tsv(home):
    table = run("sparql", QUERY, "--home", str(home))
    assert table.exit_code == 0 and "Harrison Ford" in table.output and "4 results" in table.output
    doc = json.loads(run("sparql", QUERY, "--format", "json", "--home", str(home)).stdout)
    assert [b["name"]["value"] for b in doc["results"]["bindings"]][:2] == ["Harrison Ford", "Mark Twain"]
    rows = list(csv.reader(io.StringIO(run("sparql", QUERY, "--format", "csv", "--home", str(home)).stdout)))
    assert rows[0] == ["name"] and len(rows) == 5
    tsv = run("sparql", QUERY, "--format", "tsv", "--home", str(home)).stdout.splitlines()
    assert tsv[0] == "?name" and tsv[1] == '"Harrison Ford"'


def test_sparql_from_file_and_ask(home, tmp_path):
    q = tmp_path / "q.rq"
    q.write_text("ASK { ?f <http://kgsearch.org/ns/movies#releaseYear> 1979 }", encoding="utf-8")
    assert run("sparql", f"@{q}", "--home", str(home)).output.strip() == "yes"


def test_stats_and_entity(home):
    stats = run("stats", "--home", str(home))
    assert stats.exit_code == 0 and "entities" in stats.output
    card = run("entity", "ridley scott", "--home", str(home))
    assert card.exit_code == 0 and "Sir Ridley Scott" in card.output
    doc = json.loads(run("entity", "Alien", "--json", "--home", str(home)).stdout)
    assert doc["iri"] == "http://kgsearch.org/movies/film/Alien"
    assert {"property": "http://kgsearch.org/ns/movies#releaseYear", "label": "release year", "value": "1979"} in doc[
        "facts"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["load", "missing.ttl"], "missing.ttl: no such file"),
        (["load", "{data}/tiny_kb.ttl", "--format", "docx"], "unknown RDF format 'docx'"),
        (["sparql", "SELEC nothing"], "invalid SPARQL query"),
        (["entity", "Nobody At All"], "no entity is called 'Nobody At All'"),
        (["datasets", "build", "imdb", "--shared-data", "{data}"], "unknown dataset 'imdb'"),
    ],
)
def test_errors_are_one_clear_line(home, args, message):
    args = [a.replace("{data}", str(DATA)) for a in args]
    result = run(*args, "--home", str(home))
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_malformed_file_names_file_and_line(home, tmp_path):
    bad = tmp_path / "broken.nt"
    bad.write_text('<http://ex/a> <http://ex/b> "x" .\n<http://ex/a> <not an iri> "y" .\n', encoding="utf-8")
    result = run("load", str(bad), "--home", str(home))
    assert result.exit_code == 1
    assert "broken.nt, line 2" in result.stderr and "Nothing from this file was stored" in result.stderr


def test_installed_demo_command(tmp_path):
    """The README's first command: the demo runs, then serves the HTTP service until interrupted."""
    import signal
    import time

    import httpx

    from kg.testing.virtuoso import free_port

    beside = Path(sys.executable).parent / "kgsearch"
    exe = str(beside) if beside.exists() else shutil.which("kgsearch")
    if exe is None:
        pytest.skip("the kgsearch console script is not installed (pip install -e .)")
    port = free_port()
    demo = subprocess.Popen(
        [exe, "demo", "--home", str(tmp_path / "demo"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and demo.poll() is None:
            try:
                front = httpx.get(f"http://127.0.0.1:{port}/", timeout=2, follow_redirects=True)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail(f"the demo did not start serving: {demo.stderr.read() if demo.poll() is not None else ''}")
        assert front.status_code == 200 and "kgsearch console" in front.text
        assert str(front.url) == f"http://127.0.0.1:{port}/console/"
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["documents"] == 193
    finally:
        demo.send_signal(signal.SIGINT)
        stdout, stderr = demo.communicate(timeout=60)
    assert "Alfred Hitchcock" in stdout  # the director with most films in the sample
    assert f"http://127.0.0.1:{port}/console/" in stdout  # says where to open the console
    assert f"http://127.0.0.1:{port}/" in stdout
    again = subprocess.run(
        [exe, "demo", "--no-serve", "--home", str(tmp_path / "demo")], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert "already loaded" in again.stdout
