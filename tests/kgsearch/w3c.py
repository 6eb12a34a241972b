"""The W3C SPARQL test suites (``../shared/data/w3c-sparql-tests``), run through an HTTP endpoint.

What the harness does, and where it follows which rule:

* **Manifests** are read with pyoxigraph, following ``mf:include`` from the suite's entry
  manifests (:data:`SUITES`). Files get the IRIs they have on ``w3c.github.io/rdf-tests``
  (:data:`W3C_BASE`), so relative IRIs in data, queries and results resolve as the manifests
  intend and test IRIs match other implementations' reports. Entries marked
  ``dawgt:approval`` Withdrawn, NotClassified, NotApproved or Rejected are left out; Approved
  and Proposed ones run.
* **The dataset** of a test: each ``qt:data`` file merged into the default graph (named graphs
  of a TriG file keep their names), each ``qt:graphData`` file as the named graph named by the
  file's IRI, and each ``FROM`` / ``FROM NAMED`` IRI of the query that names a file of the
  suite loaded as that named graph (the endpoint answers ``FROM`` from its named graphs).
  :func:`dataset_update` turns it into one SPARQL Update (``DROP ALL ; INSERT DATA {...}``).
* **The query** is sent with ``BASE <its file's IRI>`` in front, since the protocol has no base
  parameter; a ``BASE`` inside the query still wins, as it comes later.
* **Results** are compared as the W3C test suites define: solution multisets equal up to
  a renaming of blank nodes (one renaming for the whole result), in order only when the query
  has a top-level ``ORDER BY`` and the expected result carries an order (a results document's
  order, or ``rs:index`` on every ``rs:solution``); ``mf:LaxCardinality`` (``REDUCED``) allows
  any multiplicity between one and the expected one; graphs by isomorphism. Terms are equal
  only when they are the same RDF term, so ``"01"^^xsd:integer`` is not ``"1"^^xsd:integer``.
  ``mf:CSVResultFormatTest`` compares CSV text cells (CSV drops term types). A failure is
  also checked with both sides' literals in pyoxigraph's store forms (:func:`store_forms`,
  the rule of oxigraph's own harness) and flagged ``lexical_only`` when that makes it pass.

Everything is parsed with pyoxigraph, ``rs:`` result graphs included, so all terms are
pyoxigraph terms; CSV, which pyoxigraph does not read (it is lossy), with :mod:`csv`.

The endpoint is asked for the format of the expected file (``.srx`` -> XML, ``.srj`` -> JSON,
``.tsv`` -> TSV, CSV tests -> CSV; ``rs:`` result sets -> JSON; graphs -> N-Triples), so the
suites exercise each of the endpoint's result writers; pyoxigraph parses every answer.

>>> rows = (frozenset({("x", ox.BlankNode("a"))}), frozenset({("x", ox.BlankNode("b"))}))
>>> renamed = (frozenset({("x", ox.BlankNode("c"))}), frozenset({("x", ox.BlankNode("d"))}))
>>> compare(Solutions(("x",), rows), Solutions(("x",), renamed)) is None
True
>>> compare(Solutions(("x",), rows), Solutions(("x",), rows[:1]))
'expected 2 solutions, got 1...'
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urljoin

import pyoxigraph as ox

from kgsearch.settings import Settings

#: Where the suites are published; every file gets the IRI it has there.
W3C_BASE = "https://w3c.github.io/rdf-tests/sparql/"

#: Entry manifests of each suite: SPARQL 1.0 evaluation; SPARQL 1.1 query language and result
#: formats (not update, federation, entailment, service description or the two protocols); SPARQL 1.2.
SUITES = {
    "sparql10": ("sparql10/manifest-evaluation.ttl",),
    "sparql11": ("sparql11/manifest-sparql11-query.ttl", "sparql11/manifest-sparql11-results.ttl"),
    "sparql12": ("sparql12/manifest.ttl",),
}

MF = "http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#"
QT = "http://www.w3.org/2001/sw/DataAccess/tests/test-query#"
DAWGT = "http://www.w3.org/2001/sw/DataAccess/tests/test-dawg#"
RS = "http://www.w3.org/2001/sw/DataAccess/tests/result-set#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"

#: ``dawgt:approval`` values whose tests are not run.
EXCLUDED_APPROVALS = frozenset(DAWGT + s for s in ("Withdrawn", "NotClassified", "NotApproved", "Rejected"))

#: Test types this harness runs.
EVALUATION_TYPES = frozenset({MF + "QueryEvaluationTest", MF + "CSVResultFormatTest"})

RESULT_MEDIA_TYPES = {
    ".srx": "application/sparql-results+xml",
    ".srj": "application/sparql-results+json",
    ".tsv": "text/tab-separated-values",
    ".csv": "text/csv",
}
_RESULT_FORMATS = {
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
GRAPH_MEDIA_TYPE = "application/n-triples"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def suite_root() -> Path:
    """The local copy of ``sparql/`` (``$KGSEARCH_SHARED_DATA/w3c-sparql-tests/sparql``)."""
    return Settings.from_env().shared_data / "w3c-sparql-tests" / "sparql"


def url_to_path(url: str, root: Path | None = None) -> Path | None:
    """The local file behind a suite IRI, or ``None`` for an IRI outside the suites."""
    if not url.startswith(W3C_BASE):
        return None
    return (root or suite_root()) / url[len(W3C_BASE) :]


# --- manifests ------------------------------------------------------------------------------


class _Graph:
    """Triples of one manifest, indexed by subject and predicate."""

    def __init__(self, triples):
        self._index: dict = defaultdict(lambda: defaultdict(list))
        for t in triples:
            self._index[t.subject][t.predicate.value].append(t.object)

    def objects(self, subject, predicate: str) -> list:
        return self._index[subject][predicate] if subject in self._index else []

    def value(self, subject, predicate: str):
        objects = self.objects(subject, predicate)
        return objects[0] if objects else None

    def items(self, head) -> list:
        """The members of an RDF list."""
        out = []
        while head is not None and not (isinstance(head, ox.NamedNode) and head.value == RDF + "nil"):
            out.append(self.value(head, RDF + "first"))
            head = self.value(head, RDF + "rest")
        return out

    def subjects_with(self, predicate: str) -> list:
        return [s for s, by_predicate in self._index.items() if by_predicate.get(predicate)]


def _read_graph(url: str, root: Path) -> _Graph:
    path = url_to_path(url, root)
    return _Graph(q.triple for q in ox.parse(path=path, base_iri=url, format=_rdf_format(path)))


def _rdf_format(path: Path) -> ox.RdfFormat:
    fmt = ox.RdfFormat.from_extension(path.suffix.lstrip("."))
    if fmt is None:
        raise ValueError(f"{path}: unknown RDF file extension; expected .ttl, .nt, .rdf or .trig")
    return fmt


@dataclass(frozen=True)
class TestDataset:
    """The RDF dataset a test queries: ``(file IRI, graph name or None for the default graph)``."""

    files: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class EvaluationTest:
    """One ``mf:QueryEvaluationTest`` (or ``mf:CSVResultFormatTest``) entry.

    Attributes:
        suite: ``sparql10``, ``sparql11`` or ``sparql12``.
        manifest: Directory of the manifest, relative to ``sparql/`` (``sparql11/aggregates``).
        iri: The entry's IRI (a made-up ``manifest#name`` IRI for blank-node entries).
        name: ``mf:name``.
        query: IRI of the query file.
        result: IRI of the expected result file.
        dataset: What to load before the query runs.
        csv: A ``mf:CSVResultFormatTest`` (compared as CSV text).
        lax_cardinality: ``mf:resultCardinality mf:LaxCardinality``.
        approval: The ``dawgt:approval`` local name, or ``None``.
    """

    __test__ = False  # not a pytest class, despite the name

    suite: str
    manifest: str
    iri: str
    name: str
    query: str
    result: str
    dataset: TestDataset
    csv: bool = False
    lax_cardinality: bool = False
    approval: str | None = None

    @property
    def id(self) -> str:
        """A short stable id: ``sparql11/aggregates#agg01``."""
        return f"{self.manifest}#{self.iri.rsplit('#', 1)[-1]}"


