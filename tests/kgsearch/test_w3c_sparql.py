"""The W3C SPARQL query-evaluation tests, run through ``/sparql`` (harness: :mod:`tests.kgsearch.w3c`).

SPARQL 1.0 (``sparql10/manifest-evaluation.ttl``), SPARQL 1.1 query and result formats, and
SPARQL 1.2 (RDF 1.2 triple terms, base direction; reported apart, not part of the 1.1 target).

Each test's dataset is loaded with SPARQL Update (``DROP ALL ; INSERT DATA {...}``, bearer
token) and its query sent as a URL-encoded ``POST``; tests are ordered so that each distinct
dataset is loaded once (~195 loads for ~580 tests). The server is uvicorn on 127.0.0.1 over an
empty home (:class:`tests.kgsearch.conftest.LiveServer` with an update token), reached with
httpx: real HTTP, and faster than FastAPI's ``TestClient`` here, which adds ~1-2 ms per request
through its thread portal (measured on the whole suite: 8.2 s over a socket, 9.2 s in process).

Failures with a known cause are listed in :data:`EXPECTED_FAILURES` (strict xfail): pyoxigraph
behaviour is labelled ``pyoxigraph:``, kgsearch bugs ``kgsearch:``. ``bench/w3c_sparql.py``
prints the pass counts per manifest.
"""

from __future__ import annotations

import doctest

import pytest

from tests.kgsearch import w3c

TOKEN = "w3c-update-token"

# Store-canonical literals: pyoxigraph's store keeps typed XSD literals as values, so a file's
# "01"^^xsd:integer, "1.0e0"^^xsd:double or "+1.0"^^xsd:decimal comes back as "1"; a test that
# needs the lexical form kept (RDF term identity) cannot pass.
_LEXICAL = "pyoxigraph: the store keeps XSD literals in canonical form ('01'^^xsd:integer -> '1'):"
# Computed numbers: pyoxigraph writes xsd:double/float/decimal results in its own canonical
# forms ("32100", "0.2", "2"), where the expected results use XSD 1.0 canonical ones
# ("3.21E4", "2.0E-1", "2.0"); the values are equal, the RDF terms are not.
_COMPUTED = "pyoxigraph: computed numbers are written in its own lexical forms ('32100'^^xsd:double, not '3.21E4')"

_CAST = f"{_LEXICAL} the source values ('1.0'^^xsd:decimal, '0E1'^^xsd:double) and the casts ('1.0E0'^^xsd:float) differ in form"

