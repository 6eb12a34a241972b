"""Limits on the shape of SPARQL requests, so that the embedded store answers a monstrous query
with an error instead of crashing.

pyoxigraph parses and evaluates SPARQL with recursive functions: every level of nesting (groups,
parentheses, brackets, subqueries, ``EXISTS``) and every link of a left-deep chain (``UNION``,
``MINUS``, ``BIND``, ``OPTIONAL``, ``&&``, ``+``, a path's ``/``, a collection's items) takes
stack. A request of a few kilobytes can go thousands deep, and the process dies of a stack
overflow (SIGSEGV) that no ``except`` catches: a query worker, the CLI, or the server itself for
an update. Measured with pyoxigraph 0.5.13 and an 8 MiB stack: 2,500 nested groups, 3,000 BINDs,
MINUSes or projected expressions, 5,000 collection items and 10,000 UNIONs or ``&&`` crash.

:func:`check_query_shape` refuses a request nested deeper than :data:`MAX_NESTING` or with more
than :data:`MAX_TOKENS` tokens outside its data blocks (``VALUES``, ``INSERT DATA``,
``DELETE DATA``, whose rows are flat lists): well below those sizes, and well above real queries
(the W3C SPARQL 1.1 test suite nests at most 8 levels and has at most 507 tokens).

>>> check_query_shape("SELECT * WHERE { VALUES ?x { 1 2 3 } ?x ?p ?o }")
>>> check_query_shape("ASK " + "{" * 300 + "}" * 300)
Traceback (most recent call last):
...
kg.errors.QueryTooComplexError: the request nests groups, parentheses or brackets 300 levels deep; at most 128 are allowed. Flatten it: join patterns in one group, and write long lists as VALUES
"""

from __future__ import annotations

import re

from kg.errors import QueryTooComplexError

#: Deepest nesting of ``{ }``, ``( )`` and ``[ ]`` accepted.
MAX_NESTING = 128

#: Most tokens accepted outside data blocks.
MAX_TOKENS = 3000

# Strings, IRIs and comments are one token each (their content is not syntax), then variables,
# names (keywords, prefixed names, numbers) and single characters.
_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n\r]|\\.)*"'
    r"|'(?:[^'\\\n\r]|\\.)*'"
    r"|<[^<>\"{}|^`\\\x00-\x20]*>"
    r"|#[^\n\r]*"
    r"|[?$]\w+"
    r"|[\w.:\-]+"
    r"|&&|\|\||\^\^|\S",
    re.DOTALL,
)
_OPEN, _CLOSE = frozenset("{(["), frozenset("})]")
_DATA_BLOCKS = frozenset({"VALUES", "DATA"})


def check_query_shape(sparql: str) -> None:
    """Refuse a SPARQL query or update that would take the engine too deep (see the module docstring).

    Raises:
        QueryTooComplexError: Saying which limit the request is over and how to stay under it.
    """
    depth = count = 0
    skip_to: int | None = None  # inside a data block: the depth at which it ends
    for match in _TOKEN.finditer(sparql):
        token = match.group()
        if token[0] == "#":
            continue
        if token in _OPEN:
            depth += 1
            if depth > MAX_NESTING:  # data blocks too: a parser recurses into their brackets as well
                raise QueryTooComplexError(
                    f"the request nests groups, parentheses or brackets {_depth_of(sparql)} levels deep; at most "
                    f"{MAX_NESTING} are allowed. Flatten it: join patterns in one group, and write long lists as VALUES"
                )
        elif token in _CLOSE:
            depth = max(0, depth - 1)
            if skip_to is not None and depth <= skip_to and token == "}":
                skip_to = None
                continue
        if skip_to is not None:
            continue
        count += 1
        if token.upper() in _DATA_BLOCKS:
            skip_to = _block_depth(sparql, match.end(), depth)
    if count > MAX_TOKENS:
        raise QueryTooComplexError(
            f"the request has {count:,} tokens outside its VALUES and DATA blocks; at most {MAX_TOKENS:,} are "
            "allowed. Write long lists of terms as a VALUES block, or split it into several requests"
        )


def _block_depth(sparql: str, at: int, depth: int) -> int | None:
    """The depth a data block starting after ``at`` closes at, if a ``{`` follows (after ``VALUES ?x``
    or ``VALUES (?x ?y)``)."""
    head = re.match(r"\s*(?:[?$]\w+\s*|\((?:\s*[?$]\w+)*\s*\)\s*)?\{", sparql[at : at + 10_000])
    return depth if head else None


def _depth_of(sparql: str) -> int:
    """The request's deepest nesting, for the message (counted to the end, past the limit)."""
    depth = deepest = 0
    for token in _TOKEN.findall(sparql):
        if token in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif token in _CLOSE:
            depth = max(0, depth - 1)
    return deepest