@dataclass(frozen=True)
class SkippedEntry:
    """A manifest entry left out on purpose, with the reason."""

    manifest: str
    iri: str
    reason: str


@dataclass(frozen=True)
class Suite:
    tests: tuple[EvaluationTest, ...]
    skipped: tuple[SkippedEntry, ...] = field(default=())


def manifest_urls(entry: str, root: Path) -> list[str]:
    """The manifest ``entry`` (relative to ``sparql/``) and every one it includes, depth first."""
    out, todo = [], [W3C_BASE + entry]
    while todo:
        url = todo.pop(0)
        if url in out:
            continue
        out.append(url)
        graph = _read_graph(url, root)
        included = [
            i.value for s in graph.subjects_with(MF + "include") for i in graph.items(graph.value(s, MF + "include"))
        ]
        todo[:0] = included
    return out


def read_suite(name: str, root: Path | None = None) -> Suite:
    """All evaluation tests of one suite of :data:`SUITES`, in manifest order."""
    root = root or suite_root()
    tests, skipped = [], []
    for entry in SUITES[name]:
        for url in manifest_urls(entry, root):
            graph = _read_graph(url, root)
            manifest = url[len(W3C_BASE) :].rsplit("/", 1)[0]
            for head in graph.subjects_with(MF + "entries"):
                for node in graph.items(graph.value(head, MF + "entries")):
                    _read_entry(graph, node, name, manifest, root, tests, skipped)
    return Suite(tuple(tests), tuple(skipped))


