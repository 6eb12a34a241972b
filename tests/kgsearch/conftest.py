"""Fixtures for the HTTP service: a home with the quick-start sample, and a live server over it."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgsearch.settings import PROJECT_ROOT

#: The update token the test servers accept.
UPDATE_TOKEN = "test-update-token"


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory) -> Path:
    """A home with the sample movie KB loaded and its 193 documents ingested (no vectors).

    Shared by the session: copy it (:func:`copy_home`) before writing to it.
    """
    from kgsearch.datasets import DOCS_SAMPLE
    from kgsearch.engine import Engine

    home = tmp_path_factory.mktemp("sample-home")
    with Engine.open(home) as engine:
        engine.load([PROJECT_ROOT / "ontologies" / "movies.ttl", PROJECT_ROOT / "data" / "movies-sample.ttl"])
        engine.ingest([DOCS_SAMPLE], vectors=False)
    return home


def copy_home(home: Path, target: Path) -> Path:
    """A private copy of a closed home."""
    shutil.copytree(home, target)
    return target


class LiveServer:
    """uvicorn serving :func:`kgsearch.server.create_app` on 127.0.0.1 in a background thread."""

    def __init__(self, home: Path, **settings):
        import uvicorn

        from kg.testing.virtuoso import free_port
        from kgsearch.engine import Engine
        from kgsearch.server import create_app, uvicorn_options
        from kgsearch.settings import ServerSettings

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings.setdefault("warm_up", False)  # most tests stop the server long before it would pay off
        self.settings = ServerSettings(port=self.port, **settings)
        self.engine = Engine.open(home)
        self.app = create_app(self.engine, self.settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            **uvicorn_options(self.settings),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="kgsearch-test-server")

    def start(self, timeout: float = 60) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.engine.close()


@pytest.fixture(scope="session")
def live_server(sample_home, tmp_path_factory) -> Iterator[str]:
    """Base URL of a server over a copy of the sample home (read-only: no update token)."""
    home = copy_home(sample_home, tmp_path_factory.mktemp("live") / "home")
    server = LiveServer(home, query_timeout=5.0, warm_up=True).start()
    yield server.url
    server.stop()


@pytest.fixture
def writable_server(sample_home, tmp_path) -> Iterator[LiveServer]:
    """A server over a private copy of the sample home that accepts writes with :data:`UPDATE_TOKEN`."""
    server = LiveServer(copy_home(sample_home, tmp_path / "home"), update_token=UPDATE_TOKEN, query_timeout=5.0)
    yield server.start()
    server.stop()
