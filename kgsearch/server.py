"""The HTTP service: entity-centric API, the SPARQL 1.1 endpoint and the analyst console.

``create_app(engine)`` returns a FastAPI app over one :class:`~kgsearch.engine.Engine`;
``kgsearch serve`` runs it with uvicorn on 127.0.0.1. OpenAPI is at ``/docs``.

* ``GET /entities/{ref}`` (card), ``/entities/{ref}/neighbors``, ``/search``, ``/ask``,
  ``/suggest``, ``POST /documents``: JSON, errors as ``{"error": {"type", "message"}}``
  with the status from :data:`ERROR_STATUS`.
* ``/sparql``: the SPARQL 1.1 Protocol (:mod:`kgsearch.server_sparql`).
* ``/console``: the analyst console (static files in ``kgsearch/console``).

Each client's SPARQL queries, questions, searches, links and cards are charged to its
query-time budget (:mod:`kgsearch.budget`); a client out of budget gets 429 with ``Retry-After``.
"""

from __future__ import annotations

import hmac
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from kg._oxigraph import OxigraphStore
from kg.errors import EntityNotFoundError, InputFileError, KgError, ResultFormatError, SparqlSyntaxError, StoreError
from kgsearch import __version__
from kgsearch.budget import BudgetMiddleware, ClientBudgets, QueryBudgetExceededError
from kgsearch.cards import CardBuilder
from kgsearch.engine import Engine
from kgsearch.query_pool import QueryPool, QueryTimeoutError, ServerBusyError
from kgsearch.server_openapi import errors, file_response, update_token, upload_body
from kgsearch.settings import ServerSettings
from kgsearch.sparql_protocol import NotAcceptableError, ServiceNotAllowedError
from kgsearch.suggest import SuggestIndex, ontology_prefixes
from linking.errors import InputAudioError, InputImageError, InputTextError, LinkingError, ModelUnavailableError
from parser.errors import ParseError
from retrieval.errors import QuerySyntaxError, RetrievalError, TextQueryTooBroadError
from retrieval.provenance import MENTIONS_GRAPH, document_iri
from retrieval.sources import SourceError

log = logging.getLogger("kgsearch.server")

CONSOLE_DIR = Path(__file__).with_name("console")


class RequestTooLargeError(KgError, ValueError):
    """A request body or query string is over the server's size limit."""


class UpdateNotAllowedError(KgError, PermissionError):
    """A write (SPARQL Update, document ingestion) without the update token."""


class BadRequestError(KgError, ValueError):
    """A request that breaks the protocol (missing or repeated parameters, wrong media type)."""


class DocumentNotFoundError(LookupError):
    """No ingested image or audio document has this id (or its file is gone)."""


class UnsupportedMediaTypeError(BadRequestError):
    """A POST body of a media type the route does not take."""


#: One table from exception type to HTTP status; the first matching entry (in order) wins.
ERROR_STATUS: list[tuple[type[BaseException], int]] = [
    (EntityNotFoundError, 404),
    (DocumentNotFoundError, 404),
    (UnsupportedMediaTypeError, 415),
    (BadRequestError, 400),
    (RequestTooLargeError, 413),
    (NotAcceptableError, 406),
    (ResultFormatError, 406),  # e.g. a control character asked for as XML
    (ServiceNotAllowedError, 403),
    (UpdateNotAllowedError, 403),
    (QueryTimeoutError, 503),
    (ServerBusyError, 503),
    (QueryBudgetExceededError, 429),
    (SparqlSyntaxError, 400),
    (QuerySyntaxError, 400),
    (TextQueryTooBroadError, 400),
    (ParseError, 400),
    (InputTextError, 400),
    (InputImageError, 400),
    (InputAudioError, 400),
    (ModelUnavailableError, 501),
    (SourceError, 400),
    (InputFileError, 400),
    (StoreError, 500),
    (LinkingError, 500),
    (RetrievalError, 500),
    (KgError, 400),
    (ValueError, 400),
]

#: Routes whose POST body is a file (documents, an example image, a spoken question): the upload limit applies.
UPLOAD_PATHS = ("/documents", "/search", "/ask")

#: Suffixes for uploaded example files, by content type.
UPLOAD_SUFFIXES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
}

