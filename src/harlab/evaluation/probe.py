"""Linear probes: how much activity and person information do radar frames carry?

A simulated dataset is only useful for MRA-Net's identification task if single frames
carry person information. The probe answers that without training a network: on a given
train/test split (the benchmark and tests use fold 0 of ``harlab reproduce mranet``'s
``make_folds``), frames are turned into features, z-scored on the training part, reduced
with PCA and classified with logistic regression (scikit-learn). Two feature sets:

* ``pixels``: the frame, 2x2 average-pooled (what a CNN sees, but a linear model cannot
  undo shifts of gait phase or the mirror of walking away);
* ``invariant``: the Doppler profile, the profile folded onto |v|, and the modulation
  spectrum of 10 velocity bands (cadence, punch rate, jump rhythm), which ignore the gait
  phase and the walking direction.

Chance macro-F1 for P balanced persons is about 1/P.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from harlab.errors import DataError

FEATURES = ("pixels", "invariant")


def pooled_pixels(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling of ``(N, T, C)`` frames (odd edges dropped), flattened."""
    n, t, c = x.shape
    t2, c2 = t // 2 * 2, c // 2 * 2
    return x[:, :t2, :c2].reshape(n, t2 // 2, 2, c2 // 2, 2).mean((2, 4)).reshape(n, -1)


def invariant_features(x: np.ndarray, bands: int = 10, freqs: int = 15) -> np.ndarray:
    """Phase- and direction-invariant features of ``(N, T, C)`` frames (C velocity bins).

    Doppler profile (time mean of every velocity bin), the profile folded onto |v|, and
    ``|rfft|`` over time of the mean energy in ``bands`` velocity bands, first ``freqs``
    bins (1 Hz apart for a 1 s frame).
    """
    n, t, c = x.shape
    if c < bands or t < 2 * freqs:
        raise DataError(f"frames of {t} x {c} are too small for {bands} bands x {freqs} "
                        "modulation frequencies")
    prof = x.mean(1)
    half = c // 2
    folded = prof[:, :half] + prof[:, ::-1][:, :half]
    width = c // bands
    band = x[:, :, : width * bands].reshape(n, t, bands, width).mean(3)
    mod = np.abs(np.fft.rfft(band - band.mean(1, keepdims=True), axis=1))[:, :freqs]
    return np.concatenate([prof, folded, mod.reshape(n, -1)], 1).astype(np.float32)


def _fit_score(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray,
               components: int) -> float:
    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = max(1, min(components, len(xtr) - 1, xtr.shape[1]))
    clf = make_pipeline(StandardScaler(), PCA(k, random_state=0),
                        LogisticRegression(max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xtr, ytr)
    pred = clf.predict(xte)
    return round(100 * float(f1_score(yte, pred, average="macro", labels=np.unique(yte))), 2)


def frame_probe(
    x: np.ndarray,
    activity: np.ndarray,
    person: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    activities: list[str],
    components: int = 100,
    features: tuple[str, ...] = FEATURES,
) -> dict[str, Any]:
    """Macro-F1 (%) of linear probes trained on frames ``train`` and scored on ``test``.

    Returns, per feature set, identity over all frames, activity, and identity within
    each activity (``components // 2`` PCA components there), plus the split sizes.
    """
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise DataError(f"unknown probe features {unknown}; choose from {', '.join(FEATURES)}")
    n_persons = len(np.unique(person))
    if n_persons < 2:
        raise DataError("the identity probe needs at least 2 persons")
    tr, te = np.asarray(train), np.asarray(test)
    out: dict[str, Any] = {
        "frames": int(len(x)), "persons": n_persons, "train_frames": int(len(tr)),
        "test_frames": int(len(te)), "chance_identity_macro_f1": round(100 / n_persons, 2),
    }
    for name in features:
        f = pooled_pixels(x) if name == "pixels" else invariant_features(x)
        res: dict[str, Any] = {
            "identity_macro_f1": _fit_score(f[tr], person[tr], f[te], person[te], components),
            "activity_macro_f1": _fit_score(f[tr], activity[tr], f[te], activity[te],
                                            components),
        }
        per = {}
        for a, act in enumerate(activities):
            mtr, mte = activity[tr] == a, activity[te] == a
            if len(np.unique(person[tr][mtr])) > 1 and mte.any():
                per[act] = _fit_score(f[tr][mtr], person[tr][mtr], f[te][mte], person[te][mte],
                                      components // 2)
        res["identity_macro_f1_within_activity"] = per
        out[name] = res
    return out
