"""Hypothesis strategies shared by the fuzz tests and ``bench/fuzz.py``.

* SPARQL: a grammar of SPARQL 1.1 queries over the sample KB's own IRIs and prefixes (every query
  form, OPTIONAL, UNION, MINUS, FILTER with functions, BIND, VALUES, property paths, aggregates,
  subqueries, solution modifiers, kgsearch's ``kgs:`` text patterns), and mutations of real query
  texts (the console's examples, the quick-start's, the W3C test suite's ``.rq`` files) by token
  and byte insertion, deletion, duplication and truncation.
* Questions: templates over the KB's entity names, random text, and adversarial pieces (quotes,
  braces, SPARQL fragments, bidirectional and zero-width characters, combining marks, NUL).
* Files: mutated RDF documents (Turtle, N-Triples, RDF/XML, JSON-LD, gzip) and corrupt media.

Everything here is deterministic given hypothesis's draws; :data:`TRIED` counts the inputs each
fuzz target has run (the benchmark reports it).
"""

from __future__ import annotations

import functools
import io
import re
import struct
import wave
import zlib
from collections import Counter
from dataclasses import dataclass

import pyoxigraph as ox
from hypothesis import strategies as st

from kgsearch import demo
from kgsearch.examples import GENERIC
from kgsearch.settings import PROJECT_ROOT

#: Inputs run per fuzz target, in this process (incremented by the tests' bodies).
TRIED: Counter[str] = Counter()

#: What the inputs led to, per target: ``(target, outcome)`` -> count, where the outcome is an HTTP
#: status with its error type, ``ok``, or an error class (so a run shows how deep inputs got).
OUTCOMES: Counter[tuple[str, str]] = Counter()

ONTOLOGY = PROJECT_ROOT / "ontologies" / "movies.ttl"
SAMPLE = PROJECT_ROOT / "data" / "movies-sample.ttl"
W3C_QUERIES = PROJECT_ROOT.parent / "shared" / "data" / "w3c-sparql-tests" / "sparql"

KGS = "http://kgsearch.org/ns/kgs#"
PREFIXES = {
    "movies": "http://kgsearch.org/ns/movies#",
    "film": "http://kgsearch.org/movies/film/",
    "person": "http://kgsearch.org/movies/person/",
    "genre": "http://kgsearch.org/movies/genre/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "kgs": KGS,
}
PROLOGUE = "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in PREFIXES.items())


@dataclass(frozen=True)
class Vocabulary:
    """Terms of the sample KB that generated queries and questions use."""

    classes: tuple[str, ...]
    properties: tuple[str, ...]
    entities: tuple[str, ...]
    labels: tuple[str, ...]


@functools.cache
def vocabulary() -> Vocabulary:
    """The sample KB's classes, properties, a spread of its entities and their labels."""
    classes, properties, entities, labels = set(), set(), [], []
    onto = list(ox.parse(path=str(ONTOLOGY), format=ox.RdfFormat.TURTLE))
    for t in onto:
        if t.predicate.value == PREFIXES["rdf"] + "type" and isinstance(t.subject, ox.NamedNode):
            kind = t.object.value.rsplit("#", 1)[-1]
            (classes if kind == "Class" else properties if kind.endswith("Property") else set()).add(t.subject.value)
    label = PREFIXES["rdfs"] + "label"
    for i, t in enumerate(ox.parse(path=str(SAMPLE), format=ox.RdfFormat.TURTLE)):
        properties.add(t.predicate.value)
        if t.predicate.value == label and i % 37 == 0:  # a spread of films, people, genres and tags
            entities.append(t.subject.value)
            labels.append(t.object.value)
    return Vocabulary(tuple(sorted(classes)), tuple(sorted(properties)), tuple(entities), tuple(labels))


# -- SPARQL grammar ----------------------------------------------------------------------------

VARIABLES = ("?s", "?p", "?o", "?x", "?y", "?film", "?name", "?n", "$t", "?e", "?score", "?g")

# The grammar is written as plain functions of ``draw`` with an explicit depth rather than with
# ``st.recursive``: drawing is then cheap, so the time goes to the server, not to generation.


def _short(iri: str) -> str:
    for prefix, ns in PREFIXES.items():
        local = iri[len(ns) :]
        if iri.startswith(ns) and local and all(c.isalnum() or c in "_-" for c in local) and local[0].isalpha():
            return f"{prefix}:{local}"
    return f"<{iri}>"


