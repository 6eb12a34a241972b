"""Building the entity catalogue from a triple store, fully or for the entities a load touched.

Labels and aliases come from the label and alias properties the ontology names
(:class:`kg.ontology.Ontology`); descriptions are built from an entity's own facts
and the facts pointing at it; popularity is PageRank (Brin & Page 1998, damping
0.85) on the undirected entity graph with networkx. PageRank is global by nature,
so it is recomputed over the whole graph on every update; labels, aliases and
descriptions are recomputed only for the touched entities.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyoxigraph as ox

from kg.catalogue import Entity, EntityCatalogue
from kg.ontology import RDF_TYPE, SCHEMA_TYPES, Ontology, humanize, local_name
from kg.store import TripleStore

#: How many values of one property a description lists before "(+N more)".
DESCRIPTION_VALUES = 4
#: Descriptions are cut after this many characters.
DESCRIPTION_CHARS = 400
_CHUNK = 400


@dataclass(frozen=True)
class CatalogueReport:
    """What an update did."""

    entities: int
    updated: int
    removed: int
    seconds: float


@dataclass
class _Facts:
    types: set[str] = field(default_factory=set)
    labels: list[ox.Literal] = field(default_factory=list)
    aliases: set[str] = field(default_factory=set)
    out: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    incoming: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def _values(iris: Iterable[str]) -> str:
    return " ".join(f"<{i}>" for i in iris)


def _gather(store: TripleStore, onto: Ontology, touched: list[str] | None) -> dict[str, _Facts]:
    facts: dict[str, _Facts] = defaultdict(_Facts)

    def take(s, p, o, *, outgoing=True, incoming=True):
        if outgoing and isinstance(s, ox.NamedNode):
            f, pv = facts[s.value], p.value
            if pv == RDF_TYPE:
                if isinstance(o, ox.NamedNode):
                    f.types.add(o.value)
            elif pv in onto.label_properties and isinstance(o, ox.Literal):
                f.labels.append(o)
            elif pv in onto.alias_properties and isinstance(o, ox.Literal):
                f.aliases.add(o.value)
            else:
                f.out[pv].append(o)
        if incoming and isinstance(o, ox.NamedNode) and isinstance(s, ox.NamedNode) and p.value != RDF_TYPE:
            facts[o.value].incoming[p.value].append(s.value)

    if touched is None:
        for s, p, o in store.query("SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER(isIRI(?s)) }"):
            take(s, p, o)
        return facts
    for start in range(0, len(touched), _CHUNK):
        chunk = _values(touched[start : start + _CHUNK])
        for s, p, o in store.query(f"SELECT ?s ?p ?o WHERE {{ VALUES ?s {{ {chunk} }} ?s ?p ?o }}"):
            take(s, p, o, incoming=False)
        for s, p, o in store.query(f"SELECT ?s ?p ?o WHERE {{ VALUES ?o {{ {chunk} }} ?s ?p ?o FILTER(isIRI(?s)) }}"):
            take(s, p, o, outgoing=False)
    return facts


def _is_entity(f: _Facts) -> bool:
    if f.types & SCHEMA_TYPES:
        return False
    return bool(f.types or f.labels)


def _choose_label(iri: str, f: _Facts) -> tuple[str, tuple[str, ...]]:
    def rank(lit: ox.Literal):
        lang = lit.language or ""
        return (0 if lang in ("", "en") or lang.startswith("en-") else 1, len(lit.value), lit.value)

    if not f.labels:
        return humanize(local_name(iri)) if not local_name(iri)[:1].isupper() else local_name(iri), tuple(
            sorted(f.aliases)
        )
    ordered = sorted(f.labels, key=rank)
    label = ordered[0].value
    aliases = {lit.value for lit in ordered[1:]} | f.aliases
    aliases.discard(label)
    return label, tuple(sorted(aliases))


def _describe(label: str, f: _Facts, onto: Ontology, name_of: Callable[[str], str]) -> str:
    parts = [", ".join(sorted(onto.label(t) for t in f.types)) or "Entity"]

    def listing(values: list[str]) -> str:
        shown = sorted(set(values))
        extra = len(shown) - DESCRIPTION_VALUES
        text = ", ".join(shown[:DESCRIPTION_VALUES])
        return f"{text} (+{extra} more)" if extra > 0 else text

    for prop in sorted(f.out, key=onto.label):
        values = [
            name_of(o.value) if isinstance(o, ox.NamedNode) else o.value
            for o in f.out[prop]
            if not isinstance(o, ox.BlankNode)
        ]
        if values:
            parts.append(f"{onto.label(prop)}: {listing(values)}")
    for prop in sorted(f.incoming, key=onto.label):
        # Inverse facts read subject-first: "In Cold Blood, Elmer Gantry directed by Richard Brooks".
        parts.append(f"{listing([name_of(s) for s in f.incoming[prop]])} {onto.label(prop)} {label}")
    text = ". ".join(parts) + "."
    return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 1].rstrip() + "…"


def _pagerank(store: TripleStore, entities: set[str]) -> dict[str, float]:
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(entities)
    rows = store.query(f"SELECT ?s ?o WHERE {{ ?s ?p ?o FILTER(isIRI(?s) && isIRI(?o) && ?p != <{RDF_TYPE}>) }}")
    graph.add_edges_from((s.value, o.value) for s, o in rows if s.value in entities and o.value in entities and s != o)
    if graph.number_of_nodes() == 0:
        return {}
    return nx.pagerank(graph, alpha=0.85)


def update_catalogue(
    catalogue: EntityCatalogue,
    store: TripleStore,
    touched: Iterable[str] | None = None,
) -> CatalogueReport:
    """Bring the catalogue in line with the store's default graph.

    Args:
        catalogue: The catalogue to update.
        store: The store holding the facts and the ontology.
        touched: IRIs whose facts changed (subjects and objects of loaded triples);
            ``None`` rebuilds every entry.

    Returns:
        Counts of what changed.
    """
    started = time.perf_counter()
    onto = Ontology.from_store(store)
    touched_list = None if touched is None else sorted(set(touched))
    facts = _gather(store, onto, touched_list)
    scope = facts.keys() if touched_list is None else touched_list
    chosen = {iri: _choose_label(iri, facts[iri]) for iri in scope if iri in facts and _is_entity(facts[iri])}
    removed = [] if touched_list is None else [iri for iri in touched_list if iri not in chosen and iri in catalogue]

    neighbours = {n for iri in chosen for vals in facts[iri].incoming.values() for n in vals}
    neighbours |= {
        o.value for iri in chosen for vals in facts[iri].out.values() for o in vals if isinstance(o, ox.NamedNode)
    }
    known = {iri: e.label for iri, e in catalogue.get_many(neighbours - chosen.keys()).items()}
    known.update({iri: label for iri, (label, _) in chosen.items()})

    def name_of(iri: str) -> str:
        return known.get(iri) or local_name(iri)

    entities = [
        Entity(iri, label, aliases, tuple(sorted(facts[iri].types)), _describe(label, facts[iri], onto, name_of))
        for iri, (label, aliases) in chosen.items()
    ]
    if touched_list is None:
        catalogue.clear()
    all_iris = {e.iri for e in catalogue.entities()} - set(removed) | chosen.keys()
    popularity = _pagerank(store, all_iris)
    catalogue.write(entities, delete=removed, popularity=popularity)
    catalogue.set_meta("triples", str(store.count()))
    return CatalogueReport(len(catalogue), len(entities), len(removed), time.perf_counter() - started)
