"""The linker's in-memory view of the KB: alias matcher, entity facts, graph and ontology cues.

Built once from the :class:`~kg.catalogue.EntityCatalogue` (names, types, popularity) and
the :class:`~kg.store.TripleStore` (the entity graph for coherence), then shared by every
mode of the text linker.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import networkx as nx
import spacy
from spacy.matcher import PhraseMatcher

from kg.catalogue import EntityCatalogue
from kg.ontology import RDF_TYPE, Ontology
from kg.store import TripleStore

_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Candidate:
    """An entity an alias may refer to."""

    iri: str
    alias: str  # the alias text as the KB writes it
    is_label: bool


@dataclass(frozen=True)
class EntityInfo:
    label: str
    types: frozenset[str]
    popularity: float
    description: str


@lru_cache(maxsize=200_000)
def commonness(text: str) -> float:
    """How common ``text`` is as ordinary English: wordfreq's Zipf frequency (0 = unseen, 7 = "the").

    Multi-word texts get the frequency of their rarest word (wordfreq's combination), so
    "the edge" is as common as "edge" and "michelle trachtenberg" as rare as "trachtenberg".
    """
    from wordfreq import zipf_frequency

    return zipf_frequency(text, "en")


def _key(text: str) -> str:
    return " ".join(text.lower().split())


class AliasIndex:
    """Aliases to candidates, entity facts, the entity graph and the ontology's cue words.

    Args:
        catalogue: Entities with labels, aliases, types and popularity.
        store: The store whose default graph holds the facts (for the entity graph and ontology).
    """

    def __init__(self, catalogue: EntityCatalogue, store: TripleStore):
        self.nlp = spacy.blank("en")
        self.entities: dict[str, EntityInfo] = {
            e.iri: EntityInfo(e.label, frozenset(e.types), e.popularity, e.description) for e in catalogue.entities()
        }
        self.candidates: dict[str, list[Candidate]] = defaultdict(list)
        texts: set[str] = set()
        for alias in catalogue.aliases():
            self.candidates[_key(alias.text)].append(Candidate(alias.iri, alias.text, alias.kind == "label"))
            texts.add(alias.text)
        # Patterns in the alias's own case and in lower case: the tokenizer splits "Mr. Mom" and
        # "mr. mom" differently, and the matcher compares tokens.
        texts |= {t.lower() for t in texts}
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self.matcher.add("ALIAS", list(self.nlp.tokenizer.pipe(sorted(texts))))
        self.graph = self._entity_graph(store)
        self.ontology = Ontology.from_store(store)
        self.cues = self._cues(self.ontology)
        self.cue_words = frozenset(w for phrase in self.cues for w in phrase.split())

    def _entity_graph(self, store: TripleStore) -> nx.Graph:
        graph = nx.Graph()
        rows = store.query(f"SELECT ?s ?o WHERE {{ ?s ?p ?o FILTER(isIRI(?s) && isIRI(?o) && ?p != <{RDF_TYPE}>) }}")
        known = self.entities
        graph.add_edges_from((s.value, o.value) for s, o in rows if s.value in known and o.value in known)
        return graph

    @staticmethod
    def _cues(onto: Ontology) -> dict[str, frozenset[str]]:
        """Phrases that announce the type of the next mention, read from the ontology.

        A property's label ("directed by") announces its range. Its alternative labels name the
        relation without fixing a direction ("who directed Jaws", "the director Steven
        Spielberg", "acted in", "spoken in"), so they announce its domain or its range. A class's
        labels ("film", "movie") announce the class itself.
        """
        cues: dict[str, set[str]] = defaultdict(set)

        def announce(phrase: str, expected: set[str]) -> None:
            key = _key(phrase)
            if expected and key and len(key) > 2:
                cues[key] |= expected

        for term in onto.terms.values():
            if term.kind == "class":
                for phrase in {term.label, *term.alt_labels}:
                    announce(phrase, {term.iri})
                continue
            announce(term.label, set(term.range))
            for phrase in term.alt_labels:
                announce(phrase, set(term.range) | set(term.domain))
        return {k: frozenset(v) for k, v in cues.items()}

    def candidates_for(self, surface: str) -> list[Candidate]:
        """Candidates whose alias equals ``surface`` ignoring case and spacing."""
        return self.candidates.get(_key(surface), [])

    def neighbours(self, iri: str) -> set[str]:
        return set(self.graph.adj[iri]) if iri in self.graph else set()

    def expected_types(self, preceding: str) -> frozenset[str]:
        """Classes announced by cue phrases ending right before a mention (``preceding`` is the text before it)."""
        words = _WORD.findall(preceding.lower()[-40:])
        found: set[str] = set()
        for n in (3, 2, 1):
            if len(words) >= n:
                found |= self.cues.get(" ".join(words[-n:]), frozenset())
        return frozenset(found)