def _read_entry(graph: _Graph, node, suite: str, manifest: str, root: Path, tests: list, skipped: list) -> None:
    types = {t.value for t in graph.objects(node, RDF + "type")}
    if not types & EVALUATION_TYPES:
        return
    name = graph.value(node, MF + "name").value
    slug = re.sub(r"\W+", "-", name)
    iri = node.value if isinstance(node, ox.NamedNode) else f"{W3C_BASE}{manifest}/manifest#{slug}"
    approval = graph.value(node, DAWGT + "approval")
    if approval is not None and approval.value in EXCLUDED_APPROVALS:
        skipped.append(SkippedEntry(manifest, iri, f"dawgt:approval {approval.value.rsplit('#')[-1]}"))
        return
    action = graph.value(node, MF + "action")
    if graph.objects(action, QT + "serviceData"):
        skipped.append(SkippedEntry(manifest, iri, "needs SERVICE endpoints (qt:serviceData)"))
        return
    query = graph.value(action, QT + "query").value
    files = [(d.value, None) for d in graph.objects(action, QT + "data")]
    for g in graph.objects(action, QT + "graphData"):
        if isinstance(g, ox.NamedNode):
            files.append((g.value, g.value))
        else:  # [ qt:graph <file> ; rdfs:label "name" ]
            files.append((graph.value(g, QT + "graph").value, graph.value(g, RDFS + "label").value))
    text = url_to_path(query, root).read_text(encoding="utf-8")
    for graph_iri in query_dataset_iris(text, query):
        local = url_to_path(graph_iri, root)
        if local is not None and local.is_file() and (graph_iri, graph_iri) not in files:
            files.append((graph_iri, graph_iri))
    cardinality = graph.value(node, MF + "resultCardinality")
    tests.append(
        EvaluationTest(
            suite=suite,
            manifest=manifest,
            iri=iri,
            name=name,
            query=query,
            result=graph.value(node, MF + "result").value,
            dataset=TestDataset(tuple(files)),
            csv=MF + "CSVResultFormatTest" in types,
            lax_cardinality=cardinality is not None and cardinality.value == MF + "LaxCardinality",
            approval=approval.value.rsplit("#", 1)[-1] if approval is not None else None,
        )
    )


# --- queries --------------------------------------------------------------------------------

# Strings, IRIs and comments, blanked out before looking at a query's structure.
_NOISE = re.compile(
    r"'''.*?'''|\"\"\".*?\"\"\"|'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|<[^<>\"{}|^`\\\s]*>|#[^\n]*",
    re.DOTALL,
)


def _blank_noise(query: str) -> str:
    return _NOISE.sub(lambda m: m.group(0) if m.group(0).startswith("<") else " ", query)


def query_dataset_iris(query: str, base: str) -> list[str]:
    """IRIs of the query's ``FROM`` and ``FROM NAMED`` clauses (``<...>`` ones), resolved against ``base``.

    >>> query_dataset_iris("SELECT * FROM <g1.ttl> FROM NAMED <http://ex/g2> { ?s ?p ?o }", "http://ex/q.rq")
    ['http://ex/g1.ttl', 'http://ex/g2']
    """
    text = _blank_noise(query)
    return [urljoin(base, m.group(1)) for m in re.finditer(r"\bFROM\s+(?:NAMED\s+)?<([^>]*)>", text, re.IGNORECASE)]


