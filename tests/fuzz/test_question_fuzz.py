"""Fuzzing the question parser and ``/ask`` with random and adversarial questions.

Questions are templates over the KB's entity names (some with SPARQL, quotes, braces or control
characters spliced into the name), random Unicode text, runs of adversarial pieces (``"}``,
``} ; DROP ALL #``, ``<http://evil>``, bidirectional overrides, zero-width joiners, combining
marks, NUL) and very long input. Properties:

* the parser and ``Engine.ask`` return a reading or raise a :class:`~parser.errors.ParseError`,
  nothing else;
* every SPARQL they generate (the reading and its alternatives) parses, and is made only of
  SPARQL keywords, variables, numbers and IRIs that the KB holds: no text of the question gets
  into the query as syntax (nor as a string literal, which the parser never writes);
* ``GET /ask`` never answers with a server error, and always with a JSON body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pyoxigraph as ox
import pytest
from hypothesis import example, given

from parser.errors import ParseError
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.strategies import OUTCOMES, TRIED, questions

#: The SPARQL the parser writes, token by token: IRIs, variables, numbers, keywords, punctuation.
_TOKEN = re.compile(r"<[^<>\"{}|^`\\\s]*>|[?$]\w+|[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z]+|&&|\|\||[<>!]=|\S")
KEYWORDS = {
    "SELECT", "DISTINCT", "WHERE", "FILTER", "COUNT", "AS", "GROUP", "BY", "ORDER", "DESC", "ASC", "LIMIT",
    "MAX", "MIN", "BIND", "ASK",
}  # fmt: skip
PUNCTUATION = set("{}().*/=<>!") | {"&&", "||", "<=", ">=", "!="}
#: IRIs the parser may write besides the KB's own: ``rdf:type`` and ``rdfs:subClassOf`` for answer classes.
#: Longest query string the HTTP client sends (httpx refuses URLs past 64 KiB).
MAX_QUERY_STRING = 60_000
SCHEMA_IRIS = {"http://www.w3.org/1999/02/22-rdf-syntax-ns#type", "http://www.w3.org/2000/01/rdf-schema#subClassOf"}


@pytest.fixture(scope="module")
def kb_iris(fuzz_engine) -> frozenset[str]:
    """Every IRI of the KB's default graph, as subject, predicate or object."""
    rows = fuzz_engine.store.query(
        "SELECT DISTINCT ?t WHERE { { ?t ?p ?o } UNION { ?s ?t ?o } UNION { ?s ?p ?t } FILTER(isIRI(?t)) }"
    )
    return frozenset(row[0].value for row in rows) | SCHEMA_IRIS


def check_sparql(sparql: str, kb_iris: frozenset[str]) -> None:
    """``sparql`` parses, and holds nothing but keywords, variables, numbers, punctuation and KB IRIs."""
    ox.Store().query(sparql)  # raises SyntaxError if it does not parse
    for token in _TOKEN.findall(sparql):
        if token.startswith("<") and len(token) > 1 and token.endswith(">"):
            assert token[1:-1] in kb_iris, f"IRI {token} is not in the KB:\n{sparql}"
        else:
            ok = (
                token[0] in "?$"
                or token in KEYWORDS
                or token in PUNCTUATION
                or re.fullmatch(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", token)
            )
            assert ok, f"unexpected token {token!r} in generated SPARQL:\n{sparql}"


def check_parsed(parsed, kb_iris: frozenset[str]) -> None:
    check_sparql(parsed.sparql, kb_iris)
    for alternative, _ in parsed.alternatives:
        check_sparql(alternative, kb_iris)


@pytest.fixture(scope="module")
def client(fuzz_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_server.url, timeout=60) as c:
        yield c


def outcome(target: str, error: BaseException | None) -> None:
    OUTCOMES[target, type(error).__name__ if error else "ok"] += 1


ADVERSARIAL_EXAMPLES = [
    'who directed Jaws" } ; DROP ALL #',
    "who directed <http://evil> Jaws",
    "which films did Grace Kelly} UNION { ?s ?p ?o star in",
    "who directed \u202ewaJ\u202c",
    "who direc\u200dted Ja\u200bws",
    "who directed Ja\u0301ws\u0000",
    "films directed by Alfred Hitchcock after 1950 ; INSERT DATA { <a> <b> <c> }",
    "\U0001f3ac" * 500,
    "who directed Jaws " * 6000,
]


@fuzz_settings(1.0)
@given(question=questions())
@example(question=ADVERSARIAL_EXAMPLES[0])
@example(question=ADVERSARIAL_EXAMPLES[1])
@example(question=ADVERSARIAL_EXAMPLES[2])
@example(question=ADVERSARIAL_EXAMPLES[3])
@example(question=ADVERSARIAL_EXAMPLES[4])
@example(question=ADVERSARIAL_EXAMPLES[5])
@example(question=ADVERSARIAL_EXAMPLES[6])
@example(question=ADVERSARIAL_EXAMPLES[7])
@example(question=ADVERSARIAL_EXAMPLES[8])
def test_parser_reads_or_refuses(fuzz_server, fuzz_engine, kb_iris, question):
    TRIED["question-parser"] += 1
    with fuzz_server.app.state.kgsearch.lock:  # the server shares the engine; it is idle here
        try:
            parsed = fuzz_engine.parser().parse(question)
        except ParseError as e:
            outcome("question-parser", e)
        else:
            outcome("question-parser", None)
            check_parsed(parsed, kb_iris)
        try:
            answers = fuzz_engine.ask(question, limit=10)
        except ParseError:
            return
        json.dumps(answers.as_json())
        if answers.parsed is not None:
            check_parsed(answers.parsed, kb_iris)


@fuzz_settings(0.5)
@given(question=questions())
@example(question=ADVERSARIAL_EXAMPLES[0])
@example(question=ADVERSARIAL_EXAMPLES[8])
def test_ask_endpoint_never_fails(client, kb_iris, question):
    TRIED["question-http"] += 1
    while len(quote(question)) > MAX_QUERY_STRING:  # longer than the server's limit anyway
        question = question[: len(question) // 2]
    response = client.get("/ask", params={"q": question, "limit": 5})
    body = response.json()
    OUTCOMES["question-http", f"{response.status_code} {body.get('error', {}).get('type', '')}".strip()] += 1
    assert response.status_code < 500, body
    if response.status_code == 200:
        if body["sparql"] is not None:
            check_sparql(body["sparql"], kb_iris)
    else:
        assert body["error"]["type"] and body["error"]["message"], body
