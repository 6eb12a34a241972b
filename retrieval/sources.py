"""Reading documents to ingest: text files, JSON Lines, and folders of them.

Each input yields :class:`SourceDocument` s, or a :class:`SourceProblem` for a piece that
cannot be read (with the file and line), so one bad document never stops a batch:

- ``*.jsonl`` (and ``*.ndjson``): one JSON object per line with an id (``id``, ``doc_id`` or
  ``_id``), ``text`` (or ``contents``), optional ``title`` (and ``modality``); every other field
  is kept as metadata. The movie corpus (``movie-text/docs.jsonl``) is in this form.
- ``*.txt``, ``*.md``: one document per file, its id the path relative to the folder given
  (or the file name), its title the file's stem.
- Images (``.jpg``, ``.jpeg``, ``.png``, ``.webp``) and audio (``.wav``, ``.mp3``, ``.flac``): one
  document per file with no text yet; ingestion reads them (OCR, faces, objects, speech).
- A folder: every such file below it, in sorted order (hidden files skipped), modalities mixed.

>>> import json, pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "docs.jsonl").write_text(json.dumps({"id": "d1", "title": "Heat", "text": "A heist film.", "year": 1995})
...      + "\\n" + "{not json}\\n")
>>> _ = (folder / "note.txt").write_text("Rebecca is a 1940 film.")
>>> for item in read_sources([folder]):
...     print(item)
SourceDocument(id='d1', title='Heat', text='A heist film.', modality='text', metadata={'year': 1995}, origin='docs.jsonl:1')
docs.jsonl:2: not a JSON object: Expecting property name enclosed in double quotes
SourceDocument(id='note.txt', title='note', text='Rebecca is a 1940 film.', modality='text', metadata={}, origin='note.txt')
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.text_index import MAX_ID_BYTES

#: File suffixes read as one document per file.
TEXT_SUFFIXES = (".txt", ".md")

#: File suffixes read as one JSON document per line.
JSONL_SUFFIXES = (".jsonl", ".ndjson")

#: Media file suffixes and their modality.
MEDIA_SUFFIXES = {
    ".jpg": "image",
    ".jpeg": "image",
    ".png": "image",
    ".webp": "image",
    ".wav": "audio",
    ".mp3": "audio",
    ".flac": "audio",
}

#: Every suffix a folder is searched for.
KNOWN_SUFFIXES = TEXT_SUFFIXES + JSONL_SUFFIXES + tuple(MEDIA_SUFFIXES)

#: Largest media file read, in bytes.
MAX_MEDIA_BYTES = 512 << 20

#: Fields that may hold a JSON Lines document's id, text and title, in order of preference.
ID_FIELDS = ("id", "doc_id", "_id")
TEXT_FIELDS = ("text", "contents")

#: Longest document text accepted, in characters (a document is a passage or an article, not a book).
MAX_TEXT_CHARS = 1_000_000


@dataclass(frozen=True)
class SourceDocument:
    """A document read from a file, before linking and indexing.

    ``origin`` says where it came from (``file:line`` for JSON Lines), for reports.
    """

    id: str
    title: str
    text: str
    modality: str = "text"
    metadata: dict[str, Any] = field(default_factory=dict)
    origin: str = ""

    @property
    def content_hash(self) -> str:
        """A hash of everything that is indexed; re-ingesting a document with the same hash is skipped."""
        payload = json.dumps([self.title, self.text, self.modality, self.metadata], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class SourceProblem:
    """A piece of input that is not a usable document, with where it is and why."""

    origin: str
    doc_id: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        parts = [self.origin] if self.origin else []
        if self.doc_id:
            parts.append(f"document {self.doc_id!r}" + (f", field {self.field!r}" if self.field else ""))
        return f"{', '.join(parts) or 'input'}: {self.message}"


class SourceError(Exception):
    """An input path cannot be read at all (missing, unknown kind); raised before anything is ingested."""


def check_paths(paths: Sequence[str | Path]) -> list[Path]:
    """The paths as :class:`Path` s, after checking each exists and is a kind we read.

    Raises:
        SourceError: Names the first path that is missing or of an unknown kind.
    """
    if not paths:
        raise SourceError("no input given: name text files, .jsonl files or folders of them")
    out = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise SourceError(f"{path}: no such file or folder")
        if path.is_file() and path.suffix.lower() not in KNOWN_SUFFIXES:
            known = ", ".join(KNOWN_SUFFIXES)
            raise SourceError(f"{path}: unknown kind of file {path.suffix or '(no suffix)'!r}; kgsearch reads {known}")
        out.append(path)
    return out


def read_sources(paths: Sequence[str | Path]) -> Iterator[SourceDocument | SourceProblem]:
    """Every document in ``paths``, in order; problems are yielded in place, not raised.

    Raises:
        SourceError: A path is missing or of an unknown kind (checked before reading any).
    """
    for path in check_paths(paths):
        for f, name in _files(path):
            yield from _read_file(f, name)


def _files(path: Path) -> list[tuple[Path, str]]:
    """The readable files of a path, with the names reports use (hidden files and folders skipped)."""
    if path.is_file():
        return [(path, path.name)]
    return [
        (f, f.relative_to(path).as_posix())
        for f in sorted(path.rglob("*"))
        if f.is_file()
        and f.suffix.lower() in KNOWN_SUFFIXES
        and not any(part.startswith(".") for part in f.relative_to(path).parts)
    ]


def count_documents(paths: Sequence[str | Path]) -> int:
    """A quick count of the documents in ``paths`` (lines of JSON Lines files, text files), for progress bars."""
    total = 0
    for path in check_paths(paths):
        for f, _ in _files(path):
            if f.suffix.lower() not in JSONL_SUFFIXES:
                total += 1
            else:
                with f.open("rb") as fh:
                    total += sum(1 for line in fh if line.strip())
    return total


def _read_file(path: Path, name: str) -> Iterator[SourceDocument | SourceProblem]:
    if path.suffix.lower() in JSONL_SUFFIXES:
        yield from _read_jsonl(path, name)
        return
    if path.suffix.lower() in MEDIA_SUFFIXES:
        yield from _read_media(path, name)
        return
    try:
        raw = path.read_bytes()
    except OSError as e:
        yield SourceProblem(name, None, None, f"cannot read: {e.strerror or e}")
        return
    text = _decode(raw)
    if text is None:
        yield SourceProblem(name, name, "text", _binary_message(raw))
        return
    yield from _checked(SourceDocument(name, path.stem, text, origin=name))


def _read_media(path: Path, name: str) -> Iterator[SourceDocument | SourceProblem]:
    """An image or audio file as a document without text: the path and a hash of its bytes."""
    modality = MEDIA_SUFFIXES[path.suffix.lower()]
    try:
        size = path.stat().st_size
        if size > MAX_MEDIA_BYTES:
            yield SourceProblem(name, name, "file", f"{size:,} bytes is over the {MAX_MEDIA_BYTES:,}-byte limit")
            return
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        yield SourceProblem(name, None, None, f"cannot read: {e.strerror or e}")
        return
    if size == 0:
        yield SourceProblem(name, name, "file", f"the {modality} file is empty")
        return
    metadata = {"path": str(path.resolve()), "sha256": digest}
    yield SourceDocument(name, path.stem, "", modality, metadata, origin=name)


def _read_jsonl(path: Path, name: str) -> Iterator[SourceDocument | SourceProblem]:
    try:
        fh = path.open("rb")
    except OSError as e:
        yield SourceProblem(name, None, None, f"cannot read: {e.strerror or e}")
        return
    with fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            origin = f"{name}:{number}"
            line = _decode(raw)
            if line is None:
                yield SourceProblem(origin, None, None, _binary_message(raw))
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                yield SourceProblem(origin, None, None, f"not a JSON object: {str(e).split(':')[0]}")
                continue
            except RecursionError:
                yield SourceProblem(origin, None, None, "not a JSON object: it is nested too deeply to read")
                continue
            if not isinstance(obj, dict):
                yield SourceProblem(origin, None, None, f"not a JSON object but a {type(obj).__name__}")
                continue
            broken = _surrogate_field(obj)
            if broken is not None:
                doc_id = next((obj[f] for f in ID_FIELDS if isinstance(obj.get(f), str)), None)
                yield SourceProblem(
                    origin,
                    None if doc_id is None or _SURROGATE.search(doc_id) else doc_id,
                    broken,
                    "holds a lone surrogate escape (\\ud800-\\udfff), which is not text; escape the whole "
                    "character (a pair of surrogates) or write it in UTF-8",
                )
                continue
            yield from _from_json(obj, origin)


#: A UTF-16 surrogate on its own: JSON can write one (``"\\ud800"``), UTF-8 cannot encode it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_field(obj: dict[str, Any]) -> str | None:
    """The first top-level field of a JSON object whose key or value (at any depth) holds a lone
    surrogate, escaped so that it can be printed; ``None`` when there is none."""
    for key, value in obj.items():
        stack = [key, value]  # not recursive: json.loads accepts nesting up to the recursion limit
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if _SURROGATE.search(item):
                    return key.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
            elif isinstance(item, dict):
                stack += [*item.keys(), *item.values()]
            elif isinstance(item, list):
                stack += item
    return None


def _from_json(obj: dict[str, Any], origin: str) -> Iterator[SourceDocument | SourceProblem]:
    id_field = next((f for f in ID_FIELDS if f in obj), None)
    if id_field is None:
        yield SourceProblem(origin, None, "id", f"no id: give each document one of the fields {', '.join(ID_FIELDS)}")
        return
    doc_id = obj[id_field]
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip():
        yield SourceProblem(origin, None, id_field, f"the id must be a non-empty string, not {doc_id!r}")
        return
    text_field = next((f for f in TEXT_FIELDS if f in obj), None)
    if text_field is None:
        yield SourceProblem(origin, doc_id, "text", f"no text: give the document a {' or '.join(TEXT_FIELDS)} field")
        return
    text, title = obj[text_field], obj.get("title", "")
    for fname, value in ((text_field, text), ("title", title)):
        if not isinstance(value, str):
            yield SourceProblem(origin, doc_id, fname, f"must be a string, not {type(value).__name__}")
            return
    modality = obj.get("modality", "text")
    if modality != "text":
        yield SourceProblem(
            origin, doc_id, "modality", f"JSON Lines documents are text; ingest {modality!r} files by their path"
        )
        return
    metadata = {k: v for k, v in obj.items() if k not in (id_field, text_field, "title", "modality")}
    yield from _checked(SourceDocument(doc_id, title, text, metadata=metadata, origin=origin))


def _checked(doc: SourceDocument) -> Iterable[SourceDocument | SourceProblem]:
    if len(doc.id.encode("utf-8")) > MAX_ID_BYTES:
        return [SourceProblem(doc.origin, doc.id[:40] + "…", "id", f"the id is longer than {MAX_ID_BYTES} bytes")]
    if not doc.text.strip():
        return [SourceProblem(doc.origin, doc.id, "text", "the document is empty")]
    if len(doc.text) > MAX_TEXT_CHARS:
        return [
            SourceProblem(
                doc.origin,
                doc.id,
                "text",
                f"the text is longer than {MAX_TEXT_CHARS:,} characters; split it into passages",
            )
        ]
    if "\x00" in doc.text or "\x00" in doc.title:
        return [SourceProblem(doc.origin, doc.id, "text", "the text holds NUL bytes: binary data, not text")]
    return [doc]


def _decode(raw: bytes) -> str | None:
    """UTF-8 text (a BOM is dropped), or ``None`` for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.removeprefix("\ufeff")


def _binary_message(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8 text (byte {e.start}: {raw[e.start : e.start + 1]!r}); convert it to UTF-8 first"
    return "not UTF-8 text"