#: Seconds a client is asked to wait after a 503.
RETRY_AFTER = 5

#: Files ``GET /images`` serves (raster pictures only).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})

#: Routes charged to the client's query-time budget (:mod:`kgsearch.budget`): those whose work
#: grows with what the client asks. Not charged: /health, /suggest (one request per keystroke,
#: answered from memory), /prefixes, /examples, files (/images, /documents/{id}/media, /console),
#: and the API docs.
BUDGETED_PATHS = frozenset({"/sparql", "/ask", "/search", "/link", "/documents"})


def budgeted(path: str) -> bool:
    """Whether a request path is charged to the client's query-time budget."""
    path = path.rstrip("/")
    return path in BUDGETED_PATHS or (path.startswith("/entities/") and path != "/entities")


def status_of(error: BaseException) -> int:
    """The HTTP status for an exception (500 for anything not in :data:`ERROR_STATUS`)."""
    for kind, status in ERROR_STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_response(error: BaseException, status: int | None = None) -> JSONResponse:
    status = status or status_of(error)
    message = str(error) or type(error).__name__
    if status == 500 and not isinstance(error, KgError | LinkingError | RetrievalError):
        log.exception("unexpected error", exc_info=error)
        message = f"internal error ({type(error).__name__}); the server log has the details"
    retry_after = getattr(error, "retry_after", RETRY_AFTER)
    headers = {"Retry-After": str(retry_after)} if status in (429, 503) else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": {"type": type(error).__name__, "message": message}}, status, headers=headers)


