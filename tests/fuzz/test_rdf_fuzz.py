"""Fuzzing RDF loading with mutated Turtle, N-Triples, RDF/XML and JSON-LD files (some gzipped).

Seeds are slices of the sample KB and the ontology, in Turtle and as pyoxigraph writes them in the
other formats; each example flips bits, inserts junk (markup, entity declarations, NUL, broken
UTF-8, JSON-LD keywords), deletes, duplicates or truncates, and loads the result with
:meth:`Engine.load` into a home that already holds the ontology. Properties:

* the load succeeds, or raises :class:`InputFileError`, :class:`RdfSyntaxError` or
  :class:`UnknownFormatError` naming the file (a syntax error also names the line, except for the
  RDF/XML and JSON-LD errors pyoxigraph reports without one: :data:`POSITIONLESS`), and nothing else;
* a refused file stores nothing: the store's quads and the catalogue are as before, and the
  load journal has no unfinished entry.
"""

from __future__ import annotations

import gzip
import itertools
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given

from kg.errors import InputFileError, RdfSyntaxError, UnknownFormatError
from kg.formats import MAX_JSON_DEPTH, check_json_depth, parse_file
from kgsearch.engine import Engine
from kgsearch.journal import LoadJournal
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.strategies import ONTOLOGY, OUTCOMES, TRIED, rdf_files

_names = itertools.count()

#: Formats whose errors pyoxigraph may report without a position: in RDF/XML a bad IRI or term
#: (``rdf:about=">x"``; XML syntax errors have one, and an unbound prefix is located with expat), in
#: JSON-LD a breach of the JSON-LD algorithm (``@value`` beside other keys, a bad ``@context``; JSON
#: syntax errors have one). The message still names the file and says what is wrong.
POSITIONLESS = (".rdf", ".jsonld")


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Iterator[Engine]:
    """A fresh home holding the ontology, kept for the module (a successful load only adds to it)."""
    with Engine.open(tmp_path_factory.mktemp("rdf-fuzz") / "home") as engine:
        engine.load([ONTOLOGY])
        yield engine


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rdf-files")


def size(engine: Engine) -> tuple[int, int]:
    """Quads in every graph, and entities in the catalogue."""
    return len(engine.store.native), len(engine.catalogue)


def load_mutated(engine: Engine, folder: Path, suffix: str, data: bytes) -> None:
    """Load one mutated file and check the outcome (the property of this module)."""
    path = folder / f"mutated-{next(_names)}{suffix}"
    path.write_bytes(data)
    before = size(engine)
    try:
        engine.load([path])
    except (InputFileError, RdfSyntaxError, UnknownFormatError) as e:
        where = " without a line" if isinstance(e, RdfSyntaxError) and e.line is None else ""
        OUTCOMES["rdf", f"{suffix} {type(e).__name__}{where}"] += 1
        assert path.name in str(e), f"the error does not name the file: {e}"
        if isinstance(e, RdfSyntaxError) and not suffix.startswith(POSITIONLESS):
            assert e.line is not None, f"the error does not name the line: {e}"
        assert size(engine) == before, "a refused file changed the store or the catalogue"
        assert not LoadJournal(engine.settings.home).pending(), "a refused load left a journal entry"
    else:
        OUTCOMES["rdf", f"{suffix} loaded"] += 1
    finally:
        path.unlink()


@fuzz_settings(1.5)
@given(file=rdf_files())
@example(file=(".ttl.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff+"))  # a truncated gzip stream
@example(file=(".jsonld", b'{"@id": "http://ex/a", "http://ex/p": ' * 5000 + b"1" + b"}" * 5000))
def test_mutated_rdf_loads_or_is_refused_whole(engine, folder, file):
    suffix, data = file
    TRIED["rdf"] += 1
    load_mutated(engine, folder, suffix, data)


# -- regressions: what this fuzzing found, each fixed in kgsearch ----------------------------------

TURTLE = b"".join(
    b'<http://ex/a%d> <http://www.w3.org/2000/01/rdf-schema#label> "film %d" .\n' % (i, i) for i in range(300)
)


