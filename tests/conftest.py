"""Session-wide fixtures: paths to the repo's sample data and ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kg.contract import TURTLE

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def films_turtle(tmp_path) -> Path:
    path = tmp_path / "films.ttl"
    path.write_text(TURTLE, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_DATA}; it lives in ../shared/data beside the checkout")
    return SHARED_DATA