def has_top_level_order_by(query: str) -> bool:
    """Whether the query's outermost solution modifiers include ``ORDER BY`` (not a subquery's).

    >>> has_top_level_order_by("SELECT * { { SELECT ?x { ?x ?p ?o } ORDER BY ?x LIMIT 1 } }")
    False
    >>> has_top_level_order_by("SELECT * { ?x ?p '}' } ORDER BY ?x")
    True
    """
    depth = 0
    text = _blank_noise(query)
    for m in re.finditer(r"[{}]|\bORDER\s+BY\b", text, re.IGNORECASE):
        token = m.group(0)
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
        elif depth == 0:
            return True
    return False


def query_text(test: EvaluationTest, root: Path | None = None) -> str:
    """The query to send: the file's text after a ``BASE`` naming the file's IRI."""
    return f"BASE <{test.query}>\n" + url_to_path(test.query, root).read_text(encoding="utf-8")


# --- datasets -------------------------------------------------------------------------------


def dataset_quads(dataset: TestDataset, root: Path | None = None) -> list[ox.Quad]:
    """Parse the dataset's files; blank nodes are renamed apart per file."""
    quads = []
    for url, graph in dataset.files:
        path = url_to_path(url, root)
        target = ox.NamedNode(graph) if graph is not None else ox.DefaultGraph()
        for q in ox.parse(path=path, base_iri=url, format=_rdf_format(path), rename_blank_nodes=True):
            name = target if isinstance(q.graph_name, ox.DefaultGraph) else q.graph_name
            quads.append(ox.Quad(q.subject, q.predicate, q.object, name))
    return quads


def _sparql_term(term) -> str:
    """N-Triples syntax, except triple terms, which pyoxigraph prints without their ``<<( )>>``."""
    if isinstance(term, ox.Triple):
        return f"<<( {_sparql_term(term.subject)} {term.predicate} {_sparql_term(term.object)} )>>"
    return str(term)


def dataset_update(dataset: TestDataset, root: Path | None = None) -> str:
    """One SPARQL Update that replaces everything in the store with the dataset.

    Terms are written in their N-Triples form, which is also SPARQL syntax; blank nodes keep
    their (per-file) labels, which ``INSERT DATA`` maps to fresh blank nodes consistently.
    """
    lines = []
    for q in dataset_quads(dataset, root):
        triple = f"{_sparql_term(q.subject)} {q.predicate} {_sparql_term(q.object)} ."
        lines.append(triple if isinstance(q.graph_name, ox.DefaultGraph) else f"GRAPH {q.graph_name} {{ {triple} }}")
    if not lines:
        return "DROP ALL"
    return "DROP ALL ;\nINSERT DATA {\n" + "\n".join(lines) + "\n}"


# --- results --------------------------------------------------------------------------------

Row = frozenset  # of (variable, term) pairs; unbound variables are absent


@dataclass(frozen=True)
class Solutions:
    """A solution sequence; ``ordered`` when the source gives the rows an order."""

    variables: tuple[str, ...]
    rows: tuple[Row, ...]
    ordered: bool = False


@dataclass(frozen=True)
class Boolean:
    value: bool


@dataclass(frozen=True)
class Graph:
    triples: tuple[ox.Triple, ...]


Result = Solutions | Boolean | Graph


def _from_query_results(results) -> Result:
    if isinstance(results, ox.QueryBoolean):
        return Boolean(bool(results))
    variables = tuple(v.value for v in results.variables)
    rows = tuple(Row((v, t) for v, t in zip(variables, solution, strict=True) if t is not None) for solution in results)
    return Solutions(variables, rows, ordered=True)


