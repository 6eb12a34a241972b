"""Query graphs (Aqqu's candidates) and their SPARQL 1.1 rendering.

A query graph is one or two relation paths from topic entities to the answer variable ``?x``,
plus optional constraints: an answer class, numeric filters on a property of the answer, a
count, a superlative over an ordered property, or an arg-max over a counted relation.

Every IRI and literal is written through pyoxigraph's N-Triples serialization, so labels and
numbers taken from the question can never change the query's structure (no injection).

>>> from parser.schema import Step
>>> directed = Step("http://ex/directedBy", False, "http://ex/Person", "http://ex/Film", 1)
>>> year = Step("http://ex/year", True, "http://ex/Film", "literal:http://www.w3.org/2001/XMLSchema#integer", 1)
>>> g = QueryGraph(topics=("http://ex/scott",), paths=((directed,),),
...                filters=(NumericFilter(year.prop, ">", 1980),))
>>> print(g.sparql())
SELECT DISTINCT ?x WHERE {
  ?x <http://ex/directedBy> <http://ex/scott> .
  ?x <http://ex/year> ?f0 .
  FILTER(?f0 > 1980)
}
"""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox

from kg.ontology import RDF_TYPE, RDFS
from parser.schema import Step

_OPS = frozenset({"<", "<=", ">", ">=", "="})


def iri(value: str) -> str:
    """An IRI as safe SPARQL text; raises ``ValueError`` for anything that is not an IRI."""
    return str(ox.NamedNode(value))


def number(value: int | float) -> str:
    """A number as a typed SPARQL literal (``xsd:integer`` or ``xsd:decimal``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}")
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class NumericFilter:
    """``?x <prop> ?v . FILTER(?v op value)``; with ``high`` set, a range ``value <= ?v <= high``."""

    prop: str
    op: str
    value: int | float
    high: int | float | None = None

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown comparison {self.op!r}; use one of {sorted(_OPS)}")


@dataclass(frozen=True)
class Superlative:
    """Keep the answers with the smallest (``descending=False``) or largest value of ``prop``."""

    prop: str
    descending: bool


@dataclass(frozen=True)
class MostCounted:
    """Rank answers by how many distinct values a step from them reaches (\"teaches the most courses\").

    With ``step`` None, the counted values are the path's last intermediate node.
    """

    step: Step | None
    descending: bool = True


@dataclass(frozen=True)
class QueryGraph:
    """A candidate query: paths from topic entities to ``?x`` and constraints on ``?x``."""

    topics: tuple[str, ...]
    paths: tuple[tuple[Step, ...], ...]
    answer_class: str | None = None
    filters: tuple[NumericFilter, ...] = ()
    count: bool = False
    superlative: Superlative | None = None
    most: MostCounted | None = None

    @property
    def signature(self) -> str:
        return " & ".join("|".join(s.key for s in path) for path in self.paths)

    @property
    def hops(self) -> int:
        return max(len(p) for p in self.paths)

    def _pattern(self, suffix: str = "") -> list[str]:
        lines: list[str] = []
        x = f"?x{suffix}"
        for pi, (topic, path) in enumerate(zip(self.topics, self.paths, strict=True)):
            prev = iri(topic)
            for si, step in enumerate(path):
                nxt = x if si == len(path) - 1 else f"?m{pi}_{si}{suffix}"
                s, o = (prev, nxt) if step.forward else (nxt, prev)
                lines.append(f"{s} {iri(step.prop)} {o} .")
                prev = nxt
        # A path never comes back through its topic: "films that share actors with X" are other
        # films than X, and their directors are reached through those films (MetaQA's convention).
        revisits = []
        for pi, (topic, path) in enumerate(zip(self.topics, self.paths, strict=True)):
            for si in range(1, len(path)):
                var = x if si == len(path) - 1 else f"?m{pi}_{si}{suffix}"
                revisits.append(f"{var} != {iri(topic)}")
        if len(self.paths) > 1:
            revisits += [f"{x} != {iri(t)}" for t in self.topics]
        if revisits:
            lines.append("FILTER(" + " && ".join(dict.fromkeys(revisits)) + ")")
        if self.answer_class:
            lines.append(f"{x} <{RDF_TYPE}>/<{RDFS}subClassOf>* {iri(self.answer_class)} .")
        for fi, f in enumerate(self.filters):
            v = f"?f{fi}{suffix}"
            lines.append(f"{x} {iri(f.prop)} {v} .")
            if f.high is not None:
                lines.append(f"FILTER({v} >= {number(f.value)} && {v} <= {number(f.high)})")
            else:
                lines.append(f"FILTER({v} {f.op} {number(f.value)})")
        return lines

    def where(self) -> str:
        """The graph pattern alone, for an ASK."""
        return "{\n  " + "\n  ".join(self._pattern()) + "\n}"

    def sparql(self, *, limit: int | None = None) -> str:
        """The query as SPARQL 1.1 text; ``limit`` caps the rows of a plain answer list."""
        body = self._pattern()
        tail = ""
        if self.count:
            head = "SELECT (COUNT(DISTINCT ?x) AS ?count)"
        elif self.superlative is not None:
            sup = self.superlative
            inner = "\n    ".join([*self._pattern("_"), f"?x_ {iri(sup.prop)} ?w ."])
            agg = "MAX" if sup.descending else "MIN"
            head = "SELECT DISTINCT ?x ?value"
            body = [
                *body,
                f"?x {iri(sup.prop)} ?value .",
                f"{{ SELECT ({agg}(?w) AS ?value) WHERE {{\n    {inner}\n  }} }}",
            ]
        elif self.most is not None:
            head = "SELECT ?x (COUNT(DISTINCT ?c) AS ?n)"
            step = self.most.step
            if step is None:
                path = self.paths[0]
                counted = f"?m0_{len(path) - 2}" if len(path) > 1 else iri(self.topics[0])
                body = [*body, f"BIND({counted} AS ?c)"]
            else:
                s, o = ("?x", "?c") if step.forward else ("?c", "?x")
                body = [*body, f"{s} {iri(step.prop)} {o} ."]
            order = "DESC" if self.most.descending else "ASC"
            tail = f"\nGROUP BY ?x ORDER BY {order}(?n) LIMIT 1"
        else:
            head = "SELECT DISTINCT ?x"
            if limit is not None:
                tail = f"\nLIMIT {int(limit)}"
        return f"{head} WHERE {{\n  " + "\n  ".join(body) + "\n}" + tail

    def ask(self) -> str:
        return "ASK " + self.where()
