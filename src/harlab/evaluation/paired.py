"""Paired comparison of two models trained on the same splits and seeds.

"Does joint learning help identification?" or "does attention help the CNN?" is a question
about the difference between two models, and runs that share a split and a seed share most
of their luck (the test subjects, the initialisation's stream). Comparing the two means,
each with its own spread, throws that pairing away. :func:`paired_difference` takes the
scores of both models keyed by what pairs them (seed, fold) and reports the mean difference
with a t confidence interval, how many pairs went each way, and two tests: the paired t-test
and the Wilcoxon signed-rank test (scipy). With five pairs the smallest two-sided Wilcoxon
p-value is 1/16 = 0.0625, so it can never be "significant" at 0.05 there; the interval and
the win count say more at such sizes.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np


def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, (int, float, np.floating, np.integer)) and (
        math.isfinite(float(v)))


def _order(key: Hashable) -> tuple[tuple[int, Any], ...]:
    """Sort key for pair keys mixing numbers, strings and None (seed 2 before seed 10)."""
    parts = key if isinstance(key, tuple) else (key,)
    return tuple((0, float(x)) if isinstance(x, (int, float)) and not isinstance(x, bool)
                 else (1, str(x)) for x in parts)


def paired_difference(
    a: Mapping[Hashable, float | None], b: Mapping[Hashable, float | None],
    confidence: float = 0.95,
) -> dict[str, Any] | None:
    """``a - b`` over the keys both have a finite score for; None when no key is shared.

    Returns ``n`` pairs, ``mean`` and ``std`` (ddof=1) of the differences, the ``confidence``
    t interval ``ci_low``/``ci_high`` (None for one pair or identical differences),
    ``wins``/``losses``/``ties`` of ``a``, ``p_t`` (paired t-test) and ``p_wilcoxon``
    (signed-rank, zero differences dropped; None where it is undefined), ``unpaired`` (keys
    only one side scored), and the per-pair ``keys``/``diffs`` for plots.
    """
    from scipy import stats

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    ok_a = {k for k, v in a.items() if _finite(v)}
    ok_b = {k for k, v in b.items() if _finite(v)}
    keys = sorted(ok_a & ok_b, key=_order)
    if not keys:
        return None
    d = np.array([float(a[k]) - float(b[k]) for k in keys], np.float64)
    n = int(d.size)
    std = float(d.std(ddof=1)) if n > 1 else 0.0
    if std < 1e-12 * max(1.0, float(np.abs(d).max())):
        std = 0.0  # equal differences up to float rounding: no spread to test against
    out: dict[str, Any] = {
        "n": n, "mean": float(d.mean()), "std": std, "confidence": confidence,
        "ci_low": None, "ci_high": None, "p_t": None, "p_wilcoxon": None,
        "wins": int((d > 0).sum()), "losses": int((d < 0).sum()), "ties": int((d == 0).sum()),
        "unpaired": len(ok_a ^ ok_b),
        "keys": [list(k) if isinstance(k, tuple) else k for k in keys],
        "diffs": d.tolist(),
    }
    if n > 1 and std > 0:
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
        out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
        out["p_t"] = float(stats.ttest_1samp(d, 0.0).pvalue)
    if np.any(d != 0):
        try:
            out["p_wilcoxon"] = float(stats.wilcoxon(d, zero_method="wilcox").pvalue)
        except ValueError:  # too few non-zero differences for the test
            out["p_wilcoxon"] = None
    return out


def verdict(diff: dict[str, Any] | None, better: str, worse: str) -> str:
    """One honest sentence: does the interval exclude zero, and which way."""
    if diff is None:
        return "not compared (no pair of runs)"
    if diff["ci_low"] is None:
        if diff["n"] > 1 and diff["ties"] == diff["n"]:
            return f"no difference (equal scores in all {diff['n']} pairs)"
        if diff["n"] > 1:
            return f"the same difference in all {diff['n']} pairs: no interval"
        return "1 pair: too few for an interval"
    level = f"{100 * diff['confidence']:.0f} %"
    if diff["ci_low"] > 0:
        return f"{better} (the {level} interval lies above zero)"
    if diff["ci_high"] < 0:
        return f"{worse} (the {level} interval lies below zero)"
    return f"no difference shown (the {level} interval contains zero)"


def smallest_wilcoxon_p(n: int) -> float:
    """The smallest two-sided exact signed-rank p-value n pairs can give: 2 / 2**n."""
    return 2.0 / 2 ** n if n > 0 else 1.0


def interval_count(diffs: Iterable[dict[str, Any] | None]) -> int:
    """How many of the :func:`paired_difference` results have an interval to show (one pair,
    equal differences or no pair at all give none)."""
    return sum(d is not None and d["ci_low"] is not None for d in diffs)


def multiple_note(k: int) -> str:
    """What k intervals side by side mean (empty for fewer than two); count them with
    :func:`interval_count`, not by the number of comparisons."""
    if k < 2:
        return ""
    return (f"{k} intervals are shown. At 95 % each, about one in twenty excludes zero by "
            "chance alone when nothing differs, so a single interval off zero among many is "
            "weak evidence.")


def format_difference(diff: dict[str, Any] | None, digits: int = 4, scale: float = 1.0) -> str:
    """``+0.0123 ± 0.0100 [−0.0001, +0.0247], 4/5 up, p_t 0.06, p_W 0.12`` (or "—")."""
    if diff is None:
        return "—"

    def f(v: float) -> str:
        return f"{scale * v:+.{digits}f}"

    ci = "" if diff["ci_low"] is None else f" [{f(diff['ci_low'])}, {f(diff['ci_high'])}]"
    p = ", ".join(f"{name} {diff[key]:.3g}" for name, key in (("p_t", "p_t"),
                                                            ("p_W", "p_wilcoxon"))
                  if diff[key] is not None)
    spread = "" if diff["n"] < 2 else f" ± {scale * diff['std']:.{digits}f}"  # 1 pair: none
    return (f"{f(diff['mean'])}{spread}{ci}, "
            f"{diff['wins']}/{diff['n']} up" + (f", {p}" if p else ""))
