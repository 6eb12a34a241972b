"""The server store: any SPARQL 1.1 endpoint, spoken to through SPARQLWrapper.

Tested against Virtuoso 7 (``tests/kg/test_endpoint_store.py``), whose quirks shape
a few choices below; each is marked where it is handled.
"""

from __future__ import annotations

import ast
import http.client
import re
import urllib.error
import uuid
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

import pyoxigraph as ox
from SPARQLWrapper import POST, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import (
    EndPointInternalError,
    EndPointNotFound,
    QueryBadFormed,
    SPARQLWrapperException,
    Unauthorized,
)

from kg._oxigraph import materialize
from kg.errors import BackendUnavailableError, KgError, SparqlSyntaxError, StoreError
from kg.formats import parse_file
from kg.results import AskResult, GraphResult, QueryResult
from kg.store import ProgressCallback

#: Base of the IRIs that replace blank nodes on the way in (RDF 1.1 Concepts, section 3.5).
SKOLEM_BASE = "http://kgsearch.org/.well-known/genid/"
#: Prefix of the graphs that hold a load until it is complete; never listed as named graphs.
STAGING_PREFIX = "urn:kgsearch:staging:"
# Sent as the only named graph when there is none, so that GRAPH matches nothing
# rather than whatever the server puts in an unspecified dataset.
_NO_NAMED_GRAPH = "urn:kgsearch:no-named-graph"

# What can hide a keyword: long and short strings, IRIs, comments. One alternation,
# scanned left to right, so a '#' inside an IRI or a '<' inside a string is no trap.
OPAQUE = re.compile(
    r'"""(?:\\[\s\S]|[^\\])*?"""'
    r"|'''(?:\\[\s\S]|[^\\])*?'''"
    r'|"(?:\\.|[^"\\\n])*"'
    r"|'(?:\\.|[^'\\\n])*'"
    r"|<[^<>\"{}|^`\\\s]*>"
    r"|#[^\r\n]*"
)


def _keyword(*words: str) -> re.Pattern:
    # Not part of a variable (?select), a prefixed name (ex:ask) or a longer word.
    return re.compile(rf"(?<![\w:?$.-])({'|'.join(words)})(?![\w:-])", re.IGNORECASE)


_FORM = _keyword(
    "SELECT", "ASK", "CONSTRUCT", "DESCRIBE",
    "INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH",
)  # fmt: skip
_QUERY_FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")
_OWN_DATASET = _keyword("FROM", "USING", "WITH")
_GRAPH = _keyword("GRAPH")
_WHERE = _keyword("WHERE")


def mask(sparql: str) -> str:
    """The request with strings, IRIs and comments replaced by spaces of the same length, so that
    keywords can be searched and offsets still point into the original."""
    return OPAQUE.sub(lambda m: " " * len(m.group(0)), sparql)


def _code(sparql: str) -> str:
    """The request with strings, IRIs and comments blanked out, so keywords can be searched."""
    return OPAQUE.sub(" ", sparql)


def query_form(sparql: str) -> str | None:
    """The first keyword after the prologue: ``SELECT``, ``ASK``, ... or an update verb; ``None`` if absent.

    >>> query_form('PREFIX select: <http://ex/#ask> # CONSTRUCT?\\nask { ?s select:x "DESCRIBE" }')
    'ASK'
    """
    match = _FORM.search(_code(sparql))
    return match.group(1).upper() if match else None


class _Wrapper(SPARQLWrapper):
    """SPARQLWrapper with the query form set by the store instead of guessed again.

    SPARQLWrapper's own guess warns (an error under ``-W error``) on a misspelled query
    and cannot tell ``WITH <g> DELETE ...`` is an update.
    """

    def __init__(self, endpoint: str, update_endpoint: str, form: str):
        self._form = form
        super().__init__(endpoint, update_endpoint)

    def _parseQueryType(self, query: str) -> str:  # SPARQLWrapper names it so
        return self._form


def _server_message(error: SPARQLWrapperException) -> str:
    # SPARQLWrapper keeps the response body only as a repr inside its message.
    text = str(error)
    _, found, body = text.partition("Response:\n")
    if found:
        try:
            text = ast.literal_eval(body).decode("utf-8", errors="replace")
        except (ValueError, SyntaxError, AttributeError):
            text = body
    # Virtuoso echoes the whole request after the error; the first paragraph is the message.
    return text.split("\n\nSPARQL query:", 1)[0].strip()[:2000]


