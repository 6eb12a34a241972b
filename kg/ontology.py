"""The KB's schema as kgsearch sees it: classes, properties and their lexicalizations.

Read from any :class:`~kg.store.TripleStore` with SPARQL, so the schema is whatever
ontology the analyst loaded (``ontologies/movies.ttl``, LUBM's ``univ-bench.owl``, ...).
Nothing here is specific to a domain.

>>> from kg import OxigraphStore
>>> store = OxigraphStore()
>>> store.update('''PREFIX owl: <http://www.w3.org/2002/07/owl#>
...   PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
...   INSERT DATA { <http://ex/teacherOf> a owl:ObjectProperty .
...                 <http://ex/Course> a owl:Class ; rdfs:label "course" }''')
>>> onto = Ontology.from_store(store)
>>> onto.label("http://ex/teacherOf"), onto.label("http://ex/Course")
('teacher of', 'course')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kg.store import TripleStore

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
SCHEMA = "http://schema.org/"
RDF_TYPE = RDF + "type"

#: Properties whose values name an entity, before the loaded ontology adds sub-properties.
LABEL_PROPERTIES = (
    RDFS + "label",
    SKOS + "prefLabel",
    SCHEMA + "name",
    "https://schema.org/name",
    "http://xmlns.com/foaf/0.1/name",
    "http://purl.org/dc/terms/title",
    "http://purl.org/dc/elements/1.1/title",
)
#: Properties whose values are other names of an entity.
ALIAS_PROPERTIES = (
    SKOS + "altLabel",
    SKOS + "hiddenLabel",
    SCHEMA + "alternateName",
    "https://schema.org/alternateName",
    "http://xmlns.com/foaf/0.1/nick",
)
#: A datatype property whose local name is one of these is treated as a label property
#: (LUBM's ``ub:name`` declares no relation to rdfs:label).
_NAME_LIKE = {"name", "label", "title", "fullname", "prefname"}

#: Types whose instances are schema terms, never catalogue entities.
SCHEMA_TYPES = frozenset(
    {
        RDFS + "Class",
        OWL + "Class",
        RDF + "Property",
        OWL + "ObjectProperty",
        OWL + "DatatypeProperty",
        OWL + "AnnotationProperty",
        OWL + "TransitiveProperty",
        OWL + "SymmetricProperty",
        OWL + "FunctionalProperty",
        OWL + "InverseFunctionalProperty",
        OWL + "Ontology",
        OWL + "Restriction",
        RDFS + "Datatype",
    }
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|_+|-+")


def local_name(iri: str) -> str:
    """The part of an IRI after the last ``#``, ``/`` or ``:``.

    >>> local_name("http://kgsearch.org/ns/movies#releaseYear")
    'releaseYear'
    """
    return re.split(r"[#/:]", iri.rstrip("/#"))[-1] or iri


def humanize(name: str) -> str:
    """Readable words from a camelCase or snake_case name.

    >>> humanize("releaseYear"), humanize("has_imdb_rating")
    ('release year', 'has imdb rating')
    """
    return " ".join(w for w in _CAMEL.split(name) if w).lower()


@dataclass(frozen=True)
class Term:
    """A class or property of the ontology."""

    iri: str
    kind: str  # "class", "object", "datatype" or "property"
    label: str
    alt_labels: tuple[str, ...] = ()
    domain: tuple[str, ...] = ()
    range: tuple[str, ...] = ()
    comment: str = ""


@dataclass(frozen=True)
class Ontology:
    """Classes and properties with labels, alternative labels, domains and ranges."""

    terms: dict[str, Term] = field(default_factory=dict)
    label_properties: frozenset[str] = frozenset(LABEL_PROPERTIES)
    alias_properties: frozenset[str] = frozenset(ALIAS_PROPERTIES)

    @property
    def classes(self) -> list[Term]:
        return [t for t in self.terms.values() if t.kind == "class"]

    @property
    def properties(self) -> list[Term]:
        return [t for t in self.terms.values() if t.kind != "class"]

    def label(self, iri: str) -> str:
        """The term's label, or its humanized local name when the ontology gives none."""
        term = self.terms.get(iri)
        return term.label if term else humanize(local_name(iri))

    @classmethod
    def from_store(cls, store: TripleStore) -> Ontology:
        """Read the schema from the store's default graph."""
        kinds = {
            OWL + "Class": "class",
            RDFS + "Class": "class",
            OWL + "ObjectProperty": "object",
            OWL + "DatatypeProperty": "datatype",
            RDF + "Property": "property",
            OWL + "AnnotationProperty": "property",
        }
        values = " ".join(f"<{k}>" for k in kinds)
        rows = store.query(
            f"""SELECT ?t ?k ?label ?alt ?domain ?range ?comment WHERE {{
                  VALUES ?k {{ {values} }}
                  ?t <{RDF_TYPE}> ?k . FILTER(isIRI(?t))
                  OPTIONAL {{ ?t <{RDFS}label> ?label }}
                  OPTIONAL {{ ?t <{SKOS}altLabel> ?alt }}
                  OPTIONAL {{ ?t <{RDFS}domain> ?domain FILTER(isIRI(?domain)) }}
                  OPTIONAL {{ ?t <{RDFS}range> ?range FILTER(isIRI(?range)) }}
                  OPTIONAL {{ ?t <{RDFS}comment> ?comment }}
                }}"""
        )
        acc: dict[str, dict] = {}
        for t, k, label, alt, domain, rng, comment in rows:
            entry = acc.setdefault(
                t.value, {"kind": set(), "label": [], "alt": set(), "domain": set(), "range": set(), "comment": ""}
            )
            entry["kind"].add(kinds[k.value])
            if label is not None:
                entry["label"].append(label)
            if alt is not None:
                entry["alt"].add(alt.value)
            if domain is not None:
                entry["domain"].add(domain.value)
            if rng is not None:
                entry["range"].add(rng.value)
            if comment is not None and not entry["comment"]:
                entry["comment"] = comment.value
        terms = {}
        for iri, e in acc.items():
            # A property declared with several types keeps the most specific kind.
            kind = next(k for k in ("class", "object", "datatype", "property") if k in e["kind"])
            english = [
                lab.value
                for lab in e["label"]
                if lab.language in (None, "", "en") or str(lab.language).startswith("en")
            ]
            label = min(english or [lab.value for lab in e["label"]] or [humanize(local_name(iri))], key=len)
            terms[iri] = Term(
                iri,
                kind,
                label,
                tuple(sorted(e["alt"])),
                tuple(sorted(e["domain"])),
                tuple(sorted(e["range"])),
                e["comment"],
            )
        return cls(terms, *_lexical_properties(store, terms))


def _lexical_properties(store: TripleStore, terms: dict[str, Term]) -> tuple[frozenset[str], frozenset[str]]:
    """Label and alias properties: the standard ones, their declared sub-properties, and name-like datatype properties."""
    labels, aliases = set(LABEL_PROPERTIES), set(ALIAS_PROPERTIES)
    for base_set in (labels, aliases):
        values = " ".join(f"<{p}>" for p in sorted(base_set))
        rows = store.query(
            f"SELECT DISTINCT ?p WHERE {{ VALUES ?base {{ {values} }} ?p <{RDFS}subPropertyOf>+ ?base FILTER(isIRI(?p)) }}"
        )
        base_set.update(row[0].value for row in rows)
    for t in terms.values():
        if t.kind in ("datatype", "property") and local_name(t.iri).lower() in _NAME_LIKE:
            labels.add(t.iri)
    return frozenset(labels), frozenset(aliases - labels)
