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
class Settings:
    """Everything an :class:`~kgsearch.engine.Engine` needs to open a home.

    Attributes:
        home: Directory holding the store, the catalogue and indexes.
        kg: Triple-store settings (``KGSEARCH_STORE``, ``KGSEARCH_SPARQL_*``).
        retrieval: Text and vector index backends (``KGSEARCH_TEXT_INDEX``, ``KGSEARCH_VECTOR_INDEX``, ``KGSEARCH_ES_*``).
        shared_data: The benchmark data directory (``KGSEARCH_SHARED_DATA``, default ``../shared/data``).
    """

    home: Path
    kg: KgSettings = field(default_factory=KgSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    shared_data: Path = PROJECT_ROOT.parent / "shared" / "data"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, home: str | Path | None = None) -> Settings:
        """Read settings from the environment; an explicit ``home`` wins over ``KGSEARCH_HOME``."""
        env = os.environ if env is None else env
        settings = cls(
            home=Path(home).expanduser() if home else default_home(env),
            kg=KgSettings.from_env(env),
            retrieval=RetrievalSettings.from_env(env),
        )
        if env.get("KGSEARCH_SHARED_DATA"):
            settings = replace(settings, shared_data=Path(env["KGSEARCH_SHARED_DATA"]).expanduser())
        return settings