EXPECTED_FAILURES = {
    # --- SPARQL 1.0 -------------------------------------------------------------------------
    "sparql10/open-world#open-eq-01": f"{_LEXICAL} '001'^^xsd:integer matches the stored '1' and '01'",
    "sparql10/open-world#open-eq-03": f"{_LEXICAL} ?v is '1', not '01'",
    "sparql10/open-world#open-eq-04": f"{_LEXICAL} ?v is '2', not '02'",
    "sparql10/open-world#date-2": "pyoxigraph: xsd:date equality follows XSD 1.1 (dates with and without a timezone compare)",
    "sparql10/open-world#date-3": f"{_LEXICAL} '2006-08-23+00:00'^^xsd:date comes back as '2006-08-23Z'",
    "sparql10/graph#graph-variable-scope": "pyoxigraph: a GRAPH ?g variable is visible inside the group (wrong scoping)",
    "sparql10/graph#graph-optional": "pyoxigraph: a GRAPH ?g variable is visible inside the group (wrong scoping)",
    "sparql10/expr-builtin#dawg-str-1": f"{_LEXICAL} STR() of the stored '01' is '1'",
    "sparql10/expr-builtin#dawg-str-2": f"{_LEXICAL} STR() of the stored '01' is '1'",
    "sparql10/expr-builtin#dawg-datatype-1": f"{_LEXICAL} '1.0e0'^^xsd:double comes back as '1'",
    "sparql10/expr-builtin#sameTerm-simple": f"{_LEXICAL} sameTerm('01', '1') holds",
    "sparql10/expr-builtin#sameTerm-eq": f"{_LEXICAL} sameTerm('01', '1') holds",
    "sparql10/expr-builtin#sameTerm-not-eq": f"{_LEXICAL} sameTerm('01', '1') holds",
    "sparql10/expr-builtin#case-insensitive-booleans": "pyoxigraph: the parser refuses TRUE and False (boolean keywords are case-insensitive)",
    "sparql10/expr-equals#eq-2-1": f"{_LEXICAL} '01' comes back as '1'",
    "sparql10/expr-equals#eq-2-2": f"{_LEXICAL} '01' comes back as '1'",
    "sparql10/expr-equals#eq-graph-1": f"{_LEXICAL} the pattern's '1'^^xsd:integer also matches the stored '01'",
    "sparql10/expr-equals#eq-graph-2": f"{_LEXICAL} the pattern's '1.0e0'^^xsd:double also matches '1.0' and '1'",
    "sparql10/distinct#no-distinct-1": f"{_LEXICAL} '+1', '01', '1.0e0' come back as '1'",
    "sparql10/distinct#distinct-1": f"{_LEXICAL} DISTINCT merges '+1', '01' and '1'",
    "sparql10/distinct#no-distinct-9": f"{_LEXICAL} '+1', '01', '1.0e0' come back as '1'",
    "sparql10/distinct#distinct-9": f"{_LEXICAL} DISTINCT merges '+1', '01' and '1'",
    "sparql10/sort#dawg-sort-7": f"{_LEXICAL} '23.0'^^xsd:float comes back as '23'",
    # --- SPARQL 1.1 -------------------------------------------------------------------------
    "sparql11/aggregates#agg-groupconcat-04": "pyoxigraph: GROUP_CONCAT of '1'@en and '2'@en keeps the language tag ('1 2'@en != '1 2')",
    "sparql11/aggregates#agg-groupconcat-06": "pyoxigraph: GROUP_CONCAT of '1'@en and '2'@en keeps the language tag ('1 2'@en != '1 2')",
    "sparql11/aggregates#agg-sum-02": _COMPUTED,
    "sparql11/aggregates#agg-avg-02": _COMPUTED,
    "sparql11/aggregates#agg-min-01": f"{_LEXICAL} '1.0'^^xsd:decimal comes back as '1'",
    "sparql11/aggregates#agg-min-02": f"{_LEXICAL} '1.0'^^xsd:decimal comes back as '1'",
    "sparql11/aggregates#agg-max-01": f"{_LEXICAL} '3.0E4'^^xsd:double comes back as '30000'",
    "sparql11/aggregates#agg-max-02": f"{_LEXICAL} '3.0E4'^^xsd:double comes back as '30000'",
    "sparql11/aggregates#agg-err-02": _COMPUTED,
    "sparql11/aggregates#agg-empty-group-count-graph": "pyoxigraph: a GRAPH ?g variable is visible inside the group (wrong scoping)",
    "sparql11/aggregates#agg-max-distinct": f"{_LEXICAL} '2.0E3'^^xsd:double comes back as '2000'",
    "sparql11/aggregates#agg-min-distinct": f"{_LEXICAL} '1.0'^^xsd:decimal comes back as '1'",
    "sparql11/bindings#graph": "pyoxigraph: a GRAPH ?g variable is visible inside the group (wrong scoping)",
    "sparql11/cast#cast-bool": _CAST,
    "sparql11/cast#cast-int": _CAST,
    "sparql11/cast#cast-float": _CAST,
    "sparql11/cast#cast-double": _CAST,
    "sparql11/cast#cast-decimal": _CAST,
    "sparql11/cast#cast-string": _CAST,
    "sparql11/functions#plus-1-corrected": f"{_LEXICAL} '1.0'^^xsd:decimal comes back as '1'",
    "sparql11/functions#plus-2-corrected": f"{_LEXICAL} '1.0'^^xsd:decimal comes back as '1'",
    "sparql11/functions#bnode01": "pyoxigraph: BNODE(str) gives the same blank node for the same string in different solutions",
    "sparql11/functions#coalesce01": _COMPUTED,
    "sparql11/negation#graph-minus": "pyoxigraph: a GRAPH ?g variable is visible inside the group (wrong scoping)",
    "sparql11/property-path#zero_or_more_set_start": "pyoxigraph: on an empty graph a zero-length path (:p* or :p?) to or from a constant does not match",
    "sparql11/property-path#zero_or_more_set_end": "pyoxigraph: on an empty graph a zero-length path (:p* or :p?) to or from a constant does not match",
    "sparql11/property-path#zero_or_one_set_start": "pyoxigraph: on an empty graph a zero-length path (:p* or :p?) to or from a constant does not match",
    "sparql11/property-path#zero_or_one_set_end": "pyoxigraph: on an empty graph a zero-length path (:p* or :p?) to or from a constant does not match",
    "sparql11/csv-tsv-res#csv03": f"{_LEXICAL} '1.0e6'^^xsd:double is written '1000000'",
    "sparql11/csv-tsv-res#tsv03": f"{_LEXICAL} '1.0e6'^^xsd:double comes back as '1000000', '-3'^^xsd:negativeInteger as xsd:integer",
    # --- SPARQL 1.2 (not part of the 1.1 target) -------------------------------------------
    "sparql12/grouping#group01": f"{_LEXICAL} GROUP BY merges '001' and '1'",
    "sparql12/grouping#select-variable-reuse": "pyoxigraph: rejects a SELECT expression that reuses a variable bound by the pattern",
    "sparql12/eval-triple-terms#op-2": f"{_LEXICAL} '123.0'^^xsd:decimal inside a triple term comes back as '123'",
}


