"""Checks of options and export metadata shared by predict, streaming and export."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from harlab.deploy.predictor import (
    PredictorError,
    check_hop,
    check_smooth,
    finite_outputs,
    finite_rows,
    metadata_problems,
    normalize,
)

GOOD = {
    "channels": ["acc_x", "acc_y", "acc_z"], "rate": 50.0, "window_length": 32,
    "window_step": 16, "normalization": {"mean": [0.0, 0.1, 0.2], "std": [1.0, 0.5, 2.0]},
    "heads": [{"name": "activity", "classes": ["walking", "running"]}],
}


def _with(path: str, value: object) -> dict:
    meta = copy.deepcopy(GOOD)
    *keys, last = path.split(".")
    target = meta
    for k in keys:
        target = target[k]
    target[last] = value
    return meta


def test_good_metadata_has_no_problems() -> None:
    assert metadata_problems(GOOD) == []
    assert metadata_problems(GOOD, (32, 3)) == []


@pytest.mark.parametrize(("path", "value", "message"), [
    ("window_length", 10**12, "differs from the model's input (32 samples x 3 channels)"),
    ("window_length", 0, "window_length must be a whole number of samples >= 1"),
    ("window_length", 32.5, "window_length must be a whole number"),
    ("normalization.mean", [0.0], "normalization mean has 1 values for 3 channels"),
    ("normalization.std", [1.0, math.nan, 1.0], "normalization std has non-finite"),
    ("normalization.std", [1.0, 0.0, 1.0], "std values must be > 0"),
    ("normalization.mean", [0.0, math.inf, 0.0], "non-finite"),
    ("normalization", None, "normalization must hold mean and std"),
    ("rate", math.nan, "rate must be a finite number of Hz"),
    ("rate", 0.0, "rate must be"),
    ("rate", True, "rate must be"),
    ("window_step", 0, "window_step must be a whole number of samples >= 1"),
    ("channels", ["a", "a", "b"], "channels must be a non-empty list of distinct names"),
    ("heads", [], "heads must be a non-empty list"),
])
def test_bad_metadata_is_named(path: str, value: object, message: str) -> None:
    shape = (32, 3) if "model's input" in message else None  # else the shape check names it
    problems = metadata_problems(_with(path, value), shape)
    assert any(message in p for p in problems), problems
    assert metadata_problems(_with(path, value), (32, 3))  # refused with the shape too


def test_channel_count_must_match_the_model() -> None:
    meta = _with("channels", ["acc_x"])  # normalisation for 3 channels, model of 6
    problems = metadata_problems(meta, (32, 6))
    assert any("1 channels differs from the model's input" in p for p in problems)
    assert any("normalization mean has 3 values for 1 channels" in p for p in problems)


def test_hop_is_a_bounded_whole_number() -> None:
    assert check_hop(None, 16, 50.0) == 16
    assert check_hop(1, 16, 50.0) == 1 and check_hop(4_320_000, 16, 50.0) == 4_320_000
    for bad in (0, -1, 4_320_001, 10**20, True, 2.0):
        with pytest.raises(PredictorError, match="--step/--hop must be a whole number"):
            check_hop(bad, 16, 50.0)  # type: ignore[arg-type]


def test_smooth_is_a_bounded_whole_number() -> None:
    assert check_smooth(None) is None and check_smooth(1_000_000) == 1_000_000
    for bad in (0, 1_000_001, 10**20, True, 2.0):
        with pytest.raises(PredictorError, match="--smooth must be a number of windows >= 1"):
            check_smooth(bad)  # type: ignore[arg-type]


def test_finite_checks_after_float32_normalisation() -> None:
    x = np.array([[1.0, 2.0], [3e38, 0.0], [np.inf, 0.0], [1e308, 0.0]])
    z = normalize(x, np.zeros(2, np.float32), np.full(2, 0.5, np.float32))
    assert z.dtype == np.float32
    assert finite_rows(z).tolist() == [True, False, False, False]
    assert finite_rows(np.zeros((0, 3, 2))).tolist() == []
    probs = {"a": np.array([[0.5, 0.5], [np.nan, 0.1]]), "b": np.array([[1.0], [1.0]])}
    assert finite_outputs(probs).tolist() == [True, False]