def _from_csv(text: str) -> Solutions:
    """CSV cells as plain literals (``_:x`` as blank nodes); CSV has no term types to recover."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    rows = []
    for record in reader:
        row = []
        for var, cell in zip(header, record, strict=True):
            if cell != "":
                row.append((var, ox.BlankNode(cell[2:]) if cell.startswith("_:") else ox.Literal(cell)))
        rows.append(Row(row))
    return Solutions(tuple(header), tuple(rows), ordered=True)


def _from_result_graph(triples: list[ox.Triple]) -> Result:
    """A graph: the ``rs:`` vocabulary's result set when it has one, else the graph itself."""
    graph = _Graph(triples)
    result_sets = [
        t.subject for t in triples if t.predicate.value == RDF + "type" and t.object.value == RS + "ResultSet"
    ]
    if not result_sets:
        return Graph(tuple(triples))
    (rs,) = result_sets
    boolean = graph.value(rs, RS + "boolean")
    if boolean is not None:
        return Boolean(boolean.value == "true")
    variables = tuple(v.value for v in graph.objects(rs, RS + "resultVariable"))
    solutions = []
    for solution in graph.objects(rs, RS + "solution"):
        row = Row(
            (graph.value(b, RS + "variable").value, graph.value(b, RS + "value"))
            for b in graph.objects(solution, RS + "binding")
        )
        index = graph.value(solution, RS + "index")
        solutions.append((int(index.value) if index is not None else None, row))
    ordered = bool(solutions) and all(i is not None for i, _ in solutions)
    if ordered:
        solutions.sort(key=lambda s: s[0])
    return Solutions(variables, tuple(row for _, row in solutions), ordered)


def read_expected(test: EvaluationTest, root: Path | None = None) -> Result:
    """The expected result of a test, from its ``mf:result`` file."""
    path = url_to_path(test.result, root)
    suffix = path.suffix
    if suffix == ".csv":
        return _from_csv(path.read_text(encoding="utf-8"))
    if suffix in RESULT_MEDIA_TYPES:
        return _from_query_results(
            ox.parse_query_results(path=path, format=_RESULT_FORMATS[RESULT_MEDIA_TYPES[suffix]])
        )
    return _from_result_graph([q.triple for q in ox.parse(path=path, base_iri=test.result, format=_rdf_format(path))])


def accept_for(test: EvaluationTest, expected: Result, results_format: str | None = None) -> str:
    """The media type to ask the endpoint for (see the module docstring).

    Args:
        results_format: Ask for this result media type instead, for every solution result
            (and boolean ones, unless it is TSV, which has no boolean form).
    """
    if isinstance(expected, Graph):
        return GRAPH_MEDIA_TYPE
    if test.csv:
        return "text/csv"
    if results_format and not (isinstance(expected, Boolean) and results_format == RESULT_MEDIA_TYPES[".tsv"]):
        return results_format
    return RESULT_MEDIA_TYPES.get(Path(test.result).suffix, "application/sparql-results+json")