class SparqlEndpointStore:
    """A :class:`~kg.store.TripleStore` on a SPARQL 1.1 endpoint (Query, Update and Protocol).

    The store's default graph is the named graph ``default_graph``: Virtuoso's own default
    graph is the union of all graphs, and it refuses ``INSERT DATA`` without a graph. So every
    query is sent with the protocol's ``default-graph-uri`` (updates: ``using-graph-uri``) set
    to it, unless the request names its own dataset (``FROM``, ``USING``, ``WITH``). When a
    query uses ``GRAPH``, the current named graphs are listed as ``named-graph-uri`` too: the
    protocol has no "all named graphs" and Virtuoso then matches no ``GRAPH <iri>`` at all.

    ``load`` and ``add`` are all-or-nothing although an endpoint has no multi-request
    transaction: the quads go by ``INSERT DATA`` batches into fresh staging graphs, then one
    request moves them into place (``ADD``) and drops the staging graphs; on failure the
    staging graphs are dropped and nothing is visible. Blank nodes become IRIs under
    ``skolem_base`` (RDF 1.1 Concepts, section 3.5), one set per call, so a blank node keeps its
    identity across batches and stays distinct from those of other files; queries return
    them as those IRIs.

    Writes need update rights on the endpoint: Virtuoso's plain ``/sparql`` refuses them until
    ``GRANT SPARQL_UPDATE TO "SPARQL"`` (``kg.testing.virtuoso`` does that on its test server).
    Virtuoso also cuts every result at ``ResultSetMaxRows`` rows (10,000 unless configured),
    without saying so; raise it in ``virtuoso.ini``.

    Args:
        query_url: The query endpoint, for Virtuoso ``http://HOST:8890/sparql``.
        update_url: The update endpoint when it differs from ``query_url``.
        default_graph: IRI of the graph that plays the default graph.
        user: User name for HTTP Basic authentication, if the endpoint wants one.
        password: Password for ``user``.
        timeout: Seconds to wait for each answer.
        batch_size: Statements per ``INSERT DATA`` request.
        skolem_base: IRI prefix of skolemized blank nodes.
    """

    def __init__(
        self,
        query_url: str,
        update_url: str | None = None,
        *,
        default_graph: str,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 60,
        batch_size: int = 2_000,
        skolem_base: str = SKOLEM_BASE,
    ):
        self.query_url = query_url
        self.update_url = update_url or query_url
        try:
            self.default_graph = ox.NamedNode(default_graph).value
        except ValueError as e:
            raise KgError(
                f"default_graph must be an absolute IRI such as http://example.org/kb, not {default_graph!r}: {e}"
            ) from None
        self.timeout = timeout
        self.batch_size = batch_size
        self.skolem_base = skolem_base
        self._credentials = (user, password) if user else None
        self._closed = False

    def __repr__(self) -> str:
        return f"SparqlEndpointStore({self.query_url!r}, default_graph={self.default_graph!r})"

    # -- HTTP ---------------------------------------------------------------------------

    def _send(self, sparql: str, form: str, params: Iterable[tuple[str, str]] = ()) -> tuple[bytes, str]:
        """POST one query or update; return the body and its media type."""
        if self._closed:
            raise StoreError("this SparqlEndpointStore is closed; open a new one")
        is_query = form in _QUERY_FORMS
        wrapper = _Wrapper(self.query_url, self.update_url, form)
        wrapper.setMethod(POST)
        wrapper.setTimeout(self.timeout)
        wrapper.setOnlyConneg(True)
        # XML first: every endpoint writes it, and Virtuoso's JSON still says "typed-literal".
        if form in ("CONSTRUCT", "DESCRIBE"):
            wrapper.addCustomHttpHeader("Accept", "application/n-triples, text/turtle;q=0.9")
        else:
            wrapper.addCustomHttpHeader(
                "Accept", "application/sparql-results+xml, application/sparql-results+json;q=0.9"
            )
        if self._credentials:
            wrapper.setCredentials(*self._credentials)
        for name, value in params:
            wrapper.addParameter(name, value)
        wrapper.setQuery(sparql)
        what = "query" if is_query else "update"
        try:
            result = wrapper.query()
            with closing(result.response) as response:
                return response.read(), response.headers.get_content_type()
        except QueryBadFormed as e:
            raise SparqlSyntaxError(f"the endpoint rejected the {what}: {_server_message(e)}") from None
        except Unauthorized:
            raise StoreError(
                f"{self.update_url if not is_query else self.query_url} refused the {what} (HTTP 401); "
                "pass user= and password= (HTTP Basic), or allow it on the server "
                '(Virtuoso: GRANT SPARQL_UPDATE TO "SPARQL")'
            ) from None
        except EndPointNotFound:
            raise BackendUnavailableError(
                f"no SPARQL endpoint at {self.query_url} (HTTP 404); check the URL, for Virtuoso http://HOST:8890/sparql"
            ) from None
        except EndPointInternalError as e:
            raise StoreError(f"the endpoint failed the {what}: {_server_message(e)}") from None
        except SPARQLWrapperException as e:
            raise StoreError(f"the endpoint refused the {what}: {_server_message(e)}") from None
        except urllib.error.HTTPError as e:
            with closing(e):
                body = e.read().decode("utf-8", errors="replace").strip()[:2000]
            hint = ' (Virtuoso: GRANT SPARQL_UPDATE TO "SPARQL")' if e.code == 403 and not is_query else ""
            raise StoreError(f"the endpoint refused the {what} (HTTP {e.code}){hint}: {body}") from None
        except http.client.HTTPException as e:
            raise StoreError(f"the connection to {self.query_url} broke during the {what} ({e!r}); try again") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, TimeoutError):
                raise StoreError(
                    f"{self.query_url} did not answer within {self.timeout} s; pass a larger timeout= "
                    "or make the request cheaper"
                ) from None
            raise BackendUnavailableError(
                f"cannot reach the SPARQL endpoint at {self.query_url} ({reason}); "
                "is the server running? Check the host and port."
            ) from None

    def _dataset(self, sparql: str, *, update: bool) -> list[tuple[str, str]]:
        """Protocol parameters that make ``default_graph`` the default graph of this request."""
        code = _code(sparql)
        if _OWN_DATASET.search(code):
            return []  # the protocol's dataset would override the request's own
        default, named = (
            ("using-graph-uri", "using-named-graph-uri") if update else ("default-graph-uri", "named-graph-uri")
        )
        params = [(default, self.default_graph)]
        # Named graphs matter only to GRAPH patterns, which in an update live after WHERE;
        # DROP GRAPH, INSERT DATA { GRAPH ... } and the like need no listing.
        if _GRAPH.search(code) and (not update or _WHERE.search(code)):
            params += [(named, g) for g in self.named_graphs() or [_NO_NAMED_GRAPH]]
        return params

    def _parse(self, body: bytes, media_type: str, form: str) -> QueryResult:
        try:
            if form in ("CONSTRUCT", "DESCRIBE"):
                fmt = ox.RdfFormat.from_media_type(media_type) or ox.RdfFormat.N_TRIPLES
                return GraphResult(tuple(q.triple for q in ox.parse(body, format=fmt)))
            fmt = ox.QueryResultsFormat.from_media_type(media_type) or ox.QueryResultsFormat.XML
            result = ox.parse_query_results(body, format=fmt)
        except (SyntaxError, ValueError) as e:
            raise StoreError(f"cannot read the endpoint's answer ({media_type}): {e}") from None
        if form == "ASK" and isinstance(result, ox.QuerySolutions):
            # Virtuoso 7.2 answers ASK as a SELECT of one variable, __ASK_RETVAL: one row
            # holding 1 when the pattern matched, no row otherwise.
            return AskResult(any(row[0] is not None and row[0].value not in ("0", "false") for row in result))
        return materialize(result)

    def _select(self, sparql: str) -> list[tuple]:
        """Run one of the store's own SELECTs, which name their graphs explicitly."""
        return list(self._parse(*self._send(sparql, "SELECT"), "SELECT"))

    # -- TripleStore ----------------------------------------------------------------------

    def query(self, sparql: str) -> QueryResult:
        form = query_form(sparql)
        if form is not None and form not in _QUERY_FORMS:
            raise SparqlSyntaxError(f"invalid SPARQL query: {form} starts an update; run it with update()")
        form = form or "SELECT"  # let the endpoint say what is wrong with it
        return self._parse(*self._send(sparql, form, self._dataset(sparql, update=False)), form)

    def update(self, sparql: str, *, base_iri: str | None = None) -> None:
        form = query_form(sparql)
        if form in _QUERY_FORMS:
            raise SparqlSyntaxError(f"invalid SPARQL update: {form} starts a query; run it with query()")
        if base_iri:
            sparql = f"BASE <{ox.NamedNode(base_iri).value}>\n{sparql}"
        self._send(sparql, "INSERT", self._dataset(sparql, update=True))

    def add(self, quads: Iterable[ox.Quad], *, bulk: bool = False) -> int:
        quads = list(quads)  # always the staged, atomic write: an endpoint has no faster path
        self._write(self._skolemize(quads))
        return len(quads)

    def load(
        self,
        path: str | Path,
        *,
        format: ox.RdfFormat | None = None,
        graph: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> int:
        try:
            # Parse all of it before sending anything: a malformed file stores nothing.
            quads = list(parse_file(path, format))
        except KgError:
            raise
        except ValueError as e:
            raise KgError(f"{path}: {e}") from e
        if graph is not None:
            into = ox.NamedNode(graph)
            quads = [
                ox.Quad(q.subject, q.predicate, q.object, into) if q.graph_name == ox.DefaultGraph() else q
                for q in quads
            ]
        quads = self._skolemize(quads)
        targets = {self._target(q.graph_name) for q in quads}
        before = self._count_graphs(targets)
        self._write(quads, progress, Path(path).stat().st_size)
        return self._count_graphs(targets) - before

    def count(self, graph: str | None = None) -> int:
        return self._count_graphs({graph or self.default_graph})

    def named_graphs(self) -> list[str]:
        # GROUP BY, not DISTINCT: Virtuoso 7.2 answers this at once but takes seconds for
        # SELECT DISTINCT ?g once graphs have been dropped.
        rows = self._select("SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
        return sorted(
            g.value
            for (g,) in rows
            if isinstance(g, ox.NamedNode) and g.value != self.default_graph and not g.value.startswith(STAGING_PREFIX)
        )

    def close(self) -> None:
        # Every request has its own connection; nothing stays open between calls.
        self._closed = True

    # -- writing ---------------------------------------------------------------------------

    def _count_graphs(self, graphs: set[str]) -> int:
        if not graphs:
            return 0
        values = " ".join(f"<{g}>" for g in sorted(graphs))
        ((n,),) = self._select(f"SELECT (COUNT(*) AS ?n) WHERE {{ VALUES ?g {{ {values} }} GRAPH ?g {{ ?s ?p ?o }} }}")
        return int(n.value)

    def _target(self, graph_name) -> str:
        return self.default_graph if isinstance(graph_name, ox.DefaultGraph) else graph_name.value

    def _skolemize(self, quads: list[ox.Quad]) -> list[ox.Quad]:
        """Replace blank nodes by IRIs unique to this call, so batches cannot split or merge them."""
        prefix = f"{self.skolem_base}{uuid.uuid4().hex}-"

        def iri(t):
            return ox.NamedNode(prefix + t.value) if isinstance(t, ox.BlankNode) else t

        return [
            ox.Quad(iri(q.subject), q.predicate, iri(q.object), iri(q.graph_name))
            if isinstance(q.subject, ox.BlankNode)
            or isinstance(q.object, ox.BlankNode)
            or isinstance(q.graph_name, ox.BlankNode)
            else q
            for q in quads
        ]

    def _write(self, quads: list[ox.Quad], progress: ProgressCallback | None = None, size: int = 0) -> None:
        """Store skolemized ``quads`` all-or-nothing, through staging graphs (see the class docstring)."""
        if not quads:
            return
        run = uuid.uuid4().hex
        staging: dict[str, str] = {}  # target graph -> its staging graph
        try:
            for start in range(0, len(quads), self.batch_size):
                by_graph: dict[str, list[str]] = {}
                for q in quads[start : start + self.batch_size]:
                    stage = staging.setdefault(self._target(q.graph_name), f"{STAGING_PREFIX}{run}:{len(staging)}")
                    # str() of a pyoxigraph term is its N-Triples form, valid inside INSERT DATA.
                    by_graph.setdefault(stage, []).append(f"{q.subject} {q.predicate} {q.object} .")
                body = "\n".join(f"GRAPH <{g}> {{\n" + "\n".join(lines) + "\n}" for g, lines in by_graph.items())
                try:
                    self._send(f"INSERT DATA {{\n{body}\n}}", "INSERT")
                except SparqlSyntaxError as e:
                    # The text is pyoxigraph's own serialization: what fails is the server's limit
                    # (Virtuoso's parser runs out of stack near 5,000 triples) or an unsupported term.
                    raise StoreError(
                        f"the endpoint could not take a batch of {self.batch_size} statements; "
                        f"pass a smaller batch_size=. {e}"
                    ) from None
                if progress:  # the file was parsed up front: report its bytes in step with what is sent
                    progress(size * min(len(quads), start + self.batch_size) // len(quads))
            # One request makes the whole load visible at once, then removes the staging graphs.
            moves = [f"ADD <{stage}> TO <{target}>" for target, stage in staging.items()]
            drops = [f"DROP SILENT GRAPH <{stage}>" for stage in staging.values()]
            self._send(" ;\n".join(moves + drops), "INSERT")
        except BaseException:
            self._drop_quietly(staging.values())
            raise

    def _drop_quietly(self, graphs: Iterable[str]) -> None:
        # Virtuoso refuses plain DROP GRAPH on a graph that was never CREATEd; SILENT works.
        drops = " ;\n".join(f"DROP SILENT GRAPH <{g}>" for g in graphs)
        if drops:
            try:
                self._send(drops, "DROP")
            except KgError:
                pass  # the original error matters more; staging graphs are invisible anyway