def one(draw, items):
    """One of ``items``, drawn as an index (cheap, and hypothesis shrinks it towards the first)."""
    return items[draw(st.integers(0, len(items) - 1))]


def draw_iri(draw) -> str:
    """An IRI of the KB (a class, property or entity), written in full or with a prefix."""
    v = vocabulary()
    iri = one(draw, (v.classes + v.properties) if draw(st.booleans()) else v.entities)
    return _short(iri) if draw(st.booleans()) else f"<{iri}>"


# Escapes of characters that some result formats cannot carry (XML 1.0 has no U+0001 or U+FFFE).
STRING_PIECES = [
    "film", "Jaws", 'say \\"hi\\"', "a\\nb", "\\u00e9t\\u00e9", "\\U0001F600", "'", "<b>", "&amp;", "\\t", "",
    "a\\u0001b", "\\u0000", "\\uFFFE", "\\u001F\\r", "]]>",
]  # fmt: skip
NUMBERS = [
    "1.5",
    "-0.0",
    "1e308",
    "1e-300",
    "true",
    "false",
    "0",
    "2147483648",
    ".5",
    "5.",
    "-7",
    "100000000000000000000",
]
OTHER_LITERALS = ['"""multi\nline"""', "'single'", "'''tri'''", '"2020-01-01"^^xsd:date', '"NaN"^^xsd:double']


def draw_literal(draw) -> str:
    kind = draw(st.integers(0, 4))
    if kind <= 1:
        if draw(st.booleans()):
            text = one(draw, vocabulary().labels).replace("\\", "\\\\").replace('"', '\\"')
        else:
            text = one(draw, STRING_PIECES)
        return f'"{text}"' + (f"@{one(draw, ['en', 'fr', 'en-GB', 'x-private'])}" if kind == 1 else "")
    if kind == 2:
        return f'"{draw(st.integers(-5, 3000))}"^^xsd:{one(draw, ["integer", "decimal", "double", "gYear", "string"])}'
    if kind == 3:
        return one(draw, NUMBERS)
    return one(draw, OTHER_LITERALS)


def draw_var(draw) -> str:
    return one(draw, VARIABLES)


def draw_path(draw, depth: int = 2) -> str:
    """A property path: IRIs with ``^``, ``/``, ``|``, ``*``, ``+``, ``?``, ``!`` and groups."""
    kind = draw(st.integers(0, 6)) if depth > 0 else 0
    if kind <= 1:
        return draw_iri(draw) if kind == 0 else "a"
    if kind == 2:
        return "^" + draw_path(draw, depth - 1)
    if kind == 3:
        return f"{draw_path(draw, depth - 1)}/{draw_path(draw, depth - 1)}"
    if kind == 4:
        return f"({draw_path(draw, depth - 1)}|{draw_path(draw, depth - 1)})"
    if kind == 5:
        return f"({draw_path(draw, depth - 1)}){one(draw, '*+?')}"
    return "!(" + "|".join(draw_iri(draw) for _ in range(draw(st.integers(1, 3)))) + ")"


def _blank(draw) -> str:
    return one(draw, ["[]", "_:b0", "( 1 2 )"])


def draw_triple(draw) -> str:
    subject = one(draw, [draw_var, draw_var, draw_iri, _blank])(draw)
    verb = one(draw, [draw_var, draw_iri, draw_iri, lambda d: "a", draw_path])(draw)
    objects = [
        one(draw, [draw_var, draw_var, draw_iri, draw_literal, _blank])(draw) for _ in range(draw(st.integers(1, 2)))
    ]
    return f"{subject} {verb} {', '.join(objects)} ."


FUNCTIONS_1 = [
    "STR", "LANG", "DATATYPE", "isIRI", "isBLANK", "isLITERAL", "isNUMERIC", "STRLEN", "UCASE", "LCASE",
    "ENCODE_FOR_URI", "ABS", "CEIL", "FLOOR", "ROUND", "YEAR", "MONTH", "MD5", "SHA1", "SHA256", "BOUND",
    "IRI", "BNODE", "xsd:integer", "xsd:double", "xsd:string", "xsd:dateTime", "xsd:boolean", "STRUUID",
]  # fmt: skip
FUNCTIONS_2 = [
    "CONTAINS", "STRSTARTS", "STRENDS", "STRBEFORE", "STRAFTER", "LANGMATCHES", "REGEX", "SUBSTR", "STRDT",
    "STRLANG", "sameTerm", "CONCAT", "COALESCE",
]  # fmt: skip
OPERATORS = ["=", "!=", "<", ">", "<=", ">=", "&&", "||", "+", "-", "*", "/"]