def parse_response(content_type: str, body: bytes) -> Result:
    """Parse an endpoint's answer by its ``Content-Type``.

    Raises:
        ValueError: An unknown media type.
        SyntaxError: The body does not parse.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "text/csv":
        return _from_csv(body.decode("utf-8"))
    if media_type in _RESULT_FORMATS:
        return _from_query_results(ox.parse_query_results(body, _RESULT_FORMATS[media_type]))
    fmt = ox.RdfFormat.from_media_type(media_type)
    if fmt is None:
        raise ValueError(f"unexpected Content-Type {content_type!r}")
    return Graph(tuple(q.triple for q in ox.parse(body, fmt)))


# --- comparison -----------------------------------------------------------------------------

_SOLUTION = ox.NamedNode("urn:w3c-harness:Solution")
_INDEX = ox.NamedNode("urn:w3c-harness:index")
_TYPE = ox.NamedNode(RDF + "type")


def _has_blank(term) -> bool:
    if isinstance(term, ox.BlankNode):
        return True
    if isinstance(term, ox.Triple):
        return any(_has_blank(t) for t in (term.subject, term.object))
    return False


def _canonical(rows, ordered: bool) -> ox.Dataset:
    """Rows as a graph (one blank node per solution) with canonical blank nodes: equal
    datasets mean equal solution multisets (sequences, with ``ordered``) up to blank-node renaming."""
    dataset = ox.Dataset()
    for i, row in enumerate(rows):
        s = ox.BlankNode()
        dataset.add(ox.Quad(s, _TYPE, _SOLUTION))
        if ordered:
            dataset.add(ox.Quad(s, _INDEX, ox.Literal(i)))
        for var, term in row:
            dataset.add(ox.Quad(s, ox.NamedNode("urn:w3c-harness:var:" + var), term))
    dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    return dataset


def _canonical_graph(triples) -> ox.Dataset:
    dataset = ox.Dataset(ox.Quad(t.subject, t.predicate, t.object) for t in triples)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    return dataset


def _rows_equal(expected, actual, ordered: bool) -> bool:
    if len(expected) != len(actual):
        return False
    if not any(_has_blank(t) for row in (*expected, *actual) for _, t in row):
        return list(expected) == list(actual) if ordered else Counter(expected) == Counter(actual)
    return _canonical(expected, ordered) == _canonical(actual, ordered)


def _render(rows, ordered: bool, limit: int = 25) -> str:
    lines = [" ".join(f"?{v}={t}" for v, t in sorted(row, key=lambda b: b[0])) or "{}" for row in rows]
    if not ordered:
        lines.sort()
    more = f"\n    ... {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join("    " + line for line in lines[:limit]) + more


_STORE_FORMS: dict = {}


def _store_form(term):
    """The term as a pyoxigraph store gives it back: canonical lexical forms for XSD numbers,
    booleans and dates (``"01"^^xsd:integer`` -> ``"1"``, ``"1.0e0"^^xsd:double`` -> ``"1"``)."""
    if isinstance(term, ox.Triple):
        return ox.Triple(_store_form(term.subject), term.predicate, _store_form(term.object))
    if not isinstance(term, ox.Literal) or term.language or term.datatype.value == XSD_STRING:
        return term
    if term not in _STORE_FORMS:
        store = ox.Store()
        store.add(ox.Quad(_SOLUTION, _TYPE, term))
        _STORE_FORMS[term] = next(iter(store)).object
    return _STORE_FORMS[term]


def store_forms(result: Result) -> Result:
    """``result`` with every literal in its store form (see :func:`_store_form`).

    Oxigraph's own W3C harness compares this way (it loads the expected results into a store),
    since its store and its functions write canonical lexical forms.
    """
    if isinstance(result, Solutions):
        rows = tuple(Row((v, _store_form(t)) for v, t in row) for row in result.rows)
        return Solutions(result.variables, rows, result.ordered)
    if isinstance(result, Graph):
        return Graph(tuple(ox.Triple(t.subject, t.predicate, _store_form(t.object)) for t in result.triples))
    return result


def compare(expected: Result, actual: Result, *, ordered: bool = False, lax: bool = False) -> str | None:
    """``None`` when ``actual`` matches ``expected``, else what differs.

    Args:
        ordered: Compare solutions in order (the query has a top-level ``ORDER BY``); only
            applies when both results carry an order.
        lax: ``mf:LaxCardinality``: each expected solution must occur, at most as often as expected.
    """
    if type(expected) is not type(actual):
        return f"expected a {type(expected).__name__} result, got {type(actual).__name__}: {actual}"
    if isinstance(expected, Boolean):
        return None if expected == actual else f"expected {expected.value}, got {actual.value}"
    if isinstance(expected, Graph):
        if _canonical_graph(expected.triples) == _canonical_graph(actual.triples):
            return None
        return f"graphs differ\n  expected:\n{_render([[('t', t)] for t in expected.triples], False)}\n  got:\n{_render([[('t', t)] for t in actual.triples], False)}"
    assert isinstance(actual, Solutions)
    if expected.variables and set(expected.variables) != set(actual.variables):
        return f"expected variables {sorted(expected.variables)}, got {sorted(actual.variables)}"
    in_order = ordered and expected.ordered and actual.ordered
    if lax:
        distinct_expected, distinct_actual = tuple(set(expected.rows)), tuple(set(actual.rows))
        counts_e, counts_a = Counter(expected.rows), Counter(actual.rows)
        fits = all(counts_a[r] <= counts_e[r] for r in counts_a)
        if fits and _rows_equal(distinct_expected, distinct_actual, False):
            return None
    elif _rows_equal(expected.rows, actual.rows, in_order):
        return None
    detail = f"expected {len(expected.rows)} solutions, got {len(actual.rows)}" + (" (in order)" if in_order else "")
    return f"{detail}\n  expected:\n{_render(expected.rows, in_order)}\n  got:\n{_render(actual.rows, in_order)}"


# --- running through an endpoint --------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How one test went: ``message`` says what differed or what the endpoint answered.

    ``lexical_only`` marks a failure that disappears when both sides' literals are put in
    their store forms (:func:`store_forms`): only lexical forms of equal values differ.
    """

    test: EvaluationTest
    passed: bool
    message: str = ""
    lexical_only: bool = False


