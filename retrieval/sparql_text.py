"""SPARQL+Text: word and entity co-occurrence in documents, inside standard SPARQL (QLever style).

Three predicates of the ``kgs:`` vocabulary (``http://kgsearch.org/ns/kgs#``) stand for the text
index inside an otherwise plain SPARQL 1.1 SELECT, ASK, CONSTRUCT or DESCRIBE query, like QLever's
``ql:contains-word`` and ``ql:contains-entity`` (Bast and Buchhold, CIKM 2017):

* ``?t kgs:contains-word "heist"``: ``?t`` is a document (its :func:`~retrieval.provenance.document_iri`)
  whose title or text contains every word of the literal; ``"\\"directed by\\" heist"`` adds a phrase.
  Words are analyzed as the index analyzes text (stemmed by tantivy).
* ``?t kgs:contains-entity ?e`` binds ``?e`` to each entity linked in ``?t``;
  ``?t kgs:contains-entity <iri>`` keeps the documents linked to that entity.
* ``?t kgs:text-score ?s`` binds the document's BM25 score (``xsd:double``; 1.0 with no words).

All the text patterns on one variable in one ``{ }`` group are one search of the text index; its
documents replace them in the query as a ``VALUES`` block at the same place, and the store runs
the result. ``?t`` and ``?e`` are then ordinary variables to join, group and sort on:

>>> from kg import OxigraphStore
>>> from retrieval._tantivy import TantivyTextIndex
>>> from retrieval.types import IndexedDocument
>>> store, index = OxigraphStore(), TantivyTextIndex()
>>> store.update("INSERT DATA { <http://ex/Heat> a <http://ex/Film> }")
>>> index.add([IndexedDocument("d1", "Heat", "A 1995 heist film.", entities=("http://ex/Heat", "http://ex/Mann"))])
1
>>> result = TextSparql(store, index).query('''PREFIX kgs: <http://kgsearch.org/ns/kgs#>
...     SELECT ?film ?t WHERE { ?t kgs:contains-word "heists" ; kgs:contains-entity ?film . ?film a <http://ex/Film> }''')
>>> [(row["film"].value, row["t"].value) for row in result.as_dicts()]
[('http://ex/Heat', 'urn:kgsearch:doc:d1')]
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urljoin

import pyoxigraph as ox

from kg.results import QueryResult
from kg.sparql_limits import check_query_shape
from kg.store import TripleStore
from retrieval.errors import QuerySyntaxError, TextQueryTooBroadError
from retrieval.provenance import KGS, document_iri
from retrieval.text_index import TextIndex, has_words, split_query

#: The SPARQL+Text predicates, by local name in the ``kgs:`` namespace.
CONTAINS_WORD, CONTAINS_ENTITY, TEXT_SCORE = "contains-word", "contains-entity", "text-score"
PREDICATES = (CONTAINS_WORD, CONTAINS_ENTITY, TEXT_SCORE)

_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_PLX = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%]"
_TOKEN = re.compile(
    "|".join(
        [
            r"(?P<ws>\s+)",
            r"(?P<comment>#[^\n\r]*)",
            r'(?P<string>"""(?:[^"\\]|\\.|"(?!""))*"""|' + r"'''(?:[^'\\]|\\.|'(?!''))*'''|"
            r'"(?:[^"\\\n\r]|\\.)*"|' + r"'(?:[^'\\\n\r]|\\.)*')",
            r"(?P<iri><[^<>\"{}|^`\\\x00-\x20]*>)",
            r"(?P<var>[?$][\w\u00b7\u0300-\u036f\u203f-\u2040]+)",
            r"(?P<bnode>_:\w(?:[\w.\-]*[\w\-])?)",
            rf"(?P<pname>(?:[^\W\d_](?:[\w.\-]*[\w\-])?)?:(?:(?:[\w:]|{_PLX})(?:(?:[\w.:\-]|{_PLX})*(?:[\w:\-]|{_PLX}))?)?)",
            r"(?P<lang>@[A-Za-z]+(?:-[A-Za-z0-9]+)*)",
            r"(?P<number>\d*\.\d+(?:[eE][+-]?\d+)?|\d+\.?\d*[eE][+-]?\d+|\d+)",
            r"(?P<name>[^\W\d]\w*)",
            r"(?P<punct>\^\^|<<|>>|\{\||\|\}|&&|\|\||!=|<=|>=|.)",
        ]
    ),
    re.DOTALL,
)
_ECHAR = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f"}
_TERMS = ("var", "iri", "pname", "bnode", "string", "number")


class _Token(NamedTuple):
    kind: str
    text: str
    start: int
    end: int


def _lex(sparql: str) -> list[_Token]:
    """The tokens of a query, without whitespace and comments, ending with an ``eof`` token."""
    tokens = [
        _Token(m.lastgroup or "punct", m.group(), m.start(), m.end())
        for m in _TOKEN.finditer(sparql)
        if m.lastgroup not in ("ws", "comment")
    ]
    return [*tokens, _Token("eof", "", len(sparql), len(sparql))]


def _string_value(text: str) -> str:
    """The value of a SPARQL string token (any of the four quotings), escapes resolved."""
    q = 3 if text[:3] in ('"""', "'''") else 1

    def unescape(m: re.Match[str]) -> str:
        code = m.group(1)
        return chr(int(code[1:], 16)) if code[0] in "uU" and len(code) > 1 else _ECHAR.get(code, code)

    return re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", unescape, text[q:-q], flags=re.DOTALL)


class _Names:
    """The IRIs behind the ``iri`` and ``pname`` tokens of one query (its PREFIX and BASE declarations)."""

    def __init__(self, tokens: list[_Token]):
        self.base: str | None = None
        self.prefixes: dict[str, str] = {}
        for i, tok in enumerate(tokens[:-2]):
            word = tok.text.upper() if tok.kind == "name" else ""
            if word == "BASE" and tokens[i + 1].kind == "iri":
                self.base = self.iri(tokens[i + 1])
            elif word == "PREFIX" and tokens[i + 1].kind == "pname" and tokens[i + 2].kind == "iri":
                self.prefixes[tokens[i + 1].text.rstrip(":")] = self.iri(tokens[i + 2]) or ""

    def iri(self, tok: _Token) -> str | None:
        if tok.kind == "iri":
            value = tok.text[1:-1]
            return urljoin(self.base, value) if self.base and ":" not in value else value
        if tok.kind == "pname":
            prefix, _, local = tok.text.partition(":")
            if prefix in self.prefixes:
                return self.prefixes[prefix] + re.sub(r"\\(.)", r"\1", local)
        return None

    def text_predicate(self, tok: _Token) -> str | None:
        """The local name when ``tok`` is, or looks like a misspelling of, a SPARQL+Text predicate."""
        iri = self.iri(tok)
        if iri is None or not iri.startswith(KGS):
            return None
        local = iri[len(KGS) :]
        squashed = local.lower().replace("-", "").replace("_", "")
        # Our other kgs: terms are camelCase (docId, inDocument): a hyphen means a text predicate.
        if local in PREDICATES or "-" in local:
            return local
        if difflib.get_close_matches(squashed, [p.replace("-", "") for p in PREDICATES], n=1, cutoff=0.8):
            return local
        return None


@dataclass
class _Entry:
    """One ``verb object, object`` of a property list, as token ranges."""

    verb: tuple[int, int]
    objects: list[tuple[int, int]]


@dataclass
class _Statement:
    """One triples statement directly in a group: a subject and its property list."""

    group: int  # token index of the enclosing group's "{"
    start: int
    stop: int  # one past its last token, the closing "." left out
    dot: bool
    subject: tuple[int, int]
    entries: list[_Entry]


class _Parser:
    """Finds the triples statements of a query's graph patterns; lenient, the store judges the rest."""

    def __init__(self, tokens: list[_Token]):
        self.t = tokens
        self.statements: list[_Statement] = []
        self.nested: list[_Entry] = []  # property lists inside [ ]
        self.short_construct = False

    def is_(self, i: int, *texts: str) -> bool:
        return self.t[i].kind == "punct" and self.t[i].text in texts

    def keyword(self, i: int) -> str:
        tok = self.t[i]
        return tok.text.upper() if tok.kind == "name" and tok.text not in ("a", "true", "false") else ""

    def query(self) -> _Parser:
        i = 0
        while self.t[i].kind != "eof":
            if self.keyword(i) == "CONSTRUCT":
                if self.is_(i + 1, "{"):  # the template: output, not a pattern
                    i = self.skip(i + 1, "{", "}")
                    continue
                self.short_construct = True
            if self.keyword(i) == "VALUES":
                i = self.values(i)
            elif self.is_(i, "{"):
                i = self.group(i)
            else:
                i += 1
        return self

    def skip(self, i: int, open_: str, close: str) -> int:
        depth = 0
        while self.t[i].kind != "eof":
            depth += self.is_(i, open_) - self.is_(i, close)
            i += 1
            if depth <= 0:
                break
        return i

    def values(self, i: int) -> int:
        i += 1
        i = self.skip(i, "(", ")") if self.is_(i, "(") else i + 1
        return self.skip(i, "{", "}") if self.is_(i, "{") else i

    def parens(self, i: int) -> int:
        depth = 0
        while self.t[i].kind != "eof":
            if self.is_(i, "{"):  # EXISTS { ... } inside an expression
                i = self.group(i)
                continue
            depth += self.is_(i, "(") - self.is_(i, ")")
            i += 1
            if depth <= 0:
                break
        return i

    def group(self, i: int) -> int:
        gid, i, start = i, i + 1, True
        while self.t[i].kind != "eof":
            if self.is_(i, "}"):
                return i + 1
            if self.is_(i, "{"):
                i, start = self.group(i), True
            elif self.is_(i, "."):
                i, start = i + 1, True
            elif word := self.keyword(i):
                if word == "VALUES":
                    i, start = self.values(i), True
                elif word in ("FILTER", "BIND"):
                    i, start = self.constraint(i + 1), True
                else:  # OPTIONAL, GRAPH ?g, SERVICE, UNION, a subquery's SELECT and modifiers...
                    i, start = i + 1, False
            elif start and (self.t[i].kind in _TERMS or self.is_(i, "[", "(", "<<")):
                i, start = self.statement(i, gid), False
            elif self.is_(i, "("):
                i = self.parens(i)
            else:
                i += 1
        return i

    def constraint(self, i: int) -> int:
        if self.keyword(i) == "NOT":
            i += 1
        if self.keyword(i) == "EXISTS":
            return self.group(i + 1) if self.is_(i + 1, "{") else i + 1
        if self.t[i].kind in ("name", "iri", "pname") and self.is_(i + 1, "("):
            i += 1
        return self.parens(i) if self.is_(i, "(") else i

    def statement(self, i: int, gid: int) -> int:
        start = i
        i = self.object(i)
        subject, entries = (start, i), []
        if self.verb_starts(i):
            i, entries = self.property_list(i)
        self.statements.append(_Statement(gid, start, i, self.is_(i, "."), subject, entries))
        return i

    def verb_starts(self, i: int) -> bool:
        return self.t[i].kind in ("var", "iri", "pname") or self.t[i].text == "a" or self.is_(i, "^", "!", "(")

    def property_list(self, i: int) -> tuple[int, list[_Entry]]:
        entries = []
        while True:
            verb_start = i
            i = i + 1 if self.t[i].kind == "var" else self.path(i)
            entry = _Entry((verb_start, i), [])
            entries.append(entry)
            while True:
                object_start, i = i, self.object(i)
                entry.objects.append((object_start, i))
                if not self.is_(i, ","):
                    break
                i += 1
            if not self.is_(i, ";"):
                return i, entries
            while self.is_(i, ";"):
                i += 1
            if not self.verb_starts(i):
                return i, entries

    def path(self, i: int) -> int:
        while True:
            while self.is_(i, "^", "!"):
                i += 1
            if self.is_(i, "("):
                i = self.skip(i, "(", ")")
            elif self.t[i].kind in ("iri", "pname") or self.t[i].text == "a":
                i += 1
            if self.is_(i, "*", "+", "?"):
                i += 1
            if not self.is_(i, "/", "|"):
                return i
            i += 1

    def object(self, i: int) -> int:
        tok = self.t[i]
        if self.is_(i, "["):
            i += 1
            if self.verb_starts(i):
                i, entries = self.property_list(i)
                self.nested += entries
            i += self.is_(i, "]")
        elif self.is_(i, "("):  # a collection
            i += 1
            while not self.is_(i, ")") and self.t[i].kind != "eof":
                i = max(self.object(i), i + 1)
            i += 1
        elif self.is_(i, "<<"):
            i = self.skip(i, "<<", ">>")
        elif tok.kind in _TERMS or tok.text in ("true", "false"):
            i += 1
            if tok.kind == "string" and self.t[i].kind == "lang":
                i += 1
            elif tok.kind == "string" and self.is_(i, "^^"):
                i += 2
        elif self.is_(i, "+", "-") and self.t[i + 1].kind == "number":
            i += 2
        if self.is_(i, "{|"):  # an RDF-star annotation
            i = self.skip(i, "{|", "|}")
        return i


@dataclass
class _TextVariable:
    """What the text patterns on one variable in one group ask of the text index."""

    first: _Statement
    words: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    entity_vars: list[str] = field(default_factory=list)
    score_vars: list[str] = field(default_factory=list)


def has_text_patterns(sparql: str) -> bool:
    """Whether a query uses (or misspells) a SPARQL+Text predicate, outside strings and comments.

    Cheap enough to call on every query, so that plain ones go straight to the store.

    >>> has_text_patterns('PREFIX kgs: <http://kgsearch.org/ns/kgs#> ASK { ?t kgs:contains-word "x" }')
    True
    >>> has_text_patterns('ASK { ?s ?p "kgs:contains-word <http://kgsearch.org/ns/kgs#text-score>" }')
    False
    """
    if KGS not in sparql:
        return False
    tokens = _lex(sparql)
    names = _Names(tokens)
    return any(names.text_predicate(tok) is not None for tok in tokens)


class TextSparql:
    """Runs SPARQL with ``kgs:`` text patterns over a :class:`~kg.store.TripleStore` and a :class:`TextIndex`.

    Args:
        store: The KB.
        text_index: The documents, with the entities linked in them.
        max_documents: Most documents one text variable may match; more raise
            :class:`TextQueryTooBroadError` rather than cutting the answer short.
        max_rows: Most rows of one ``VALUES`` block (documents times entity combinations).

    >>> from kg import OxigraphStore
    >>> from retrieval._tantivy import TantivyTextIndex
    >>> text_sparql = TextSparql(OxigraphStore(), TantivyTextIndex(), max_documents=1000)
    >>> text_sparql.rewrite('PREFIX kgs: <http://kgsearch.org/ns/kgs#> SELECT ?t { ?t kgs:contains-word "heist" }')
    'PREFIX kgs: <http://kgsearch.org/ns/kgs#> SELECT ?t { VALUES (?t) { } }'
    """

    def __init__(
        self, store: TripleStore, text_index: TextIndex, *, max_documents: int = 10_000, max_rows: int = 200_000
    ):
        for name, value in (("max_documents", max_documents), ("max_rows", max_rows)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, not {value!r}")
        self.store = store
        self.text_index = text_index
        self.max_documents = max_documents
        self.max_rows = max_rows

    def query(self, sparql: str) -> QueryResult:
        """Run a query: its text patterns against the text index, then all of it on the store.

        Raises:
            QuerySyntaxError: A text pattern is malformed; the message names it.
            TextQueryTooBroadError: A text variable matches more than ``max_documents`` documents.
            SparqlSyntaxError: The store cannot parse the query.
        """
        return self.store.query(self.rewrite(sparql) if has_text_patterns(sparql) else sparql)

    def rewrite(self, sparql: str) -> str:
        """The query with each variable's text patterns replaced by a ``VALUES`` block of its documents.

        Raises:
            QuerySyntaxError: A text pattern is malformed.
            TextQueryTooBroadError: A text variable matches more than ``max_documents`` documents.
            QueryTooComplexError: The query nests too deep or is too long (its parse here recurses too).
        """
        check_query_shape(sparql)
        tokens = _lex(sparql)
        names = _Names(tokens)
        parser = _Parser(tokens).query()
        for entry in parser.nested:
            if (name := self._predicate(tokens, names, entry.verb)) is not None:
                raise QuerySyntaxError(
                    f"kgs:{name} cannot be used inside [ ]; write it as ?t kgs:{name} … on a variable"
                )
        variables: dict[tuple[int, str], _TextVariable] = {}  # by (group, variable)
        edits: list[tuple[_Statement, list[_Entry]]] = []  # each statement with its other entries
        for st in parser.statements:
            text = [(e, name) for e in st.entries if (name := self._predicate(tokens, names, e.verb)) is not None]
            if not text:
                continue
            if parser.short_construct:
                raise QuerySyntaxError(
                    "CONSTRUCT WHERE { … } cannot hold kgs: text patterns, since its pattern is also its "
                    "template; write CONSTRUCT { template } WHERE { … }"
                )
            subject = tokens[st.subject[0]]
            if st.subject[1] - st.subject[0] != 1 or subject.kind != "var":
                written = sparql[subject.start : tokens[st.subject[1] - 1].end]
                raise QuerySyntaxError(
                    f"kgs:{text[0][1]} needs a variable subject (the document, e.g. ?t), got {written}"
                )
            key = (st.group, subject.text[1:])
            spec = variables.setdefault(key, _TextVariable(st))
            for entry, name in text:
                for start, stop in entry.objects:
                    self._add_object(spec, key[1], name, sparql, tokens[start:stop], names)
            edits.append((st, [e for e in st.entries if all(e is not t for t, _ in text)]))
        # The VALUES block of a variable takes the place of its first statement; the others go.
        values = {spec.first.start: self._values(var, spec) for (_, var), spec in variables.items()}
        out = sparql
        for st, kept in reversed(edits):
            parts = []
            if kept:
                first, last = tokens[st.subject[0]], tokens[st.subject[1] - 1]
                parts.append(
                    sparql[first.start : last.end]
                    + " "
                    + " ; ".join(sparql[tokens[e.verb[0]].start : tokens[e.objects[-1][1] - 1].end] for e in kept)
                )
            if st.start in values:
                parts.append(values[st.start])
            keep_dot = st.dot and parts
            stop = tokens[st.stop].end if st.dot else tokens[st.stop - 1].end
            out = out[: tokens[st.start].start] + " . ".join(parts) + (" ." if keep_dot else "") + out[stop:]
        return out

    def _predicate(self, tokens: list[_Token], names: _Names, verb: tuple[int, int]) -> str | None:
        """The text predicate a verb names, or ``None``; raises on a misspelled one or one in a path."""
        found = [(tok, name) for tok in tokens[verb[0] : verb[1]] if (name := names.text_predicate(tok)) is not None]
        if not found:
            return None
        tok, name = found[0]
        if name not in PREDICATES:
            close = difflib.get_close_matches(name, PREDICATES, n=1, cutoff=0.5)
            hint = f" (did you mean kgs:{close[0]}?)" if close else ""
            raise QuerySyntaxError(
                f"unknown SPARQL+Text predicate {tok.text}{hint}; the known ones are "
                + ", ".join(f"kgs:{p}" for p in PREDICATES)
            )
        if verb[1] - verb[0] != 1:
            raise QuerySyntaxError(f"{tok.text} cannot be part of a property path; write it as a triple of its own")
        return name

    def _add_object(
        self, spec: _TextVariable, var: str, name: str, sparql: str, objects: list[_Token], names: _Names
    ) -> None:
        if not objects:
            raise QuerySyntaxError(f"kgs:{name} on ?{var} needs an object")
        first = objects[0]
        written = sparql[first.start : objects[-1].end]
        if name == CONTAINS_WORD:
            plain = len(objects) == 1 or objects[1].kind == "lang"
            if first.kind != "string" or not (plain or names.iri(objects[-1]) == _XSD_STRING):
                raise QuerySyntaxError(f'kgs:contains-word needs a string literal such as "heist", got {written}')
            words, phrases = split_query(_string_value(first.text))
            if not has_words(words) and not phrases:
                raise QuerySyntaxError(f"kgs:contains-word needs at least one word, got {written}")
            spec.words += [f'"{p}"' for p in phrases] + ([words] if has_words(words) else [])
        elif len(objects) == 1 and first.kind == "var" and first.text[1:] != var:
            entity = name == CONTAINS_ENTITY
            target, other = (spec.entity_vars, spec.score_vars) if entity else (spec.score_vars, spec.entity_vars)
            if first.text[1:] in other:
                raise QuerySyntaxError(f"{first.text} cannot be both an entity and the text score of ?{var}")
            if first.text[1:] not in target:
                target.append(first.text[1:])
        elif name == CONTAINS_ENTITY and len(objects) == 1 and (iri := names.iri(first)) is not None:
            spec.entities.append(iri)
        else:
            what = (
                f"a variable (not ?{var}) or an entity IRI" if name == CONTAINS_ENTITY else f"a variable (not ?{var})"
            )
            raise QuerySyntaxError(f"kgs:{name} on ?{var} needs {what}, got {written}")

    def _values(self, var: str, spec: _TextVariable) -> str:
        """Search the text index for one text variable; its documents as a SPARQL ``VALUES`` block."""
        if not spec.words and not spec.entities:
            if spec.entity_vars:
                raise QuerySyntaxError(
                    f"?{var} has kgs:contains-entity ?{spec.entity_vars[0]} but nothing to look up: add "
                    f'kgs:contains-word "…" or kgs:contains-entity <entity IRI> on ?{var} in the same {{ }} group'
                )
            raise QuerySyntaxError(
                f"kgs:text-score used on ?{var} which has no kgs:contains-word/kgs:contains-entity pattern "
                "in the same { } group"
            )
        hits = self.text_index.search(
            " ".join(spec.words), entities=spec.entities, limit=self.max_documents + 1, require_all=True
        )
        if len(hits) > self.max_documents:
            raise TextQueryTooBroadError(
                f"the text patterns on ?{var} ({self._describe(spec)}) match more than {self.max_documents} "
                "documents; add words or kgs:contains-entity <IRI> patterns to narrow them (or raise max_documents)"
            )
        rows: list[str] = []
        for hit in hits:
            cells = [str(ox.NamedNode(document_iri(hit.ref)))]
            score = [str(ox.Literal(hit.score))] * len(spec.score_vars)
            combos: list[tuple[str, ...]] = [()]
            if spec.entity_vars:
                doc = self.text_index.get(hit.ref)
                entities = _named_nodes(doc.entities if doc is not None else ())
                if len(rows) + len(entities) ** len(spec.entity_vars) > self.max_rows:
                    raise TextQueryTooBroadError(
                        f"the text patterns on ?{var} ({self._describe(spec)}) give more than {self.max_rows} "
                        "document-entity rows; add words, or bind the entities with IRIs instead of variables"
                    )
                combos = list(itertools.product(entities, repeat=len(spec.entity_vars)))
            rows += ["(" + " ".join([*cells, *combo, *score]) + ")" for combo in combos]
        columns = " ".join(f"?{v}" for v in [var, *spec.entity_vars, *spec.score_vars])
        return f"VALUES ({columns}) {{ " + "".join(row + " " for row in rows) + "}"

    @staticmethod
    def _describe(spec: _TextVariable) -> str:
        return ", ".join([*(f"words {w}" for w in spec.words), *(f"entity <{e}>" for e in spec.entities)])


def _named_nodes(iris: tuple[str, ...]) -> list[str]:
    """Each IRI once, as SPARQL; an entity id that is not an IRI matches no KB entity and is left out."""
    out = []
    for iri in dict.fromkeys(iris):
        try:
            out.append(str(ox.NamedNode(iri)))
        except ValueError:
            continue
    return out