def draw_expression(draw, depth: int = 3) -> str:
    """A SPARQL expression: terms, operators, built-in functions, IN, IF, EXISTS."""
    kind = draw(st.integers(0, 9)) if depth > 0 else draw(st.integers(0, 2))

    def sub() -> str:
        return draw_expression(draw, depth - 1)

    if kind == 0:
        return draw_var(draw)
    if kind == 1:
        return draw_literal(draw)
    if kind == 2:
        return one(draw, [draw_iri, lambda d: "NOW()", lambda d: "RAND()"])(draw)
    if kind == 3:
        return f"({sub()} {one(draw, OPERATORS)} {sub()})"
    if kind == 4:
        return f"{one(draw, '!-+')}({sub()})"
    if kind == 5:
        return f"{one(draw, FUNCTIONS_1)}({sub()})"
    if kind == 6:
        return f"{one(draw, FUNCTIONS_2)}({sub()}, {sub()})"
    if kind == 7:
        return f"{one(draw, ['IF', 'REPLACE'])}({sub()}, {sub()}, {sub()})"
    if kind == 8:
        items = ", ".join(sub() for _ in range(draw(st.integers(0, 3))))
        return f"({sub()} {one(draw, ['IN', 'NOT IN'])} ({items}))"
    return f"{one(draw, ['EXISTS', 'NOT EXISTS'])} {{ {draw_triple(draw)} }}"


TEXT_WORDS = ["murder", "heist film", '\\"directed by\\" Hitchcock', "war", "the", "zzzznotaword", "", "*", "a-b"]
TEXT_PREDICATES = ["kgs:contains-word"] * 3 + ["kgs:contains-entity"] * 2 + ["kgs:text-score", "kgs:contains-wrod"]


def draw_text_pattern(draw) -> str:
    """kgsearch's SPARQL+Text patterns on a document variable (QLever's ``ql:contains-word`` style)."""
    v = vocabulary()
    entries = []
    for _ in range(draw(st.integers(1, 3))):
        predicate = one(draw, TEXT_PREDICATES)
        kind = draw(st.integers(0, 3))
        if kind == 0 or (kind == 1 and predicate == "kgs:contains-word"):
            word = one(draw, TEXT_WORDS) if draw(st.booleans()) else one(draw, v.labels).replace('"', "")
            obj = f'"{word}"'
        elif kind == 1:
            obj = f"<{one(draw, v.entities)}>"
        elif kind == 2:
            obj = draw_var(draw)
        else:
            obj = draw_literal(draw)
        entries.append(f"{predicate} {obj}")
    return f"{one(draw, ['?t', '?t', '?t', '?doc', '<urn:x>'])} " + " ; ".join(entries) + " ."


def draw_group(draw, depth: int = 2) -> str:
    """A ``{ ... }`` group graph pattern, nested up to ``depth`` levels."""
    elements = []
    for _ in range(draw(st.integers(1 if depth >= 2 else 0, 4))):
        kind = draw(st.integers(0, 13)) if depth > 0 else draw(st.integers(0, 6))
        if kind <= 2:
            elements.append(draw_triple(draw))
        elif kind == 3:
            elements.append(draw_text_pattern(draw))
        elif kind == 4:
            elements.append(f"FILTER({draw_expression(draw)})")
        elif kind == 5:
            elements.append(f"BIND({draw_expression(draw)} AS {draw_var(draw)})")
        elif kind == 6:
            values = [
                one(draw, [draw_iri, draw_literal, lambda d: "UNDEF"])(draw) for _ in range(draw(st.integers(0, 4)))
            ]
            elements.append(f"VALUES {draw_var(draw)} {{ {' '.join(values)} }}")
        elif kind == 7:
            elements.append("OPTIONAL " + draw_group(draw, depth - 1))
        elif kind == 8:
            elements.append(f"{draw_group(draw, depth - 1)} UNION {draw_group(draw, depth - 1)}")
        elif kind == 9:
            elements.append("MINUS " + draw_group(draw, depth - 1))
        elif kind == 10:
            target = draw_var(draw) if draw(st.booleans()) else draw_iri(draw)
            elements.append(f"GRAPH {target} {draw_group(draw, depth - 1)}")
        elif kind == 11:
            elements.append(f"{{ {draw_select(draw, depth - 1)} }}")
        elif kind == 12:
            elements.append("FILTER NOT EXISTS " + draw_group(draw, depth - 1))
        else:
            elements.append(draw_group(draw, depth - 1))
    return "{ " + " ".join(elements) + " }"


