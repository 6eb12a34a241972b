"""RDF serializations: naming them, guessing them from file names, and reading files safely.

Parsing is pyoxigraph's (Rust, streaming). For RDF/XML the document type
declaration is checked first with the standard library's expat, which reports
entity declarations without expanding them: external entities (XXE), entities
built from other entities ("billion laughs") and entity values over
:data:`MAX_ENTITY_CHARS` are refused with the line that declares them.
``tests/kg/test_formats.py`` pins that. JSON-LD is first scanned for its nesting depth
(:data:`MAX_JSON_DEPTH`): pyoxigraph's parser would crash on a deep one, not raise. A truncated
or corrupt ``.gz`` is an :class:`InputFileError`. ``tests/fuzz/test_rdf_fuzz.py`` pins those.

Blank nodes are scoped to the file they come from: each is renamed from the file's sha256 and
its order of first appearance. Loading the same file again (say, after a load was killed half
way) then yields the same nodes, and adds nothing; two files that both say ``_:b1`` mean two
nodes, as RDF has it.

>>> rdf_format("ttl").name
'Turtle'
>>> guess_format("people.nt.gz").name
'N-Triples'
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pyoxigraph as ox

from kg.errors import InputFileError, RdfSyntaxError, UnknownFormatError

_BY_NAME = {
    "turtle": ox.RdfFormat.TURTLE,
    "ttl": ox.RdfFormat.TURTLE,
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "n-triples": ox.RdfFormat.N_TRIPLES,
    "nt": ox.RdfFormat.N_TRIPLES,
    "nquads": ox.RdfFormat.N_QUADS,
    "n-quads": ox.RdfFormat.N_QUADS,
    "nq": ox.RdfFormat.N_QUADS,
    "trig": ox.RdfFormat.TRIG,
    "n3": ox.RdfFormat.N3,
    "rdfxml": ox.RdfFormat.RDF_XML,
    "rdf/xml": ox.RdfFormat.RDF_XML,
    "xml": ox.RdfFormat.RDF_XML,
    "rdf": ox.RdfFormat.RDF_XML,
    "owl": ox.RdfFormat.RDF_XML,
    "jsonld": ox.RdfFormat.JSON_LD,
    "json-ld": ox.RdfFormat.JSON_LD,
}


def rdf_format(name: str | ox.RdfFormat) -> ox.RdfFormat:
    """Return the pyoxigraph format for a name such as ``turtle``, ``nt`` or ``jsonld``.

    Raises:
        UnknownFormatError: The name is not a supported RDF serialization.
    """
    if isinstance(name, ox.RdfFormat):
        return name
    fmt = _BY_NAME.get(name.lower().lstrip("."))
    if fmt is None:
        raise UnknownFormatError(
            f"unknown RDF format {name!r}; supported: turtle, ntriples, nquads, trig, n3, rdfxml, jsonld"
        )
    return fmt


def guess_format(path: str | Path) -> ox.RdfFormat:
    """Guess the RDF format from a file name, looking through a trailing ``.gz``.

    Raises:
        UnknownFormatError: The extension names no supported format.
    """
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    try:
        return rdf_format(suffix) if suffix else rdf_format("")
    except UnknownFormatError:
        raise UnknownFormatError(
            f"{path}: cannot tell the RDF format from the extension {suffix or '(none)'!r}; "
            "use one of .ttl .nt .nq .trig .n3 .rdf .owl .xml .jsonld (optionally .gz) "
            "or pass the format explicitly (--format turtle)"
        ) from None


def open_rdf(path: str | Path) -> IO[bytes]:
    """Open an RDF file for reading, decompressing ``.gz`` transparently.

    Raises:
        InputFileError: The file is missing, is a directory, is unreadable, or is empty.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: no such file")
    if p.is_dir():
        raise InputFileError(f"{p}: is a directory; pass the RDF files inside it")
    if p.stat().st_size == 0:
        raise InputFileError(f"{p}: the file is empty; nothing to load")
    try:
        return gzip.open(p, "rb") if p.name.lower().endswith(".gz") else p.open("rb")
    except OSError as e:
        raise InputFileError(f"{p}: cannot read the file ({e.strerror})") from e


