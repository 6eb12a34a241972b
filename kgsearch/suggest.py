"""Autocompletion over entity names, ontology terms and prefixes (``GET /suggest``).

Every name is indexed under each of its word starts, so "hitch" finds "Alfred Hitchcock" and
"dir" finds the property "directed by". Look-ups are a binary search in a sorted array, then a
rank by kind (ontology terms and prefixes before entities) and popularity. Prefixes of up to
three characters match thousands of names: they are ranked once over all their matches and
remembered (on the full movie KB: 12 ms the first time, then microseconds).

>>> index = SuggestIndex([Suggestion("entity", "http://ex/ah", "Alfred Hitchcock", "person", None, 0.5)])
>>> [s.label for s in index.suggest("hitch")]
['Alfred Hitchcock']
>>> index.suggest("cock")
[]
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from kg.catalogue import EntityCatalogue, normalize
from kg.ontology import Ontology, local_name
from kgsearch.display import PREFIXES

#: Prefixes every SPARQL user expects, besides the ones of the KB's own ontology.
STANDARD_PREFIXES = {name: PREFIXES[name] for name in ("rdf", "rdfs", "owl", "xsd", "skos", "schema", "kgs")} | {
    "foaf": "http://xmlns.com/foaf/0.1/"
}

#: Most index entries read for one look-up before ranking (short prefixes match thousands).
SCAN_LIMIT = 4000
#: Prefixes this short are ranked over all their matches once and remembered: they match the
#: most names (tens of milliseconds to rank) and there are few of them.
SHORT_PREFIX = 3
#: Most suggestions one look-up returns (the route's ``limit`` maximum).
MAX_LIMIT = 100

_KIND_ORDER = {"prefix": 0, "class": 1, "property": 2, "entity": 3}


@dataclass(frozen=True)
class Suggestion:
    """One completion: what it is, its IRI, its name, a detail (type or namespace), its CURIE."""

    kind: str
    iri: str
    label: str
    detail: str
    curie: str | None
    popularity: float = 0.0

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["popularity"]
        return out


def ontology_prefixes(ontology: Ontology) -> dict[str, str]:
    """Standard prefixes plus one per namespace of the ontology's terms, named after its last path segment."""
    prefixes = dict(STANDARD_PREFIXES)
    known = set(prefixes.values())
    for iri in sorted(ontology.terms):
        ns = iri[: len(iri) - len(local_name(iri))]
        if not ns or ns in known:
            continue
        stem = re.sub(r"\.(owl|rdf|ttl|xml)$", "", ns.rstrip("#/").rsplit("/", 1)[-1])
        name = re.sub(r"[^A-Za-z0-9_-]", "", stem).lstrip("0123456789_-") or "ns"
        base, n = name, 2
        while name in prefixes:
            name, n = f"{base}{n}", n + 1
        prefixes[name] = ns
        known.add(ns)
    return prefixes


def _word_starts(key: str) -> Iterable[str]:
    yield key
    for m in re.finditer(r" (?=\S)", key):
        yield key[m.end() :]


class SuggestIndex:
    """A sorted array of (name suffix at a word start, suggestion)."""

    def __init__(self, suggestions: Iterable[Suggestion], names: dict[int, list[str]] | None = None):
        self.suggestions = list(suggestions)
        entries = []
        for i, s in enumerate(self.suggestions):
            texts = [s.label, *(names or {}).get(i, [])]
            if s.curie:
                texts.append(s.curie)
            seen = set()
            for text in texts:
                for key in _word_starts(normalize(text)):
                    if key and key not in seen:
                        seen.add(key)
                        entries.append((key, i))
        entries.sort()
        self._labels = [normalize(s.label) for s in self.suggestions]
        self._keys = [k for k, _ in entries]
        self._refs = [i for _, i in entries]
        # Each suggestion's place in the static order: kind, then popularity, then label.
        order = sorted(
            range(len(self.suggestions)),
            key=lambda r: (
                _KIND_ORDER[self.suggestions[r].kind],
                -self.suggestions[r].popularity,
                self.suggestions[r].label,
            ),
        )
        self._rank = [0] * len(order)
        for place, ref in enumerate(order):
            self._rank[ref] = place
        self._short: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self.suggestions)

    @classmethod
    def build(cls, catalogue: EntityCatalogue, ontology: Ontology) -> SuggestIndex:
        """Index the catalogue's entities (labels and aliases) and the ontology's terms and prefixes."""
        prefixes = ontology_prefixes(ontology)
        by_ns = {ns: name for name, ns in prefixes.items()}
        items: list[Suggestion] = []
        names: dict[int, list[str]] = {}
        for name, ns in prefixes.items():
            items.append(Suggestion("prefix", ns, f"{name}:", ns, f"{name}:", 1.0))
        for term in ontology.terms.values():
            local = local_name(term.iri)
            ns = term.iri[: len(term.iri) - len(local)]
            curie = f"{by_ns[ns]}:{local}" if ns in by_ns and re.fullmatch(r"[A-Za-z_][\w.-]*", local) else None
            kind = "class" if term.kind == "class" else "property"
            names[len(items)] = [local, *term.alt_labels]
            items.append(Suggestion(kind, term.iri, term.label, ns, curie, 1.0))
        type_labels = {t.iri: t.label for t in ontology.classes}
        for entity in catalogue.entities():
            if entity.aliases:
                names[len(items)] = list(entity.aliases)
            detail = next((type_labels.get(t, local_name(t)) for t in entity.types), "")
            items.append(Suggestion("entity", entity.iri, entity.label, detail, None, entity.popularity))
        return cls(items, names)

    def suggest(self, text: str, *, limit: int = 10, kinds: Iterable[str] | None = None) -> list[Suggestion]:
        """Suggestions whose name has a word starting with ``text``: full-name prefixes first, then by
        kind (prefixes, classes, properties, entities) and popularity."""
        query = normalize(text)
        if not query or limit < 1:
            return []
        wanted = set(kinds) if kinds else None
        if len(query) <= SHORT_PREFIX and wanted is None:
            ranked = self._short.get(query)
            if ranked is None:
                ranked = self._short[query] = self._ranked(query, None, None)[:MAX_LIMIT]
        else:
            ranked = self._ranked(query, wanted, SCAN_LIMIT)
        return [self.suggestions[r] for r in ranked[:limit]]

    def _ranked(self, query: str, wanted: set[str] | None, scan: int | None) -> list[int]:
        """The suggestions with a word starting with ``query`` (reading at most ``scan`` index
        entries), those whose whole name starts with it first, then in the static order."""
        start = bisect_left(self._keys, query)
        end = len(self._keys) if scan is None else min(len(self._keys), start + scan)
        whole: dict[int, bool] = {}
        labels, suggestions, refs, keys = self._labels, self.suggestions, self._refs, self._keys
        for pos in range(start, end):
            if not keys[pos].startswith(query):
                break
            ref = refs[pos]
            if ref in whole and whole[ref]:
                continue
            if wanted is not None and suggestions[ref].kind not in wanted:
                continue
            whole[ref] = labels[ref].startswith(query)
        rank = self._rank
        return sorted(whole, key=lambda r: (not whole[r], rank[r]))
