"""A throwaway Virtuoso 7 server on 127.0.0.1, for tests and benchmarks.

Needs the Debian package ``virtuoso-opensource`` (``virtuoso-t`` and ``isql-vt``).
The server keeps its database, log and ``virtuoso.ini`` in a work directory, listens
only on 127.0.0.1, and lets anonymous clients of the plain ``/sparql`` endpoint run
SPARQL Update (``SPARQL_UPDATE`` is granted to Virtuoso's ``"SPARQL"`` user), so
:class:`~kg.SparqlEndpointStore` needs no credentials. Never expose it to a network.

Usage::

    with VirtuosoServer(tmp_path / "virtuoso") as server:
        store = server.store("http://example.org/default")
        store.load("films.ttl")
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from kg.errors import BackendUnavailableError, StoreError

SERVER_BINARY = "virtuoso-t"
ISQL_BINARY = "isql-vt"
#: What to install when the binaries are missing.
DEBIAN_PACKAGE = "virtuoso-opensource"

_INI = """\
; Written by kg.testing.virtuoso; see /etc/virtuoso-opensource-7/virtuoso.ini for every option.
[Database]
DatabaseFile       = {db}/virtuoso.db
ErrorLogFile       = {db}/virtuoso.log
LockFile           = {db}/virtuoso.lck
TransactionFile    = {db}/virtuoso.trx
xa_persistent_file = {db}/virtuoso.pxa
ErrorLogLevel      = 7
FileExtend         = 200
MaxCheckpointRemap = 2000
Striping           = 0
TempStorage        = TempDatabase

[TempDatabase]
DatabaseFile       = {db}/virtuoso-temp.db
TransactionFile    = {db}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping           = 0

[Parameters]
ServerPort           = 127.0.0.1:{isql_port}
DisableUnixSocket    = 1
DisableTcpSocket     = 0
MaxClientConnections = 10
CheckpointInterval   = 60
O_DIRECT             = 0
CaseMode             = 2
AllowOSCalls         = 0
DirsAllowed          = {dirs_allowed}
NumberOfBuffers      = {buffers}
MaxDirtyBuffers      = {dirty_buffers}
MaxQueryMem          = 512M
ThreadsPerQuery      = 2
AsyncQueueMaxThreads = 4

[HTTPServer]
ServerPort           = 127.0.0.1:{http_port}
ServerRoot           = {vsp}
MaxClientConnections = 10
ServerThreads        = 10
MaxKeepAlives        = 10
KeepAliveTimeout     = 10
Charset              = UTF-8
EnabledDavVSP        = 0

