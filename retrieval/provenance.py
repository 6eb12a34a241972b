"""Mention provenance in the KB: which document mentions which entity, where, how sure.

Ingestion writes it into a named graph of its own, :data:`MENTIONS_GRAPH`, never into the
user's facts, so SPARQL can join documents with the KB (``GRAPH kgs:mentions { ?doc kgs:mentions ?e }``)
and a re-ingested document replaces its old mentions. A document is the IRI :func:`document_iri`
of its id; each link is a ``kgs:Mention`` node with the surface, span (or box, or time span),
entity, score and method::

    <urn:kgsearch:doc:d1> a kgs:Document ; kgs:docId "d1" ; kgs:title "Rebecca" ; kgs:about <…/Rebecca> ;
        kgs:contentHash "…" ; kgs:mentions <…/Alfred_Hitchcock> .
    <urn:kgsearch:doc:d1#m0> a kgs:Mention ; kgs:inDocument <urn:kgsearch:doc:d1> ;
        kgs:entity <…/Alfred_Hitchcock> ; kgs:surface "Alfred Hitchcock" ;
        kgs:start 35 ; kgs:end 51 ; kgs:score 0.97 ; kgs:method "alias:exact" .

>>> document_iri("wiki:Heat (1995)")
'urn:kgsearch:doc:wiki%3AHeat%20%281995%29'
>>> document_id(document_iri("wiki:Heat (1995)"))
'wiki:Heat (1995)'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import quote, unquote

import pyoxigraph as ox

from linking.types import Link

KGS = "http://kgsearch.org/ns/kgs#"

#: The named graph that holds all mention provenance.
MENTIONS_GRAPH = KGS + "mentions"

#: Prefix of document IRIs.
DOC_PREFIX = "urn:kgsearch:doc:"

_RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_XSD = "http://www.w3.org/2001/XMLSchema#"


def term(local: str) -> ox.NamedNode:
    """A term of the kgs: vocabulary."""
    return ox.NamedNode(KGS + local)


def document_iri(doc_id: str) -> str:
    """The IRI that stands for document ``doc_id`` in SPARQL (percent-encoded, reversible)."""
    return DOC_PREFIX + quote(doc_id, safe="")


def document_id(iri: str) -> str | None:
    """The document id behind a :func:`document_iri`, or ``None`` for any other IRI."""
    return unquote(iri[len(DOC_PREFIX) :]) if iri.startswith(DOC_PREFIX) else None


def provenance_quads(
    doc_id: str, *, title: str, modality: str, content_hash: str, links: Sequence[Link], about: str | None = None
) -> list[ox.Quad]:
    """The quads that describe one document, its subject (``kgs:about``) and its (non-NIL) links,
    all in :data:`MENTIONS_GRAPH`."""
    g = ox.NamedNode(MENTIONS_GRAPH)
    doc = ox.NamedNode(document_iri(doc_id))
    quads = [
        ox.Quad(doc, _RDF_TYPE, term("Document"), g),
        ox.Quad(doc, term("docId"), ox.Literal(doc_id), g),
        ox.Quad(doc, term("modality"), ox.Literal(modality), g),
        ox.Quad(doc, term("contentHash"), ox.Literal(content_hash), g),
    ]
    if title:
        quads.append(ox.Quad(doc, term("title"), ox.Literal(title), g))
    if about:
        quads.append(ox.Quad(doc, term("about"), ox.NamedNode(about), g))
    seen: set[str] = set()
    for i, link in enumerate(links):
        if link.entity_iri is None:
            continue
        entity = ox.NamedNode(link.entity_iri)
        if link.entity_iri not in seen:
            seen.add(link.entity_iri)
            quads.append(ox.Quad(doc, term("mentions"), entity, g))
        m = ox.NamedNode(f"{doc.value}#m{i}")
        mention = link.mention
        quads += [
            ox.Quad(m, _RDF_TYPE, term("Mention"), g),
            ox.Quad(m, term("inDocument"), doc, g),
            ox.Quad(m, term("entity"), entity, g),
            ox.Quad(m, term("surface"), ox.Literal(mention.surface), g),
            ox.Quad(m, term("score"), _decimal(link.score), g),
            ox.Quad(m, term("method"), ox.Literal(link.method), g),
        ]
        if mention.span is not None:
            quads += [
                ox.Quad(m, term("start"), ox.Literal(str(mention.span[0]), datatype=ox.NamedNode(_XSD + "integer")), g),
                ox.Quad(m, term("end"), ox.Literal(str(mention.span[1]), datatype=ox.NamedNode(_XSD + "integer")), g),
            ]
        if mention.bbox is not None:
            quads.append(ox.Quad(m, term("box"), ox.Literal(",".join(f"{v:g}" for v in mention.bbox)), g))
        if mention.time_span is not None:
            quads += [
                ox.Quad(m, term("startTime"), _decimal(mention.time_span[0]), g),
                ox.Quad(m, term("endTime"), _decimal(mention.time_span[1]), g),
            ]
    return quads


def delete_documents_update(doc_ids: Iterable[str]) -> str | None:
    """A SPARQL Update that removes the provenance of these documents (``None`` when there are none)."""
    values = " ".join(str(ox.NamedNode(document_iri(d))) for d in doc_ids)
    if not values:
        return None
    return (
        f"DELETE {{ GRAPH <{MENTIONS_GRAPH}> {{ ?doc ?p ?o . ?m ?mp ?mo }} }} WHERE {{ VALUES ?doc {{ {values} }} "
        f"GRAPH <{MENTIONS_GRAPH}> {{ {{ ?doc ?p ?o }} UNION {{ ?m <{KGS}inDocument> ?doc . ?m ?mp ?mo }} }} }}"
    )


def _decimal(value: float) -> ox.Literal:
    return ox.Literal(f"{float(value):.4f}", datatype=ox.NamedNode(_XSD + "decimal"))