AGGREGATES = ["COUNT", "SUM", "MIN", "MAX", "AVG", "SAMPLE", "GROUP_CONCAT"]


def draw_modifiers(draw) -> str:
    parts = []
    if draw(st.booleans()):
        keys = [
            one(draw, [draw_var, lambda d: f"DESC({draw_expression(d, 1)})", lambda d: f"ASC({draw_var(d)})"])(draw)
            for _ in range(draw(st.integers(1, 2)))
        ]
        parts.append("ORDER BY " + " ".join(keys))
    if draw(st.booleans()):
        parts.append(f"LIMIT {one(draw, [0, 1, 5, 60, 10**12])}")
    if draw(st.integers(0, 3)) == 0:
        parts.append(f"OFFSET {one(draw, [0, 3, 10**6])}")
    return " ".join(parts)


def draw_select(draw, depth: int = 2) -> str:
    """A SELECT query: plain or DISTINCT with a projection, or grouped with an aggregate."""
    where = draw_group(draw, depth)
    if draw(st.integers(0, 2)) < 2:
        head = one(draw, ["SELECT", "SELECT DISTINCT", "SELECT REDUCED"])
        projection = "*" if draw(st.booleans()) else " ".join(dict.fromkeys(draw_var(draw) for _ in range(3)))
        return f"{head} {projection} WHERE {where} {draw_modifiers(draw)}"
    key, agg = draw_var(draw), one(draw, AGGREGATES)
    inner = one(draw, ["*", draw_var(draw), "DISTINCT " + draw_var(draw)])
    if agg != "COUNT" and inner == "*":
        inner = "?o"
    sep = '; SEPARATOR=", "' if agg == "GROUP_CONCAT" and draw(st.booleans()) else ""
    having = f"HAVING({draw_expression(draw, 1)})" if draw(st.integers(0, 3)) == 0 else ""
    return f"SELECT {key} ({agg}({inner}{sep}) AS ?agg) WHERE {where} GROUP BY {key} {having} {draw_modifiers(draw)}"


@st.composite
def sparql_queries(draw) -> str:
    """A SPARQL 1.1 query over the sample KB, from the grammar above (most parse; some are wrong on purpose)."""
    form = one(draw, ["SELECT", "SELECT", "ASK", "CONSTRUCT", "CONSTRUCT-WHERE", "DESCRIBE"])
    if form == "SELECT":
        query = draw_select(draw)
    elif form == "ASK":
        query = f"ASK {draw_group(draw)}"
    elif form == "CONSTRUCT":
        template = " ".join(draw_triple(draw) for _ in range(draw(st.integers(0, 3))))
        query = f"CONSTRUCT {{ {template} }} WHERE {draw_group(draw)} {draw_modifiers(draw)}"
    elif form == "CONSTRUCT-WHERE":
        query = f"CONSTRUCT WHERE {{ {' '.join(draw_triple(draw) for _ in range(draw(st.integers(1, 3))))} }}"
    else:
        targets = " ".join(one(draw, [draw_iri, draw_var])(draw) for _ in range(draw(st.integers(1, 2))))
        query = f"DESCRIBE {targets} WHERE {draw_group(draw)}"
    return PROLOGUE + query


