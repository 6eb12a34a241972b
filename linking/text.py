"""The text linker: alias matching with spaCy, then disambiguation by prior, coherence and type fit.

Three modes share one :class:`~linking.index.AliasIndex`:

* documents (:meth:`TextLinker.link`): cased prose; a span links when its case matches an
  alias (or the alias is rare enough to match in any case) and it is not an ordinary English
  word unless the rest of the document supports it through the KB graph ("the edge of the
  road" stays unlinked; *The Edge* in a lead that names its director links);
* noisy text (``noisy=True``): ASR/OCR output, lower case and misspelled: case is ignored and
  fuzzy alias matches (rapidfuzz) are added;
* questions (:meth:`TextLinker.topic_entities`): unmarked questions; spans are ranked as the
  question's topic, best first.

Scores are logistic in hand-read features (Milne & Witten 2008 style: commonness prior,
relatedness to the other mentions, plus keyphraseness from case and word frequency).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace

from kg.catalogue import EntityCatalogue
from kg.store import TripleStore
from linking.calibration import load_calibration, logit
from linking.errors import InputTextError
from linking.index import AliasIndex, Candidate, commonness
from linking.types import Document, Link, Mention

#: spaCy refuses longer texts; longer documents are linked chunk by chunk.
CHUNK_CHARS = 200_000
_SENTENCE_END = ".!?\n"
_QUOTES = "\"'“”‘’«»([ \t"


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class LinkerConfig:
    """Settings of the text linker.

    Attributes:
        noisy: Treat text as ASR/OCR output: ignore case, add fuzzy matches.
        link_threshold: Minimum score for a link; lower-scoring name-like spans become NIL.
        rare_zipf: Aliases rarer than this (wordfreq Zipf) match in any case.
        fuzzy_min_ratio: rapidfuzz ratio (0-100) a fuzzy match needs in noisy mode.
        use_ner: Add NIL mentions from the statistical NER model (``linking.ner``).
        use_embeddings: Break close calls between candidates by the sentence-embedding similarity
            of the mention's context and each entity's description (``linking.embeddings``).
        ambiguity_margin: Candidates within this raw-score distance of the best count as a close call.
        max_candidates: Candidates kept per mention (most popular first).
        calibration: Platt parameters ``(a, b)`` per mode (``document``, ``question``) turning
            raw scores into probabilities; fitted by ``python -m linking.calibration``.
    """

    noisy: bool = False
    link_threshold: float = 0.5
    rare_zipf: float = 3.0
    fuzzy_min_ratio: float = 88.0
    use_ner: bool = False
    use_embeddings: bool = False
    ambiguity_margin: float = 0.25
    max_candidates: int = 8
    calibration: dict[str, tuple[float, float]] = field(default_factory=load_calibration)


@dataclass
class _Span:
    start: int  # character offsets in the full text
    end: int
    surface: str
    candidates: list[Candidate]
    case_exact: bool
    method: str
    features: dict[str, float] = field(default_factory=dict)
    scores: list[tuple[str, float]] = field(default_factory=list)


class TextLinker:
    """Links entity mentions in text to the KB (see the module docstring for the modes).

    Build it once with :meth:`build` (a few seconds for the full movie KB) and reuse it.
    """

    def __init__(self, index: AliasIndex, config: LinkerConfig | None = None):
        self.index = index
        self.config = config or LinkerConfig()

    @classmethod
    def build(cls, catalogue: EntityCatalogue, store: TripleStore, config: LinkerConfig | None = None) -> TextLinker:
        """Build the alias index from the catalogue and store."""
        return cls(AliasIndex(catalogue, store), config)

    def with_config(self, **changes) -> TextLinker:
        """The same index with other settings, e.g. ``linker.with_config(noisy=True)``."""
        return TextLinker(self.index, replace(self.config, **changes))

    # -- mention detection -------------------------------------------------------------

    def _spans(self, text: str, offset: int, *, any_case: bool, ignore_case: bool = False) -> list[_Span]:
        doc = self.index.nlp.make_doc(text)
        spans = []
        for _, start, end in self.index.matcher(doc):
            span = doc[start:end]
            surface = span.text
            candidates = self.index.candidates_for(surface)
            if not any_case and not any(ch.isalnum() for ch in surface):
                continue  # "$" is a film title, but in prose it is a dollar sign
            exact = [] if self.config.noisy or ignore_case else [c for c in candidates if c.alias == surface]
            if exact:
                chosen, case_exact = exact, True
            elif any_case or commonness(surface.lower()) < self.config.rare_zipf:
                chosen, case_exact = candidates, False
            else:
                continue
            chosen = sorted(chosen, key=lambda c: -self.index.entities[c.iri].popularity)[: self.config.max_candidates]
            method = "alias:exact" if case_exact else "alias:case-insensitive"
            spans.append(_Span(offset + span.start_char, offset + span.end_char, surface, chosen, case_exact, method))
        return spans

    def _fuzzy_spans(self, text: str, taken: list[_Span]) -> list[_Span]:
        """Noisy mode: two- and three-word windows close to a multi-word alias (misspelled names)."""
        from rapidfuzz import fuzz, process

        keys = self._fuzzy_keys()
        doc = self.index.nlp.make_doc(text)
        covered = {i for s in taken for i in range(s.start, s.end)}
        out = []
        for n in (3, 2):
            for i in range(len(doc) - n + 1):
                window = doc[i : i + n]
                if window.start_char in covered or any(t.is_punct for t in window):
                    continue
                query = window.text.lower()
                if commonness(query) >= 4.0:
                    continue
                best = process.extractOne(query, keys.get(query[:1], ()), scorer=fuzz.ratio)
                if best and best[1] >= self.config.fuzzy_min_ratio:
                    candidates = self.index.candidates_for(best[0])
                    out.append(_Span(window.start_char, window.end_char, window.text, candidates, False, "alias:fuzzy"))
                    covered.update(range(window.start_char, window.end_char))
        return out

    def _fuzzy_keys(self) -> dict[str, list[str]]:
        # Blocking by first letter keeps each fuzzy search to a few thousand aliases.
        if not hasattr(self.index, "_fuzzy_keys"):
            blocks: dict[str, list[str]] = defaultdict(list)
            for key in self.index.candidates:
                if " " in key and commonness(key) < 4.0:
                    blocks[key[:1]].append(key)
            self.index._fuzzy_keys = dict(blocks)
        return self.index._fuzzy_keys

    # -- scoring -----------------------------------------------------------------------

    def _sentence_start(self, text: str, start: int) -> bool:
        i = start - 1
        while i >= 0 and text[i] in _QUOTES:
            i -= 1
        return i < 0 or text[i] in _SENTENCE_END

    def _rerank_by_context(self, text: str, s: _Span, scored: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """Shift close candidates by how well their description fits the mention's context."""
        embedder = getattr(self.index, "_embedder", None)
        if embedder is None:
            from linking.embeddings import SentenceTransformerEmbedder

            embedder = self.index._embedder = SentenceTransformerEmbedder()
        context = text[max(0, s.start - 250) : s.end + 250]
        close = [(iri, p) for iri, p in scored if scored[0][1] - p < self.config.ambiguity_margin]
        descriptions = [self.index.entities[iri].description or self.index.entities[iri].label for iri, _ in close]
        vectors = embedder.embed([context, *descriptions])
        sims = vectors[1:] @ vectors[0]
        mean = float(sims.mean())
        # Cosine differences between candidates are small (~0.1); 4x puts them on the logit scale.
        reranked = [
            (iri, _sigmoid(logit(p) + 4.0 * (float(sim) - mean))) for (iri, p), sim in zip(close, sims, strict=True)
        ]
        rest = [(iri, p) for iri, p in scored if (iri, p) not in close]
        return sorted(reranked, key=lambda x: -x[1]) + rest

    @staticmethod
    def _embedded_in_name(text: str, s: _Span) -> bool:
        """Whether a capitalized word touches the span on either side (``Olivia Wilde`` around ``Wilde``)."""
        before = text[max(0, s.start - 30) : s.start]
        after = text[s.end : s.end + 30]
        if before.endswith("  "):
            prev_word = ""
        elif before.endswith(" "):
            prev_word = before[:-1].rsplit(" ", 1)[-1]
        else:  # text glued to the span, e.g. an opening quote
            prev_word = before.rsplit(" ", 1)[-1]
        next_word = after[1:].split(" ", 1)[0] if after.startswith(" ") else ""
        return (prev_word[:1].isupper() and prev_word[-1:].isalpha()) or (
            next_word[:1].isupper() and next_word[:1].isalpha()
        )

    def _score(self, text: str, spans: list[_Span]) -> None:
        """Fill each span's features and per-candidate scores (probability the span means that entity)."""
        entities = self.index.entities
        by_span_neighbours = [set().union(*(self.index.neighbours(c.iri) for c in s.candidates)) for s in spans]
        span_keys = [s.surface.lower() for s in spans]
        for i, s in enumerate(spans):
            zipf = commonness(s.surface.lower())
            words = s.surface.split()
            title = all(w[:1].isupper() or not w[:1].isalpha() for w in words)
            sentence_start = self._sentence_start(text, s.start)
            expected = self.index.expected_types(text[max(0, s.start - 40) : s.start])
            total_pop = sum(entities[c.iri].popularity for c in s.candidates) or 1.0
            # Keyphraseness: a capitalized, rare, multi-word span is a name; an ordinary word is not.
            embedded = self._embedded_in_name(text, s)
            lower_word = len(words) == 1 and not s.surface[:1].isupper() and zipf >= self.config.rare_zipf
            if self.config.noisy:
                # ASR/OCR text carries no case: no evidence either way from capitals.
                title, sentence_start, lower_word = False, False, False
            key = (
                1.5 * (s.case_exact or self.config.noisy)
                + (1.0 if title and not sentence_start else 0.0)
                + 0.6 * min(len(words) - 1, 3)
                - 0.9 * max(0.0, zipf - 3.0)
                # "Wilde" in "Olivia Wilde" is part of a name the KB does not have, not the film.
                - 2.5 * embedded
                # An ordinary lower-case word ("screenplay", "sports") is not a mention of a concept.
                - 3.0 * lower_word
                # A lone word ("Frank", "Philadelphia") needs the document's support to be a KB entity.
                - 1.0 * (len(words) == 1)
            )
            scored = []
            for c in s.candidates:
                info = entities[c.iri]
                support = sum(
                    1
                    for j, other in enumerate(spans)
                    if j != i and span_keys[j] != span_keys[i] and c.iri in by_span_neighbours[j]
                )
                fit = 0.0 if not expected else (1.0 if info.types & expected else -1.0)
                prior = (info.popularity + 1e-9) / (total_pop + 1e-9 * len(s.candidates))
                # Without case in the text, an alias written as a name ("Charlie Chaplin") is a
                # likelier referent than the same words as a lower-case keyword.
                named = 0.5 * (self.config.noisy and c.alias != c.alias.lower())
                z = -1.8 + key + 1.6 * min(support, 3) + 1.2 * fit + 0.8 * math.log(prior) + 0.2 * c.is_label + named
                scored.append((c.iri, _sigmoid(z)))
            scored.sort(key=lambda x: -x[1])
            if (
                self.config.use_embeddings
                and len(scored) > 1
                and scored[0][1] - scored[1][1] < self.config.ambiguity_margin
            ):
                scored = self._rerank_by_context(text, s, scored)
            s.scores = scored
            s.features = {"zipf": zipf, "title": float(title), "sentence_start": float(sentence_start), "key": key}

    def _resolve(self, spans: list[_Span]) -> list[_Span]:
        """Keep the best non-overlapping spans; a linkable longer span beats the spans inside it."""
        threshold = self.config.link_threshold

        def rank(s: _Span):
            score = s.scores[0][1] if s.scores else 0.0
            return (-(score >= threshold), -(s.end - s.start), -score, s.start)

        ordered = sorted(spans, key=rank)
        taken: list[_Span] = []
        for s in ordered:
            if all(s.end <= t.start or s.start >= t.end for t in taken):
                taken.append(s)
        return sorted(taken, key=lambda s: s.start)

    def _calibrated(self, mode: str, raw: float) -> float:
        a, b = self.config.calibration[mode]
        return _sigmoid(a * logit(raw) + b)

    def _to_link(self, doc_id: str, s: _Span, nil: bool = False) -> Link:
        iri, score = s.scores[0]
        mention = Mention(doc_id, s.surface, span=(s.start, s.end))
        if nil:
            return Link(mention, None, 1.0 - self._calibrated("document", score), s.method + ":nil")
        alternatives = tuple((alt, self._calibrated("document", p)) for alt, p in s.scores[1:4])
        label = self.index.entities[iri].label
        return Link(mention, iri, self._calibrated("document", score), s.method, label, alternatives)

    # -- public API --------------------------------------------------------------------

    def link(self, document: Document) -> list[Link]:
        """Link the mentions of a text document, in order of position.

        Raises:
            InputTextError: The document has no text.
        """
        text = document.text
        if text is None:
            raise InputTextError(f"document {document.id!r} has no text to link")
        links: list[Link] = []
        for offset in range(0, len(text), CHUNK_CHARS):
            links += self._link_chunk(document.id, text, offset, min(len(text), offset + CHUNK_CHARS))
        return links

    def _link_chunk(self, doc_id: str, text: str, start: int, end: int) -> list[Link]:
        if start > 0:  # move chunk borders to whitespace so no word is cut
            while start < end and not text[start - 1].isspace():
                start += 1
        if end < len(text):
            while end > start and not text[end].isspace():
                end -= 1
        chunk = text[start:end]
        spans = self._spans(chunk, start, any_case=self.config.noisy)
        if self.config.noisy:
            spans += [replace(s, start=s.start + start, end=s.end + start) for s in self._fuzzy_spans(chunk, spans)]
        self._score(text, spans)
        links = []
        for s in self._resolve([s for s in spans if s.scores]):
            if s.scores[0][1] >= self.config.link_threshold:
                links.append(self._to_link(doc_id, s))
            elif (
                s.features["title"] and not s.features["sentence_start"] and s.features["zipf"] < self.config.rare_zipf
            ):
                links.append(self._to_link(doc_id, s, nil=True))
        if self.config.use_ner:
            links = self._add_ner_nils(doc_id, chunk, start, links)
        return sorted(links, key=lambda link: link.mention.span)

    def _add_ner_nils(self, doc_id: str, chunk: str, offset: int, links: list[Link]) -> list[Link]:
        from linking.ner import SpacyNer

        ner = getattr(self.index, "_ner", None) or SpacyNer()
        self.index._ner = ner
        taken = [link.mention.span for link in links]
        for s, e, label in ner.entities(chunk):
            s, e = s + offset, e + offset
            if label in ("PERSON", "WORK_OF_ART", "ORG", "GPE", "LANGUAGE") and all(e <= a or s >= b for a, b in taken):
                links.append(
                    Link(Mention(doc_id, chunk[s - offset : e - offset], span=(s, e)), None, 0.5, f"ner:{label}")
                )
        return links

    def topic_entities(self, question: str, *, limit: int = 10) -> list[Link]:
        """The entities a question is about, best first (question mode).

        Questions come without marking and often without capitals, so every alias matches in
        any case; spans are ranked by how name-like they are (length, case, rarity, not a
        word of the ontology's vocabulary such as "directed" or "films") and the entity's prior.
        """
        text = " ".join(question.split())
        if not text:
            return []
        # A question typed without any capitals carries no case evidence: score it case-neutral.
        cased = any(ch.isupper() for ch in text) and not self.config.noisy
        spans = self._spans(text, 0, any_case=True, ignore_case=not cased)
        if self.config.noisy:
            spans += self._fuzzy_spans(text, spans)
        ranked: list[tuple[float, _Span, str, float]] = []
        entities = self.index.entities
        exact_spans = [(s.start, s.end) for s in spans if s.case_exact]
        for s in spans:
            words = s.surface.lower().split()
            nested = any(a <= s.start and s.end <= b and (a, b) != (s.start, s.end) for a, b in exact_spans)
            zipf = commonness(s.surface.lower())
            vocab = sum(w in self.index.cue_words for w in words) / len(words)
            expected = self.index.expected_types(text[: s.start])
            total_pop = sum(entities[c.iri].popularity for c in s.candidates) or 1.0
            span_z = (
                0.9 * len(words)
                + 0.04 * len(s.surface)
                + 1.2 * (s.case_exact or not cased)
                + 0.8 * ((s.surface[:1].isupper() and s.start > 0) or not cased)
                - 0.7 * max(0.0, zipf - 3.5)
                - 2.5 * vocab
                - (2.0 if s.method == "alias:fuzzy" else 0.0)
                - 1.5 * nested
            )
            for c in s.candidates:
                info = entities[c.iri]
                fit = 0.0 if not expected else (1.0 if info.types & expected else -1.0)
                prior = math.log((info.popularity + 1e-9) / total_pop)
                # A capitalised alias is name evidence, matched in a question typed without
                # capitals or matched case-exactly in one with them: casing a question properly
                # must not lower its confidence.
                named = 0.5 * (c.alias != c.alias.lower() and (not cased or s.case_exact))
                ranked.append((span_z + 0.15 * prior + fit + named, s, c.iri, prior))
        ranked.sort(key=lambda r: (-r[0], r[1].start))
        out: list[Link] = []
        seen: set[str] = set()
        for z, s, iri, _ in ranked:
            if iri in seen:
                continue
            seen.add(iri)
            mention = Mention("question", s.surface, span=(s.start, s.end))
            score = self._calibrated("question", _sigmoid(z - 3.0))
            out.append(Link(mention, iri, score, s.method, entities[iri].label))
            if len(out) >= limit:
                break
        return out