GZIPPED = gzip.compress(TURTLE, mtime=0)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("truncated.ttl.gz", GZIPPED[:40]),  # EOFError from the gzip reader
        ("not-gzip.ttl.gz", TURTLE),  # gzip.BadGzipFile, an OSError: reported as a failed *write*
        ("bad-deflate.ttl.gz", GZIPPED[:10] + b"\xff" + GZIPPED[11:]),  # zlib.error
        ("bad-crc.ttl.gz", GZIPPED[:-8] + bytes(b ^ 0xFF for b in GZIPPED[-8:-4]) + GZIPPED[-4:]),  # at the very end
        ("truncated.rdf.gz", gzip.compress(b'<?xml version="1.0"?><rdf:RDF ', mtime=0)[:-6]),
    ],
)
def test_regression_a_broken_gzip_file_is_refused_whole(engine, folder, name, data):
    path = folder / name
    path.write_bytes(data)
    before = size(engine)
    with pytest.raises(InputFileError, match=re.escape(name) + ".*not a readable gzip file"):
        engine.load([path])
    assert size(engine) == before
    assert not LoadJournal(engine.settings.home).pending()  # was left behind: "interrupted load" at the next open


def test_regression_rdfxml_with_an_unknown_encoding_is_a_syntax_error(engine, folder):
    path = folder / "encoding.rdf"
    path.write_bytes(b'<?xml version="1.0" encoding="TTF-8"?>\n<rdf:RDF/>')
    with pytest.raises(RdfSyntaxError, match="encoding.rdf, line 1.*unknown encoding"):  # was a bare LookupError
        engine.load([path])
    assert not LoadJournal(engine.settings.home).pending()


def test_regression_rdfxml_unbound_prefix_names_its_line(engine, folder):
    path = folder / "prefix.rdf"
    path.write_bytes(
        b'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        b'  <rdf:Description rdf:about="http://ex/a">\n    <ex:p>1</ex:p>\n  </rdf:Description>\n</rdf:RDF>\n'
    )
    with pytest.raises(RdfSyntaxError) as caught:  # pyoxigraph reports it without a position
        engine.load([path])
    assert caught.value.line == 4


def test_regression_deeply_nested_jsonld_is_refused_not_a_crash(tmp_path):
    # pyoxigraph's JSON-LD parser recursed per nested object and died of a stack overflow (SIGSEGV)
    # a few thousand levels down; checked in a child process so that a regression fails the test only.
    path = tmp_path / "deep.jsonld"
    path.write_bytes(b'{"@id": "http://ex/a", "http://ex/p":\n' * 5000 + b"1" + b"}" * 5000)
    code = (
        "import sys\nfrom kg.errors import RdfSyntaxError\nfrom kg.formats import parse_file\n"
        "try:\n    list(parse_file(sys.argv[1]))\nexcept RdfSyntaxError as e:\n    print(e.line, e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"{MAX_JSON_DEPTH + 1} ") and "deep.jsonld" in result.stdout, result.stdout


def test_jsonld_depth_check_reads_strings_and_escapes(tmp_path):
    # Brackets inside strings, escaped quotes and backslashes do not count as nesting.
    path = tmp_path / "brackets-in-strings.jsonld"
    piece = '{[\\\\\\"'  # JSON {[\\\" : a brace, a bracket, an escaped backslash, an escaped quote
    path.write_text('{"@id": "http://ex/a", "http://ex/p": "' + piece * 2000 + '"}')
    assert [q.object.value for q in parse_file(path)] == ['{[\\"' * 2000]


def test_jsonld_depth_check_carries_an_escape_across_its_read_chunks(tmp_path):
    # The file is read a megabyte at a time: a backslash ending one chunk escapes the next one's quote.
    head = b'{"@id": "http://ex/a", "http://ex/p": "'
    filler = b"a" * ((1 << 20) - 1 - len(head))
    path = tmp_path / "straddle.jsonld"
    path.write_bytes(head + filler + b'\\"' + b"{" * (MAX_JSON_DEPTH + 10) + b'"}')
    check_json_depth(path)  # the braces are in the string: no error
