"""Windowing, resampling, label policies and drop counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harlab.config import WindowConfig
from harlab.data.recording import Recording
from harlab.data.windows import make_windows, resample
from harlab.errors import ConfigError


def rec(
    n: int = 100,
    c: int = 2,
    labels: np.ndarray | None = None,
    rate: float = 10.0,
    subject: str = "1",
    session: str = "1",
) -> Recording:
    data = np.arange(n * c, dtype=np.float32).reshape(n, c)
    lab = np.zeros(n, np.int64) + 1 if labels is None else labels
    return Recording(data, lab, rate, [f"ch{i}" for i in range(c)], ["u"] * c, subject, session)


def test_window_contents_and_starts() -> None:
    r = rec(100, 2)
    w = make_windows([r], WindowConfig(length=20, step=10))
    assert w.x.shape == (9, 20, 2)
    np.testing.assert_array_equal(w.start, np.arange(9) * 10)
    for i in range(9):
        np.testing.assert_array_equal(w.x[i], r.data[w.start[i] : w.start[i] + 20])
    assert (w.recording == 0).all()


def test_seconds_unit_uses_rate() -> None:
    w = make_windows([rec(100, rate=10.0)], WindowConfig(length=2.0, step=1.0, unit="seconds"))
    assert w.length == 20 and w.step == 10


def test_majority_and_purity_policies() -> None:
    lab = np.array([1] * 12 + [2] * 8)
    w = make_windows([rec(20, labels=lab)], WindowConfig(length=20, step=20))
    assert w.y.tolist() == [1] and w.purity[0] == pytest.approx(0.6)
    w = make_windows([rec(20, labels=lab)], WindowConfig(length=20, step=20, min_purity=0.7))
    assert len(w) == 0 and w.dropped["windows_mixed"] == 1
    w = make_windows([rec(20, labels=lab)], WindowConfig(length=20, step=20, label_policy="centre"))
    assert w.y.tolist() == [1]  # sample 10 is label 1


def test_unlabelled_windows_dropped_and_counted_or_kept() -> None:
    lab = np.array([-1] * 15 + [3] * 5)
    cfg = WindowConfig(length=10, step=5)
    w = make_windows([rec(20, labels=lab)], cfg)
    # windows [0,10) [5,15) all -1 ; [10,20) half -1/half 3 -> majority tie -> -1 (argmax first)
    assert w.dropped["windows_unlabelled"] == 3 and len(w) == 0
    w = make_windows([rec(20, labels=lab)], WindowConfig(length=10, step=5, keep_unlabelled=True))
    assert len(w) == 3 and w.dropped["windows_unlabelled"] == 0


def test_nan_windows_dropped() -> None:
    r = rec(40)
    r.data[25, 1] = np.nan
    w = make_windows([r], WindowConfig(length=10, step=10))
    assert len(w) == 3 and w.dropped["windows_nan"] == 1
    assert np.isfinite(w.x).all()


def test_short_recording_counted() -> None:
    w = make_windows([rec(5), rec(30)], WindowConfig(length=10, step=10))
    assert w.dropped["recordings_too_short"] == 1
    assert (w.recording == 1).all() and len(w) == 3


def test_mixed_rates_need_target_rate() -> None:
    with pytest.raises(ConfigError, match="target_rate"):
        make_windows([rec(50, rate=10), rec(50, rate=20)], WindowConfig(length=5, step=5))
    w = make_windows(
        [rec(50, rate=10), rec(100, rate=20)], WindowConfig(length=5, step=5, target_rate=10)
    )
    assert w.rate == 10 and len(w) == 20


def test_resample_sine_and_labels() -> None:
    t = np.arange(1000) / 100.0
    data = np.stack([np.sin(2 * np.pi * 2 * t), np.cos(2 * np.pi * 2 * t)], 1)
    lab = (t >= 5).astype(np.int64) + 1
    r = Recording(data, lab, 100.0, ["a", "b"], ["g", "g"], "1", "1")
    r2 = resample(r, 100 / 3)  # PAMAP2-style 33.3 Hz
    assert r2.n_samples == 334
    t2 = np.arange(r2.n_samples) / r2.rate
    inner = slice(20, -20)
    np.testing.assert_allclose(r2.data[inner, 0], np.sin(2 * np.pi * 2 * t2)[inner], atol=0.02)
    boundary = np.flatnonzero(np.diff(r2.labels))[0] + 1
    assert abs(t2[boundary] - 5.0) <= 1 / r2.rate


def test_bad_config() -> None:
    with pytest.raises(ConfigError):
        WindowConfig(length=0, step=1)
    with pytest.raises(ConfigError):
        WindowConfig(label_policy="mode")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        WindowConfig(min_purity=1.5)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    length=st.integers(1, 50),
    step=st.integers(1, 60),
    seed=st.integers(0, 10_000),
)
def test_window_counts_and_labels_match_bruteforce(
    n: int, length: int, step: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    lab = rng.integers(-1, 4, size=n)
    r = rec(n, 1, labels=lab)
    w = make_windows([r], WindowConfig(length=length, step=step, keep_unlabelled=True))
    expected = 0 if n < length else (n - length) // step + 1
    assert len(w) == expected
    for i, s in enumerate(w.start):
        seg = lab[s : s + length]
        vals, counts = np.unique(seg, return_counts=True)
        assert w.y[i] == vals[np.argmax(counts)]
        assert w.purity[i] == pytest.approx(counts.max() / length)
