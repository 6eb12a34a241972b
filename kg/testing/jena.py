"""Apache Jena's command-line SPARQL client ``arq.rsparql``, run from Debian's jars, for tests.

Needs ``java`` and the Debian package ``libapache-jena-java`` (Jena 4.5). As packaged, ``rsparql``
dies while initialising Jena (``ExceptionInInitializerError`` from
``xerces.impl.dv.SchemaDVFactory``, "internal error" in ``XSSimpleTypeDecl.applyFacets1``) for
two reasons, and :class:`RSparql` works around both:

* Debian moved Jena's bundled Xerces classes from ``org.apache.jena.ext.xerces`` to ``xerces``
  but left their message bundles (``.properties``) under ``org/apache/jena/ext/xerces/``, where
  the moved classes no longer look. :func:`build_xerces_fix` copies them under ``xerces/`` into a
  small jar put first on the classpath.
* ``/usr/share/java`` holds every Java library Debian installed, several slf4j bindings among
  them, so the classpath names only the jars ``rsparql`` needs (:data:`RSPARQL_JARS`).

Usage::

    rsparql = RSparql(tmp_path / "jena")
    print(rsparql.run("http://127.0.0.1:8000/sparql", "ASK { ?s ?p ?o }", results="json"))
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from kg.errors import BackendUnavailableError, StoreError

#: Where Debian installs Java libraries.
JAVA_DIR = Path("/usr/share/java")
#: What to install when the jars are missing.
DEBIAN_PACKAGE = "libapache-jena-java"
#: The jars (unversioned Debian names, without ``.jar``) that ``arq.rsparql`` needs, and no others.
RSPARQL_JARS = (
    "jena-cmds", "jena-arq", "jena-core", "jena-base", "jena-iri",
    "commons-compress", "guava", "gson", "thrift", "jsonld-java",
    "jackson-core", "jackson-databind", "jackson-annotations",
    "slf4j-api", "slf4j-simple",
)  # fmt: skip

_MOVED_FROM = "org/apache/jena/ext/xerces/"
_MOVED_TO = "xerces/"


def jena_available(java_dir: Path = JAVA_DIR) -> str | None:
    """Return ``None`` when ``arq.rsparql`` can run here, otherwise why not."""
    if shutil.which("java") is None:
        return "java not found on PATH; install a JRE (Debian: default-jre-headless)"
    missing = [f"{name}.jar" for name in RSPARQL_JARS if not (java_dir / f"{name}.jar").is_file()]
    if missing:
        return f"{', '.join(missing)} not in {java_dir}; install the Debian package {DEBIAN_PACKAGE}"
    return None


def build_xerces_fix(target: Path, java_dir: Path = JAVA_DIR) -> Path:
    """Write a jar holding ``jena-core.jar``'s Xerces message bundles at the package Debian moved
    the classes to (``org/apache/jena/ext/xerces/X.properties`` becomes ``xerces/X.properties``).

    Written with :mod:`zipfile`: a jar on a classpath is a zip and needs no manifest, so the JDK's
    ``jar`` tool adds nothing here.

    Returns:
        ``target``.

    Raises:
        BackendUnavailableError: ``jena-core.jar`` is missing or holds no such bundles.
    """
    source = java_dir / "jena-core.jar"
    if not source.is_file():
        raise BackendUnavailableError(f"{source} not found; install the Debian package {DEBIAN_PACKAGE}")
    target.parent.mkdir(parents=True, exist_ok=True)
    copied = 0
    with zipfile.ZipFile(source) as jar, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as fix:
        for name in jar.namelist():
            if name.startswith(_MOVED_FROM) and name.endswith(".properties"):
                fix.writestr(_MOVED_TO + name[len(_MOVED_FROM) :], jar.read(name))
                copied += 1
    if not copied:
        target.unlink()
        raise BackendUnavailableError(
            f"{source} has no {_MOVED_FROM}*.properties; this workaround is for Debian's Jena 4.5 package"
        )
    return target


class RSparql:
    """Jena's ``arq.rsparql``: sends a query to a SPARQL endpoint and prints the results.

    Args:
        workdir: Directory for the Xerces fix jar and the query files (created if missing).
        java_dir: Where the Jena jars are.

    Raises:
        BackendUnavailableError: ``java`` or a jar is missing (see :func:`jena_available`).
    """

    def __init__(self, workdir: Path, java_dir: Path = JAVA_DIR):
        reason = jena_available(java_dir)
        if reason:
            raise BackendUnavailableError(reason)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        fix = build_xerces_fix(self.workdir / "jena-xerces-fix.jar", java_dir)
        self.classpath = os.pathsep.join([str(fix)] + [str(java_dir / f"{name}.jar") for name in RSPARQL_JARS])
        self._queries = 0

    def run(self, service: str, query: str, *, results: str, post: bool = False, timeout: float = 60) -> str:
        """Run ``query`` at ``service`` and return what ``rsparql`` printed, decoded as UTF-8.

        Args:
            service: The endpoint URL.
            query: SPARQL query text.
            results: ``--results`` value: ``json``, ``xml``, ``csv``, ``tsv``, ``text`` for result
                sets; an RDF syntax (``nt``, ``ttl``, ``rdfxml``, ...) for graphs.
            post: Send the query with HTTP POST (``--post``) rather than GET.
            timeout: Seconds before the JVM is killed.

        Raises:
            StoreError: ``rsparql`` exited with an error (the message quotes its stderr) or timed out.
        """
        self._queries += 1
        path = self.workdir / f"query-{self._queries}.rq"
        path.write_text(query, encoding="utf-8")
        command = [
            "java", "-Dfile.encoding=UTF-8", "-Dstdout.encoding=UTF-8", "-cp", self.classpath,
            "arq.rsparql", "--service", service, f"--results={results}", "--query", str(path),
        ]  # fmt: skip
        if post:
            command.insert(command.index("--query"), "--post")
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise StoreError(f"rsparql did not finish within {timeout} s: {service} {path}") from None
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace").strip()
            raise StoreError(f"rsparql exited with {done.returncode} for {path} at {service}:\n{stderr[-2000:]}")
        return done.stdout.decode("utf-8")