[SPARQL]
; Virtuoso cuts results at 10000 rows by default, silently; a store must return them all.
ResultSetMaxRows           = 100000000
MaxSortedTopRows           = 100000000
MaxQueryCostEstimationTime = 0
MaxQueryExecutionTime      = 0
"""


def virtuoso_available() -> str | None:
    """Return ``None`` when Virtuoso can be started here, otherwise why not."""
    missing = [b for b in (SERVER_BINARY, ISQL_BINARY) if shutil.which(b) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH; install the Debian package {DEBIAN_PACKAGE}"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class VirtuosoServer:
    """A Virtuoso server process owned by this object.

    Args:
        workdir: Directory for ``virtuoso.ini``, the database and the logs (created if missing).
            Reusing a directory reopens its database.
        http_port: Port of the HTTP server (``/sparql``); a free one when ``None``.
        isql_port: Port of the SQL server used by ``isql-vt``; a free one when ``None``.
        load_dirs: Extra directories :meth:`bulk_load` may read (Virtuoso's ``DirsAllowed``);
            ``workdir`` is always allowed.
        buffers: Virtuoso's ``NumberOfBuffers`` (8 KiB pages of cache); the default uses about 80 MB.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        http_port: int | None = None,
        isql_port: int | None = None,
        load_dirs: Iterable[Path] = (),
        buffers: int = 10_000,
    ):
        self.workdir = Path(workdir).resolve()
        self.http_port = http_port or free_port()
        self.isql_port = isql_port or free_port()
        self.load_dirs = [self.workdir, *(Path(d).resolve() for d in load_dirs)]
        self.buffers = buffers
        self._process: subprocess.Popen | None = None

    @property
    def sparql_url(self) -> str:
        """The SPARQL 1.1 query and update endpoint."""
        return f"http://127.0.0.1:{self.http_port}/sparql"

    @property
    def log_path(self) -> Path:
        """Virtuoso's own error log."""
        return self.workdir / "db" / "virtuoso.log"

    def _write_ini(self) -> Path:
        db = self.workdir / "db"
        vsp = self.workdir / "vsp"
        db.mkdir(parents=True, exist_ok=True)
        vsp.mkdir(exist_ok=True)
        ini = self.workdir / "virtuoso.ini"
        ini.write_text(
            _INI.format(
                db=db,
                vsp=vsp,
                isql_port=self.isql_port,
                http_port=self.http_port,
                dirs_allowed=", ".join([".", *map(str, self.load_dirs)]),
                buffers=self.buffers,
                dirty_buffers=self.buffers * 3 // 4,
            ),
            encoding="utf-8",
        )
        return ini

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until ``/sparql`` answers and updates are allowed.

        Raises:
            BackendUnavailableError: The binaries are missing, or the server exited or did not
                answer within ``timeout`` seconds (the message quotes its log).
        """
        if self._process is not None:
            return
        reason = virtuoso_available()
        if reason:
            raise BackendUnavailableError(reason)
        ini = self._write_ini()
        with open(self.workdir / "virtuoso.out", "ab") as out:
            self._process = subprocess.Popen(
                [SERVER_BINARY, "+configfile", str(ini), "+foreground"],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_ready(timeout)
            self.isql('GRANT SPARQL_UPDATE TO "SPARQL"')
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        probe = self.sparql_url + "?" + urllib.parse.urlencode({"query": "ASK {}"})
        while True:
            if self._process.poll() is not None:
                raise BackendUnavailableError(
                    f"Virtuoso exited with status {self._process.returncode} while starting; "
                    f"its log ends with:\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(probe, timeout=2) as response:
                    response.read()
                with socket.create_connection(("127.0.0.1", self.isql_port), timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise BackendUnavailableError(
                    f"Virtuoso did not answer on {self.sparql_url} within {timeout:.0f} s; "
                    f"its log ends with:\n{self._log_tail()}"
                )
            time.sleep(0.2)

    def _log_tail(self, lines: int = 15) -> str:
        for path in (self.log_path, self.workdir / "virtuoso.out"):
            if path.exists():
                text = path.read_text(encoding="utf-8", errors="replace").strip()
                if text:
                    return "\n".join(text.splitlines()[-lines:])
        return "(no log written)"

    def stop(self, grace: float = 30) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL after ``grace`` seconds. Idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> VirtuosoServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def isql(self, *statements: str, timeout: float | None = 600) -> str:
        """Run SQL statements as ``dba`` through ``isql-vt``, stopping at the first error.

        Args:
            statements: One statement each, with or without the trailing ``;``.
            timeout: Seconds allowed per statement; ``None`` for no limit.

        Returns:
            What the statements printed, concatenated.

        Raises:
            StoreError: A statement failed (the message quotes Virtuoso's error) or timed out.
        """
        outputs = []
        for statement in statements:
            line = " ".join(statement.split()).rstrip(";") + ";\n"
            command = [ISQL_BINARY, f"127.0.0.1:{self.isql_port}", "dba", "dba"]
            command += ["VERBOSE=OFF", "BANNER=OFF", "PROMPT=OFF", "ECHO=OFF"]
            try:
                done = subprocess.run(command, input=line, capture_output=True, text=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise StoreError(f"isql statement did not finish within {timeout} s: {line.strip()}") from None
            if done.returncode != 0 or "*** Error" in done.stderr or "*** Error" in done.stdout:
                raise StoreError(f"isql statement failed: {line.strip()}\n{(done.stderr or done.stdout).strip()}")
            outputs.append(done.stdout)
        return "".join(outputs)

    def bulk_load(self, directory: Path, pattern: str, graph: str) -> None:
        """Load RDF files with Virtuoso's bulk loader (``ld_dir``, ``rdf_loader_run``, ``checkpoint``).

        Far faster than SPARQL INSERT for large files, but not atomic: a bad file is reported
        after the others are loaded.

        Args:
            directory: Folder of the files; must be ``workdir`` or one of ``load_dirs``.
            pattern: File name pattern such as ``*.nt`` or ``*.ttl.gz``.
            graph: IRI of the graph that receives the triples.

        Raises:
            StoreError: The folder is not allowed, or a file failed to load (named in the message).
        """
        directory = Path(directory).resolve()
        if not any(directory == d or d in directory.parents for d in self.load_dirs):
            raise StoreError(
                f"Virtuoso may not read {directory}; pass load_dirs=[{str(directory)!r}] to VirtuosoServer"
            )
        self.isql(
            f"ld_dir({_sql_string(str(directory))}, {_sql_string(pattern)}, {_sql_string(graph)})",
            "rdf_loader_run()",
            "checkpoint",
            timeout=None,
        )
        failed = self.isql(
            "SELECT ll_file, ll_error FROM DB.DBA.load_list "
            f"WHERE ll_graph = {_sql_string(graph)} AND ll_error IS NOT NULL"
        ).strip()
        if failed:
            raise StoreError(f"Virtuoso's bulk loader failed on some files of {directory}:\n{failed}")

    def store(self, default_graph: str):
        """A :class:`~kg.SparqlEndpointStore` on this server whose default graph is ``default_graph``."""
        from kg._endpoint import SparqlEndpointStore

        return SparqlEndpointStore(self.sparql_url, default_graph=default_graph)
