"""Entity cards and neighbourhoods: what the HTTP API and the console show for one entity.

A card gathers the catalogue entry (label, aliases, types, description), the entity's facts in
both directions grouped by property with labels, its images (``schema:image``,
``foaf:depiction``) and the documents that mention it, each with the mention's sentence.
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

import pyoxigraph as ox

from kg.catalogue import Entity
from kg.namespaces import IMAGE_PROPERTIES
from kg.ontology import Ontology, humanize, local_name
from kg.results import term_to_json
from kgsearch.engine import Engine
from retrieval.hybrid import lead_snippet, sentence_snippet
from retrieval.provenance import KGS, MENTIONS_GRAPH, document_iri

RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


#: Most values read per direction for one card; a hub entity gets its first ones and a count.
FACT_LIMIT = 500


def _iri(iri: str) -> str:
    return ox.NamedNode(iri).value  # validates: raises ValueError on a malformed IRI


def mention_snippet(text: str, start: int, end: int, *, width: int = 120) -> str:
    """The sentence around ``text[start:end]`` (at most ``width`` characters each side), HTML-escaped,
    the mention in ``<b>…</b>``.

    >>> mention_snippet("A film. Jaws is a 1975 film. More.", 8, 12)
    '<b>Jaws</b> is a 1975 film.'
    """
    if not 0 <= start < end <= len(text):
        return lead_snippet(text)
    dot = text.rfind(". ", max(0, start - width), start)
    left = dot + 2 if dot >= 0 else max(0, start - width)
    stop = text.find(". ", end, end + width)
    right = stop + 1 if stop >= 0 else min(len(text), end + width)
    return (
        html.escape(text[left:start].lstrip())
        + "<b>"
        + html.escape(text[start:end])
        + "</b>"
        + html.escape(text[end:right])
    )


def _value(term, label) -> dict[str, Any]:
    out = term_to_json(term)
    out["label"] = label.value if label is not None else (term.value if isinstance(term, ox.Literal) else "")
    if not out["label"] and isinstance(term, ox.NamedNode):
        out["label"] = humanize(local_name(term.value)) or term.value
    return out


class CardBuilder:
    """Builds cards over one engine; the ontology is read once (call :meth:`refresh` after writes)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._ontology: Ontology | None = None

    def refresh(self) -> None:
        """Forget the cached ontology (the KB changed)."""
        self._ontology = None

    @property
    def ontology(self) -> Ontology:
        if self._ontology is None:
            self._ontology = Ontology.from_store(self.engine.store)
        return self._ontology

    def label(self, iri: str) -> str:
        if iri in self.ontology.terms:
            return self.ontology.label(iri)
        if iri in self.engine.catalogue:
            return self.engine.catalogue.get(iri).label
        return humanize(local_name(iri)) or iri

    def _facts(self, iri: str, *, outgoing: bool) -> list[tuple[str, Any, Any]]:
        pattern = f"<{iri}> ?p ?v" if outgoing else f"?v ?p <{iri}>"
        rows = self.engine.store.query(
            f"SELECT ?p ?v ?label WHERE {{ {pattern} OPTIONAL {{ ?v <{RDFS_LABEL}> ?label }} }} LIMIT {FACT_LIMIT}"
        )
        seen: set[tuple[str, Any]] = set()
        facts = []
        for p, v, label in rows:
            if (p.value, v) in seen:  # several labels: keep the first
                continue
            seen.add((p.value, v))
            facts.append((p.value, v, label))
        return facts

    def _group(self, facts, direction: str, skip: set[str]) -> list[dict[str, Any]]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p, v, label in facts:
            if p in skip:
                continue
            grouped[p].append(_value(v, label))
        out = []
        for p, values in grouped.items():
            values.sort(key=lambda x: (x["label"].casefold(), x["value"]))
            out.append({"property": {"iri": p, "label": self.label(p)}, "direction": direction, "values": values})
        out.sort(key=lambda g: (g["property"]["label"].casefold(), g["property"]["iri"]))
        return out

    def card(self, ref: str, *, documents: int = 5) -> dict[str, Any]:
        """The card of the entity with IRI or name ``ref``.

        Raises:
            EntityNotFoundError: No entity has that IRI or name.
        """
        entity: Entity = self.engine.entity(ref)
        iri = _iri(entity.iri)
        outgoing = self._facts(iri, outgoing=True)
        incoming = self._facts(iri, outgoing=False)
        images = [
            {"url": v.value, "source": p}
            for p, v, _ in outgoing
            if p in IMAGE_PROPERTIES and isinstance(v, ox.NamedNode)
        ]
        skip = {RDFS_LABEL, RDF_TYPE, *IMAGE_PROPERTIES}
        return {
            "iri": entity.iri,
            "label": entity.label,
            "aliases": list(entity.aliases),
            "description": entity.description,
            "popularity": entity.popularity,
            "types": [{"iri": t, "label": self.label(t)} for t in entity.types],
            "facts": self._group(outgoing, "out", skip) + self._group(incoming, "in", {RDF_TYPE}),
            "images": images,
            "documents": self.documents(entity.iri, limit=documents),
        }

    def documents(self, iri: str, *, limit: int = 5) -> list[dict[str, Any]]:
        """Documents that mention the entity, with the sentence of a mention highlighted where known."""
        engine = self.engine
        if not (engine.settings.home / "ingest.sqlite").exists():
            return []
        index = engine.text_index()
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for ctx in engine.ledger().contexts(mention=iri):
            if len(out) >= limit:
                break
            if ctx.doc_id in seen or (doc := index.get(ctx.doc_id)) is None:
                continue
            seen.add(ctx.doc_id)
            out.append(self._document(doc, iri, sentence_snippet(doc, ctx)))
        if len(out) < limit:
            for hit in index.search("", entities=[iri], limit=limit + len(seen)):
                if hit.ref in seen or len(out) >= limit:
                    continue
                doc = index.get(hit.ref)
                text = doc.text if doc else ""
                mentions = self.mentions(hit.ref, iri)
                span = next(((m["start"], m["end"]) for m in mentions if m.get("start") is not None), None)
                snippet = mention_snippet(text, *span) if span else (hit.snippet or lead_snippet(text))
                if doc is None:
                    out.append({"id": hit.ref, "title": "", "snippet": snippet, "score": None})
                else:
                    out.append(self._document(doc, iri, snippet, mentions))
        return out

    def _document(self, doc, iri: str, snippet: str, mentions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A document entry of a card; image and audio documents add where the entity is in them."""
        entry: dict[str, Any] = {"id": doc.id, "title": doc.title, "snippet": snippet, "score": None}
        if doc.modality != "text":
            entry["modality"] = doc.modality
            entry["media"] = f"/documents/{quote(doc.id, safe='')}/media"
            if "image_size" in doc.metadata:
                entry["image_size"] = list(doc.metadata["image_size"])
            entry["mentions"] = mentions if mentions is not None else self.mentions(doc.id, iri)
        return entry

    def mentions(self, doc_id: str, iri: str) -> list[dict[str, Any]]:
        """Where the entity is mentioned in a document: surface, score, method, and the character
        span, image box (left, top, right, bottom) or time span (seconds) each mention has."""
        k = KGS
        rows = self.engine.store.query(
            f"SELECT ?surface ?score ?method ?start ?end ?box ?t0 ?t1 WHERE {{ GRAPH <{MENTIONS_GRAPH}> {{ "
            f"?m <{k}inDocument> <{document_iri(doc_id)}> ; <{k}entity> <{_iri(iri)}> ; <{k}surface> ?surface ; "
            f"<{k}score> ?score ; <{k}method> ?method . OPTIONAL {{ ?m <{k}start> ?start ; <{k}end> ?end }} "
            f"OPTIONAL {{ ?m <{k}box> ?box }} OPTIONAL {{ ?m <{k}startTime> ?t0 ; <{k}endTime> ?t1 }} }} }} "
            "ORDER BY ?start ?t0"
        )
        out = []
        for surface, score, method, start, end, box, t0, t1 in rows:
            m: dict[str, Any] = {"surface": surface.value, "score": float(score.value), "method": method.value}
            if start is not None:
                m["start"], m["end"] = int(start.value), int(end.value)
            if box is not None:
                m["bbox"] = [float(v) for v in box.value.split(",")]
            if t0 is not None:
                m["time_span"] = [float(t0.value), float(t1.value)]
            out.append(m)
        return out

    def media_file(self, doc_id: str) -> Path | None:
        """The image or audio file an ingested document was read from, if it is still there.

        Only files recorded as ingested documents are served, so the route cannot read others.
        """
        if not (self.engine.settings.home / "ingest.sqlite").exists():
            return None
        doc = self.engine.text_index().get(doc_id)
        if doc is None or doc.modality == "text" or not doc.metadata.get("path"):
            return None
        path = Path(doc.metadata["path"])
        return path if path.is_file() else None

    def neighbors(self, ref: str, *, limit: int = 50) -> dict[str, Any]:
        """The entity, the entities one hop away in either direction (at most ``limit``), and the edges."""
        entity = self.engine.entity(ref)
        iri = _iri(entity.iri)
        rows = self.engine.store.query(
            f"SELECT ?p ?n ?out WHERE {{ {{ <{iri}> ?p ?n BIND(true AS ?out) }} UNION "
            f"{{ ?n ?p <{iri}> BIND(false AS ?out) }} FILTER(isIRI(?n) && ?p != <{RDF_TYPE}>) }} LIMIT {FACT_LIMIT}"
        )
        edges, order = [], []
        for p, n, out in rows:
            if n.value == iri or p.value in IMAGE_PROPERTIES:
                continue
            if n.value not in order:
                if len(order) >= limit:
                    continue
                order.append(n.value)
            source, target = (iri, n.value) if out.value == "true" else (n.value, iri)
            edges.append({"source": source, "target": target, "property": p.value, "label": self.label(p.value)})
        known = self.engine.catalogue.get_many([iri, *order])
        nodes = []
        for node in [iri, *order]:
            e = known.get(node)
            nodes.append(
                {
                    "iri": node,
                    "label": e.label if e else self.label(node),
                    "types": list(e.types) if e else [],
                }
            )
        return {"center": iri, "nodes": nodes, "edges": edges}

    def image_file(self, url: str) -> Path | None:
        """The local file behind an image IRI that the KB names as some entity's picture, else ``None``.

        Only ``file:`` IRIs that appear as objects of an image property are served, so the
        route cannot be used to read other files.
        """
        if not url.startswith("file:"):
            return None
        props = " ".join(f"<{p}>" for p in IMAGE_PROPERTIES)
        try:
            node = ox.NamedNode(url)
        except ValueError:
            return None
        known = self.engine.store.query(f"ASK {{ VALUES ?p {{ {props} }} ?s ?p <{node.value}> }}")
        if not known:
            return None
        path = Path(unquote(urlparse(url).path))
        return path if path.is_file() else None
