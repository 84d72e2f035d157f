"""Paired comparisons (harlab.evaluation.compare) against scipy and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from harlab.evaluation.compare import (
    format_difference,
    paired_difference,
    smallest_wilcoxon_p,
    verdict,
)


def test_paired_difference_matches_scipy_and_the_t_interval() -> None:
    a = {(0, 1): 0.80, (0, 2): 0.70, (1, 10): 0.90, (1, 2): 0.75, "x": None}
    b = {(0, 1): 0.70, (0, 2): 0.72, (1, 10): 0.85, (1, 2): 0.70, (3, 3): 0.10}
    d = paired_difference(a, b)
    assert d is not None
    keys = [(0, 1), (0, 2), (1, 2), (1, 10)]  # numeric order, not string order
    assert [tuple(k) for k in d["keys"]] == keys
    diffs = np.array([a[k] - b[k] for k in keys])
    assert d["diffs"] == pytest.approx(diffs.tolist())
    assert d["n"] == 4 and d["unpaired"] == 1  # (3, 3) only in b; "x" has no score
    assert d["mean"] == pytest.approx(diffs.mean()) and d["std"] == pytest.approx(
        diffs.std(ddof=1))
    half = stats.t.ppf(0.975, 3) * diffs.std(ddof=1) / 2
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((diffs.mean() - half,
                                                         diffs.mean() + half))
    ya, yb = [a[k] for k in keys], [b[k] for k in keys]
    assert d["p_t"] == pytest.approx(stats.ttest_rel(ya, yb).pvalue)
    assert d["p_wilcoxon"] == pytest.approx(stats.wilcoxon(ya, yb).pvalue)
    assert (d["wins"], d["losses"], d["ties"]) == (3, 1, 0)
    text = format_difference(d)
    assert text.startswith("+0.0450 ± 0.0493 [-0.0335, +0.1235], 3/4 up, p_t 0.166")
    assert verdict(d, "helps", "hurts").startswith("no difference shown")


def test_paired_difference_edge_cases() -> None:
    assert paired_difference({0: 1.0}, {1: 0.5}) is None  # nothing paired
    assert paired_difference({0: float("nan")}, {0: 0.5}) is None
    one = paired_difference({0: 0.9}, {0: 0.5})
    assert one is not None and one["n"] == 1 and one["std"] == 0.0
    assert one["ci_low"] is None and one["p_t"] is None
    assert "too few" in verdict(one, "helps", "hurts")
    same = paired_difference({0: 1.0, 1: 1.0}, {0: 0.5, 1: 0.5})  # identical differences
    assert same is not None and same["ci_low"] is None and same["p_t"] is None
    assert verdict(same, "helps", "hurts") == "the same difference in all 2 pairs: no interval"
    ties = paired_difference({0: 0.5, 1: 0.5}, {0: 0.5, 1: 0.5})
    assert ties is not None and ties["ties"] == 2 and ties["p_wilcoxon"] is None
    assert verdict(ties, "helps", "hurts") == "no difference (equal scores in all 2 pairs)"
    up = paired_difference({s: 0.8 + 0.01 * s for s in range(5)}, {s: 0.5 for s in range(5)})
    assert up is not None and up["ci_low"] > 0 and verdict(up, "helps", "hurts").startswith(
        "helps")
    assert up["p_wilcoxon"] == pytest.approx(0.0625) == smallest_wilcoxon_p(5)
    down = paired_difference({s: 0.5 for s in range(5)}, {s: 0.8 + 0.01 * s for s in range(5)})
    assert down is not None and verdict(down, "helps", "hurts").startswith("hurts")
    assert format_difference(None) == "—" and "no pair" in verdict(None, "a", "b")
    with pytest.raises(ValueError, match="confidence"):
        paired_difference({0: 1.0}, {0: 0.5}, confidence=1.5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=12))
def test_paired_difference_is_antisymmetric(pairs: list[tuple[float, float]]) -> None:
    a = {i: x for i, (x, _) in enumerate(pairs)}
    b = {i: y for i, (_, y) in enumerate(pairs)}
    ab, ba = paired_difference(a, b), paired_difference(b, a)
    assert ab is not None and ba is not None
    assert ab["n"] == len(pairs) == ab["wins"] + ab["losses"] + ab["ties"]
    assert ab["mean"] == pytest.approx(-ba["mean"], abs=1e-12)
    assert (ab["wins"], ab["losses"]) == (ba["losses"], ba["wins"])
    if ab["ci_low"] is not None:
        assert ab["ci_low"] <= ab["mean"] <= ab["ci_high"]
        assert ab["ci_low"] == pytest.approx(-ba["ci_high"], abs=1e-12)
        assert ab["p_t"] == pytest.approx(ba["p_t"]) and 0 <= ab["p_t"] <= 1
    assert ab["p_wilcoxon"] is None or (0 < ab["p_wilcoxon"] <= 1 and math.isclose(
        ab["p_wilcoxon"], ba["p_wilcoxon"]))
