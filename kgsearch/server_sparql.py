"""``/sparql``: the SPARQL 1.1 Protocol over the engine's store.

Queries arrive by ``GET``, by URL-encoded ``POST`` or as an ``application/sparql-query`` body;
updates by URL-encoded ``POST`` or an ``application/sparql-update`` body, and only with the
update token. Queries run in :class:`~kgsearch.query_pool.QueryPool` workers so that one past
the time limit is stopped; results are capped at ``row_cap`` with a truncation flag.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import pyoxigraph as ox
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from kg._endpoint import mask, query_form
from kg.results import QueryResult
from kgsearch.server_openapi import errors, sparql_results
from kgsearch.sparql_protocol import (
    GRAPH_FORMATS,
    check_services,
    formats_for,
    media_type,
    negotiate,
    service_description,
)

_QUERY_TYPE = "application/sparql-query"
_UPDATE_TYPE = "application/sparql-update"
_FORM_TYPE = "application/x-www-form-urlencoded"
_PROTOCOL_PARAMS = {
    "query",
    "update",
    "default-graph-uri",
    "named-graph-uri",
    "using-graph-uri",
    "using-named-graph-uri",
    "format",
}

_GRAPHS = {"type": "array", "items": {"type": "string", "format": "iri"}}  # absolute IRIs
_FORMAT = {
    "name": "format",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["json", "xml", "csv", "tsv", "turtle", "ntriples", "jsonld", "rdfxml"]},
    "description": "The result format, instead of an Accept header.",
}
_GET = {
    "parameters": [
        {
            "name": "query",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "A SPARQL 1.1 query; without one, the service description.",
            "example": "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 10",
        },
        {"name": "default-graph-uri", "in": "query", "required": False, "schema": _GRAPHS},
        {"name": "named-graph-uri", "in": "query", "required": False, "schema": _GRAPHS},
        _FORMAT,
    ],
}
_POST = {
    "parameters": [
        {"name": "default-graph-uri", "in": "query", "required": False, "schema": _GRAPHS},
        {"name": "named-graph-uri", "in": "query", "required": False, "schema": _GRAPHS},
        {"name": "using-graph-uri", "in": "query", "required": False, "schema": _GRAPHS},
        {"name": "using-named-graph-uri", "in": "query", "required": False, "schema": _GRAPHS},
        _FORMAT,
    ],
    "requestBody": {
        "required": True,
        "content": {
            _QUERY_TYPE: {"schema": {"type": "string"}, "example": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"},
            _UPDATE_TYPE: {"schema": {"type": "string"},
                           "example": 'INSERT DATA { <urn:example:s> <http://www.w3.org/2000/01/rdf-schema#label> "example" }'},
            _FORM_TYPE: {"schema": {"type": "object", "properties": {"query": {"type": "string"}, "update": {"type": "string"}}},
                         "example": {"query": "ASK { ?s ?p ?o }"}},
        },
    },
    # Queries need no token, updates need the update token.
    "security": [{}, {"updateToken": []}],
}  # fmt: skip


def _one(params: list[tuple[str, str]], name: str) -> str | None:
    from kgsearch.server import BadRequestError

    values = [v for k, v in params if k == name]
    if len(values) > 1:
        raise BadRequestError(f"the request has {len(values)} '{name}' parameters; send exactly one")
    return values[0] if values else None


def _graphs(params: list[tuple[str, str]], name: str) -> tuple[str, ...] | None:
    from kgsearch.server import BadRequestError

    values = tuple(v for k, v in params if k == name)
    for v in values:
        try:
            ox.NamedNode(v)
        except ValueError:
            raise BadRequestError(f"{name}={v!r} is not an absolute IRI") from None
    return values or None


_TOKEN = re.compile(r"[{}]|[A-Za-z]+")


def with_using(update: str, default: tuple[str, ...] | None, named: tuple[str, ...] | None) -> str:
    """Apply the protocol's ``using-graph-uri`` / ``using-named-graph-uri`` to each ``DELETE/INSERT ... WHERE``
    of an update, as ``USING`` clauses.

    >>> with_using("DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }", ("http://ex/g",), None)
    'DELETE { ?s ?p ?o }  USING <http://ex/g> WHERE { ?s ?p ?o }'

    Raises:
        BadRequestError: The update names its own dataset (``USING``, ``WITH``).
    """
    from kgsearch.server import BadRequestError

    if not default and not named:
        return update
    masked = mask(update)
    clause = " " + " ".join([f"USING <{g}>" for g in default or ()] + [f"USING NAMED <{g}>" for g in named or ()]) + " "
    depth, previous, inserts = 0, "", []
    for m in _TOKEN.finditer(masked):
        word = m.group(0)
        upper = word.upper()
        if word == "{":
            depth += 1
        elif word == "}":
            depth -= 1
        elif depth == 0 and upper in ("USING", "WITH"):
            raise BadRequestError(
                f"the update has its own {upper} clause and the request gives using-graph-uri/using-named-graph-uri; use one of them"
            )
        elif depth == 0 and upper == "WHERE" and previous != "DELETE":
            inserts.append(m.start())
        if word not in "{}":
            previous = upper
    for at in reversed(inserts):
        update = update[:at] + clause + update[at:]
    return update


def add_sparql_routes(app: FastAPI, state) -> None:
    from kgsearch.server import BadRequestError, UnsupportedMediaTypeError

    settings = state.settings

    def run_query(query: str, default_graph, named_graphs, base_iri: str) -> QueryResult:
        from retrieval.sparql_text import TextSparql, has_text_patterns

        engine = state.engine
        if has_text_patterns(query):
            with state.lock:
                query = TextSparql(engine.store, engine.text_index()).rewrite(query)
        if state.pool is None:  # a remote store: its own client enforces the timeout
            if default_graph or named_graphs:
                raise BadRequestError(
                    "default-graph-uri/named-graph-uri need the embedded store; use FROM in the query"
                )
            return engine.store.query(f"BASE <{base_iri}>\n{query}")
        return state.pool.run(
            query, cap=settings.row_cap, default_graph=default_graph, named_graphs=named_graphs, base_iri=base_iri
        )

    def run_update(update: str, base_iri: str) -> None:
        with state.lock:
            state.engine.store.update(update, base_iri=base_iri)
            state.changed(catalogue_stale=True)

    async def endpoint(request: Request):
        params = parse_qsl(request.url.query, keep_blank_values=True)
        query = update = None
        if request.method == "POST":
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            body = await request.body()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise BadRequestError(f"the request body is not UTF-8 (byte {e.start})") from None
            if media == _FORM_TYPE:
                params += parse_qsl(text, keep_blank_values=True)
            elif media == _QUERY_TYPE:
                query = text
            elif media == _UPDATE_TYPE:
                update = text
            else:
                raise UnsupportedMediaTypeError(
                    f"POST /sparql takes {_FORM_TYPE}, {_QUERY_TYPE} or {_UPDATE_TYPE}, not {media or 'no content type'}"
                )
        for name in ("query", "update"):
            value = _one(params, name)
            if value is not None:
                if query is not None or update is not None:
                    raise BadRequestError("send one query or one update per request, not both or twice")
                query, update = (value, None) if name == "query" else (None, value)
        for name in ("default-graph-uri", "named-graph-uri", "using-graph-uri", "using-named-graph-uri"):
            _graphs(params, name)  # a malformed graph IRI is an error even where the parameter does not apply
        if update is not None:
            if request.method != "POST":
                raise BadRequestError("updates must be sent with POST")
            return await _update(request, params, update)
        if query is None:
            if request.method == "POST":
                raise BadRequestError("no query: send query= (or update=) or a SPARQL body")
            return _description(request)
        if not query.strip():
            raise BadRequestError("the query is empty")
        check_services(query, settings.service_allow)
        form = query_form(query)
        fmt = negotiate(request.headers.get("accept"), form, [v for k, v in params if k == "format"])
        result = await run_in_threadpool(
            run_query,
            query,
            _graphs(params, "default-graph-uri"),
            _graphs(params, "named-graph-uri"),
            _base(request),
        )
        actual = "CONSTRUCT" if hasattr(result, "triples") else "SELECT"
        if fmt not in formats_for(actual):  # the form was guessed wrong: negotiate again for what came back
            fmt = negotiate(request.headers.get("accept"), actual, None)
        headers = {"Vary": "Accept"}
        if getattr(result, "truncated", False):
            headers["X-KGSearch-Truncated"] = "true"
            headers["X-KGSearch-Row-Cap"] = str(settings.row_cap)
        return Response(result.serialize(fmt), media_type=media_type(fmt), headers=headers)

    async def _update(request: Request, params, update: str):
        state.check_token(request.headers.get("authorization"))
        check_services(update, settings.service_allow)
        update = with_using(update, _graphs(params, "using-graph-uri"), _graphs(params, "using-named-graph-uri"))
        await run_in_threadpool(run_update, update, _base(request))
        return JSONResponse({"status": "ok", "message": "update applied"})

    def _description(request: Request) -> Response:
        fmt = negotiate(request.headers.get("accept"), "DESCRIBE", [v for k, v in params_of(request) if k == "format"])
        turtle = service_description(str(request.url.replace(query="")), updates=bool(settings.update_token))
        body = (
            turtle.encode()
            if fmt == "turtle"
            else ox.serialize(
                ox.parse(turtle, format=ox.RdfFormat.TURTLE), format=ox.RdfFormat.from_media_type(GRAPH_FORMATS[fmt])
            )
        )
        return Response(body, media_type=media_type(fmt))

    for method in ("GET", "POST"):
        app.add_api_route(
            "/sparql",
            endpoint,
            methods=[method],
            tags=["sparql"],
            summary=f"SPARQL 1.1 Protocol ({method})",
            description="Queries (and, with the update token, updates) per the SPARQL 1.1 Protocol; "
            "GET without a query returns the service description.",
            openapi_extra=_GET if method == "GET" else _POST,
            response_class=Response,
            responses={
                **sparql_results(update=method == "POST"),
                **errors(400, 403, 406, 413, *([415] if method == "POST" else []), 503),
            },
            operation_id=f"sparql_{method.lower()}",
        )


def _base(request: Request) -> str:
    """The base IRI of a request's query or update: the endpoint's own URL."""
    return str(request.url.replace(query="", fragment=""))


def params_of(request: Request) -> list[tuple[str, Any]]:
    return parse_qsl(request.url.query, keep_blank_values=True)