class _BodyLimit:
    """ASGI middleware: refuse bodies and query strings over the limits with 413, before reading them all."""

    def __init__(self, app, settings: ServerSettings):
        self.app = app
        self.settings = settings

    def _limit(self, path: str) -> int:
        s = self.settings
        return s.max_upload_bytes if path.rstrip("/") in UPLOAD_PATHS else s.max_request_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit(scope.get("path", ""))
        too_large = None
        if len(scope.get("query_string", b"")) > self.settings.max_request_bytes:
            too_large = (
                f"the query string is over {self.settings.max_request_bytes:,} bytes; send the query in a POST body"
            )
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                too_large = f"the request body ({int(value):,} bytes) is over the limit of {limit:,} bytes"
        if too_large:
            return await error_response(RequestTooLargeError(too_large))(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise RequestTooLargeError(f"the request body is over the limit of {limit:,} bytes")
            return message

        return await self.app(scope, counted, send)


def _add_budget(app: FastAPI, state: ServerState) -> None:
    """Charge budgeted routes to each client's query-time budget; writes with the update token are free."""
    if state.budgets is None:
        return

    def exempt(scope) -> bool:
        # The token holder can already rewrite the KB; charging its loads and ingests would
        # lock the operator out of its own endpoint.
        try:
            state.check_token(Headers(scope=scope).get("authorization"))
        except UpdateNotAllowedError:
            return False
        return True

    app.add_middleware(
        BudgetMiddleware,
        budgets=state.budgets,
        charged=budgeted,
        exempt=exempt,
        refuse=error_response,
        trust_forwarded=state.settings.trust_forwarded,
    )


class ServerState:
    """What the routes share: the engine, the query pool, caches, and the write lock."""

    def __init__(self, engine: Engine, settings: ServerSettings):
        self.engine = engine
        self.settings = settings
        self.cards = CardBuilder(engine)
        self.pool: QueryPool | None = None
        self.lock = threading.RLock()  # the engine's lazily built parts and every write
        self._suggest: SuggestIndex | None = None
        self._catalogue_stale = False
        self._sizes: dict[str, int] | None = None
        self._sizes_lock = threading.Lock()
        self.ready = threading.Event()  # the parser and the suggestion index are built
        self.started = time.time()
        self.budgets = (
            ClientBudgets(settings.client_budget, settings.client_window, concurrency=settings.client_concurrency)
            if settings.client_budget
            else None
        )

    def start(self) -> None:
        store = self.engine.store
        if isinstance(store, OxigraphStore) and store.path is not None:
            store.flush()
            self.pool = QueryPool(store.path, workers=self.settings.query_workers, timeout=self.settings.query_timeout)

        if self.settings.warm_up:
            threading.Thread(target=self._warm_up, daemon=True, name="kgsearch-warm-up").start()
        else:
            self.ready.set()

    def _warm_up(self) -> None:
        try:
            with self.lock:
                if self.engine.catalogue and not self._catalogue_stale:
                    self.engine.parser()
            self.suggest_index()
        except Exception:  # noqa: BLE001 - the first request will raise it properly
            log.warning("warm-up failed; the first request will build what it needs", exc_info=True)
        finally:
            self.ready.set()

    def sizes(self) -> dict[str, int]:
        """Triples, entities and documents, counted once per change of the KB (not under the
        engine lock, so that /health answers while the warm-up builds the parser)."""
        with self._sizes_lock:
            if self._sizes is None:
                engine = self.engine
                home = engine.settings.home
                self._sizes = {
                    "triples": engine.store.count(),
                    "entities": len(engine.catalogue),
                    "documents": len(engine.ledger()) if (home / "ingest.sqlite").exists() else 0,
                }
            return self._sizes

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def changed(self, *, catalogue_stale: bool = False) -> None:
        """The KB changed: query workers reopen the store, caches are rebuilt on next use."""
        if self.pool is not None:
            self.pool.invalidate()
        self.cards.refresh()
        self._suggest = None
        self._sizes = None
        self._catalogue_stale = self._catalogue_stale or catalogue_stale

    def fresh_engine(self) -> Engine:
        """The engine, with the catalogue rebuilt first if a SPARQL update changed the KB."""
        with self.lock:
            if self._catalogue_stale:
                self.engine.rebuild_catalogue()
                self._catalogue_stale = False
        return self.engine

    def suggest_index(self) -> SuggestIndex:
        with self.lock:
            if self._suggest is None:
                engine = self.fresh_engine()
                self._suggest = SuggestIndex.build(engine.catalogue, self.cards.ontology)
            return self._suggest

    def check_token(self, authorization: str | None) -> None:
        token = self.settings.update_token
        if not token:
            raise UpdateNotAllowedError(
                "this endpoint is read-only; start the server with KGSEARCH_UPDATE_TOKEN set to allow writes"
            )
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise UpdateNotAllowedError("writes need the header 'Authorization: Bearer <update token>'")


def create_app(engine: Engine, settings: ServerSettings | None = None) -> FastAPI:
    """The FastAPI app over ``engine``; the caller keeps ownership of the engine (and closes it)."""
    settings = settings or ServerSettings()
    state = ServerState(engine, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(
        title="kgsearch",
        version=__version__,
        description=(
            "Semantic search over a knowledge graph and documents: entity cards, hybrid search, "
            "questions answered with SPARQL and evidence, and a SPARQL 1.1 endpoint at `/sparql`."
        ),
        lifespan=lifespan,
    )
    app.state.kgsearch = state
    app.add_middleware(_BodyLimit, settings=settings)
    _add_budget(app, state)

    async def _known_error(request: Request, error: Exception):
        return error_response(error)

    # Handlers for the table's types answer in place; the catch-all Exception one also logs the
    # traceback (Starlette re-raises to the server after sending the 500).
    for kind in {kind for kind, _ in ERROR_STATUS} | {Exception}:
        app.add_exception_handler(kind, _known_error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in error.errors())
        return error_response(BadRequestError(f"invalid request: {problems}"), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException):
        kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(error.status_code, "HTTPError")
        message = {
            404: f"no route {request.url.path}; see /docs for the API",
            405: f"{request.method} is not allowed on {request.url.path}; see /docs",
        }.get(error.status_code, str(error.detail))
        headers = error.headers
        if error.status_code == 405:  # Starlette's Allow names the first route of the path only
            allowed = {
                m
                for route in app.router.routes
                if route.matches(request.scope)[0] == Match.PARTIAL
                for m in route.methods or ()
            }
            headers = {"Allow": ", ".join(sorted(allowed))} if allowed else headers
        return JSONResponse({"error": {"type": kind, "message": message}}, error.status_code, headers=headers)

    _entity_routes(app, state)
    from kgsearch.server_sparql import add_sparql_routes

    add_sparql_routes(app, state)
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")

    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("/console/")

    return app


Limit = Annotated[int, Query(ge=1, le=1000, description="Most results to return.")]


def _entity_routes(app: FastAPI, state: ServerState) -> None:
    @app.get("/health", tags=["service"], responses=errors(413))
    def health() -> dict[str, Any]:
        """Liveness, sizes, and ``ready``: whether the parser and the suggestion index are built
        (until then the first /ask or /suggest waits for them)."""
        return {
            "status": "ok",
            "version": __version__,
            **state.sizes(),
            "ready": state.ready.is_set(),
            "query_workers": state.settings.query_workers if state.pool else 0,
            "uptime_s": round(time.time() - state.started, 1),
        }

    @app.get("/entities/{ref:path}/neighbors", tags=["entities"], responses=errors(404, 413, 422))
    def neighbors(ref: str, limit: Limit = 50) -> dict[str, Any]:
        """The entity's neighbourhood: entities one hop away in either direction, and the edges."""
        engine = state.fresh_engine()
        with state.lock:
            engine.entity(ref)
        return state.cards.neighbors(ref, limit=limit)

    @app.get("/entities/{ref:path}", tags=["entities"], responses=errors(404, 413, 422))
    def entity(ref: str, documents: Annotated[int, Query(ge=0, le=100)] = 5) -> dict[str, Any]:
        """The entity card: labels, types, description, facts by property, images, documents that mention it.

        `ref` is the entity's IRI (percent-encoded or not) or a name.
        """
        state.fresh_engine()
        with state.lock:
            return state.cards.card(ref, documents=documents)

    @app.get(
        "/images",
        tags=["entities"],
        response_class=FileResponse,
        responses={**file_response("image/*"), **errors(404, 413, 422)},
    )
    def image(iri: Annotated[str, Query(description="A file: IRI the KB gives as an entity's image.")]):
        """A local image file that the KB names as an entity's picture."""
        path = state.cards.image_file(iri)
        # Only picture files: a KB (or a SPARQL update) that names any file as an image must not
        # make its bytes readable, and an SVG served from here could script the console.
        if path is None or path.suffix.lower() not in IMAGE_SUFFIXES:
            raise EntityNotFoundError(f"{iri} is not a local image of any entity in the KB")
        return FileResponse(path)

    @app.get(
        "/documents/{doc_id:path}/media",
        tags=["documents"],
        response_class=FileResponse,
        responses={**file_response("image/*", "audio/*"), **errors(404, 413, 422)},
    )
    def document_media(doc_id: str):
        """The image or audio file an ingested document was read from (card mentions point here)."""
        path = state.cards.media_file(doc_id)
        if path is None:
            raise DocumentNotFoundError(f"{doc_id!r} is not an ingested image or audio document with its file in place")
        return FileResponse(path)

    @app.get("/search", tags=["search"], responses=errors(400, 413, 422))
    def search(
        q: Annotated[str, Query(max_length=2000, description='Keywords and "quoted phrases".')],
        limit: Limit = 10,
        entity: Annotated[list[str] | None, Query(description="Keep documents that mention these entity IRIs.")] = None,
    ) -> dict[str, Any]:
        """Documents (BM25 and vectors fused) and the entities they mention, with evidence."""
        engine = state.fresh_engine()
        with state.lock:
            return engine.search(q, limit=limit, entities=entity or ()).as_json()

    @app.get("/ask", tags=["search"], responses=errors(400, 413, 422))
    def ask(
        q: Annotated[str, Query(max_length=2000, description="A question in English.")],
        limit: Limit = 10,
    ) -> dict[str, Any]:
        """Answers to a question: the generated SPARQL, confidence, and answers with evidence (KB, text, vectors)."""
        engine = state.fresh_engine()
        with state.lock:
            return engine.ask(q, limit=limit).as_json()

    @app.post(
        "/search",
        tags=["search"],
        responses=errors(400, 413, 415, 422, 501),
        openapi_extra=upload_body(_upload_types("image/"), "An example image."),
    )
    async def search_by_example(
        request: Request,
        q: Annotated[str, Query(max_length=2000, description="Optional keywords to rank the documents.")] = "",
        limit: Limit = 10,
    ) -> dict[str, Any]:
        """Query by example: POST an image (``Content-Type: image/jpeg``, ``image/png`` or ``image/webp``).

        Returns what was recognised in it (faces with boxes, words; ``links``), the KB entities
        among them with their scores (``entities``), and the documents that mention any of them.
        """
        body = await _upload(request, "image/")
        engine = state.fresh_engine()
        with _spooled(body, request) as path:
            return await run_in_threadpool(
                _locked, state, lambda: engine.search_by_example(path, q, limit=limit).as_json()
            )

    @app.post(
        "/ask",
        tags=["search"],
        responses=errors(400, 413, 415, 422, 501),
        openapi_extra=upload_body(_upload_types("audio/"), "A spoken question."),
    )
    async def ask_spoken(request: Request, limit: Limit = 10) -> dict[str, Any]:
        """A spoken question: POST audio (``audio/wav``, ``audio/mpeg`` or ``audio/flac``); it is
        transcribed and answered like ``GET /ask``, and the answer carries the ``transcript``."""
        body = await _upload(request, "audio/")
        engine = state.fresh_engine()

        def answer() -> dict[str, Any]:
            with _spooled(body, request) as path:
                transcript = engine.transcribe(path)
            return {"transcript": transcript, **engine.ask(transcript, limit=limit).as_json()}

        return await run_in_threadpool(_locked, state, answer)

    @app.get("/link", tags=["search"], responses=errors(400, 413, 422))
    def link(
        text: Annotated[str, Query(max_length=20000, description="Text whose entity mentions to find.")],
        noisy: Annotated[bool, Query(description="Transcripts or OCR: no reliable case or punctuation.")] = False,
        question: Annotated[bool, Query(description="Rank the topic entities of a question.")] = False,
    ) -> dict[str, Any]:
        """Entity links in a text: surface, span, entity, score and method per mention."""
        engine = state.fresh_engine()
        with state.lock:
            links = engine.link(text, noisy=noisy, question=question)
        return {"text": text, "links": [link.as_json() for link in links]}

    @app.get("/suggest", tags=["search"], responses=errors(413, 422))
    def suggest(
        q: Annotated[str, Query(max_length=200, description="What the user typed so far.")],
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        kind: Annotated[
            list[Literal["entity", "class", "property", "prefix"]] | None, Query(description="Kinds to suggest.")
        ] = None,
    ) -> dict[str, Any]:
        """Autocompletion over entity labels and aliases, ontology terms and prefixes."""
        found = state.suggest_index().suggest(q, limit=limit, kinds=kind)
        return {"query": q, "suggestions": [s.as_json() for s in found]}

    @app.get("/prefixes", tags=["search"], responses=errors(413))
    def prefixes() -> dict[str, Any]:
        """Prefixes for SPARQL: the standard ones and the KB ontology's namespaces."""
        return {"prefixes": ontology_prefixes(state.cards.ontology)}

    @app.get("/examples", tags=["search"], responses=errors(413))
    def examples() -> dict[str, Any]:
        """Example SPARQL queries and questions for this KB."""
        from kgsearch.examples import examples_for

        return examples_for(state.fresh_engine(), ontology_prefixes(state.cards.ontology))

    @app.post(
        "/documents",
        tags=["documents"],
        responses=errors(400, 403, 413, 422),
        dependencies=[Security(update_token)],
    )
    def documents(
        request: Request,
        body: Annotated[
            dict[str, Any],
            Body(
                examples=[{"documents": [{"id": "d1", "title": "Rebecca", "text": "Rebecca is a 1940 film."}]}],
                description='{"documents": [{"id", "text", "title"?, other fields kept as metadata}]}',
            ),
        ],
        vectors: Annotated[bool | None, Query(description="Embed passages (default: if the home has vectors).")] = None,
    ) -> dict[str, Any]:
        """Ingest documents (needs the update token): link them, index them, and return their links."""
        state.check_token(request.headers.get("authorization"))
        docs = body.get("documents")
        if not isinstance(docs, list) or not docs:
            raise BadRequestError('send {"documents": [{"id": ..., "text": ...}, ...]} with at least one document')
        ids = []
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict):
                raise BadRequestError(f"documents[{i}] is not an object with id and text")
            ids.append(str(doc.get("id", doc.get("doc_id", doc.get("_id", "")))))
        engine = state.fresh_engine()
        with state.lock, tempfile.TemporaryDirectory(dir=engine.settings.home) as tmp:
            path = Path(tmp) / "request.jsonl"
            with path.open("w", encoding="utf-8") as f:
                for doc in docs:
                    # ASCII with escapes: a lone surrogate from the request's JSON reaches the reader,
                    # which reports that document, rather than failing the write of the whole batch.
                    f.write(json.dumps(doc) + "\n")
            if vectors is None:
                vectors = engine.vector_index() is not None
            report = engine.ingest([path], vectors=vectors)
            state.changed()
            links = document_links(engine, [i for i in ids if i])
        out = report.as_json()
        for problem in out.get("failed", []):
            if isinstance(problem, dict) and "path" in problem:
                problem["path"] = "request body"
        return {"report": out, "documents": [{"id": i, "links": links.get(i, [])} for i in ids if i]}


def _upload_types(kind: str) -> list[str]:
    return [media for media in UPLOAD_SUFFIXES if media.startswith(kind)]


async def _upload(request: Request, kind: str) -> bytes:
    """The body of an example-file POST, checked to be of ``kind`` (``image/`` or ``audio/``)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not media.startswith(kind) or media not in UPLOAD_SUFFIXES:
        known = ", ".join(_upload_types(kind))
        raise UnsupportedMediaTypeError(f"POST {request.url.path} takes a file of type {known}, not {media or 'none'}")
    body = await request.body()
    if not body:
        raise BadRequestError(f"POST {request.url.path}: the {kind.rstrip('/')} file is empty")
    return body


@contextmanager
def _spooled(body: bytes, request: Request):
    """The uploaded bytes as a temporary file with the suffix of their content type (removed after)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    with tempfile.TemporaryDirectory(prefix="kgsearch-upload-") as folder:
        path = Path(folder) / f"upload{UPLOAD_SUFFIXES[media]}"
        path.write_bytes(body)
        yield path


def _locked(state: ServerState, work: Callable[[], Any]) -> Any:
    with state.lock:
        return work()


def document_links(engine: Engine, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The entity links of ingested documents, from the mention graph, in text order."""
    if not ids:
        return {}
    k = "http://kgsearch.org/ns/kgs#"
    values = " ".join(f"<{document_iri(i)}>" for i in ids)
    rows = engine.store.query(
        f"SELECT ?id ?e ?surface ?start ?end ?score ?method WHERE {{ GRAPH <{MENTIONS_GRAPH}> {{ "
        f"VALUES ?d {{ {values} }} ?d <{k}docId> ?id . ?m <{k}inDocument> ?d ; <{k}entity> ?e ; "
        f"<{k}surface> ?surface ; <{k}score> ?score ; <{k}method> ?method . "
        f"OPTIONAL {{ ?m <{k}start> ?start ; <{k}end> ?end }} }} }}"
    )
    labels = engine.catalogue.get_many({row[1].value for row in rows})
    out: dict[str, list[dict[str, Any]]] = {}
    for doc_id, e, surface, start, end, score, method in rows:
        out.setdefault(doc_id.value, []).append(
            {
                "surface": surface.value,
                "start": int(start.value) if start is not None else None,
                "end": int(end.value) if end is not None else None,
                "iri": e.value,
                "label": labels[e.value].label if e.value in labels else e.value,
                "score": float(score.value),
                "method": method.value,
            }
        )
    for links in out.values():
        links.sort(key=lambda x: (x["start"] if x["start"] is not None else -1, x["iri"]))
    return out


def uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn options that the settings imply.

    h11 buffers at most 16 KiB of an unfinished request line and headers by default: a longer GET
    (a long query, a text to link) was cut off with a bare 400 or a reset connection, long before
    the query-string limit of :class:`_BodyLimit` that answers 413 with advice.
    """
    return {"h11_max_incomplete_event_size": settings.max_request_bytes + (64 << 10)}  # + room for the headers


def serve(engine: Engine, settings: ServerSettings, *, log_level: str = "info") -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    app = create_app(engine, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, **uvicorn_options(settings))
