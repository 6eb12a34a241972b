"""The archive that ``kgsearch dump`` writes: its manifest, packing, and verified unpacking.

An archive is a directory, a ``.tar`` or a ``.tar.gz`` (by the name's suffix) holding
``manifest.json`` and the members it lists, each with its size and sha256. In a tar the
manifest comes first, so a restore reads the archive once, as a stream, checking every member
as it is written out. Nothing else may be in an archive: a member that is missing, unlisted,
of another size or another checksum fails the whole restore with the member's name.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     staged = Path(d, "staged"); staged.mkdir()
...     _ = (staged / "kb.nq").write_bytes(b"<http://ex/a> <http://ex/p> <http://ex/b> .\\n")
...     manifest = {"members": {"kb.nq": file_entry(staged / "kb.nq")}}
...     size = pack(staged, manifest, Path(d, "home.tar"))
...     restored = unpack(Path(d, "home.tar"), Path(d, "out"))
...     sorted(p.name for p in Path(d, "out").iterdir()), restored["format_version"]
(['kb.nq'], 1)
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import secrets
import shutil
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from kg.errors import KgError

#: What ``manifest.json`` calls this kind of archive, and the layout version this module writes.
FORMAT = "kgsearch-home-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_CHUNK = 1 << 20

#: Called as ``progress(step, done, total)`` while an archive is packed or unpacked (bytes).
Progress = Callable[[str, int, int], None]


class BackupError(KgError):
    """A dump or restore could not be done; nothing was half-written."""


class ArchiveError(BackupError, ValueError):
    """An archive is missing, damaged, or in a format this kgsearch cannot read."""


def archive_kind(path: Path) -> str:
    """``tar.gz`` for ``.tar.gz``/``.tgz``, ``tar`` for ``.tar``, else ``dir`` (a directory)."""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    return "tar" if name.endswith(".tar") else "dir"


def fsync_folder(folder: Path) -> None:
    """Make a rename or new file in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_stream(source: IO[bytes], target: Path, on_bytes: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Copy a stream into a new file, fsynced; returns its manifest entry (``sha256``, ``bytes``)."""
    digest, size = hashlib.sha256(), 0
    with open(target, "wb") as f:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            f.write(chunk)
            size += len(chunk)
            if on_bytes:
                on_bytes(len(chunk))
        f.flush()
        os.fsync(f.fileno())
    return {"sha256": digest.hexdigest(), "bytes": size}


def file_entry(path: Path) -> dict[str, Any]:
    """The manifest entry of a file already written."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def _temporary_sibling(path: Path, what: str) -> Path:
    return path.with_name(f".{path.name}.{what}-{secrets.token_hex(4)}")


def pack(
    staged: Path, manifest: dict[str, Any], out: Path, *, force: bool = False, progress: Progress | None = None
) -> int:
    """Turn a folder of members into the archive ``out``; returns its size in bytes.

    ``manifest`` (with ``members`` filled in) gets the format fields and is written as the
    first member. A tar is written under a temporary name and renamed when complete; a
    directory archive is ``staged`` itself, renamed. Either way a failure leaves no archive.

    Raises:
        ArchiveError: ``out`` exists and ``force`` is not set.
    """
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}
    (staged / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    if out.exists() and not force:
        raise ArchiveError(f"{out} already exists; choose another name, or add --force to replace it")
    kind = archive_kind(out)
    if kind == "dir":
        for name in (MANIFEST, *manifest["members"]):
            with open(staged / name, "rb") as f:
                os.fsync(f.fileno())
        replace_path(staged, out)
        return sum(e["bytes"] for e in manifest["members"].values()) + (out / MANIFEST).stat().st_size
    temporary = _temporary_sibling(out, "partial")
    total = sum(e["bytes"] for e in manifest["members"].values())
    done = 0
    try:
        # Level 6: the KB member is gzip already; the rest (SQLite, indexes) shrinks about 3x.
        options = {"compresslevel": 6} if kind == "tar.gz" else {}
        with open(temporary, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz" if kind == "tar.gz" else "w", **options) as tar:
                for name in (MANIFEST, *sorted(manifest["members"])):
                    info = tar.gettarinfo(staged / name, arcname=name)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mode = 0o644
                    with open(staged / name, "rb") as f:
                        tar.addfile(info, f)
                    done += info.size
                    if progress:
                        progress("packing", done, total)
            raw.flush()
            os.fsync(raw.fileno())
        replace_path(temporary, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return out.stat().st_size


def replace_path(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; an existing ``target`` is removed only once ``new`` is in place."""
    if target.is_dir() and not target.is_symlink():
        old = _temporary_sibling(target, "replaced")
        target.rename(old)
        try:
            new.rename(target)
        except OSError:
            old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        if new.is_dir() and target.exists():
            target.unlink()  # a file where a directory archive goes (only with --force)
        os.replace(new, target)
    fsync_folder(target.parent)


def check_manifest(data: bytes, archive: Path) -> dict[str, Any]:
    """Parse and check a manifest: its format, version and member names.

    Raises:
        ArchiveError: Not a kgsearch archive, written by a newer kgsearch, or damaged.
    """
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ArchiveError(f"{archive}: {MANIFEST} is not valid JSON ({e}); the archive is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{archive}: not a kgsearch archive ({MANIFEST} does not say format {FORMAT!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ArchiveError(f"{archive}: {MANIFEST} has no valid format_version; the archive is damaged")
    if version > FORMAT_VERSION:
        raise ArchiveError(
            f"{archive} was written by a newer kgsearch ({manifest.get('kgsearch_version', '?')}, archive format "
            f"{version}); this kgsearch reads format {FORMAT_VERSION}: upgrade kgsearch to restore it"
        )
    members = manifest.get("members")
    if not isinstance(members, dict) or not all(
        isinstance(e, dict) and isinstance(e.get("sha256"), str) and isinstance(e.get("bytes"), int)
        for e in members.values()
    ):
        raise ArchiveError(f"{archive}: {MANIFEST} lists no valid members; the archive is damaged")
    for name in members:
        _check_name(name, archive)
    return manifest


def _check_name(name: str, archive: Path) -> None:
    # Members are written under the new home: refuse any name that could reach outside it.
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or "\\" in name or any(p in ("..", ".", "") for p in parts):
        raise ArchiveError(f"{archive}: member name {name!r} is not allowed; the archive is damaged or not kgsearch's")


def unpack(
    archive: Path,
    target: Path,
    *,
    place: Callable[[str], Path] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write an archive's members under ``target``, checking each against the manifest; returns the manifest.

    Args:
        archive: A directory, ``.tar`` or ``.tar.gz`` archive.
        target: An existing folder; members go to ``target / place(name)`` (``name`` by default).
        progress: Called with ``("verifying", bytes_done, bytes_total)``.

    Raises:
        ArchiveError: The archive is missing or damaged, or a member is missing, unlisted or
            fails its checksum (the message names it). Members already written stay in
            ``target``: callers unpack into a folder they remove on failure.
    """
    place = place or (lambda name: Path(name))
    with _open(archive) as (manifest_bytes, members):
        manifest = check_manifest(manifest_bytes, archive)
        expected = manifest["members"]
        total, done, seen = sum(e["bytes"] for e in expected.values()), 0, set()

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress("verifying", done, total)

        try:
            for name, stream in members:
                _check_name(name, archive)
                if name not in expected:
                    raise ArchiveError(f"{archive}: member {name} is not in {MANIFEST}; the archive was altered")
                if name in seen:
                    raise ArchiveError(f"{archive}: member {name} appears twice; the archive was altered")
                seen.add(name)
                path = target / place(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                got = copy_stream(stream, path, advance)
                if got != expected[name]:
                    raise ArchiveError(
                        f"{archive}: member {name} is damaged (sha256 {got['sha256'][:16]}…, {got['bytes']:,} bytes; "
                        f"the manifest says {expected[name]['sha256'][:16]}…, {expected[name]['bytes']:,} bytes); "
                        "restore from another copy of the archive"
                    )
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise ArchiveError(f"{archive}: the archive is damaged ({e}); restore from another copy") from None
        missing = sorted(set(expected) - seen)
        if missing:
            raise ArchiveError(
                f"{archive}: member {missing[0]} is missing (of {len(missing)}); the archive is incomplete"
            )
    return manifest


@contextlib.contextmanager
def _open(archive: Path) -> Iterator[tuple[bytes, Iterator[tuple[str, IO[bytes]]]]]:
    """The manifest's bytes and an iterator of ``(name, stream)`` over the other members."""
    if archive.is_dir():
        try:
            manifest = (archive / MANIFEST).read_bytes()
        except FileNotFoundError:
            raise ArchiveError(f"{archive}: no {MANIFEST}; this folder is not a kgsearch archive") from None
        yield manifest, _folder_members(archive)
        return
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive; give the file or folder `kgsearch dump` wrote")
    try:
        # Stream mode ("r|*"): one pass over the file, gzip or not, never seeking back.
        with tarfile.open(archive, mode="r|*") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise ArchiveError(f"{archive}: does not start with {MANIFEST}; it is not a kgsearch archive")
            manifest = tar.extractfile(first).read()
            yield manifest, _tar_members(tar, first, archive)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ArchiveError(f"{archive}: not a readable archive ({e}); give a file `kgsearch dump` wrote") from None


def _folder_members(archive: Path) -> Iterator[tuple[str, IO[bytes]]]:
    for path in sorted(archive.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        name = path.relative_to(archive).as_posix()
        if name == MANIFEST:
            continue
        if not path.is_file() or path.is_symlink():
            raise ArchiveError(f"{archive}: member {name} is not a regular file; the archive was altered")
        with open(path, "rb") as f:
            yield name, f


def _tar_members(tar: tarfile.TarFile, manifest: tarfile.TarInfo, archive: Path) -> Iterator[tuple[str, IO[bytes]]]:
    for info in tar:  # starts again from the members read so far: the manifest
        if info is manifest or info.isdir():
            continue
        if not info.isfile():
            raise ArchiveError(f"{archive}: member {info.name} is not a regular file; the archive was altered")
        yield info.name, tar.extractfile(info)


def describe_time(seconds: float | None = None) -> str:
    """A UTC timestamp for the manifest (ISO 8601)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