#: Shapes that build deep parse or algebra trees: nested groups, parentheses, subqueries, and long
#: chains of UNION, MINUS, BIND, OPTIONAL, ``&&``, ``+`` and path steps. Sizes are those where
#: recursive parsers and evaluators run out of stack.
def deep_queries() -> st.SearchStrategy[str]:
    shapes = {
        "braces": lambda n: "SELECT * WHERE " + "{" * n + " ?s ?p ?o " + "}" * n,
        "parens": lambda n: "ASK { FILTER(" + "(" * n + "1" + ")" * n + ") }",
        "not": lambda n: "ASK { FILTER(" + "!" * n + "true) }",
        "subqueries": lambda n: "ASK " + "{ SELECT * WHERE " * n + "{}" + " }" * n,
        "union": lambda n: "SELECT * WHERE { " + " UNION ".join(["{ ?s ?p ?o }"] * n) + " }",
        "minus": lambda n: "SELECT * WHERE { ?s ?p ?o " + "MINUS { ?s ?p ?o } " * n + "}",
        "bind": lambda n: "SELECT * WHERE { " + " ".join(f"BIND({i} AS ?v{i})" for i in range(n)) + " }",
        "optional": lambda n: "SELECT * WHERE { ?s a movies:Genre " + "OPTIONAL { ?s rdfs:label ?l } " * n + "}",
        "and": lambda n: "ASK { FILTER(" + " && ".join(["true"] * n) + ") }",
        "plus": lambda n: "SELECT (" + " + ".join(["1"] * n) + " AS ?x) {}",
        "path": lambda n: "ASK { ?s " + "/".join(["movies:directedBy"] * n) + " ?o }",
        "brackets": lambda n: "ASK { ?s ?p " + "[ ?p " * n + "1" + " ]" * n + " }",
        "list": lambda n: "ASK { ?s ?p " + "( " * n + "1" + " )" * n + " }",
        "text": lambda n: "SELECT * WHERE " + "{" * n + ' ?t kgs:contains-word "murder" ' + "}" * n,
    }
    return st.tuples(st.sampled_from(sorted(shapes)), st.sampled_from([1, 10, 100, 300, 1000, 3000, 10000, 30000])).map(
        lambda t: PROLOGUE + shapes[t[0]](t[1])
    )


# -- mutated real queries ----------------------------------------------------------------------


@functools.cache
def seed_queries() -> tuple[str, ...]:
    """Real query texts: the console's and the quick-start's examples, and the W3C suite's queries
    (when ``../shared/data`` is there)."""
    seeds = [q for _, q in GENERIC] + [demo.TOP_DIRECTOR, demo.GENRES, demo.TEXT_QUERY]
    seeds.append(demo.FILMS_BY.format(name="Alfred Hitchcock", director=PREFIXES["person"] + "Alfred_Hitchcock"))
    seeds.append(demo.ACTORS_OF.format(name="Alfred Hitchcock", director=PREFIXES["person"] + "Alfred_Hitchcock"))
    if W3C_QUERIES.is_dir():
        for path in sorted(W3C_QUERIES.glob("sparql1[01]/*/*.rq")):
            text = path.read_text(encoding="utf-8", errors="replace")
            if "SERVICE" not in text.upper() and len(text) < 4000:
                seeds.append(text)
    return tuple(seeds)


#: Text with no surrogates (they cannot travel as UTF-8), otherwise every code point.
UNICODE = st.characters(codec="utf-8")

#: Tokens inserted by mutations: SPARQL syntax, escapes, quotes and characters that trip lexers.
TOKENS = [
    "{", "}", "(", ")", "[", "]", ".", ";", ",", "?", "$", '"', "'", '"""', "<", ">", "#", "\\", "^^", "@en",
    "*", "/", "|", "^", "!", "+", "a", "_:b", ":", "kgs:contains-word", "kgs:contains-entity ?e", '"x"',
    "kgs:text-score ?s", "FILTER", "UNION", "OPTIONAL", "SELECT", "WHERE", "GRAPH", "SERVICE <http://evil/>",
    "VALUES", "BIND", "LIMIT 0", "GROUP BY", "ORDER BY", "} ; DROP ALL #", "<http://evil>", "PREFIX x: <y>",
    "BASE <rel/>", "\x00", "\u202e", "\u200d", "\ufeff", "\ud7ff", "\U0010ffff", "\u0301", "\n", "\r", "\t",
    "\\u0022", "\\U0000007B", "\\", " ",
]  # fmt: skip


_WORD = re.compile(r"\S+")


