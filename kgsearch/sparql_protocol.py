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

from kg._endpoint import mask
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


_REACH = re.compile(r"(?<![\w:?$.-])(SERVICE|LOAD)(?![\w:-])", re.IGNORECASE)
_SILENT = re.compile(r"\s*(?:SILENT\s+)?", re.IGNORECASE)
_TARGET = re.compile(r"<([^<>\s]*)>|([A-Za-z][\w.-]*)?:([\w.-]*)|[?$](\w+)")
_PREFIX = re.compile(r"PREFIX\s+([A-Za-z][\w.-]*)?:\s*<([^<>\s]*)>", re.IGNORECASE)


def service_targets(sparql: str) -> list[str]:
    """The endpoints a request reaches with ``SERVICE`` (queries) or ``LOAD`` (updates), as written
    or resolved through its prefixes; a variable target is listed as ``?name``."""
    masked = mask(sparql)
    prefixes = {m.group(1) or "": m.group(2) for m in _PREFIX.finditer(sparql)}
    targets = []
    for match in _REACH.finditer(masked):
        at = _SILENT.match(sparql, match.end()).end()
        target = _TARGET.match(sparql, at)
        if target is None:
            targets.append(sparql[at : at + 40].strip() or "?")
        elif target.group(1) is not None:
            targets.append(target.group(1))
        elif target.group(4) is not None:
            targets.append("?" + target.group(4))
        else:
            prefix = target.group(2) or ""
            targets.append(prefixes.get(prefix, prefix + ":") + target.group(3))
    return targets


def check_services(sparql: str, allowed: frozenset[str] | set[str]) -> None:
    """Refuse a request that reaches an endpoint outside ``allowed`` (exact IRIs).

    Raises:
        ServiceNotAllowedError: Naming the first target that is not allowed.
    """
    for target in service_targets(sparql):
        if target not in allowed:
            hint = (
                f"allowed: {', '.join(sorted(allowed))}"
                if allowed
                else "this endpoint allows none; the operator can list endpoints in KGSEARCH_SERVICE_ALLOW"
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
