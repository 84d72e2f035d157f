"""compute_metrics / summarize_runs against small hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from harlab.evaluation.metrics import compute_metrics, mean_std, summarize_runs
from harlab.fileio import natural_key

NAMES3 = ["walk", "sit", "lie"]


def _pc(m: dict, name: str) -> dict:
    return next(r for r in m["per_class"] if r["class"] == name)


def test_perfect_prediction():
    y = np.array([0, 1, 2, 0, 1, 2])
    m = compute_metrics(y, y, NAMES3)
    assert m["n"] == 6
    assert m["accuracy"] == m["macro_f1"] == m["weighted_f1"] == 1.0
    assert m["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert all(r["precision"] == r["recall"] == r["f1"] == 1.0 for r in m["per_class"])
    assert [r["support"] for r in m["per_class"]] == [2, 2, 2]
    json.dumps(m, allow_nan=False)  # plain Python types only


def test_class_never_predicted():
    yt = np.array([0, 0, 1, 1, 2, 2])
    yp = np.array([0, 0, 1, 1, 1, 1])
    m = compute_metrics(yt, yp, NAMES3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert _pc(m, "walk") == {
        "class": "walk",
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "support": 2,
    }
    assert _pc(m, "sit")["precision"] == pytest.approx(0.5)
    assert _pc(m, "sit")["f1"] == pytest.approx(2 / 3)
    lie = _pc(m, "lie")  # zero_division=0: precision 0/0 -> 0
    assert (lie["precision"], lie["recall"], lie["f1"], lie["support"]) == (0.0, 0.0, 0.0, 2)
    assert m["macro_f1"] == pytest.approx(5 / 9)
    assert m["weighted_f1"] == pytest.approx(5 / 9)
    assert m["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 2, 0]]


def test_class_absent_and_never_predicted_is_not_averaged():
    y = np.array([0, 0, 1, 1])
    names = ["a", "b", "c", "d"]
    m = compute_metrics(y, y, names)
    assert m["macro_f1"] == 1.0
    assert m["macro_f1_labels"] == [0, 1]
    assert len(m["per_class"]) == 4
    assert _pc(m, "d") == {"class": "d", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # explicit labels: average over all K classes, absent ones count as F1 0
    m_all = compute_metrics(y, y, names, labels=range(4))
    assert m_all["macro_f1"] == pytest.approx(0.5)
    assert m_all["macro_f1_labels"] == [0, 1, 2, 3]
    assert m_all["accuracy"] == 1.0


def test_class_absent_from_truth_but_predicted_counts_as_zero():
    yt = np.array([0, 0, 1, 1])
    yp = np.array([0, 2, 1, 1])
    m = compute_metrics(yt, yp, NAMES3)
    assert m["accuracy"] == 0.75
    assert _pc(m, "walk")["f1"] == pytest.approx(2 / 3)
    assert _pc(m, "lie")["support"] == 0 and _pc(m, "lie")["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx(5 / 9)  # (2/3 + 1 + 0) / 3
    assert m["weighted_f1"] == pytest.approx(5 / 6)  # (2 * 2/3 + 2 * 1) / 4
    assert m["macro_f1"] == pytest.approx(f1_score(yt, yp, average="macro", zero_division=0))


def test_per_group_scores():
    yt = np.array([0, 0, 1, 1, 2, 2])
    yp = np.array([0, 0, 1, 1, 1, 1])
    subjects = np.array([10, 10, 10, 2, 2, 2])
    m = compute_metrics(yt, yp, NAMES3, groups={"subject": subjects})
    per = m["per_subject"]
    assert list(per) == ["2", "10"]  # natural id order, string keys
    assert per["10"] == {"n": 3, "accuracy": 1.0, "macro_f1": 1.0}
    # subject 2: true [1, 2, 2], pred [1, 1, 1] -> F1(sit) = 0.5, F1(lie) = 0
    assert per["2"]["n"] == 3
    assert per["2"]["accuracy"] == pytest.approx(1 / 3)
    assert per["2"]["macro_f1"] == pytest.approx(0.25)
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize(
    ("yt", "yp", "kwargs"),
    [
        ([0, 1], [0], {}),
        ([0, 3], [0, 1], {}),
        ([], [], {}),
        ([0, 1], [0, 1], {"groups": {"subject": [1]}}),
        ([0, 1], [0, 1], {"groups": {"class": [1, 1]}}),
        ([0, 1], [0, 1], {"labels": [5]}),
    ],
)
def test_invalid_inputs_raise(yt, yp, kwargs):
    with pytest.raises(ValueError):
        compute_metrics(np.array(yt, dtype=int), np.array(yp, dtype=int), NAMES3, **kwargs)


def test_summarize_runs():
    runs = [
        {"accuracy": 0.8, "macro_f1": 0.7},
        {"accuracy": 0.9, "macro_f1": 0.8},
        {"accuracy": 1.0, "macro_f1": None},
    ]
    s = summarize_runs(runs)
    assert s["accuracy"]["mean"] == pytest.approx(0.9)
    assert s["accuracy"]["std"] == pytest.approx(0.1)  # sample std, ddof=1
    assert (s["accuracy"]["min"], s["accuracy"]["max"], s["accuracy"]["n"]) == (0.8, 1.0, 3)
    assert s["macro_f1"]["n"] == 2
    assert "weighted_f1" not in s
    one = summarize_runs([{"accuracy": 0.5}], keys=("accuracy",))
    assert one["accuracy"] == {"mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5, "n": 1}
    with pytest.raises(ValueError):
        summarize_runs([])


def test_natural_sort_key():
    assert sorted(["s10", "s2", "s1"], key=natural_key) == ["s1", "s2", "s10"]


def test_mean_std_skips_missing_values():
    assert mean_std([1.0, None, float("nan"), 3.0]) == {
        "mean": 2.0, "std": pytest.approx(2**0.5), "n": 2}
    assert mean_std(np.array([0.5])) == {"mean": 0.5, "std": 0.0, "n": 1}
    assert mean_std([None]) is None and mean_std([]) is None
