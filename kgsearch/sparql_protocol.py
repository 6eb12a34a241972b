"""The pieces of the SPARQL 1.1 Protocol that do not depend on the web framework.

Content negotiation between the result formats, the ``SERVICE`` allow-list, and the service
description served at ``GET /sparql``.

>>> negotiate("text/csv;q=0.5, application/sparql-results+xml", "SELECT")
'xml'
>>> negotiate(None, "CONSTRUCT")
'turtle'
>>> service_targets('PREFIX e: <http://ex/> SELECT * { SERVICE SILENT e:sparql { ?s ?p ?o } }')
['http://ex/sparql']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kg.errors import KgError

#: Result formats for SELECT and ASK, by format name; the first is the default.
RESULT_FORMATS = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
}

#: RDF formats for CONSTRUCT and DESCRIBE (and the service description); the first is the default.
GRAPH_FORMATS = {
    "turtle": "text/turtle",
    "ntriples": "application/n-triples",
    "jsonld": "application/ld+json",
    "rdfxml": "application/rdf+xml",
}

#: Media types clients send that mean one of the above.
_ALIASES = {
    "application/json": "json",
    "application/sparql-results+json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/sparql-results+xml": "xml",
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "application/n-triples": "ntriples",
    "text/plain": "ntriples",
    "application/ld+json": "jsonld",
    "application/rdf+xml": "rdfxml",
}

#: ``format=`` values accepted besides the names above.
_FORMAT_NAMES = {
    "ttl": "turtle",
    "nt": "ntriples",
    "n-triples": "ntriples",
    "json-ld": "jsonld",
    "rdf": "rdfxml",
    "rdf+xml": "rdfxml",
    "n3": "turtle",  # Turtle is N3 without its extensions; N3 parsers read it
}

#: Result-format names read as their RDF counterparts when the result is a graph.
_GRAPH_READINGS = {"xml": "rdfxml", "json": "jsonld"}


class NotAcceptableError(KgError, ValueError):
    """No format the client accepts can carry this kind of result."""


class ServiceNotAllowedError(KgError, PermissionError):
    """A query reaches out with ``SERVICE`` (or an update with ``LOAD``) to an endpoint not allow-listed."""


def formats_for(form: str | None) -> dict[str, str]:
    """The formats a query form can answer in: graphs for CONSTRUCT/DESCRIBE, result sets otherwise."""
    return GRAPH_FORMATS if form in ("CONSTRUCT", "DESCRIBE") else RESULT_FORMATS


def _accepted(accept: str) -> list[tuple[float, int, str]]:
    ranges = []
    for position, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((q, position, media))
    return ranges


def negotiate(accept: str | None, form: str | None, requested: str | Sequence[str] | None = None) -> str:
    """The format name to answer in: the ``format`` parameter if given, else the best match of the
    ``Accept`` header, else the form's default.

    ``format`` is not part of the SPARQL Protocol; clients such as SPARQLWrapper send it (several
    times, as names or media types) besides ``Accept``. A name of a result format is read for a
    graph as its RDF counterpart (``xml`` as RDF/XML, ``json`` as JSON-LD, ``n3`` as Turtle); the
    first value this query form can answer in wins.

    Raises:
        NotAcceptableError: Neither the requested format nor any accepted type can carry this query form's result.
    """
    offered = formats_for(form)
    kind = "graph" if offered is GRAPH_FORMATS else "result set"
    values = [requested] if isinstance(requested, str) else list(requested or ())
    names = [_format_name(part, offered) for value in values for part in value.split(",") if part.strip()]
    usable = [name for name in names if name in offered]
    if usable:
        return usable[0]
    if values:
        raise NotAcceptableError(
            f"format {', '.join(values)!r} cannot carry a {kind} ({form or 'query'}); use one of: {', '.join(offered)}"
        )
    if not accept or not accept.strip():
        return next(iter(offered))
    best: tuple[float, int, str] | None = None
    for q, position, media in _accepted(accept):
        if q <= 0:
            continue
        if media in ("*/*", "application/*", "text/*"):
            major = media.split("/")[0]
            name = next(
                (n for n, m in offered.items() if major == "*" or m.startswith(major + "/")),
                None,
            )
        else:
            name = _ALIASES.get(media)
            if name not in offered:
                name = None
        if name is not None and (best is None or (q, -position) > (best[0], -best[1])):
            best = (q, position, name)
    if best is None:
        raise NotAcceptableError(
            f"none of the accepted types ({accept}) can carry a {kind}; accept one of: {', '.join(offered.values())}"
        )
    return best[2]


def _format_name(value: str, offered: dict[str, str]) -> str:
    """A ``format`` value as a format name: a name, an alias, or a media type."""
    name = value.strip().lower()
    name = _FORMAT_NAMES.get(name) or _ALIASES.get(name) or name
    if offered is GRAPH_FORMATS:
        name = _GRAPH_READINGS.get(name, name)
    return name


def media_type(fmt: str) -> str:
    """The media type of a format name (with ``charset`` for text types)."""
    media = RESULT_FORMATS.get(fmt) or GRAPH_FORMATS[fmt]
    return media + "; charset=utf-8" if media.startswith("text/") or media.endswith("json") else media


# A SPARQL lexer for the SERVICE/LOAD check. It must see every keyword the query engine sees:
# comments end at CR as well as LF, and prefixed names may hold escaped ' and # (ex:a\'), which
# a lexer without them takes for the start of a string or a comment, hiding what follows.
_PLX = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%]"
_LEX = re.compile(
    "|".join(
        [
            r"(?P<ws>\s+)",
            r"(?P<comment>#[^\n\r]*)",
            r'(?P<string>"""(?:[^"\\]|\\.|"(?!""))*"""|' + r"'''(?:[^'\\]|\\.|'(?!''))*'''|"
            r'"(?:[^"\\\n\r]|\\.)*"|' + r"'(?:[^'\\\n\r]|\\.)*')",
            r"(?P<iri><[^<>\"{}|^`\\\x00-\x20]*>)",
            r"(?P<var>[?$]\w+)",
            rf"(?P<pname>(?:[^\W\d_](?:[\w.\-]*[\w\-])?)?:(?:(?:[\w:]|{_PLX})(?:(?:[\w.:\-]|{_PLX})*(?:[\w:\-]|{_PLX}))?)?)",
            r"(?P<word>\w+)",
            r"(?P<other>.)",
        ]
    ),
    re.DOTALL,
)
_REACH_WORDS = ("SERVICE", "LOAD")
_LOCAL_ESCAPE = re.compile(r"\\(.)")


def _tokens(sparql: str) -> list[tuple[str, str]]:
    return [(m.lastgroup or "other", m.group()) for m in _LEX.finditer(sparql) if m.lastgroup not in ("ws", "comment")]


def _glued(text: str) -> bool:
    """Whether a word or a prefix holds SERVICE or LOAD: Oxigraph reads keywords without a word
    boundary (``SERVICEex:a``, ``trueSERVICE<...>``; ``service:a`` is ``SERVICE`` to ``:a``)."""
    upper = text.upper()
    return any(word in upper for word in _REACH_WORDS)


def service_targets(sparql: str) -> list[str]:
    """The endpoints a request reaches with ``SERVICE`` (queries) or ``LOAD`` (updates), as written
    or resolved through its prefixes (to every IRI the prefix is declared with, if more than one).

    What does not resolve to one absolute IRI comes back as written, so that no allow-list
    matches it: a variable (``?name``), a relative IRI, an undeclared prefix, and the keyword run
    into a neighbouring word or prefix (``SERVICEex:a``, ``service:a``, ``SERVICE SILENT:a``),
    which Oxigraph reads as a ``SERVICE`` all the same.

    >>> service_targets("PREFIX e: <http://ex/> ASK { # a comment\\rSERVICE e:s {} }")
    ['http://ex/s']
    >>> service_targets("ASK { ?s ?p ?o .SERVICE ?g {} } # SERVICE <http://ex/x>")
    ['?g']
    """
    tokens = _tokens(sparql)
    prefixes: dict[str, set[str]] = {}
    declared: set[int] = set()
    for i in range(len(tokens) - 2):
        (kind, text), name, iri = tokens[i], tokens[i + 1], tokens[i + 2]
        if kind == "word" and text.upper() == "PREFIX" and name[0] == "pname" and iri[0] == "iri":
            prefixes.setdefault(name[1][:-1], set()).add(iri[1][1:-1])
            declared.add(i + 1)
    targets: list[str] = []
    for i, (kind, text) in enumerate(tokens):
        if kind == "word" and text.upper() in _REACH_WORDS:
            at = i + 1
            if at < len(tokens) and tokens[at][0] == "word" and tokens[at][1].upper() == "SILENT":
                at += 1
            targets += _resolve(tokens[at] if at < len(tokens) else ("other", ""), prefixes)
        elif (kind == "word" and _glued(text)) or (
            kind == "pname" and i not in declared and _glued(text.split(":")[0])
        ):
            targets.append(text)
    return targets


def _resolve(token: tuple[str, str], prefixes: dict[str, set[str]]) -> list[str]:
    kind, text = token
    if kind == "iri":
        return [text[1:-1]]
    if kind == "pname":
        prefix, _, local = text.partition(":")
        if prefix.upper().startswith("SILENT") or prefix not in prefixes:
            return [text]  # SILENT run into the target, or an undeclared prefix
        return sorted(iri + _LOCAL_ESCAPE.sub(r"\1", local) for iri in prefixes[prefix])
    return [text or "(nothing)"]


def check_services(sparql: str, allowed: frozenset[str] | set[str]) -> None:
    """Refuse a request that reaches an endpoint outside ``allowed`` (exact, absolute IRIs).

    Raises:
        ServiceNotAllowedError: Naming the first target that is not allowed.
    """
    for target in service_targets(sparql):
        if target in allowed and target.lower().startswith(("http://", "https://")):
            continue
        hint = (
            f"allowed: {', '.join(sorted(allowed))}"
            if allowed
            else "this endpoint allows none; the operator can list endpoints in KGSEARCH_SERVICE_ALLOW"
        )
        if not target.lower().startswith(("http://", "https://")):
            hint += (
                "; SERVICE and LOAD need an absolute IRI written apart from the keyword, and a word or "
                "prefix holding SERVICE or LOAD reads as the keyword (rename such a prefix)"
            )
        raise ServiceNotAllowedError(f"requests to {target} are not allowed from this endpoint ({hint})")


def service_description(endpoint: str, *, updates: bool) -> str:
    """A SPARQL 1.1 Service Description of the endpoint, in Turtle."""
    languages = "sd:SPARQL11Query" + (", sd:SPARQL11Update" if updates else "")
    formats = ", ".join(
        f"<http://www.w3.org/ns/formats/{name}>"
        for name in ("SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV",
                     "Turtle", "N-Triples", "JSON-LD", "RDF_XML")
    )  # fmt: skip
    return f"""@prefix sd: <http://www.w3.org/ns/sparql-service-description#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .

[] a sd:Service ;
    rdfs:label "kgsearch SPARQL endpoint" ;
    sd:endpoint <{endpoint}> ;
    sd:supportedLanguage {languages} ;
    sd:resultFormat {formats} ;
    sd:feature sd:BasicFederatedQuery ;
    sd:defaultDataset [ a sd:Dataset ; sd:defaultGraph [ a sd:Graph ] ] .
"""
