"""Sliding windows over recordings, with resampling and an explicit label policy.

Windows never cross recordings, so windowing each recording and then assigning whole
recordings to train/val/test is the same as splitting first and windowing after. All
work is vectorised per recording (no Python loop per window): window starts come from
``np.arange``, samples from ``sliding_window_view`` and per-window label counts from a
cumulative one-hot sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import resample_poly

from harlab.config import WindowConfig
from harlab.data.recording import UNLABELLED, Recording
from harlab.errors import ConfigError


@dataclass
class Windows:
    """A batch of windows: ``x`` (N, T, C) float32 and per-window metadata arrays."""

    x: np.ndarray
    y: np.ndarray
    recording: np.ndarray
    start: np.ndarray
    purity: np.ndarray
    rate: float
    length: int
    step: int
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: np.ndarray) -> Windows:
        """Windows at ``index`` (integer indices or boolean mask); metadata is kept."""
        return Windows(
            x=self.x[index],
            y=self.y[index],
            recording=self.recording[index],
            start=self.start[index],
            purity=self.purity[index],
            rate=self.rate,
            length=self.length,
            step=self.step,
            dropped=dict(self.dropped),
        )

    @property
    def start_time(self) -> np.ndarray:
        """Window start in seconds from the start of its recording."""
        return self.start / self.rate


def resample(rec: Recording, target_rate: float) -> Recording:
    """Resample a recording to ``target_rate`` Hz.

    Signals go through scipy's polyphase filter (anti-aliasing FIR); labels take the
    label of the nearest original sample, so label boundaries move by < 1 sample.
    """
    if abs(rec.rate - target_rate) < 1e-9:
        return rec
    frac = Fraction(target_rate / rec.rate).limit_denominator(1000)
    up, down = frac.numerator, frac.denominator
    data = resample_poly(rec.data.astype(np.float64), up, down, axis=0).astype(np.float32)
    n_new = data.shape[0]
    src = np.minimum(
        np.round(np.arange(n_new) * (rec.rate / target_rate)).astype(np.int64), rec.n_samples - 1
    )
    meta = dict(rec.meta, original_rate=rec.rate)
    return Recording(
        data=data,
        labels=rec.labels[src],
        rate=float(target_rate),
        channels=rec.channels,
        units=rec.units,
        subject=rec.subject,
        session=rec.session,
        meta=meta,
    )


def _window_one(
    rec: Recording, length: int, step: int, cfg: WindowConfig, classes: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Window one recording; returns (x, y, start, purity, n_unlabelled, n_mixed, n_nan)."""
    n = (rec.n_samples - length) // step + 1 if rec.n_samples >= length else 0
    empty = np.zeros(0, np.int64)
    if n <= 0:
        return (
            np.zeros((0, length, rec.n_channels), np.float32),
            empty,
            empty,
            np.zeros(0, np.float32),
            0,
            0,
            0,
        )
    starts = np.arange(n, dtype=np.int64) * step
    ends = starts + length
    # per-window label counts from a cumulative one-hot sum: (n, K)
    codes = np.searchsorted(classes, rec.labels)
    onehot = np.zeros((rec.n_samples + 1, classes.size), np.int32)
    onehot[np.arange(1, rec.n_samples + 1), codes] = 1
    cum = np.cumsum(onehot, axis=0)
    counts = cum[ends] - cum[starts]
    if cfg.label_policy == "majority":
        y = classes[np.argmax(counts, axis=1)]
    else:
        y = rec.labels[starts + length // 2]
    purity = counts[np.arange(n), np.searchsorted(classes, y)] / length
    # windows containing NaN samples are dropped and counted
    bad = np.concatenate([[0], np.cumsum(~np.isfinite(rec.data).all(axis=1))])
    has_nan = (bad[ends] - bad[starts]) > 0
    unlabelled = (y == UNLABELLED) & ~has_nan
    mixed = (purity < cfg.min_purity) & ~unlabelled & ~has_nan
    keep = ~has_nan & ~mixed & (~unlabelled | cfg.keep_unlabelled)
    n_unlabelled = 0 if cfg.keep_unlabelled else int(unlabelled.sum())
    starts, y, purity = starts[keep], y[keep], purity[keep]
    view = sliding_window_view(rec.data, length, axis=0)  # (T-L+1, C, L)
    x = np.ascontiguousarray(view[starts].transpose(0, 2, 1))
    return (
        x,
        y.astype(np.int64),
        starts,
        purity.astype(np.float32),
        n_unlabelled,
        int(mixed.sum()),
        int(has_nan.sum()),
    )


def _frame_widths(recordings: list[Recording]) -> list[int] | None:
    """The distinct lengths of pre-cut frames (every recording one frame, marked by its
    ``frame`` meta field, as radar frame datasets are); None for continuous recordings."""
    if not all("frame" in r.meta for r in recordings):
        return None
    return sorted({r.n_samples for r in recordings})


def window_size(recordings: list[Recording], cfg: WindowConfig, rate: float) -> tuple[int, int]:
    """Window length and step in samples. ``unit='frames'``: the recordings' one length
    (each recording one window). A ConfigError names the window length and the frame
    width where frames and a window in samples or seconds do not match."""
    lengths = sorted({r.n_samples for r in recordings})
    frames = _frame_widths(recordings)
    if cfg.unit == "frames":
        if len(lengths) > 1:
            raise ConfigError(
                f"window.unit=frames needs recordings of one length (one window each); "
                f"found lengths {lengths[0]} .. {lengths[-1]} samples"
            )
        return lengths[0], lengths[0]
    length, step = cfg.samples(rate)
    if frames is not None and frames != [length]:
        raise _frames_error(length, frames)
    return length, step


def _frames_error(length: int, frames: list[int]) -> ConfigError:
    return ConfigError(
        f"window.length is {length} samples but the frames are {frames[-1]} columns wide"
        + (f" (widths {frames})" if len(frames) > 1 else "")
        + "; use window: {length: 1, step: 1, unit: frames} (one window per frame)"
    )


def _no_windows() -> dict[str, int]:
    return {"windows_unlabelled": 0, "windows_mixed": 0, "windows_nan": 0,
            "recordings_too_short": 0}


@dataclass
class WindowCutter:
    """Cuts recordings into windows one at a time (resampled first if asked), counting
    what it drops; the arrays of each recording are returned, never kept.

    Without ``rate``/``length``/``step`` the first recording fixes them (as
    :func:`window_size` does for a list) and each later one is checked against them:
    that is how a stream of recordings is windowed without holding them all. Labels are
    counted per recording over that recording's own classes, which picks the same
    majority label (ties go to the smallest id) as counting over the dataset's classes.
    """

    cfg: WindowConfig
    rate: float | None = None
    length: int | None = None
    step: int | None = None
    planned: bool = False  # sizes already checked over all recordings (plan_windows)
    dropped: dict[str, int] = field(default_factory=_no_windows)

    def _fix_size(self, rec: Recording) -> None:
        if self.planned:
            return
        if self.rate is None:
            self.rate = rec.rate
        elif rec.rate != self.rate:
            raise ConfigError(f"recordings have different sampling rates "
                              f"{sorted({self.rate, rec.rate})}; set window.target_rate")
        if self.length is None:
            self.length, self.step = window_size([rec], self.cfg, rec.rate)
            return
        if self.cfg.unit == "frames" and rec.n_samples != self.length:
            lo, hi = sorted((self.length, rec.n_samples))
            raise ConfigError(f"window.unit=frames needs recordings of one length (one window "
                              f"each); found lengths {lo} .. {hi} samples")
        if self.cfg.unit != "frames" and "frame" in rec.meta and rec.n_samples != self.length:
            raise _frames_error(self.length, [rec.n_samples])

    def cut(self, rec: Recording) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, start, purity) of the windows kept from ``rec``."""
        if self.cfg.target_rate is not None:
            rec = resample(rec, self.cfg.target_rate)
        self._fix_size(rec)
        assert self.length is not None and self.step is not None
        classes = np.unique(np.concatenate([np.unique(rec.labels), [UNLABELLED]]))
        x, y, s, p, n_unl, n_mix, n_nan = _window_one(rec, self.length, self.step, self.cfg,
                                                      classes)
        if rec.n_samples < self.length:
            self.dropped["recordings_too_short"] += 1
        self.dropped["windows_unlabelled"] += n_unl
        self.dropped["windows_mixed"] += n_mix
        self.dropped["windows_nan"] += n_nan
        return x, y, s, p


def plan_windows(recordings: list[Recording], cfg: WindowConfig
                 ) -> tuple[list[Recording], WindowCutter]:
    """Resample (if asked) and check rates and window size over all recordings: the
    recordings to cut and the cutter (sized) to cut them with."""
    if not recordings:
        raise ConfigError("no recordings to window")
    if cfg.target_rate is not None:
        recordings = [resample(r, cfg.target_rate) for r in recordings]
    rates = {r.rate for r in recordings}
    if len(rates) > 1:
        raise ConfigError(
            f"recordings have different sampling rates {sorted(rates)}; set window.target_rate"
        )
    rate = rates.pop()
    length, step = window_size(recordings, cfg, rate)
    return recordings, WindowCutter(cfg, rate, length, step, planned=True)


def make_windows(recordings: list[Recording], cfg: WindowConfig) -> Windows:
    """Resample (if asked) and window every recording; drops are counted in ``dropped``.

    All recordings must share one sampling rate after resampling; otherwise a
    ConfigError asks for ``window.target_rate``. See :func:`window_size` for the length.
    """
    recordings, cutter = plan_windows(recordings, cfg)
    length, rate, step = cutter.length, cutter.rate, cutter.step
    assert length is not None and rate is not None and step is not None
    xs, ys, recs, starts, purities = [], [], [], [], []
    for i, rec in enumerate(recordings):
        x, y, s, p = cutter.cut(rec)
        xs.append(x)
        ys.append(y)
        starts.append(s)
        purities.append(p)
        recs.append(np.full(y.shape[0], i, np.int64))
    return Windows(
        x=np.concatenate(xs) if xs else np.zeros((0, length, recordings[0].n_channels)),
        y=np.concatenate(ys),
        recording=np.concatenate(recs),
        start=np.concatenate(starts),
        purity=np.concatenate(purities),
        rate=float(rate),
        length=length,
        step=step,
        dropped=cutter.dropped,
    )