class DatasetLoadError(RuntimeError):
    """The endpoint refused the update that loads a test's dataset."""


def _form(**fields: str) -> dict:
    return {"content": urlencode(fields).encode(), "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


def load_dataset(
    client, dataset: TestDataset, *, token: str | None, path: str = "/sparql", root: Path | None = None
) -> None:
    """Replace the endpoint's data with ``dataset`` through SPARQL Update (``POST path``, ``update=``).

    Args:
        client: An ``httpx.Client`` (or FastAPI ``TestClient``) whose base URL is the server.
        token: The update bearer token, or ``None`` when the endpoint needs none.

    Raises:
        DatasetLoadError: The endpoint did not answer 2xx.
    """
    request = _form(update=dataset_update(dataset, root))
    if token:
        request["headers"]["Authorization"] = f"Bearer {token}"
    response = client.post(path, **request)
    if not 200 <= response.status_code < 300:
        raise DatasetLoadError(
            f"loading {[f for f, _ in dataset.files]} failed: HTTP {response.status_code} {response.text[:500]}"
        )


def run_test(
    client, test: EvaluationTest, *, path: str = "/sparql", root: Path | None = None, results_format: str | None = None
) -> Outcome:
    """Send the test's query (URL-encoded ``POST``) and compare the answer with the expected result.

    The dataset must be loaded already (:func:`load_dataset`); ``results_format``: see :func:`accept_for`.
    """
    expected = read_expected(test, root)
    query = query_text(test, root)
    request = _form(query=query)
    request["headers"]["Accept"] = accept_for(test, expected, results_format)
    response = client.post(path, **request)
    if response.status_code != 200:
        return Outcome(test, False, f"HTTP {response.status_code}: {response.text[:500]}")
    content_type = response.headers.get("content-type", "")
    try:
        actual = parse_response(content_type, response.content)
    except (SyntaxError, ValueError) as e:
        return Outcome(test, False, f"cannot parse the {content_type!r} answer: {e}\n{response.text[:500]}")
    options = {"ordered": has_top_level_order_by(query), "lax": test.lax_cardinality}
    diff = compare(expected, actual, **options)
    if diff is None:
        return Outcome(test, True)
    lexical_only = compare(store_forms(expected), store_forms(actual), **options) is None
    return Outcome(test, False, diff, lexical_only)


def run_suite(
    client,
    tests,
    *,
    token: str | None,
    path: str = "/sparql",
    root: Path | None = None,
    results_format: str | None = None,
) -> list[Outcome]:
    """Run tests grouped by dataset, loading each distinct dataset once; outcomes in input order."""
    by_dataset: dict[TestDataset, list[EvaluationTest]] = defaultdict(list)
    for test in tests:
        by_dataset[test.dataset].append(test)
    outcomes = {}
    for dataset, group in by_dataset.items():
        try:
            load_dataset(client, dataset, token=token, path=path, root=root)
        except (DatasetLoadError, SyntaxError, OSError) as e:
            outcomes.update({t.iri: Outcome(t, False, f"dataset not loaded: {e}") for t in group})
            continue
        for test in group:
            outcomes[test.iri] = run_test(client, test, path=path, root=root, results_format=results_format)
    return [outcomes[t.iri] for t in tests]


# --- the SPARQL 1.1 Protocol manifest ----------------------------------------------------------

HT = "http://www.w3.org/2011/http#"
CNT = "http://www.w3.org/2011/content#"
HTS = "http://www.w3.org/2011/http-statusCodes#"
UT = "http://www.w3.org/2009/sparql/tests/test-update#"
PROTOCOL_MANIFEST = "sparql11/protocol/manifest.ttl"

#: ``mf:expectedFormat`` -> the media types that satisfy it (as the manifest's test names say).
EXPECTED_FORMATS = {
    "boolean": ("application/sparql-results+json", "application/sparql-results+xml"),
    "tabular": tuple(RESULT_MEDIA_TYPES.values()),
    "RDF": ("application/rdf+xml", "text/turtle", "application/n-triples", "text/html", "application/xhtml+xml"),
}


@dataclass(frozen=True)
class HttpExchange:
    """One ``ht:Request`` of a protocol test and what its ``ht:resp`` expects."""

    method: str
    target: str  # ht:absolutePath with the manifest's "/sparql/" prefix removed: "" or "?query=..."
    body: bytes | None
    headers: tuple[tuple[str, str], ...]
    statuses: tuple[int, ...]  # acceptable status classes: 2 for 2xx, 4 for 4xx
    format: str | None = None
    boolean: bool | None = None


@dataclass(frozen=True)
class ProtocolTest:
    """One ``mf:ProtocolTest``: requests run in order against a store holding ``dataset``."""

    __test__ = False

    name: str  # the entry's local name: query_post_form
    title: str
    dataset: TestDataset
    exchanges: tuple[HttpExchange, ...]


def protocol_tests(root: Path | None = None) -> list[ProtocolTest]:
    """The entries of ``sparql11/protocol/manifest.ttl``, in manifest order."""
    root = root or suite_root()
    graph = _read_graph(W3C_BASE + PROTOCOL_MANIFEST, root)
    out = []
    for head in graph.subjects_with(MF + "entries"):
        for node in graph.items(graph.value(head, MF + "entries")):
            files = tuple(
                (graph.value(g, UT + "graph").value, graph.value(g, RDFS + "label").value)
                for g in graph.objects(node, UT + "graphData")
            )
            action = graph.value(node, MF + "action")
            exchanges = [_exchange(graph, r) for r in graph.items(graph.value(action, HT + "requests"))]
            name = node.value.rsplit("#", 1)[-1]
            out.append(ProtocolTest(name, graph.value(node, MF + "name").value, TestDataset(files), tuple(exchanges)))
    return out


def _exchange(graph: _Graph, request) -> HttpExchange:
    path = graph.value(request, HT + "absolutePath").value
    if not path.startswith("/sparql/"):
        raise ValueError(f"{PROTOCOL_MANIFEST}: request path {path!r} does not start with /sparql/")
    body = None
    content = graph.value(request, HT + "body")
    if content is not None:
        encoding = graph.value(content, CNT + "characterEncoding")
        body = graph.value(content, CNT + "chars").value.encode(encoding.value if encoding else "utf-8")
    headers = tuple(
        (graph.value(h, HT + "fieldName").value, graph.value(h, HT + "fieldValue").value)
        for h in graph.items(graph.value(request, HT + "headers"))
    )
    response = graph.value(request, HT + "resp")
    statuses = tuple(
        sorted(int(s.value[len(HTS + "StatusCode") :][0]) for s in graph.objects(response, MF + "expectedStatus"))
    )
    fmt = graph.value(response, MF + "expectedFormat")
    boolean = graph.value(response, MF + "expectedBoolean")
    return HttpExchange(
        method=graph.value(request, HT + "methodName").value,
        target=path[len("/sparql/") :],
        body=body,
        headers=headers,
        statuses=statuses,
        format=fmt.value if fmt is not None else None,
        boolean=boolean.value == "true" if boolean is not None else None,
    )


def run_protocol_test(client, test: ProtocolTest, *, token: str | None, path: str = "/sparql") -> str | None:
    """Replay a protocol test's requests; ``None`` when every response is as expected, else why not.

    Every request carries the update token, so that a request the protocol forbids must be
    refused for that reason, not for a missing token.
    """
    if test.dataset.files:
        load_dataset(client, test.dataset, token=token, path=path)
    for i, x in enumerate(test.exchanges, 1):
        headers = dict(x.headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = client.request(x.method, path + x.target, content=x.body, headers=headers)
        where = f"request {i} ({x.method} {path}{x.target[:80]})"
        if response.status_code // 100 not in x.statuses:
            wanted = " or ".join(f"{s}xx" for s in x.statuses)
            return f"{where}: expected {wanted}, got {response.status_code}: {response.text[:300]}"
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if x.format is not None and media_type not in EXPECTED_FORMATS[x.format]:
            return (
                f"{where}: expected a {x.format} result ({', '.join(EXPECTED_FORMATS[x.format])}), got {media_type!r}"
            )
        if x.boolean is not None:
            actual = parse_response(media_type, response.content)
            if actual != Boolean(x.boolean):
                return f"{where}: expected the boolean {x.boolean}, got {actual}"
    return None
