"""What the OpenAPI schema (``/openapi.json``) says about the service's answers.

The routes answer errors as ``{"error": {"type", "message"}}`` (:func:`kgsearch.server.error_response`);
:func:`errors` documents that body for the statuses a route can give, so that clients generated
from the schema, and contract tests (``tests/fuzz/test_api_contract.py``), know them. FastAPI's
own 422 body (``{"detail": [...]}``) is replaced, because the service never sends it.
"""

from __future__ import annotations

from typing import Any

from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from kgsearch.sparql_protocol import GRAPH_FORMATS, RESULT_FORMATS


class ErrorDetail(BaseModel):
    type: str = Field(description="The kind of error, e.g. `EntityNotFoundError` or `SparqlSyntaxError`.")
    message: str = Field(description="What went wrong and what to do about it.")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


#: When each error status is given.
_WHEN = {
    400: "The request is malformed or cannot be answered as asked (the message says why).",
    403: "Not allowed: a write without the update token, or SERVICE to an endpoint not allow-listed.",
    404: "No such entity, image or document.",
    406: "No format the client accepts can carry this result.",
    413: "The query string or the request body is over the server's size limit.",
    415: "The request body is of a media type this route does not take.",
    422: "A parameter or the body does not fit the schema.",
    429: "The client has spent its query-time budget; retry after `Retry-After` seconds.",
    501: "The model this request needs (faces, OCR, speech) is not installed on the server.",
    503: "The query ran past the time limit, or the server is busy; retry after `Retry-After` seconds.",
}

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` entries for the JSON error body under each of ``statuses``.

    >>> sorted(errors(404, 422))
    [404, 422]
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorBody, "description": _WHEN[status]}
        if status in (429, 503):
            out[status]["headers"] = _RETRY_AFTER
    return out


_BINARY = {"schema": {"type": "string", "format": "binary"}}


def file_response(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """A 200 response that is a file of one of ``media_types`` (wildcards such as ``image/*`` allowed)."""
    return {200: {"description": "The file.", "content": {media: _BINARY for media in media_types}}}


def upload_body(media_types: list[str], what: str) -> dict[str, Any]:
    """``openapi_extra`` for a route whose POST body is a file of one of ``media_types``."""
    return {"requestBody": {"required": True, "description": what, "content": {m: _BINARY for m in media_types}}}


def sparql_results(*, update: bool) -> dict[int | str, dict[str, Any]]:
    """The 200 response of ``/sparql``: result sets, graphs (CONSTRUCT, DESCRIBE and the service
    description) and, for a POST, the JSON acknowledgement of an update."""
    content: dict[str, Any] = {media: {} for media in [*RESULT_FORMATS.values(), *GRAPH_FORMATS.values()]}
    if update:
        content["application/json"] = {
            "schema": {
                "type": "object",
                "properties": {"status": {"type": "string"}, "message": {"type": "string"}},
                "required": ["status", "message"],
            }
        }
    description = "Query results in the negotiated format" + (", or the update's acknowledgement." if update else ".")
    return {200: {"description": description, "content": content}}


#: The bearer token that allows writes; declaring it lets clients (and schemathesis) send it.
update_token = HTTPBearer(
    auto_error=False,  # the routes check it themselves, with an error that says how to configure it
    scheme_name="updateToken",
    description="The server's update token (`KGSEARCH_UPDATE_TOKEN`): needed for SPARQL Update and POST /documents.",
)
