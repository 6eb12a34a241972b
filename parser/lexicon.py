"""The relation lexicon: which relation paths a question's words ask for, learned from question–answer pairs.

Aqqu learns which words express which relations by distant supervision: for each training
question, the relation path whose answers match the gold answers labels the question. We fit a
multinomial logistic regression over word 1–3-grams of the question with its topic entity
masked (``ENT``) and numbers masked (``NUM``); its classes are path signatures
(``prop>`` forward, ``prop<`` backward, joined by ``|``). Stored as JSON + NumPy arrays, no pickle.

>>> lex = RelationLexicon.fit(["who directed ENT", "who is the director of ENT", "what did ENT direct",
...                            "who wrote ENT", "who is the writer of ENT", "what did ENT write"],
...                           ["d>", "d>", "d<", "w>", "w>", "w<"])
>>> max(lex.scores("who was the director of ENT").items(), key=lambda kv: kv[1])[0]
'd>'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from parser.errors import ParseError

MASK_ENTITY = "ENT"
MASK_NUMBER = "NUM"
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|ENT|NUM")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
FORMAT_VERSION = 1


def mask(question: str, spans: Sequence[tuple[int, int]] = ()) -> str:
    """The question with the given character spans replaced by ``ENT`` and numbers by ``NUM``.

    >>> mask("what films did Tom Hanks star in after 1990", [(15, 24)])
    'what films did ENT star in after NUM'
    """
    out, last = [], 0
    for start, end in sorted(spans):
        out.append(question[last:start])
        out.append(f" {MASK_ENTITY} ")
        last = end
    out.append(question[last:])
    text = _NUMBER.sub(f" {MASK_NUMBER} ", "".join(out).replace("&apos;", "'"))
    return " ".join(text.split())


def tokens(masked: str) -> list[str]:
    return _TOKEN.findall(_lower_keep_masks(masked))


def _lower_keep_masks(text: str) -> str:
    return " ".join(w if w in (MASK_ENTITY, MASK_NUMBER) else w.lower() for w in text.split())


def ngrams(masked: str, n: int = 3) -> list[str]:
    toks = ["<s>", *tokens(masked), "</s>"]
    return [" ".join(toks[i : i + k]) for k in range(1, n + 1) for i in range(len(toks) - k + 1)]


class RelationLexicon:
    """P(relation path | question words): a sparse linear model over question n-grams."""

    def __init__(self, classes: list[str], vocabulary: dict[str, int], coef: np.ndarray, intercept: np.ndarray):
        self.classes = classes
        self.vocabulary = vocabulary
        self.coef = coef.astype(np.float32)  # (n_features, n_classes)
        self.intercept = intercept.astype(np.float32)

    @classmethod
    def fit(cls, questions: Sequence[str], labels: Sequence[str], *, min_count: int = 1, c: float = 10.0):
        """Fit on masked questions and their path signatures.

        Raises:
            ParseError: Fewer than two distinct signatures to learn from.
        """
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression

        if len(set(labels)) < 2:
            raise ParseError("training a relation lexicon needs questions for at least two relation paths")
        vectorizer = CountVectorizer(analyzer=ngrams, min_df=min_count, binary=True)
        x = vectorizer.fit_transform(questions)
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit(x, list(labels))
        coef = model.coef_.T
        intercept = model.intercept_
        classes = [str(k) for k in model.classes_]
        if len(classes) == 2:  # sklearn's binary case keeps one column
            coef = np.hstack([-coef / 2, coef / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        vocab = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        return cls(classes, vocab, coef, intercept)

    def scores(self, masked_question: str) -> dict[str, float]:
        """Log-probabilities of every known signature for a masked question."""
        rows = sorted({self.vocabulary[g] for g in ngrams(masked_question) if g in self.vocabulary})
        z = self.intercept + (self.coef[rows].sum(axis=0) if rows else 0.0)
        z = z - z.max()
        logp = z - math.log(float(np.exp(z).sum()))
        return dict(zip(self.classes, logp.tolist(), strict=True))

    def properties(self) -> set[str]:
        return {step[:-1] for sig in self.classes for step in sig.split("|")}

    def save(self, path: str | Path) -> None:
        """Write ``path`` (JSON) and ``path`` with ``.npz`` beside it."""
        path = Path(path)
        np.savez_compressed(path.with_suffix(".npz"), coef=self.coef.astype(np.float16), intercept=self.intercept)
        meta = {"version": FORMAT_VERSION, "classes": self.classes, "vocabulary": self.vocabulary}
        path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> RelationLexicon:
        """Read a lexicon written by :meth:`save`.

        Raises:
            ParseError: The files are missing or of another format version.
        """
        path = Path(path)
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            arrays = np.load(path.with_suffix(".npz"))
        except (OSError, ValueError) as e:
            raise ParseError(
                f"cannot read the relation lexicon {path}: {e}; retrain it with `kgsearch parser train`"
            ) from None
        if meta.get("version") != FORMAT_VERSION:
            raise ParseError(f"relation lexicon {path} has format {meta.get('version')}, expected {FORMAT_VERSION}")
        return cls(meta["classes"], meta["vocabulary"], arrays["coef"].astype(np.float32), arrays["intercept"])
