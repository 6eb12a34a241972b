"""What the parser returns: a :class:`ParsedQuery`. Frozen, never mutated.

>>> pq = ParsedQuery("who directed Alien", "SELECT DISTINCT ?x WHERE { <http://ex/alien> <http://ex/d> ?x . }",
...                  (), ("directed",), 0.93, "Alien -> directed by -> ?x")
>>> pq.as_json()["confidence"], pq.low_confidence
(0.93, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from linking.types import Link
from parser.query import QueryGraph

#: Below this confidence a parse is reported as a guess.
LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class ParsedQuery:
    """A question mapped to SPARQL over the KB's ontology.

    Attributes:
        question: The question as asked.
        sparql: SPARQL 1.1 that runs on any :class:`~kg.store.TripleStore`; answers bind ``?x``
            (or ``?count`` for counting questions).
        entities: The topic entities, as question-mode links (with surface form and score).
        keywords: Content words not consumed by entities: what full-text search should look for.
        confidence: How sure the parser is of this reading, in [0, 1].
        explanation: The reading in words: topics, relation path, constraints.
        graph: The query graph behind the SPARQL (None for hand-written queries).
        alternatives: Runner-up readings (SPARQL, confidence), best first.
    """

    question: str
    sparql: str
    entities: tuple[Link, ...]
    keywords: tuple[str, ...]
    confidence: float
    explanation: str
    graph: QueryGraph | None = None
    alternatives: tuple[tuple[str, float], ...] = ()

    @property
    def low_confidence(self) -> bool:
        return self.confidence < LOW_CONFIDENCE

    @property
    def counts(self) -> bool:
        return self.graph is not None and self.graph.count

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "sparql": self.sparql,
            "confidence": round(self.confidence, 4),
            "low_confidence": self.low_confidence,
            "explanation": self.explanation,
            "entities": [link.as_json() for link in self.entities],
            "keywords": list(self.keywords),
        }
