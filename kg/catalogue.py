"""The entity catalogue: every KB entity with its names, types, description and popularity.

Linkers and the parser read it to go from words to IRIs fast, so it is kept in
SQLite beside the store with an index on normalized aliases. It is built from a
:class:`~kg.store.TripleStore` by :func:`kg.catalogue_build.update_catalogue`.

>>> cat = EntityCatalogue()          # in memory; EntityCatalogue(path) persists
>>> cat.write([Entity("http://ex/alien", "Alien", ("Alien (1979)",), ("http://ex/Film",), "Film.", 0.5)])
>>> [e.label for e in cat.lookup("ALIEN")]
['Alien']
>>> cat.get("http://ex/alien").types
('http://ex/Film',)
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kg.errors import EntityNotFoundError

_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")

SCHEMA_VERSION = "1"


def normalize(text: str) -> str:
    """The look-up key of an alias: case-folded, accents stripped, punctuation dropped, spaces collapsed.

    >>> normalize("  Amélie:  Le Fabuleux Destin d'Amélie Poulain ")
    'amelie le fabuleux destin d amelie poulain'
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACE.sub(" ", _PUNCT.sub(" ", stripped.replace("_", " "))).strip()


@dataclass(frozen=True)
class Entity:
    """One KB entity as the catalogue knows it.

    Attributes:
        iri: The entity's IRI.
        label: Its preferred name.
        aliases: Other names (alternative labels, other-language labels), without the label.
        types: IRIs of its classes.
        description: A short text built from its facts.
        popularity: PageRank on the entity graph (sums to 1 over the catalogue).
    """

    iri: str
    label: str
    aliases: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    description: str = ""
    popularity: float = 0.0


@dataclass(frozen=True)
class Alias:
    """A name of an entity: the text, its normalized key and where it came from (label or alias)."""

    text: str
    key: str
    iri: str
    kind: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    iri TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    aliases TEXT NOT NULL,
    types TEXT NOT NULL,
    description TEXT NOT NULL,
    popularity REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    key TEXT NOT NULL,
    text TEXT NOT NULL,
    iri TEXT NOT NULL REFERENCES entities(iri) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    PRIMARY KEY (key, iri, text)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliases_by_iri ON aliases(iri);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _row_to_entity(row) -> Entity:
    iri, label, aliases, types, description, popularity = row
    return Entity(iri, label, tuple(json.loads(aliases)), tuple(json.loads(types)), description, popularity)


class EntityCatalogue:
    """Entities and their aliases in SQLite, looked up by IRI or by normalized name.

    Args:
        path: The SQLite file; an in-memory catalogue when ``None``.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path) if self.path else ":memory:", check_same_thread=False)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL" if self.path else "PRAGMA journal_mode = MEMORY")
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        self._db.commit()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM entities").fetchone()[0]

    def __contains__(self, iri: object) -> bool:
        return self._db.execute("SELECT 1 FROM entities WHERE iri = ?", (iri,)).fetchone() is not None

    def get(self, iri: str) -> Entity:
        """The entity with this IRI.

        Raises:
            EntityNotFoundError: The catalogue has no such entity.
        """
        row = self._db.execute("SELECT * FROM entities WHERE iri = ?", (iri,)).fetchone()
        if row is None:
            raise EntityNotFoundError(
                f"no entity {iri!r} in the catalogue; load data that describes it, or look it up by name"
            )
        return _row_to_entity(row)

    def get_many(self, iris: Iterable[str]) -> dict[str, Entity]:
        """The known entities among ``iris``, by IRI; unknown IRIs are left out."""
        out: dict[str, Entity] = {}
        iris = list(dict.fromkeys(iris))
        for start in range(0, len(iris), 500):
            chunk = iris[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(f"SELECT * FROM entities WHERE iri IN ({marks})", chunk):
                out[row[0]] = _row_to_entity(row)
        return out

    def lookup(self, name: str, *, limit: int = 20) -> list[Entity]:
        """Entities having ``name`` as label or alias (after :func:`normalize`), most popular first."""
        rows = self._db.execute(
            """SELECT DISTINCT e.* FROM aliases a JOIN entities e ON e.iri = a.iri
               WHERE a.key = ? ORDER BY e.popularity DESC, e.iri LIMIT ?""",
            (normalize(name) or name, limit),
        )
        return [_row_to_entity(r) for r in rows]

    def aliases(self) -> Iterator[Alias]:
        """Every (name, entity) pair, for building matchers."""
        for text, key, iri, kind in self._db.execute("SELECT text, key, iri, kind FROM aliases ORDER BY key, iri"):
            yield Alias(text, key, iri, kind)

    def entities(self) -> Iterator[Entity]:
        """Every entity, in IRI order."""
        for row in self._db.execute("SELECT * FROM entities ORDER BY iri"):
            yield _row_to_entity(row)

    def type_counts(self) -> dict[str, int]:
        """How many entities have each type."""
        counts: dict[str, int] = {}
        for (types,) in self._db.execute("SELECT types FROM entities"):
            for t in json.loads(types):
                counts[t] = counts.get(t, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def write(
        self,
        entities: Iterable[Entity],
        *,
        delete: Iterable[str] = (),
        popularity: dict[str, float] | None = None,
    ) -> None:
        """Insert or replace entities and drop others, in one transaction.

        Args:
            entities: Entities to insert or replace (with their aliases).
            delete: IRIs of entities that no longer exist.
            popularity: New popularity for every entity, when it was recomputed.
        """
        with self._db:
            self._db.executemany("DELETE FROM entities WHERE iri = ?", ((iri,) for iri in delete))
            for e in entities:
                self._db.execute("DELETE FROM entities WHERE iri = ?", (e.iri,))
                self._db.execute(
                    "INSERT INTO entities VALUES (?, ?, ?, ?, ?, ?)",
                    (e.iri, e.label, json.dumps(e.aliases), json.dumps(e.types), e.description, e.popularity),
                )
                names = {(e.label, "label")} | {(a, "alias") for a in e.aliases}
                # A name made only of punctuation (the film "$") is its own key.
                self._db.executemany(
                    "INSERT OR IGNORE INTO aliases VALUES (?, ?, ?, ?)",
                    ((normalize(text) or text, text, e.iri, kind) for text, kind in sorted(names) if text.strip()),
                )
            if popularity is not None:
                self._db.execute("UPDATE entities SET popularity = 0")
                self._db.executemany(
                    "UPDATE entities SET popularity = ? WHERE iri = ?", ((p, iri) for iri, p in popularity.items())
                )

    def clear(self) -> None:
        """Remove every entity."""
        with self._db:
            self._db.execute("DELETE FROM aliases")
            self._db.execute("DELETE FROM entities")

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def close(self) -> None:
        self._db.close()
