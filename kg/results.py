"""Query results shared by every :class:`~kg.store.TripleStore`.

Both backends return the same three shapes, holding pyoxigraph terms, so callers
never care which store answered:

* ``SELECT`` -> :class:`Bindings` (variables and rows of terms, ``None`` when unbound);
* ``ASK`` -> :class:`AskResult`;
* ``CONSTRUCT`` / ``DESCRIBE`` -> :class:`GraphResult` (a tuple of triples).

Each serializes to the W3C result formats: SPARQL 1.1 Query Results JSON, XML,
CSV and TSV for bindings and booleans; any RDF syntax pyoxigraph writes for graphs.

>>> from pyoxigraph import NamedNode, Literal
>>> b = Bindings(("film", "year"), ((NamedNode("http://ex/f"), Literal("1971")),))
>>> b.serialize("tsv").decode()
'?film\\t?year\\n<http://ex/f>\\t"1971"\\n'
>>> [row["year"].value for row in b.as_dicts()]
['1971']
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph as ox

from kg.errors import KgError, ResultFormatError

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

#: Result formats and the media types the SPARQL 1.1 Protocol names for them.
RESULT_MEDIA_TYPES = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
}


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in RESULT_MEDIA_TYPES:
        raise KgError(f"unknown result format {fmt!r}; choose one of: {', '.join(RESULT_MEDIA_TYPES)}")
    return fmt


def term_to_json(term: Term) -> dict:
    """Encode one term as in SPARQL 1.1 Query Results JSON, section 3.2.2."""
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out: dict = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
            if term.direction is not None:  # RDF 1.2 base direction
                out["its:dir"] = str(term.direction)
        elif term.datatype.value != XSD_STRING:
            out["datatype"] = term.datatype.value
        return out
    if isinstance(term, ox.Triple):
        return {
            "type": "triple",
            "value": {
                "subject": term_to_json(term.subject),
                "predicate": term_to_json(term.predicate),
                "object": term_to_json(term.object),
            },
        }
    raise TypeError(f"not an RDF term: {term!r}")


def _term_to_csv(term: Term | None) -> str:
    # SPARQL 1.1 CSV: IRIs and literals as plain strings, blank nodes as _:label.
    if term is None:
        return ""
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, ox.Triple):
        return _triple_term(term)
    return term.value


def _triple_term(term: ox.Triple) -> str:
    """A triple term as SPARQL 1.2 writes it in CSV and TSV: ``<<( s p o )>>``."""
    return f"<<( {_term_to_tsv(term.subject)} {_term_to_tsv(term.predicate)} {_term_to_tsv(term.object)} )>>"


def _term_to_tsv(term: Term | None) -> str:
    if term is None:
        return ""
    return _triple_term(term) if isinstance(term, ox.Triple) else str(term)


def _term_to_xml(term: Term) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{escape(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{escape(term.value)}</bnode>"
    if isinstance(term, ox.Literal):
        if term.language:
            direction = f" its:dir={quoteattr(str(term.direction))}" if term.direction is not None else ""
            return f"<literal xml:lang={quoteattr(term.language)}{direction}>{escape(term.value)}</literal>"
        if term.datatype.value != XSD_STRING:
            return f"<literal datatype={quoteattr(term.datatype.value)}>{escape(term.value)}</literal>"
        return f"<literal>{escape(term.value)}</literal>"
    return (
        "<triple>"
        f"<subject>{_term_to_xml(term.subject)}</subject>"
        f"<predicate>{_term_to_xml(term.predicate)}</predicate>"
        f"<object>{_term_to_xml(term.object)}</object>"
        "</triple>"
    )


#: Characters outside XML 1.0's ``Char`` production: not even a character reference can carry them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _term_texts(term: Term) -> Iterator[str]:
    if isinstance(term, ox.Triple):
        for part in (term.subject, term.predicate, term.object):
            yield from _term_texts(part)
        return
    yield term.value
    if isinstance(term, ox.Literal):
        yield term.language or ""
        yield term.datatype.value


def check_xml_terms(terms: Iterable[Term | None], alternatives: str) -> None:
    """Refuse to write terms as XML when one holds a character XML 1.0 cannot carry (a control
    character such as U+0001, U+FFFE): a parser would reject the document.

    Raises:
        ResultFormatError: Naming the character and the formats that can carry it.
    """
    for term in terms:
        if term is None:
            continue
        for text in _term_texts(term):
            if (bad := _NOT_XML.search(text)) is not None:
                raise ResultFormatError(
                    f"a value holds the character U+{ord(bad.group()):04X}, which XML 1.0 cannot carry; "
                    f"ask for {alternatives} instead"
                )


_XML_HEAD = (
    '<?xml version="1.0"?>\n'
    '<sparql xmlns="http://www.w3.org/2005/sparql-results#" xmlns:its="http://www.w3.org/2005/11/its">\n'
)


@dataclass(frozen=True)
class Bindings:
    """Solutions of a ``SELECT`` query.

    Attributes:
        variables: Projected variable names, without the ``?``.
        rows: One tuple per solution, aligned with ``variables``; ``None`` where unbound.
        truncated: More solutions existed than a row cap let through; JSON output then carries
            ``"truncated": true`` beside ``head`` and ``results``.
    """

    variables: tuple[str, ...]
    rows: tuple[tuple[Term | None, ...], ...]
    truncated: bool = False

    def __iter__(self) -> Iterator[tuple[Term | None, ...]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def as_dicts(self) -> list[dict[str, Term]]:
        """Return each solution as ``{variable: term}``, leaving out unbound variables."""
        return [{v: t for v, t in zip(self.variables, row, strict=True) if t is not None} for row in self.rows]

    def column(self, variable: str) -> list[Term | None]:
        """Return the values of one variable, in row order."""
        try:
            i = self.variables.index(variable)
        except ValueError:
            raise KgError(f"no variable {variable!r} in this result; it has {list(self.variables)}") from None
        return [row[i] for row in self.rows]

    def serialize(self, fmt: str = "json") -> bytes:
        """Write the solutions in a SPARQL 1.1 result format: json, xml, csv or tsv."""
        fmt = _check_format(fmt)
        if fmt == "json":
            doc: dict = {"head": {"vars": list(self.variables)}}
            if self.truncated:  # before "results", so that streaming parsers see it
                doc["truncated"] = True
            doc["results"] = {
                "bindings": [
                    {v: term_to_json(t) for v, t in zip(self.variables, row, strict=True) if t is not None}
                    for row in self.rows
                ]
            }
            return json.dumps(doc, ensure_ascii=False).encode()
        if fmt == "tsv":
            lines = ["\t".join(f"?{v}" for v in self.variables)]
            lines += ["\t".join(_term_to_tsv(t) for t in row) for row in self.rows]
            return ("\n".join(lines) + "\n").encode()
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\r\n")
            writer.writerow(self.variables)
            for row in self.rows:
                writer.writerow([_term_to_csv(t) for t in row])
            return buf.getvalue().encode()
        check_xml_terms((t for row in self.rows for t in row), "JSON, CSV or TSV")
        parts = [_XML_HEAD, "<head>"]
        parts += [f"<variable name={quoteattr(v)}/>" for v in self.variables]
        parts.append("</head>\n<results>\n")
        for row in self.rows:
            parts.append("<result>")
            parts += [
                f"<binding name={quoteattr(v)}>{_term_to_xml(t)}</binding>"
                for v, t in zip(self.variables, row, strict=True)
                if t is not None
            ]
            parts.append("</result>\n")
        parts.append("</results>\n</sparql>\n")
        return "".join(parts).encode()


@dataclass(frozen=True)
class AskResult:
    """The answer of an ``ASK`` query; truthy when the pattern matched."""

    value: bool

    def __bool__(self) -> bool:
        return self.value

    def serialize(self, fmt: str = "json") -> bytes:
        """Write the boolean in a SPARQL 1.1 result format: json, xml, csv or tsv."""
        fmt = _check_format(fmt)
        word = "true" if self.value else "false"
        if fmt == "json":
            return json.dumps({"head": {}, "boolean": self.value}).encode()
        if fmt == "xml":
            return f"{_XML_HEAD}<head/>\n<boolean>{word}</boolean>\n</sparql>\n".encode()
        return f"{word}\n".encode()


@dataclass(frozen=True)
class GraphResult:
    """Triples produced by ``CONSTRUCT`` or ``DESCRIBE``; ``truncated`` when a cap cut them short."""

    triples: tuple[ox.Triple, ...]
    truncated: bool = False

    def __iter__(self) -> Iterator[ox.Triple]:
        return iter(self.triples)

    def __len__(self) -> int:
        return len(self.triples)

    def serialize(self, fmt: str = "turtle") -> bytes:
        """Write the triples as turtle, ntriples, rdfxml or jsonld (any pyoxigraph RDF format).

        Raises:
            ResultFormatError: RDF/XML was asked for and a term holds a character XML cannot carry.
        """
        from kg.formats import rdf_format

        rdf = rdf_format(fmt)
        if rdf == ox.RdfFormat.RDF_XML:
            check_xml_terms(self.triples, "Turtle, N-Triples or JSON-LD")
        return ox.serialize(self.triples, format=rdf)


QueryResult = Bindings | AskResult | GraphResult