def mutate_text(draw, text: str, tokens: list[str] = TOKENS) -> str:
    """``text`` with 1-3 edits drawn with ``draw``: a token or character inserted, a character
    replaced, a span, a word or a line deleted or duplicated, or the text cut short. Whole words and
    lines keep the query valid more often, so that the edit reaches evaluation."""
    for _ in range(one(draw, [1, 1, 1, 2, 3])):
        at = draw(st.integers(0, len(text)))
        op = one(draw, ["insert", "insert", "char", "replace", "delete", "duplicate", "word", "line", "truncate"])
        if op == "insert":
            text = text[:at] + one(draw, tokens) + text[at:]
        elif op == "char":
            text = text[:at] + draw(UNICODE) + text[at:]
        elif op == "replace" and at < len(text):
            text = text[:at] + draw(UNICODE) + text[at + 1 :]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        elif op == "duplicate":
            span = text[at : at + draw(st.integers(1, 40))]
            text = text[:at] + span * draw(st.integers(2, 5)) + text[at:]
        elif op == "word" and (words := list(_WORD.finditer(text))):
            word = one(draw, words)
            copies = draw(st.integers(0, 2))  # deleted, kept, or doubled
            text = text[: word.start()] + " ".join([word.group()] * copies) + text[word.end() :]
        elif op == "line":
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i : i + 1] = [lines[i]] * draw(st.integers(0, 3))
            text = "\n".join(lines)
        elif op == "truncate":
            text = text[:at]
    return text


@st.composite
def mutated_queries(draw) -> str:
    """A real query text (:func:`seed_queries`) with a few edits."""
    return mutate_text(draw, one(draw, seed_queries()))


# -- HTTP requests to /sparql --------------------------------------------------------------------

ACCEPTS = [
    None, "*/*", "application/sparql-results+json", "application/sparql-results+xml", "text/csv",
    "text/tab-separated-values", "text/turtle", "application/n-triples", "application/ld+json",
    "application/rdf+xml", "application/json", "text/xml", "text/plain", "text/*", "application/*",
    "text/csv;q=0.5, application/sparql-results+xml", "text/html", "image/png", "*/*;q=0", "q=1",
    "application/sparql-results+json;q=abc", ",,,", "text/turtle;q=0.9, */*;q=0.1", b"\xc3\xa9/\xc3\xa9",
]  # fmt: skip
FORMATS = [None, "json", "xml", "csv", "tsv", "turtle", "ntriples", "jsonld", "rdfxml", "n3", "rdf", "ttl", "html", ""]


@dataclass(frozen=True)
class SparqlRequest:
    """One request to ``/sparql``: how the query travels and what is asked back."""

    query: str
    method: str  # GET, POST-form or POST-direct (a GET over the client's URL limit goes as POST-form)
    accept: str | bytes | None  # bytes: a header that is not ASCII
    format: str | None

    def __repr__(self) -> str:  # short, for hypothesis's reports: deep queries run to hundreds of kilobytes
        query = self.query if len(self.query) <= 400 else f"{self.query[:300]!r} ... ({len(self.query):,} characters)"
        return f"SparqlRequest({query}, {self.method!r}, accept={self.accept!r}, format={self.format!r})"


def _mostly_none(items: list) -> st.SearchStrategy:
    return st.integers(0, 6 * len(items) - 1).map(lambda i: items[i] if i < len(items) else None)


def sparql_requests(queries: st.SearchStrategy[str]) -> st.SearchStrategy[SparqlRequest]:
    return st.builds(
        SparqlRequest,
        queries,
        st.sampled_from(["GET", "POST-form", "POST-direct"]),
        # Mostly the default format: a format the query form cannot carry is refused (406) before the query runs.
        _mostly_none(ACCEPTS),
        _mostly_none(FORMATS),
    )


# -- questions -----------------------------------------------------------------------------------

TEMPLATES = [
    "who directed {e}",
    "which films did {e} star in",
    "what genre is {e}",
    "how many films did {e} direct",
    "which films did {e} direct after {n}",
    "films written by {e} between {n} and 2000",
    "what is the latest film by {e}",
    "who acted in films directed by {e}",
    "{e}",
    "what language is {e} in and who directed {e}",
]
ADVERSARIAL = [
    '"', "'", '"}', "'}", "} ; DROP ALL #", "} } ; INSERT DATA { <http://evil> <http://evil> <http://evil> } #",
    "<http://evil>", "> <http://evil/p> <", "?x", "$x", "\\", "\\u0022", "#", "{", "}", ";", ".", "^^xsd:string",
    "@en", "FILTER(true)", "UNION { ?s ?p ?o }", "\u202e", "\u202d", "\u200b", "\u200d", "\u2066", "\ufeff",
    "e\u0301\u0301\u0301", "\u0000", "\x1b[31m", "\r\n", "\u2028", "\U0001f3ac", "ﬁlm", "Ｊａｗｓ", "ǅ",
    "\U000e0041", "%00", "%7D", "&amp;", "<script>alert(1)</script>", "' OR '1'='1", "AND", "*", "~", "+",
    "-", "(", ")", "[", "]", ":", "NOT", "\"directed by\"",
]  # fmt: skip


