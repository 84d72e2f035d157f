"""How much person identity do single radar frames carry? A linear probe; prints JSON.

A frame dataset (``harlab simulate radar --out DIR`` or any frame folder) is split with the
same recording-grouped StratifiedGroupKFold as ``harlab reproduce mranet`` (fold 0 of
``--folds``). Frames are 2x2 average-pooled, z-scored on the training part, reduced with
PCA and classified with logistic regression, for identity and activity, and for identity
within each activity. Chance macro-F1 for P persons is about 1/P.

This is the acceptance check for the simulator's between-person differences: the paper's
real radar data give 95.9 % identity F1 with MRA-Net, so a simulated dataset whose frames
are close to chance here cannot show the paper's identification results.

Usage: ``python benchmarks/radar_identity_probe.py DIR [--folds 5] [--components 100]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from harlab.experiments.reproduce_mranet import load_frames


def _pool(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling of (N, T, C) frames (odd edges dropped), flattened."""
    n, t, c = x.shape
    t2, c2 = t // 2 * 2, c // 2 * 2
    return x[:, :t2, :c2].reshape(n, t2 // 2, 2, c2 // 2, 2).mean((2, 4)).reshape(n, -1)


def _probe(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray,
           components: int) -> float:
    k = max(1, min(components, len(xtr) - 1, xtr.shape[1]))
    clf = make_pipeline(StandardScaler(), PCA(k, random_state=0),
                        LogisticRegression(max_iter=2000))
    clf.fit(xtr, ytr)
    return round(100 * float(f1_score(yte, clf.predict(xte), average="macro")), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="frame dataset folder")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--components", type=int, default=100)
    args = ap.parse_args()
    t0 = time.perf_counter()
    fr = load_frames(args.data)
    x = _pool(fr.x)
    cells = fr.activity * len(fr.persons) + fr.person
    split = StratifiedGroupKFold(args.folds, shuffle=True, random_state=0)
    tr, te = next(split.split(x, cells, fr.recording))
    out: dict[str, object] = {
        "data": str(args.data), "frames": int(len(x)), "persons": len(fr.persons),
        "activities": len(fr.activities), "train_frames": int(len(tr)),
        "test_frames": int(len(te)), "chance_identity_macro_f1": round(100 / len(fr.persons), 2),
        "identity_macro_f1": _probe(x[tr], fr.person[tr], x[te], fr.person[te],
                                    args.components),
        "activity_macro_f1": _probe(x[tr], fr.activity[tr], x[te], fr.activity[te],
                                    args.components),
    }
    per = {}
    for a, name in enumerate(fr.activities):
        mtr, mte = fr.activity[tr] == a, fr.activity[te] == a
        if mtr.any() and mte.any():
            per[name] = _probe(x[tr][mtr], fr.person[tr][mtr], x[te][mte], fr.person[te][mte],
                               args.components // 2)
    out["identity_macro_f1_within_activity"] = per
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
