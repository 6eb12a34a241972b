"""Calibrating the text linker's scores so that 0.8 means "right 8 times in 10".

Platt scaling (Platt 1999): a logistic fit ``p = sigmoid(a * z + b)`` of correctness on the
linker's raw score ``z``, one fit per mode, on data whose correctness is known:

* documents: links and their alternatives on gold spans of the silver set's **dev** split
  (a candidate is right when it is the gold entity);
* questions: the ranked topic-entity candidates of MetaQA **dev** questions (right when the
  label is the bracketed entity).

The fitted parameters are committed in ``linking/calibration.json`` and read by
:class:`~linking.text.TextLinker`; ``python -m linking.calibration --home HOME`` refits them
and reports the expected calibration error (ECE, 10 bins) on the **test** splits.

>>> round(expected_calibration_error([0.9, 0.9, 0.1, 0.1], [1, 1, 0, 0]), 3)
0.1
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
IDENTITY = {"document": (1.0, 0.0), "question": (1.0, 0.0)}


def load_calibration(path: Path = CALIBRATION_PATH) -> dict[str, tuple[float, float]]:
    """The committed Platt parameters per mode; the identity when none were fitted."""
    if not path.is_file():
        return dict(IDENTITY)
    data = json.loads(path.read_text(encoding="utf-8"))
    return {mode: (data[mode]["a"], data[mode]["b"]) for mode in IDENTITY}


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def expected_calibration_error(probs: Sequence[float], labels: Sequence[int], bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width probability bins, weighted by bin size."""
    total, err = len(probs), 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(probs) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if idx:
            conf = sum(probs[i] for i in idx) / len(idx)
            acc = sum(labels[i] for i in idx) / len(idx)
            err += len(idx) / total * abs(acc - conf)
    return err


def document_pairs(linker, docs: Iterable) -> tuple[list[float], list[int]]:
    """Raw scores and correctness of links and alternatives on gold spans (silver set)."""
    from linking.evaluation._silver import overlaps

    z, y = [], []
    for doc in docs:
        for link in linker.link(doc.document):
            if link.is_nil:
                continue
            gold = {g.entity_iri for g in doc.gold if overlaps(g.span, link.mention.span)}
            if not gold:
                continue
            for iri, score in ((link.entity_iri, link.score), *link.alternatives):
                z.append(logit(score))
                y.append(int(iri in gold))
    return z, y


def question_pairs(linker, lines: Iterable[str], per_question: int = 5) -> tuple[list[float], list[int]]:
    """Raw scores and correctness of the top topic-entity candidates of MetaQA questions."""
    z, y = [], []
    for line in lines:
        question = line.split("\t", 1)[0]
        match = re.search(r"\[(.+?)\]", question)
        if not match:
            continue
        for link in linker.topic_entities(question.replace("[", "").replace("]", ""), limit=per_question):
            z.append(logit(link.score))
            y.append(int(link.label == match.group(1)))
    return z, y


def fit_platt(z: Sequence[float], y: Sequence[int]) -> tuple[float, float]:
    """Fit ``sigmoid(a * z + b)`` to labels ``y`` (almost unregularized logistic regression)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e4).fit(np.asarray(z).reshape(-1, 1), np.asarray(y))
    return float(model.coef_[0][0]), float(model.intercept_[0])


def _apply(ab: tuple[float, float], z: Sequence[float]) -> list[float]:
    a, b = ab
    return [1 / (1 + math.exp(-(a * v + b))) for v in z]


def main(argv: list[str] | None = None) -> int:
    """Refit ``linking/calibration.json`` on dev and print ECE on test."""
    from kg import OxigraphStore
    from kg.catalogue import EntityCatalogue
    from linking.evaluation import build_silver_set, sample
    from linking.text import TextLinker

    parser = argparse.ArgumentParser(description="Fit the text linker's score calibration (Platt scaling).")
    parser.add_argument("--home", required=True, type=Path, help="a kgsearch home holding the full movie KB")
    parser.add_argument("--shared-data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--docs", type=int, default=2000, help="silver documents per split")
    parser.add_argument("--questions", type=int, default=3000, help="MetaQA questions per split")
    args = parser.parse_args(argv)

    store = OxigraphStore(args.home / "store")
    try:
        # Identity calibration: the scores are the raw sigmoid(z).
        raw = TextLinker.build(EntityCatalogue(args.home / "catalogue.sqlite"), store).with_config(calibration=IDENTITY)
        shared = args.shared_data
        silver = build_silver_set(shared, store)
        lines = {
            split: sample(
                [
                    line
                    for hop in ("1-hop", "2-hop", "3-hop")
                    for line in (shared / "metaqa" / hop / "vanilla" / f"qa_{split}.txt")
                    .read_text(encoding="utf-8")
                    .splitlines()
                ],
                args.questions,
            )
            for split in ("dev", "test")
        }
        report: dict = {}
        for mode in ("document", "question"):
            if mode == "document":
                dev = document_pairs(raw, sample([d for d in silver if d.split == "dev"], args.docs))
                test = document_pairs(raw, sample([d for d in silver if d.split == "test"], args.docs))
            else:
                dev, test = question_pairs(raw, lines["dev"]), question_pairs(raw, lines["test"])
            ab = fit_platt(*dev)
            report[mode] = {
                "a": ab[0],
                "b": ab[1],
                "fitted_on": "silver dev" if mode == "document" else "MetaQA vanilla dev",
                "pairs_dev": len(dev[0]),
                "pairs_test": len(test[0]),
                "positive_rate_test": sum(test[1]) / max(1, len(test[1])),
                "ece_test_before": expected_calibration_error(_apply((1.0, 0.0), test[0]), test[1]),
                "ece_test_after": expected_calibration_error(_apply(ab, test[0]), test[1]),
            }
            print(mode, json.dumps(report[mode]))
    finally:
        store.close()
    CALIBRATION_PATH.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {CALIBRATION_PATH.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