def _collect():
    if not w3c.suite_root().is_dir():
        reason = f"the W3C test suites are not at {w3c.suite_root()} (../shared/data/w3c-sparql-tests)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-suites")]
    tests = [t for name in w3c.SUITES for t in w3c.read_suite(name).tests]
    # Group by dataset (first appearance order) so that each dataset is loaded once.
    order = {}
    for t in tests:
        order.setdefault(t.dataset, len(order))
    tests.sort(key=lambda t: order[t.dataset])
    params = []
    for t in tests:
        reason = EXPECTED_FAILURES.get(t.id)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(t, marks=marks, id=t.id))
    return params


PARAMS = _collect()


class _Endpoint:
    """A client of the server, remembering which dataset the server holds."""

    def __init__(self, client):
        self.client = client
        self.loaded = None

    def load(self, dataset: w3c.TestDataset) -> None:
        if dataset != self.loaded:
            self.loaded = None
            w3c.load_dataset(self.client, dataset, token=TOKEN)
            self.loaded = dataset


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    import httpx

    from tests.kgsearch.conftest import LiveServer

    server = LiveServer(tmp_path_factory.mktemp("w3c") / "home", update_token=TOKEN, query_timeout=20.0).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            yield _Endpoint(client)
    finally:
        server.stop()


@pytest.mark.parametrize("test", PARAMS)
def test_query_evaluation(endpoint, test: w3c.EvaluationTest):
    endpoint.load(test.dataset)
    outcome = w3c.run_test(endpoint.client, test)
    assert outcome.passed, f"{test.name} ({test.iri})\n{outcome.message}"


def test_every_expected_failure_names_a_test():
    known = {p.id for p in PARAMS}
    if known == {"no-suites"}:
        pytest.skip("no W3C suites")
    assert set(EXPECTED_FAILURES) <= known, sorted(set(EXPECTED_FAILURES) - known)


def test_harness_doctests():
    result = doctest.testmod(w3c, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_comparison_is_up_to_one_blank_node_renaming():
    import pyoxigraph as ox

    a, b, c = (ox.BlankNode(x) for x in "abc")
    row = w3c.Row
    same = w3c.Solutions(("x", "y"), (row({("x", a), ("y", a)}), row({("x", b), ("y", b)})))
    crossed = w3c.Solutions(("x", "y"), (row({("x", a), ("y", b)}), row({("x", b), ("y", a)})))
    renamed = w3c.Solutions(("x", "y"), (row({("x", c), ("y", c)}), row({("x", a), ("y", a)})))
    assert w3c.compare(same, renamed) is None
    assert w3c.compare(same, crossed) is not None  # a renaming per solution would accept this


def test_order_counts_only_with_order_by():
    import pyoxigraph as ox

    one, two = (w3c.Row({("x", ox.Literal(i))}) for i in (1, 2))
    expected = w3c.Solutions(("x",), (one, two), ordered=True)
    reversed_ = w3c.Solutions(("x",), (two, one), ordered=True)
    assert w3c.compare(expected, reversed_) is None
    assert w3c.compare(expected, reversed_, ordered=True) is not None


def test_lax_cardinality_allows_fewer_duplicates_only():
    import pyoxigraph as ox

    one, two = (w3c.Row({("x", ox.Literal(i))}) for i in (1, 2))
    expected = w3c.Solutions(("x",), (one, one, two))
    assert w3c.compare(expected, w3c.Solutions(("x",), (one, two)), lax=True) is None
    assert w3c.compare(expected, w3c.Solutions(("x",), (one, one, one, two)), lax=True) is not None
    assert w3c.compare(expected, w3c.Solutions(("x",), (one,)), lax=True) is not None