_LOCATION = re.compile(r"^(Parser )?error at line \d+ (column \d+|between columns \d+ and \d+)\s*:\s*", re.IGNORECASE)


def syntax_error(source: str | Path, err: SyntaxError) -> RdfSyntaxError:
    """Turn a pyoxigraph parse error into an :class:`RdfSyntaxError` naming the file and line."""
    message = str(err.msg if getattr(err, "msg", None) else err)
    # The location is reported by RdfSyntaxError itself; drop the parser's own copy.
    return RdfSyntaxError(source, _LOCATION.sub("", message), err.lineno, err.offset)


#: Longest entity value accepted in an RDF/XML DTD. Real files declare namespace IRIs
#: (``<!ENTITY owl "http://www.w3.org/2002/07/owl#">``); this bounds how much a
#: reference can expand to.
MAX_ENTITY_CHARS = 1024


class _PrologDone(Exception):
    """Raised by the expat handler at the root element: the DTD has been seen."""


def check_xml_entities(path: str | Path) -> None:
    """Refuse RDF/XML whose DTD could read files or blow up when expanded.

    Raises:
        RdfSyntaxError: An external entity, an entity referring to other entities, or an
            entity value longer than :data:`MAX_ENTITY_CHARS`; names the declaring line.
    """
    import xml.parsers.expat as expat

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def on_entity(name, is_parameter, value, base, system_id, public_id, notation):
        line = parser.CurrentLineNumber
        if system_id or public_id:
            raise RdfSyntaxError(
                path, f"external entity {name!r} refused (it would read {system_id or public_id})", line
            )
        if value is not None and "&" in value:
            raise RdfSyntaxError(path, f"entity {name!r} refers to other entities; nested entities are refused", line)
        if value is not None and len(value) > MAX_ENTITY_CHARS:
            raise RdfSyntaxError(
                path, f"entity {name!r} is {len(value):,} characters; at most {MAX_ENTITY_CHARS} are allowed", line
            )

    def on_root(*_):
        raise _PrologDone

    parser.EntityDeclHandler = on_entity
    parser.StartElementHandler = on_root
    with open_rdf(path) as f:
        try:
            parser.ParseFile(f)
        except _PrologDone:
            pass
        except expat.ExpatError as e:
            raise RdfSyntaxError(path, expat.errors.messages[e.code], e.lineno, e.offset + 1) from None
        except LookupError as e:  # the XML declaration names an encoding Python does not know
            raise RdfSyntaxError(path, f"{e}; write the file in UTF-8", 1) from None


def _xml_error_line(path: str | Path) -> tuple[int, int] | None:
    """Where expat, reading namespaces, finds a well-formedness error in an XML file (an unbound
    prefix, a mismatched tag), or ``None``: for the RDF/XML errors pyoxigraph reports without a position."""
    import xml.parsers.expat as expat

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        with open_rdf(path) as f:
            parser.ParseFile(f)
    except expat.ExpatError as e:
        return e.lineno, e.offset + 1
    except (LookupError, OSError, EOFError, zlib.error):
        return None
    return None


#: Deepest nesting of JSON objects and arrays accepted in JSON-LD. pyoxigraph's JSON-LD parser
#: recurses once per nested object and runs out of stack (the process crashes) a few thousand
#: levels down; real documents nest a handful of levels.
MAX_JSON_DEPTH = 256

_JSON_SPECIAL = re.compile(rb'[][{}"\\]')


def check_json_depth(path: str | Path) -> None:
    """Refuse JSON-LD nested deeper than :data:`MAX_JSON_DEPTH`, before the parser sees it.

    Raises:
        RdfSyntaxError: Naming the line where the nesting goes too deep.
    """
    depth, in_string, skip, line = 0, False, -1, 1
    with open_rdf(path) as f:
        while chunk := f.read(1 << 20):
            for m in _JSON_SPECIAL.finditer(chunk):
                at, char = m.start(), m.group()
                if at == skip:  # the character after a backslash
                    continue
                if in_string:
                    if char == b"\\":
                        skip = at + 1
                    elif char == b'"':
                        in_string = False
                elif char == b'"':
                    in_string = True
                elif char in b"{[":
                    depth += 1
                    if depth > MAX_JSON_DEPTH:
                        raise RdfSyntaxError(
                            path,
                            f"JSON nested more than {MAX_JSON_DEPTH} levels deep is refused",
                            line + chunk.count(b"\n", 0, at),
                        )
                elif char in b"}]":
                    depth -= 1
            skip = 0 if skip == len(chunk) else -1  # an escape at the end of a chunk covers the next one's first byte
            line += chunk.count(b"\n")