@st.composite
def questions(draw) -> str:
    """A question: a template over a KB name (maybe with injected syntax), random text, or junk."""
    v = vocabulary()
    kind = draw(st.sampled_from(["template", "template", "injected", "random", "adversarial", "long"]))
    if kind in ("template", "injected"):
        name = one(draw, v.labels)
        if kind == "injected":
            piece = draw(st.sampled_from(ADVERSARIAL))
            name = draw(
                st.sampled_from([name + piece, piece + name, name[: len(name) // 2] + piece + name[len(name) // 2 :]])
            )
        return draw(st.sampled_from(TEMPLATES)).format(e=name, n=draw(st.integers(-(10**6), 10**6)))
    if kind == "random":
        return draw(st.text(UNICODE, max_size=60))
    if kind == "adversarial":
        return "".join(
            one(draw, ADVERSARIAL) if draw(st.booleans()) else one(draw, v.labels)
            for _ in range(draw(st.integers(0, 8)))
        )
    unit = draw(st.sampled_from(["who directed Jaws ", "{", "\u0301", "a", "Alfred Hitchcock and "]))
    return unit * draw(st.sampled_from([300, 1001, 20_000, 100_000]))


# -- RDF files -----------------------------------------------------------------------------------


@functools.cache
def rdf_seeds() -> tuple[tuple[str, bytes], ...]:
    """Real RDF documents as ``(suffix, bytes)``: slices of the sample KB and the ontology, in
    Turtle, and the same triples as N-Triples, RDF/XML and JSON-LD (written by pyoxigraph)."""
    sample = SAMPLE.read_text(encoding="utf-8")
    header, _, body = sample.partition("@prefix movies: <http://kgsearch.org/ns/movies#> .\n")
    header += "@prefix movies: <http://kgsearch.org/ns/movies#> .\n"
    blocks = body.split(" .\n")
    slices = [header + " .\n".join(blocks[i : i + 6]) + " .\n" for i in (0, 300, 1200)]
    turtles = [*slices, ONTOLOGY.read_text(encoding="utf-8")]
    seeds: list[tuple[str, bytes]] = []
    for text in turtles:
        triples = list(ox.parse(text.encode(), format=ox.RdfFormat.TURTLE))
        seeds.append((".ttl", text.encode()))
        for suffix, fmt in (
            (".nt", ox.RdfFormat.N_TRIPLES),
            (".rdf", ox.RdfFormat.RDF_XML),
            (".jsonld", ox.RdfFormat.JSON_LD),
        ):
            seeds.append((suffix, ox.serialize(triples, format=fmt, prefixes=PREFIXES)))
    return tuple(seeds)


RDF_JUNK = [
    b"<", b">", b'"', b"'", b"\\", b"@prefix", b"_:", b"[", b"]", b"(", b")", b";", b".", b",", b"{", b"}",
    b"\x00", b"\xff\xfe", b"\xc3", b"\xe2\x80\xae", b"<!DOCTYPE r [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>",
    b"&e;", b"<!ENTITY a '&b;&b;'>", b"]]>", b"<rdf:Description/>", b"</rdf:RDF>", b'"@context": {}',
    b'{"@id": "_:x"}', b'"@type"', b"null", b"\r", b"\n", b"\t", b" ", b"@base <rel/> .", b"<<", b">>",
    b'"""', b"^^", b"@en-", b"a", b"1e999999", b"-", b"%",
]  # fmt: skip


def mutate_bytes(draw, data: bytes, junk: list[bytes] = RDF_JUNK) -> bytes:
    """``data`` with 1-4 byte-level edits drawn with ``draw``: a bit flipped, junk or random bytes
    inserted, a span deleted or duplicated, or the end cut off."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "junk", "bytes", "delete", "duplicate", "truncate"]))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "junk":
            data[at:at] = draw(st.sampled_from(junk))
        elif op == "bytes":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 50))]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 80))] * draw(st.integers(1, 3))
        elif op == "truncate":
            data = data[:at]
    return bytes(data)


@st.composite
def rdf_files(draw) -> tuple[str, bytes]:
    """A mutated RDF document as ``(suffix, bytes)``; sometimes gzipped (before or after the edit)."""
    seeds = rdf_seeds()
    suffix, data = seeds[draw(st.integers(0, len(seeds) - 1))]
    data = mutate_bytes(draw, data)
    gz = draw(st.sampled_from(["", "", "", "after", "before"]))
    if gz:
        import gzip

        if gz == "after":
            data = gzip.compress(data, mtime=0)
        else:  # a corrupt archive of a good file
            good = gzip.compress(seeds[draw(st.integers(0, len(seeds) - 1))][1], mtime=0)
            data = mutate_bytes(draw, good, [b"\x00", b"\xff"])
        suffix += ".gz"
    return suffix, data


# -- documents and media -------------------------------------------------------------------------


def png(width: int = 8, height: int = 8) -> bytes:
    """A valid grey PNG of the given size (only the header claims the size when it is huge)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(min(height, 64))) if width <= 4096 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def wav(seconds: float = 0.5, rate: int = 16000) -> bytes:
    """A valid mono 16-bit WAV of silence."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


#: Corrupt media as ``(file name, bytes)``: truncated, random, empty, or lying about their size.
BAD_IMAGES = {
    "truncated.jpg": lambda: jpeg()[:40],
    "truncated.png": lambda: png()[:30],
    "random.jpg": lambda: bytes(range(256)) * 4,
    "empty.png": lambda: b"",
    "huge.png": lambda: png(200_000, 200_000),
    "text.webp": lambda: b"RIFF\x10\x00\x00\x00WEBPnot really",
}
BAD_AUDIO = {
    "truncated.wav": lambda: wav()[:30],
    "random.mp3": lambda: bytes(range(256)) * 8,
    "random.flac": lambda: b"fLaC" + bytes(reversed(range(256))) * 4,
    "empty.wav": lambda: b"",
}


@st.composite
def bad_texts(draw) -> tuple[str, bytes]:
    """A bad text document as ``(file name, bytes)``: binary, not UTF-8, empty, or broken JSON Lines."""
    kind = draw(st.sampled_from(["binary", "latin1", "empty", "blank", "nul", "jsonl"]))
    if kind == "binary":
        return "binary.txt", b"\x00\x01\x02" + draw(st.binary(min_size=1, max_size=64))
    if kind == "latin1":
        return "latin1.md", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e".encode("latin-1") + draw(st.binary(max_size=8))
    if kind == "empty":
        return "empty.txt", b""
    if kind == "blank":
        return "blank.txt", draw(st.sampled_from([b" ", b"\n\n\t", "\u2028\u00a0".encode()]))
    if kind == "nul":
        return "nul.txt", b"Rebecca\x00is a film"
    lines = draw(
        st.lists(
            st.sampled_from(
                [
                    b"{not json}",
                    b'{"id": "x"}',
                    b'{"text": "no id"}',
                    b'{"id": 1.5, "text": "a float id"}',
                    b'{"id": "", "text": "empty id"}',
                    b'{"id": "d", "text": 7}',
                    b'{"id": "d", "text": "ok", "title": ["list"]}',
                    b'{"id": "d", "text": "ok", "modality": "image"}',
                    b"[1, 2, 3]",
                    b'"just a string"',
                    b'{"id": "\xff\xfe", "text": "bad bytes"}',
                    b'{"id": "d", "text": "\\ud800 lone surrogate"}',
                    b'{"id": "d", "text": "unterminated',
                    b'{"id": "' + b"x" * 600 + b'", "text": "long id"}',
                    b"\x00\x00\x00",
                    b'{"id": "deep", "text": "t", "m": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                    b'{"id": "k", "text": "a lone surrogate in a key", "\\udc80": 1}',
                ]
            ),
            min_size=1,
            max_size=4,
        )
    )
    return "broken.jsonl", b"\n".join(lines) + b"\n"
