"""The semantic parser: a question in, a :class:`ParsedQuery` with SPARQL out (Aqqu-style).

1. Link the question's entities (the text linker's question mode; questions are not marked).
2. Ground ambiguous names collectively: "GraduateStudent12 of Department0" keeps the student
   connected to that department, and the department becomes a qualifier, not a topic.
3. Generate candidate query graphs from the KB schema: relation paths of 1–3 hops in either
   direction from each topic entity, conjunctions of two topics, and the constraints the
   question's cues ask for (counts, numeric filters, superlatives, arg-max counts, answer class).
4. Score candidates with features: the relation lexicon learned by distant supervision (when
   one was trained for this ontology), word overlap between the question and the ontology's
   labels and alternative labels, answer-type fit, linking score and path length.
5. Keep the best candidate with a non-empty answer; report its confidence and an explanation.

Nothing here is specific to a domain; it reads the ontology and the data.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pyoxigraph as ox

from kg.catalogue import EntityCatalogue, normalize
from kg.errors import EntityNotFoundError
from kg.store import TripleStore
from linking.types import Link
from parser.cues import Cues, find_cues
from parser.errors import CannotParseError
from parser.lexicon import RelationLexicon, mask
from parser.query import MostCounted, NumericFilter, QueryGraph, Superlative, iri
from parser.schema import KbSchema, Step
from parser.types import ParsedQuery
from parser.words import CONTENT_STOP, content_words, matched, overlap, wh_noun, wh_word

MAX_QUESTION_CHARS = 1000
#: Weight of label overlap next to the lexicon's log-probability (tuned on the dev sets).
LABEL_WEIGHT = 1.0
#: Lexicons trained for an ontology ship beside this module as ``lexicon-<name>.json``.
LEXICON_DIR = Path(__file__).resolve().parent
_PREPOSITION = re.compile(r"^\s*(?:of|in|from|at|for|'s)\s*$", re.I)
_PERSONISH = {"person", "people", "agent", "human"}
_TIMEISH = ("year", "date", "time", "gyear")


@dataclass(frozen=True)
class Topic:
    link: Link
    span: tuple[int, int]


@dataclass(frozen=True)
class Candidate:
    graph: QueryGraph
    topics: tuple[Topic, ...]
    score: float
    lexical: float
    label: float
    notes: tuple[str, ...] = ()


class SemanticParser:
    """Maps questions to SPARQL over whatever ontology the store holds.

    Args:
        store: The KB; candidates are checked for answers with ASK queries.
        catalogue: Entity labels and types.
        linker: A :class:`~linking.text.TextLinker` (its ``topic_entities`` question mode).
        schema: The observed schema (:meth:`KbSchema.from_store` when omitted).
        lexicon: A relation lexicon for this ontology, or None to score by labels alone.
    """

    def __init__(
        self,
        store: TripleStore,
        catalogue: EntityCatalogue,
        linker,
        schema: KbSchema | None = None,
        lexicon: RelationLexicon | None = None,
        *,
        max_hops: int = 3,
    ):
        self.store = store
        self.catalogue = catalogue
        self.linker = linker
        self.schema = schema or KbSchema.from_store(store)
        self.max_hops = max_hops
        props = {s.prop for s in self.schema.edges}
        # A lexicon applies only to the ontology it was learned on.
        self.lexicon = lexicon if lexicon is not None and lexicon.properties() <= props else None
        self._sig_cache: dict[frozenset[str], list[tuple[Step, ...]]] = {}
        self._target_cache: dict[tuple[frozenset[str], tuple[Step, ...]], set[str]] = {}
        self._names_cache: dict[frozenset[str], set[str]] = {}

    @classmethod
    def build(cls, store: TripleStore, catalogue: EntityCatalogue, linker, *, lexicon: str | Path | None = None):
        """A parser with the first shipped (or given) lexicon whose properties the KB has."""
        schema = KbSchema.from_store(store)
        props = {s.prop for s in schema.edges}
        paths = [Path(lexicon)] if lexicon else sorted(LEXICON_DIR.glob("lexicon-*.json"))
        chosen = None
        for path in paths:
            lex = RelationLexicon.load(path)
            if lex.properties() <= props:
                chosen = lex
                break
        return cls(store, catalogue, linker, schema, chosen)

    # -- public -------------------------------------------------------------------------------

    def parse(self, question: str) -> ParsedQuery:
        """Parse one question.

        Raises:
            CannotParseError: Empty or overlong question, no KB entity found, or no candidate
                query with answers; the error carries the reason and the best guess's confidence.
        """
        ranked, text, cues = self.candidates(question)
        best_guess = ranked[0] if ranked else None
        answered = self._first_answered(ranked)
        if answered is not None:
            return self._parsed(text, answered, ranked, cues)
        reason = "no candidate query has answers in the KB"
        if best_guess is None:
            reason = "no relation of the KB connects the entities found to an answer"
        raise CannotParseError(
            question,
            reason,
            best_guess.score if best_guess else 0.0,
            best_guess.graph.sparql() if best_guess else None,
        )

    def readings(self, question: str) -> tuple[ParsedQuery | None, ParsedQuery | None]:
        """The best reading of a question whether or not the KB answers it, and the best one it answers.

        Where the KB lacks a fact, the first is the right reading with no answers and the second a
        lesser one (or ``None``): hybrid answering reads the first from the text and weighs the
        second by its lower confidence.

        Raises:
            CannotParseError: Empty or overlong question, or no KB entity found.
        """
        ranked, text, cues = self.candidates(question)
        if not ranked:
            return None, None
        answered = self._first_answered(ranked)
        best = self._parsed(text, ranked[0], ranked, cues)
        if answered is ranked[0]:
            return best, best
        if answered is None:
            return best, None
        lesser = self._parsed(text, answered, ranked, cues)
        # Its confidence is relative to the best reading, not only to its own topic's readings.
        return best, replace(lesser, confidence=lesser.confidence * math.exp(answered.score - ranked[0].score))

    def _first_answered(self, ranked: list[Candidate]) -> Candidate | None:
        """The best of the first six candidates whose query has answers in the KB."""
        for cand in ranked[:6]:
            if self._has_answers(cand.graph):
                return cand
        return None

    def execute(self, parsed: ParsedQuery, *, limit: int = 100) -> list[tuple[str, str, bool]]:
        """Run a parsed question's SPARQL: ``(iri or lexical value, label, is_iri)`` per answer.

        Plain answer lists are ordered by the entities' popularity (the SPARQL has no order);
        superlatives and arg-max counts keep the query's order; a count gives one number.
        """
        result = self.store.query(parsed.sparql)
        variables = list(result.variables)
        rows = list(result)
        if not rows:
            return []
        if parsed.counts:
            value = rows[0][variables.index("count")].value
            return [(value, value, False)]
        col = variables.index("x")
        terms = list(dict.fromkeys(row[col] for row in rows if row[col] is not None))
        known = self.catalogue.get_many([t.value for t in terms if isinstance(t, ox.NamedNode)])
        graph = parsed.graph
        if graph is None or (graph.superlative is None and graph.most is None):
            terms.sort(key=lambda t: -(known[t.value].popularity if t.value in known else 0.0))
        out = []
        for t in terms[:limit]:
            if isinstance(t, ox.NamedNode):
                out.append((t.value, known[t.value].label if t.value in known else t.value, True))
            else:
                out.append((t.value, t.value, False))
        return out

    def candidates(self, question: str) -> tuple[list[Candidate], str, Cues]:
        """All scored candidates for a question, best first (for inspection and evaluation)."""
        text = " ".join(str(question).split())
        if not text:
            raise CannotParseError(question, "the question is empty")
        if len(text) > MAX_QUESTION_CHARS:
            raise CannotParseError(text, f"the question has {len(text)} characters; at most {MAX_QUESTION_CHARS}")
        links = self.linker.topic_entities(text, limit=40)
        # A number inside a linked name ("Gold Diggers of 1937") is part of the name, not a limit.
        named = [link.mention.span for link in links[:1]]
        blocked = [
            f.span for f in find_cues(text).filters if not any(a <= f.span[0] + 3 and f.span[1] <= b for a, b in named)
        ]
        links = [
            link for link in links if not any(link.mention.span[0] < b and a < link.mention.span[1] for a, b in blocked)
        ]
        if not links:
            raise CannotParseError(text, "no KB entity was found in the question")
        topics, qualifiers = self._ground(text, links)
        blanked = _blank(text, [t.span for t in topics] + [q.span for q in qualifiers])
        cues = find_cues(blanked)
        cues = replace(cues, filters=tuple(f for f in cues.filters if f.span in blocked))
        words = content_words(_blank(blanked, list(cues.spans)))
        ranked: list[Candidate] = []
        spans = sorted({t.span for t in topics}, key=lambda s: -max(t.link.score for t in topics if t.span == s))
        # Two confident entities joined by "and": a reading that ignores one of them is worse.
        joined = len(spans) >= 2 and _joined(text, spans[0], spans[1])
        for topic in topics:
            single = self._single(text, topic, [q.span for q in qualifiers], words, cues)
            ranked += [replace(c, score=c.score - 1.0) for c in single] if joined else single
        if len(spans) >= 2:
            ranked += self._conjunctions(text, topics, spans[:2], words, replace(cues, both=cues.both or joined))
        ranked.sort(key=lambda c: -c.score)
        return ranked, text, cues

    # -- grounding ----------------------------------------------------------------------------

    def _ground(self, text: str, links: list[Link]) -> tuple[list[Topic], list[Topic]]:
        by_span: dict[tuple[int, int], list[Link]] = {}
        for link in links:
            by_span.setdefault(link.mention.span, []).append(link)
        # Drop spans nested inside a better-scored longer span.
        spans = sorted(by_span, key=lambda s: -by_span[s][0].score)
        kept: list[tuple[int, int]] = []
        for s in spans:
            if all(s[1] <= k[0] or s[0] >= k[1] for k in kept):
                kept.append(s)
        qualifiers: list[Topic] = []
        for a in kept:
            cands = by_span[a]
            if len(cands) < 2 or cands[0].score - cands[1].score > 0.05:
                continue
            # The linker keeps a few candidates per name; collective grounding needs all of them.
            known = {c.entity_iri for c in cands}
            cands = cands + [
                replace(cands[0], entity_iri=e.iri, label=e.label)
                for e in self.catalogue.lookup(cands[0].mention.surface, limit=200)
                if e.iri not in known and normalize(e.label) == normalize(cands[0].mention.surface)
            ]
            for b in kept:
                if a == b or b in {q.span for q in qualifiers}:
                    continue
                # Only "A of/in/from B": the qualifier follows the name it narrows.
                if a[1] > b[0] or not _PREPOSITION.match(text[a[1] : b[0]]):
                    continue
                anchor = by_span[b][0].entity_iri
                connected = self._connected([c.entity_iri for c in cands[:200]], anchor)
                if connected:
                    top = max(c.score for c in cands)
                    by_span[a] = [replace(c, score=top) for c in cands if c.entity_iri in connected] + [
                        replace(c, score=c.score * 0.3) for c in cands if c.entity_iri not in connected
                    ]
                    qualifiers.append(Topic(by_span[b][0], b))
                    break
        qual_spans = {q.span for q in qualifiers}
        topics = [Topic(link, s) for s in kept if s not in qual_spans for link in by_span[s][:3]]
        return topics, qualifiers

    def _connected(self, candidates: list[str], anchor: str) -> set[str]:
        values = " ".join(iri(c) for c in candidates)
        a = iri(anchor)
        rows = self.store.query(
            f"""SELECT DISTINCT ?c WHERE {{ VALUES ?c {{ {values} }}
                  {{ ?c ?p {a} }} UNION {{ {a} ?p ?c }} UNION {{ ?c ?p ?m . ?m ?q {a} }}
                  UNION {{ ?m ?p ?c . ?m ?q {a} }} UNION {{ ?c ?p ?m . {a} ?q ?m }} }}"""
        )
        return {row[0].value for row in rows}

    # -- candidate generation -----------------------------------------------------------------

    def _signatures(self, types: frozenset[str]) -> list[tuple[Step, ...]]:
        if types in self._sig_cache:
            return self._sig_cache[types]
        out: list[tuple[Step, ...]] = []

        def walk(types_: set[str], path: tuple[Step, ...]) -> None:
            options = self.schema.steps_from(types_)
            grouped: dict[tuple[str, bool], list[Step]] = {}
            for s in options:
                grouped.setdefault((s.prop, s.forward), []).append(s)
            for steps in grouped.values():
                here = (*path, steps[0])
                out.append(here)
                if len(here) < self.max_hops and not self.schema.is_literal(steps[0].target):
                    walk({s.target for s in steps}, here)

        walk(set(types), ())
        self._sig_cache[types] = out
        return out

    def _targets(self, topic_types: frozenset[str], path: tuple[Step, ...]) -> set[str]:
        key = (topic_types, path)
        if key not in self._target_cache:
            self._target_cache[key] = self._follow_types(topic_types, path)
        return self._target_cache[key]

    def _follow_types(self, topic_types: frozenset[str], path: tuple[Step, ...]) -> set[str]:
        types = set(topic_types)
        for step in path:
            types = {
                s.target for s in self.schema.steps_from(types) if (s.prop, s.forward) == (step.prop, step.forward)
            }
        return types

    def _single(self, text, topic: Topic, qualifier_spans, words, cues: Cues) -> list[Candidate]:
        try:
            entity = self.catalogue.get(topic.link.entity_iri)
        except EntityNotFoundError:
            return []
        types = frozenset(entity.types)
        lex = self._lex_scores(text, [topic.span, *qualifier_spans], cues)
        wh, noun = wh_word(text), wh_noun(_blank(text, [topic.span, *qualifier_spans]))
        if lex is not None:
            steps: dict[str, float] = {}
            for p in self._signatures(types):
                for s in p:
                    if s.prop not in steps:
                        steps[s.prop] = self._step_score(s, words)
            scored = [
                (p, lex.get("|".join(s.key for s in p), math.log(1e-6)), sum(steps[s.prop] for s in p))
                for p in self._signatures(types)
            ]
        else:
            scored = [(p, 0.0, label) for p, label in self._label_paths(types, words)]
        out = []
        for path, lexical, label in scored:
            targets = self._targets(types, path)
            fit = self._type_fit(wh, noun, targets)
            if lex is not None:
                score = lexical + 0.5 * fit + LABEL_WEIGHT * label
            else:
                score = label + fit - 0.3 * len(path)
            score += math.log(max(topic.link.score, 1e-3))
            graph = QueryGraph((entity.iri,), (path,))
            graph, notes, penalty = self._constrain(graph, targets, words, cues)
            out.append(Candidate(graph, (topic,), score - penalty, lexical, label, notes))
        return out

    def _label_paths(self, types: frozenset[str], words: list[str]) -> list[tuple[tuple[Step, ...], float]]:
        """Paths whose every hop is named by question words not used by an earlier hop.

        A hop is named by its property's labels ("teaches", "advisor") or by the class it reaches
        ("professor of Department0" names the hop from the department to its professors).
        """
        out: list[tuple[tuple[Step, ...], float]] = []

        def walk(types_: set[str], path: tuple[Step, ...], used: frozenset[int], score: float) -> None:
            grouped: dict[tuple[str, bool], list[Step]] = {}
            for s in self.schema.steps_from(types_):
                grouped.setdefault((s.prop, s.forward), []).append(s)
            for steps in grouped.values():
                free = [w if i not in used else "" for i, w in enumerate(words)]
                by_prop = set().union(*(matched(content_words(x), free) for x in self.schema.words(steps[0].prop)))
                targets = {s.target for s in steps}
                by_class = set()
                named = {
                    c for t in targets if not self.schema.is_literal(t) for c in self.schema.superclasses_or_self(t)
                }
                for cls_ in named:
                    for x in self.schema.words(cls_):
                        hit = matched(content_words(x), free)
                        if hit and len(hit) >= len(content_words(x)):
                            by_class |= hit
                new = (by_prop | by_class) - used
                if not new:
                    continue
                here = (*path, steps[0])
                # Ties between hops named only by their class go to the more common relation.
                gain = (1.0 if by_prop else 0.0) + (0.6 if by_class - by_prop else 0.0)
                gain += 0.01 * math.log1p(sum(s.count for s in steps))
                out.append((here, score + gain))
                if len(here) < self.max_hops and not self.schema.is_literal(steps[0].target):
                    walk(targets, here, used | new, score + gain)

        walk(set(types), (), frozenset(), 0.0)
        return out

    def _conjunctions(self, text, topics: list[Topic], spans, words, cues: Cues) -> list[Candidate]:
        firsts = [next(t for t in topics if t.span == s) for s in spans]
        lex = self._lex_scores(text, list(spans), cues)
        options = []
        for t in firsts:
            try:
                entity = self.catalogue.get(t.link.entity_iri)
            except EntityNotFoundError:
                return []
            paths = [p for p in self._signatures(frozenset(entity.types)) if len(p) == 1]
            options.append([(p, self._targets(frozenset(entity.types), p)) for p in paths])
        out = []
        for p1, t1 in options[0]:
            for p2, t2 in options[1]:
                if not (t1 & t2):
                    continue
                if lex is not None:
                    l1 = lex.get(p1[0].key, math.log(1e-6))
                    l2 = lex.get(p2[0].key, math.log(1e-6))
                    score = (l1 + l2) / 2
                else:
                    s1, s2 = self._step_score(p1[0], words), self._step_score(p2[0], words)
                    if max(s1, s2) < 0.5:
                        continue
                    score = s1 + s2 - 1.0
                score += 1.0 if cues.both else -1.0
                score += sum(math.log(max(t.link.score, 1e-3)) for t in firsts)
                graph = QueryGraph(tuple(t.link.entity_iri for t in firsts), (p1, p2))
                graph, notes, penalty = self._constrain(graph, t1 & t2, words, cues)
                out.append(Candidate(graph, tuple(firsts), score - penalty, score, 0.0, notes))
        return out

    def _constrain(self, graph: QueryGraph, targets: set[str], words, cues: Cues):
        """Attach the cues' constraints; constraints that find no ontology term cost confidence."""
        notes: list[str] = []
        penalty = 0.0
        answer_types = {t for t in targets if not self.schema.is_literal(t)}
        numeric = self.schema.numeric_properties(answer_types) if answer_types else []
        if cues.filters or cues.superlative:
            if not numeric:
                notes.append("no ordered property on the answers for the numeric constraint")
                penalty += 2.0
            else:
                prop = max(numeric, key=lambda s: (self._step_score(s, words), s.count)).prop
                filters = tuple(NumericFilter(prop, f.op, f.value, f.high) for f in cues.filters)
                graph = replace(graph, filters=filters)
                if cues.superlative:
                    graph = replace(graph, superlative=Superlative(prop, cues.superlative[1]))
        if cues.most:
            noun, descending = cues.most
            counted = [
                s
                for s in self.schema.steps_from(answer_types)
                if not self.schema.is_literal(s.target) and overlap(noun.split(), self.schema.words(s.target)) > 0
            ]
            if counted:
                graph = replace(graph, most=MostCounted(max(counted, key=lambda s: s.count), descending))
            elif graph.hops > 1:
                graph = replace(graph, most=MostCounted(None, descending))
            else:
                notes.append(f"nothing to count for '{noun}'")
                penalty += 2.0
        if cues.count and not graph.superlative and not graph.most:
            graph = replace(graph, count=True)
        cls_ = self._answer_class(words, targets)
        if cls_:
            graph = replace(graph, answer_class=cls_)
        return graph, tuple(notes), penalty

    def _answer_class(self, words: list[str], targets: set[str]) -> str | None:
        return self._answer_class_of(tuple(words), frozenset(targets))

    @functools.lru_cache(maxsize=4096)  # noqa: B019  (the parser lives as long as its engine)
    def _answer_class_of(self, words: tuple[str, ...], targets: frozenset[str]) -> str | None:
        """A class named in the question that narrows the path's answer types.

        Skipped when the hierarchy is incomplete: if an answer type whose label contains the
        class's words ("graduate student" for "student") is not a declared subclass, the
        constraint would drop answers the user asked for.
        """
        best, best_score = None, 0.0
        for cls_ in sorted({t.iri for t in self.schema.ontology.classes} | set(self.schema.classes())):
            closure = self.schema.subclasses_or_self(cls_)
            if not (closure & targets) or targets <= closure:
                continue
            score = max(
                (len(lex.split()) * overlap(lex.split(), words, require_all=True) for lex in self.schema.words(cls_)),
                default=0,
            )
            if score > best_score:
                best, best_score = cls_, score
        if best is None:
            return None
        closure = self.schema.subclasses_or_self(best)
        for t in targets - closure:
            labels = [content_words(w) for w in self.schema.words(t)]
            if any(overlap(content_words(c), lab, require_all=True) for c in self.schema.words(best) for lab in labels):
                return None
        return best

    # -- features -----------------------------------------------------------------------------

    def _lex_scores(self, text: str, spans, cues: Cues) -> dict[str, float] | None:
        """Lexicon scores of the question with its entities masked and its constraint words removed.

        The lexicon was learned from questions without constraints; "latest" or "after 1950"
        say nothing about the relation path.
        """
        if self.lexicon is None:
            return None
        return self.lexicon.scores(mask(_blank(text, cues.spans), spans))

    def _step_score(self, step: Step, words: list[str]) -> float:
        return max((overlap(content_words(lex), words) for lex in self.schema.words(step.prop)), default=0.0)

    def _label_score(self, path: tuple[Step, ...], words: list[str]) -> float:
        return sum(self._step_score(s, words) for s in path)

    def _type_fit(self, wh: str | None, noun: list[str], targets: set[str]) -> float:
        if not targets:
            return 0.0
        key = frozenset(targets)
        if key not in self._names_cache:
            self._names_cache[key] = {
                w for t in targets for c in self.schema.superclasses_or_self(t) for w in self.schema.words(c)
            }
        names = self._names_cache[key]
        fit = 0.0
        if wh in ("who", "whom", "whose"):
            fit += 1.0 if names & _PERSONISH else -1.0
        elif wh == "when":
            fit += (
                1.0
                if any(self.schema.is_ordered(t) or any(k in t.lower() for k in _TIMEISH) for t in targets)
                else -1.0
            )
        if noun and self._names_class(noun):
            # "which professor ...": the answers must be of the class the question names.
            fit += 1.0 if any(overlap(content_words(w), noun, require_all=True) for w in names) else -1.0
        return fit

    def _names_class(self, noun: list[str]) -> bool:
        return self._names_a_class(tuple(noun))

    @functools.lru_cache(maxsize=4096)  # noqa: B019
    def _names_a_class(self, noun: tuple[str, ...]) -> bool:
        classes = {t.iri for t in self.schema.ontology.classes} | set(self.schema.classes())
        return any(overlap(content_words(w), noun, require_all=True) for c in classes for w in self.schema.words(c))

    def _has_answers(self, graph: QueryGraph) -> bool:
        return bool(self.store.query(graph.ask()))

    # -- output -------------------------------------------------------------------------------

    def _parsed(self, text: str, cand: Candidate, ranked: list[Candidate], cues: Cues) -> ParsedQuery:
        same_topic = [c for c in ranked if c.topics == cand.topics]
        z = max(c.score for c in same_topic)
        mass = sum(math.exp(c.score - z) for c in same_topic)
        p = math.exp(cand.score - z) / mass
        link_score = min(t.link.score for t in cand.topics)
        confidence = max(0.0, min(1.0, p * link_score))
        if cand.notes:
            confidence *= 0.5
        limit = 1000 if not (cand.graph.count or cand.graph.superlative or cand.graph.most) else None
        sparql = cand.graph.sparql(limit=limit)
        alternatives = tuple(
            (c.graph.sparql(limit=limit), round(math.exp(c.score - z) / mass, 4)) for c in ranked[1:4] if c is not cand
        )
        return ParsedQuery(
            text,
            sparql,
            tuple(t.link for t in cand.topics),
            tuple(self._keywords(text, cand)),
            confidence,
            self._explain(cand, cues),
            cand.graph,
            alternatives,
        )

    def _keywords(self, text: str, cand: Candidate) -> list[str]:
        blanked = _blank(text, [t.span for t in cand.topics])
        return [w for w in re.findall(r"[A-Za-z0-9']+", blanked) if w.lower() not in CONTENT_STOP]

    def _explain(self, cand: Candidate, cues: Cues) -> str:
        parts = []
        for topic, path in zip(cand.topics, cand.graph.paths, strict=True):
            hops = " → ".join(f"{self.schema.ontology.label(s.prop)}{'' if s.forward else ' (inverse)'}" for s in path)
            parts.append(f"{topic.link.label or topic.link.entity_iri} ('{topic.link.mention.surface}') → {hops} → ?x")
        text = "; ".join(parts)
        if len(cand.topics) > 1:
            text = "answers of both: " + text
        extra = cues.describe()
        if cand.graph.answer_class:
            extra.append(f"answers are {self.schema.ontology.label(cand.graph.answer_class)}")
        if extra:
            text += " [" + ", ".join(extra) + "]"
        if cand.notes:
            text += " (" + "; ".join(cand.notes) + ")"
        return text


def _joined(text: str, a: tuple[int, int], b: tuple[int, int]) -> bool:
    first, second = sorted((a, b))
    return bool(re.search(r"\band\b|&", text[first[1] : second[0]]))


def _blank(text: str, spans) -> str:
    chars = list(text)
    for a, b in spans:
        for i in range(a, min(b, len(chars))):
            chars[i] = " "
    return "".join(chars)