def parse_file(
    path: str | Path,
    fmt: ox.RdfFormat | None = None,
    base_iri: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[ox.Quad]:
    """Stream the quads of an RDF file (triples come back in the default graph).

    Args:
        path: The file; ``.gz`` is decompressed.
        fmt: Its format; guessed from the extension when ``None``.
        base_iri: Base for relative IRIs; defaults to the file's ``file://`` URI.
        progress: Called with the number of (decompressed) bytes read so far.

    Raises:
        InputFileError: See :func:`open_rdf`; also a truncated or corrupt ``.gz`` (raised while iterating).
        UnknownFormatError: The format cannot be guessed.
        RdfSyntaxError: The file is malformed, is RDF/XML with a dangerous DTD, or is JSON-LD nested
            too deep (raised while iterating).
    """
    fmt = fmt or guess_format(path)
    base = base_iri or Path(path).resolve().as_uri()
    try:
        if fmt == ox.RdfFormat.RDF_XML:
            check_xml_entities(path)
        elif fmt == ox.RdfFormat.JSON_LD:
            check_json_depth(path)
        with open_rdf(path) as f:
            seed = file_digest(path)[:16]
            source = io.BufferedReader(_CountingReader(f, progress)) if progress else f
            try:
                yield from _scoped_blank_nodes(ox.parse(source, format=fmt, base_iri=base), seed)
            except SyntaxError as e:
                error = syntax_error(path, e)
                where = _xml_error_line(path) if error.line is None and fmt == ox.RdfFormat.RDF_XML else None
                raise (error if where is None else RdfSyntaxError(path, error.message, *where)) from None
            except ValueError as e:
                raise RdfSyntaxError(path, str(e)) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        # Raised by the gzip reader, through the parser, for a truncated or corrupt archive.
        raise InputFileError(
            f"{path}: not a readable gzip file ({e or 'it ends too soon'}); nothing from it was stored. "
            "Compress the file again, or load it uncompressed"
        ) from None


def file_digest(path: str | Path) -> str:
    """The sha256 of a file's bytes (as stored, so of the compressed bytes of a ``.gz``), in hex.

    Raises:
        InputFileError: The file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        raise InputFileError(f"{path}: cannot read the file ({e.strerror})") from e


def _scoped_blank_nodes(quads: Iterator[ox.Quad], seed: str) -> Iterator[ox.Quad]:
    """Rename blank nodes to ``<seed><n>``, n counting them in order of first appearance.

    The parser's own names for anonymous nodes (``[]``, lists) are random per parse; the order
    of appearance is not, so the same file always gives the same nodes.
    """
    names: dict[str, ox.BlankNode] = {}

    def rename(node: ox.BlankNode) -> ox.BlankNode:
        scoped = names.get(node.value)
        if scoped is None:
            scoped = names[node.value] = ox.BlankNode(f"{seed}{len(names):x}")
        return scoped

    blank = ox.BlankNode
    for q in quads:
        s, o, g = q.subject, q.object, q.graph_name
        if isinstance(s, blank) or isinstance(o, blank) or isinstance(g, blank):
            yield ox.Quad(
                rename(s) if isinstance(s, blank) else s,
                q.predicate,
                rename(o) if isinstance(o, blank) else o,
                rename(g) if isinstance(g, blank) else g,
            )
        else:
            yield q


class _CountingReader(io.RawIOBase):
    """Reports bytes read to a progress callback while pyoxigraph pulls the file."""

    def __init__(self, raw, progress: Callable[[int], None]):
        self._raw = raw
        self._progress = progress
        self._seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        self._seen += n
        self._progress(self._seen)
        return n
