"""Application settings: where kgsearch keeps its data, plus the KB layer's settings.

>>> s = Settings.from_env({"KGSEARCH_HOME": "kb-home"})
>>> s.home.name, s.kg.store
('kb-home', 'oxigraph')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kg.settings import KgSettings
from retrieval.backends import RetrievalSettings

#: Where the source checkout keeps the quick-start sample and the ontologies.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_home(env: Mapping[str, str]) -> Path:
    """``$KGSEARCH_HOME``, else ``$XDG_DATA_HOME/kgsearch``, else ``~/.local/share/kgsearch``."""
    if env.get("KGSEARCH_HOME"):
        return Path(env["KGSEARCH_HOME"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "kgsearch"


@dataclass(frozen=True)
class MediaSettings:
    """Models for images and audio.

    Attributes:
        whisper_model: A faster-whisper (CTranslate2) model directory, or the name of a packaged
            one, ``base`` (the default: more entity links than ``tiny.en`` in ``bench/multimodal.py``) or
            ``tiny.en`` (``KGSEARCH_WHISPER_MODEL``; see ``requirements/speech.txt``).
        object_model: A zero-shot object detector (OWL-ViT family) directory
            (``KGSEARCH_OBJECT_MODEL``); objects are not detected without one.
        ocr_lang: Tesseract language(s), e.g. ``eng`` or ``eng+deu`` (``KGSEARCH_OCR_LANG``).
    """

    whisper_model: str = "base"
    object_model: Path | None = None
    ocr_lang: str = "eng"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MediaSettings:
        return cls(
            whisper_model=env.get("KGSEARCH_WHISPER_MODEL") or cls.whisper_model,
            object_model=Path(env["KGSEARCH_OBJECT_MODEL"]).expanduser() if env.get("KGSEARCH_OBJECT_MODEL") else None,
            ocr_lang=env.get("KGSEARCH_OCR_LANG") or cls.ocr_lang,
        )


@dataclass(frozen=True)
class Settings:
    """Everything an :class:`~kgsearch.engine.Engine` needs to open a home.

    Attributes:
        home: Directory holding the store, the catalogue and indexes.
        kg: Triple-store settings (``KGSEARCH_STORE``, ``KGSEARCH_SPARQL_*``).
        retrieval: Text and vector index backends (``KGSEARCH_TEXT_INDEX``, ``KGSEARCH_VECTOR_INDEX``, ``KGSEARCH_ES_*``).
        media: Models for image and audio documents (``KGSEARCH_WHISPER_MODEL``, ``KGSEARCH_OBJECT_MODEL``, ...).
        shared_data: The benchmark data directory (``KGSEARCH_SHARED_DATA``, default ``../shared/data``).
    """

    home: Path
    kg: KgSettings = field(default_factory=KgSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    shared_data: Path = PROJECT_ROOT.parent / "shared" / "data"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, home: str | Path | None = None) -> Settings:
        """Read settings from the environment; an explicit ``home`` wins over ``KGSEARCH_HOME``."""
        env = os.environ if env is None else env
        settings = cls(
            home=Path(home).expanduser() if home else default_home(env),
            kg=KgSettings.from_env(env),
            retrieval=RetrievalSettings.from_env(env),
            media=MediaSettings.from_env(env),
        )
        if env.get("KGSEARCH_SHARED_DATA"):
            settings = replace(settings, shared_data=Path(env["KGSEARCH_SHARED_DATA"]).expanduser())
        return settings


def _env_number(env: Mapping[str, str], name: str, default: float, kind: type = float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be greater than 0")
    return value


def _env_flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={raw!r} is not a yes/no value; use 1 or 0")


@dataclass(frozen=True)
class ServerSettings:
    """Limits and access rules of ``kgsearch serve``.

    Attributes:
        host: Interface to listen on (``KGSEARCH_HOST``); loopback by default.
        port: TCP port (``KGSEARCH_PORT``).
        query_timeout: Seconds a SPARQL query may run before it is stopped (``KGSEARCH_QUERY_TIMEOUT``).
        row_cap: Most solutions or triples a query returns; more are cut with a truncation flag
            (``KGSEARCH_ROW_CAP``).
        query_workers: Processes that evaluate SPARQL queries (``KGSEARCH_QUERY_WORKERS``).
        update_token: Bearer token that allows SPARQL Update and document ingestion; read-only
            without one (``KGSEARCH_UPDATE_TOKEN``).
        service_allow: Endpoints a query may reach with ``SERVICE``, or an update fetch with ``LOAD``
            (``KGSEARCH_SERVICE_ALLOW``, comma-separated absolute http(s) IRIs, matched exactly); none
            by default, so the server never fetches a URL a request names.
        max_request_bytes: Largest request body or query string (``KGSEARCH_MAX_REQUEST_BYTES``).
        max_upload_bytes: Largest ``POST /documents`` body (``KGSEARCH_MAX_UPLOAD_BYTES``).
        warm_up: Build the linker, parser and suggestion index in the background at start, so the
            first question does not wait for them.
        client_budget: Seconds of processing time each client may spend per ``client_window``
            (``KGSEARCH_CLIENT_BUDGET``; ``0`` turns the budget off): a token bucket charged with the
            wall time of each SPARQL query or update, ``/ask``, ``/search``, ``/link``, entity card
            and ``POST /documents``; a client at or below zero gets 429 with ``Retry-After``
            (:mod:`kgsearch.budget`). Requests with the update token, and loopback peers while
            forwarded addresses are not trusted, are not charged.
        client_window: Seconds in which a spent budget refills completely (``KGSEARCH_CLIENT_WINDOW``).
        client_concurrency: Most budgeted requests one client may have in progress; more get 429
            (``KGSEARCH_CLIENT_CONCURRENCY``).
        trust_forwarded: Key clients by the last ``X-Forwarded-For`` address instead of the peer
            address (``KGSEARCH_TRUST_FORWARDED=1``). Only behind a reverse proxy that sets the
            header: otherwise any client could name a fresh address for each request.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    query_timeout: float = 30.0
    row_cap: int = 10_000
    query_workers: int = 2
    update_token: str | None = None
    service_allow: frozenset[str] = frozenset()
    max_request_bytes: int = 1 << 20
    max_upload_bytes: int = 32 << 20
    warm_up: bool = True
    client_budget: float = 60.0
    client_window: float = 60.0
    client_concurrency: int = 5
    trust_forwarded: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> ServerSettings:
        """Read the ``KGSEARCH_*`` variables above; keyword arguments that are not ``None`` win.

        Raises:
            ValueError: A variable is malformed; the message names it.
        """
        env = os.environ if env is None else env
        settings = cls(
            host=env.get("KGSEARCH_HOST") or cls.host,
            port=int(_env_number(env, "KGSEARCH_PORT", cls.port, int)),
            query_timeout=_env_number(env, "KGSEARCH_QUERY_TIMEOUT", cls.query_timeout),
            row_cap=int(_env_number(env, "KGSEARCH_ROW_CAP", cls.row_cap, int)),
            query_workers=int(_env_number(env, "KGSEARCH_QUERY_WORKERS", cls.query_workers, int)),
            update_token=env.get("KGSEARCH_UPDATE_TOKEN") or None,
            service_allow=frozenset(s.strip() for s in env.get("KGSEARCH_SERVICE_ALLOW", "").split(",") if s.strip()),
            max_request_bytes=int(_env_number(env, "KGSEARCH_MAX_REQUEST_BYTES", cls.max_request_bytes, int)),
            max_upload_bytes=int(_env_number(env, "KGSEARCH_MAX_UPLOAD_BYTES", cls.max_upload_bytes, int)),
            client_budget=0.0
            if env.get("KGSEARCH_CLIENT_BUDGET", "").strip() in ("0", "off")
            else _env_number(env, "KGSEARCH_CLIENT_BUDGET", cls.client_budget),
            client_window=_env_number(env, "KGSEARCH_CLIENT_WINDOW", cls.client_window),
            client_concurrency=int(_env_number(env, "KGSEARCH_CLIENT_CONCURRENCY", cls.client_concurrency, int)),
            trust_forwarded=_env_flag(env, "KGSEARCH_TRUST_FORWARDED"),
        )
        for iri in settings.service_allow:
            if not iri.lower().startswith(("http://", "https://")) or any(c in iri for c in '<>"{}|^`\\ '):
                raise ValueError(
                    f"KGSEARCH_SERVICE_ALLOW: {iri!r} is not an absolute http(s) IRI; list endpoints as http://host/path"
                )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})
