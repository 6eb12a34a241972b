"""The KB schema the parser searches over: which relations connect which types, read from the data.

Aqqu generates query graphs from what the KB actually contains, so the edges here are the
(subject type, property, object type) combinations observed in the store's default graph, with
their counts; literal objects are typed by datatype. Labels and alternative labels come from the
loaded ontology, so nothing here is specific to a domain.

>>> from kg import OxigraphStore
>>> store = OxigraphStore()
>>> store.update('''PREFIX ex: <http://ex/> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
...   INSERT DATA { ex:alien a ex:Film ; ex:directedBy ex:scott ; ex:year 1979 ; rdfs:label "Alien" .
...                 ex:scott a ex:Person ; rdfs:label "Ridley Scott" .
...                 ex:directedBy rdfs:label "directed by" }''')
>>> schema = KbSchema.from_store(store)
>>> [(s.prop.rsplit("/", 1)[1], s.forward, s.target) for s in schema.steps_from({"http://ex/Person"})]
[('directedBy', False, 'http://ex/Film')]
>>> schema.is_literal(schema.steps_from({"http://ex/Film"})[-1].target)
True
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from kg.ontology import RDF_TYPE, RDFS, SCHEMA_TYPES, Ontology, humanize, local_name
from kg.store import TripleStore

XSD = "http://www.w3.org/2001/XMLSchema#"
#: Datatypes whose values order numerically or chronologically (superlatives and range filters).
ORDERED_DATATYPES = frozenset(
    XSD + t
    for t in (
        "integer int long short decimal float double nonNegativeInteger positiveInteger gYear date dateTime".split()
    )
)
#: The pseudo-type of literal values: ``LITERAL_PREFIX + datatype IRI``.
LITERAL_PREFIX = "literal:"
#: Properties that are never query steps: types and the KB's own bookkeeping.
_SKIPPED_NAMESPACES = ("http://www.w3.org/2002/07/owl#", "http://www.w3.org/2000/01/rdf-schema#")


@dataclass(frozen=True)
class Step:
    """One hop of a query graph: follow ``prop`` forwards (subject to object) or backwards.

    ``source`` and ``target`` are class IRIs, or ``literal:<datatype>`` for literal values.
    """

    prop: str
    forward: bool
    source: str
    target: str
    count: int

    @property
    def key(self) -> str:
        return f"{self.prop}{'>' if self.forward else '<'}"


@dataclass
class KbSchema:
    """Observed edges between types, plus the ontology's lexicalizations of terms."""

    ontology: Ontology
    edges: list[Step] = field(default_factory=list)
    subclasses: dict[str, set[str]] = field(default_factory=dict)
    _by_source: dict[str, list[Step]] = field(default_factory=dict, repr=False)
    _classes: list[str] | None = field(default=None, repr=False)

    @classmethod
    def from_store(cls, store: TripleStore, ontology: Ontology | None = None) -> KbSchema:
        """Read types, edges and the class hierarchy from the store (one aggregate query).

        Label and alias properties, ``rdf:type`` and OWL/RDFS vocabulary are not query steps:
        answers are shown by their labels anyway.
        """
        ontology = ontology or Ontology.from_store(store)
        skip = set(ontology.label_properties) | set(ontology.alias_properties) | {RDF_TYPE}
        rows = store.query(
            f"""SELECT ?p ?st ?ot ?dt (COUNT(*) AS ?n) WHERE {{
                  ?s ?p ?o . ?s <{RDF_TYPE}> ?st .
                  OPTIONAL {{ ?o <{RDF_TYPE}> ?ot }}
                  BIND(IF(isLiteral(?o), DATATYPE(?o), ?none) AS ?dt)
                }} GROUP BY ?p ?st ?ot ?dt"""
        )
        edges: list[Step] = []
        for p, st, ot, dt, n in rows:
            prop, source = p.value, st.value
            if prop in skip or prop.startswith(_SKIPPED_NAMESPACES) or source in SCHEMA_TYPES:
                continue
            if ot is not None:
                if ot.value in SCHEMA_TYPES:
                    continue
                target = ot.value
            elif dt is not None:
                target = LITERAL_PREFIX + dt.value
            else:
                continue  # an untyped IRI object: no type to plan with
            count = int(n.value)
            edges.append(Step(prop, True, source, target, count))
            if not target.startswith(LITERAL_PREFIX):
                edges.append(Step(prop, False, target, source, count))
        subclasses: dict[str, set[str]] = defaultdict(set)
        for sub, sup in store.query(
            f"SELECT ?sub ?sup WHERE {{ ?sub <{RDFS}subClassOf>+ ?sup FILTER(isIRI(?sub) && isIRI(?sup)) }}"
        ):
            subclasses[sup.value].add(sub.value)
        schema = cls(ontology, edges, dict(subclasses))
        schema._index()
        return schema

    def _index(self) -> None:
        by_source: dict[str, list[Step]] = defaultdict(list)
        for step in self.edges:
            by_source[step.source].append(step)
        for steps in by_source.values():
            steps.sort(key=lambda s: (s.prop, not s.forward, s.target))
        self._by_source = dict(by_source)

    def steps_from(self, types: set[str] | frozenset[str]) -> list[Step]:
        """The steps that leave a node of any of these types, one per (property, direction, target)."""
        seen: dict[tuple[str, bool, str], Step] = {}
        for t in sorted(types):
            for step in self._by_source.get(t, ()):
                key = (step.prop, step.forward, step.target)
                if key not in seen:
                    seen[key] = step
        return list(seen.values())

    @staticmethod
    def is_literal(type_: str) -> bool:
        return type_.startswith(LITERAL_PREFIX)

    @staticmethod
    def datatype(type_: str) -> str | None:
        return type_[len(LITERAL_PREFIX) :] if type_.startswith(LITERAL_PREFIX) else None

    def is_ordered(self, type_: str) -> bool:
        return self.datatype(type_) in ORDERED_DATATYPES

    def superclasses_or_self(self, cls_: str) -> set[str]:
        return {cls_} | {sup for sup, subs in self.subclasses.items() if cls_ in subs}

    def subclasses_or_self(self, cls_: str) -> set[str]:
        return {cls_} | self.subclasses.get(cls_, set())

    def words(self, iri: str) -> list[str]:
        """Every lexicalization of a term: its label, alternative labels and humanized local name."""
        term = self.ontology.terms.get(iri)
        out = [humanize(local_name(iri))]
        if term is not None:
            out = [term.label, *term.alt_labels, *out]
        return list(dict.fromkeys(w.lower() for w in out if w))

    def classes(self) -> list[str]:
        """Classes that have instances with edges."""
        if self._classes is None:
            self._classes = sorted({s.source for s in self.edges if not self.is_literal(s.source)})
        return self._classes

    def numeric_properties(self, types: set[str] | frozenset[str]) -> list[Step]:
        """Forward steps from these types to ordered literals (years, numbers, dates)."""
        return [s for s in self.steps_from(types) if s.forward and self.is_ordered(s.target)]
