"""Fixtures and hypothesis profiles for the fuzz tests.

Two profiles: ``ci`` (the default: few examples, so that tests/fuzz runs in about a minute and a
half on two cores) and ``long`` (``KGSEARCH_FUZZ_PROFILE=long``; ``bench/fuzz.py`` uses it, with
``KGSEARCH_FUZZ_EXAMPLES`` setting the examples per test). Both are derandomized, so a run tries
the same inputs every time, and keep no example database. The profiles are applied per test
through :func:`fuzz_settings` rather than loaded globally, so that other hypothesis users in the
same session (the schemathesis contract test) keep their own settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from kgsearch.settings import PROJECT_ROOT
from tests.kgsearch.conftest import UPDATE_TOKEN, LiveServer, copy_home

settings.register_profile("ci", max_examples=80, deadline=None, derandomize=True, database=None, print_blob=True)
settings.register_profile("long", max_examples=500, deadline=None, derandomize=True, database=None, print_blob=True)

#: The profile of this run: ``KGSEARCH_FUZZ_PROFILE``, ``ci`` by default.
PROFILE = os.environ.get("KGSEARCH_FUZZ_PROFILE") or "ci"

#: Seconds a query may run on the fuzzed server, and the most rows it returns.
QUERY_TIMEOUT = 2.0
ROW_CAP = 50

#: Documents of the sample corpus ingested into the fuzz home (enough for SPARQL+Text and ``ask``).
DOCUMENTS = 30


def fuzz_settings(weight: float = 1.0) -> settings:
    """The run's profile with ``weight`` times its examples (``KGSEARCH_FUZZ_EXAMPLES`` overrides the
    profile's count); weights keep slow targets (ingestion, media) small in CI."""
    profile = settings.get_profile(PROFILE)
    examples = int(os.environ.get("KGSEARCH_FUZZ_EXAMPLES") or profile.max_examples)
    return settings(profile, max_examples=max(1, round(examples * weight)))


@pytest.fixture(scope="session")
def fuzz_home(tmp_path_factory) -> Path:
    """A home with the sample movie KB and the first :data:`DOCUMENTS` sample documents (no vectors).

    Shared by the session: copy it (:func:`~tests.kgsearch.conftest.copy_home`) before writing to it.
    """
    from kgsearch.datasets import DOCS_SAMPLE
    from kgsearch.engine import Engine

    home = tmp_path_factory.mktemp("fuzz-home")
    docs = home.parent / "fuzz-docs.jsonl"
    lines = DOCS_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:DOCUMENTS]
    docs.write_text("".join(lines), encoding="utf-8")
    with Engine.open(home) as engine:
        engine.load([PROJECT_ROOT / "ontologies" / "movies.ttl", PROJECT_ROOT / "data" / "movies-sample.ttl"])
        engine.ingest([docs], vectors=False)
    return home


@pytest.fixture(scope="session")
def fuzz_server(fuzz_home, tmp_path_factory) -> Iterator[LiveServer]:
    """A read-only server over a copy of the fuzz home, with a 2 s query timeout and a 50-row cap."""
    home = copy_home(fuzz_home, tmp_path_factory.mktemp("fuzz-live") / "home")
    server = LiveServer(home, query_timeout=QUERY_TIMEOUT, row_cap=ROW_CAP).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fuzz_engine(fuzz_server):
    """The fuzz server's engine, for calls that only read (parsing questions, asking them)."""
    return fuzz_server.engine


@pytest.fixture(scope="session")
def fuzz_writable_server(fuzz_home, tmp_path_factory) -> Iterator[LiveServer]:
    """A server over another copy of the fuzz home that accepts writes with :data:`UPDATE_TOKEN`."""
    home = copy_home(fuzz_home, tmp_path_factory.mktemp("fuzz-writable") / "home")
    server = LiveServer(home, update_token=UPDATE_TOKEN, query_timeout=QUERY_TIMEOUT, row_cap=ROW_CAP).start()
    yield server
    server.stop()
