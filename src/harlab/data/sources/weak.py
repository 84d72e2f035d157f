"""Weakly-labelled windows built from any other source (DanHAR's weak-label experiment).

DanHAR (Gao et al., section IV-A5) used a private iPhone set: 50 Hz triaxial acceleration,
windows of 2048 samples (40.96 s) of *walking* that contain one or more bouts of a target
activity (upstairs, downstairs, jumping, jogging); each window carries only the target's
label. This source builds the same kind of data from a public dataset:

* per subject, the background activity's samples are concatenated (in recording order)
  into one stream, and a window is ``length`` consecutive samples of that stream (joins
  between background bouts are counted per window in ``meta["weak_background_joins"]``);
* ``segments`` (an integer or ``[min, max]``) target segments of
  ``segment_seconds = [min, max]`` each, cut from one contiguous bout of the target
  activity *of the same subject*, are placed at random non-overlapping positions and
  replace the background there; with ``crossfade_seconds > 0`` the first and last samples
  of every segment are linearly cross-faded with the background (the true segment still
  spans the whole replaced range);
* the window is one :class:`Recording` whose every sample is labelled with the target
  class (the weak label), subject = the base subject (so subject-wise splits work), and
  ``meta["weak_segments"] = [[start, end), ...]`` (sample indices into the recording)
  records the ground truth; it survives windowing and the cache via ``RecordingMeta.meta``.

Use it with ``data.window`` length = step = ``length`` samples: one training window per
weak recording. ``n_per_class`` windows are built per target class *and subject*. A
subject whose background stream is shorter than ``length``, and (subject, class) pairs
without a bout as long as the shortest segment, are skipped and counted in ``dropped``.
The upper segment length is capped at the subject's longest bout of that class.

Options: ``base`` (source name, required), ``base_path``/``base_options`` (passed to the
base; ``path`` is used as ``base_path`` when that is not given), ``background`` and
``targets`` (class names, case-insensitive, or ids), ``length`` (samples, default 2048),
``segments``, ``segment_seconds`` (default ``[4, 12]``), ``n_per_class`` (default 20),
``rate`` (resample the base first, Hz), ``channels`` (subset of base channel names),
``crossfade_seconds`` (default 0.25), ``seed``. All splicing is done with index arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harlab.data.recording import Recording, RecordingSet
from harlab.data.sources.common import check_options
from harlab.errors import ConfigError, DataError
from harlab.papers import DANHAR

NAME = "weak"
VERSION = 1
INFO: dict[str, Any] = {
    "summary": "weakly-labelled long windows: target segments spliced into a background "
    "activity of another source (DanHAR's weak-label experiment)",
    "subjects": "as the base source",
    "classes": "the chosen targets",
    "channels": "as the base source",
    "rate": "as the base source (or option rate)",
    "citation": f"built from the base source; protocol after {DANHAR.short_cite()}",
    "licence": "as the base source",
}
_OPTIONS = (
    "base", "base_path", "base_options", "background", "targets", "length", "segments",
    "segment_seconds", "n_per_class", "rate", "channels", "crossfade_seconds", "seed",
)
DEFAULTS: dict[str, Any] = {
    "length": 2048,
    "segments": [1, 1],
    "segment_seconds": [4.0, 12.0],
    "n_per_class": 20,
    "crossfade_seconds": 0.25,
    "seed": 0,
}


def _pair(name: str, value: Any, kind: type) -> tuple[Any, Any]:
    """``value`` as a (min, max) pair of ``kind`` (a scalar means min = max)."""
    vals = list(value) if isinstance(value, (list, tuple)) else [value, value]
    if len(vals) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float))
                             for v in vals):
        raise ConfigError(f"weak: {name} must be a number or [min, max], got {value!r}")
    lo, hi = kind(vals[0]), kind(vals[1])
    if lo != vals[0] or hi != vals[1] or not 0 < lo <= hi:
        raise ConfigError(f"weak: {name} must satisfy 0 < min <= max ({kind.__name__}), "
                          f"got {value!r}")
    return lo, hi


def _class_id(classes: dict[int, str], value: Any, what: str, base: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if int(value) in classes:
            return int(value)
    else:
        by_name = {v.lower(): k for k, v in classes.items()}
        if str(value).lower() in by_name:
            return by_name[str(value).lower()]
    known = ", ".join(f"{k}={v}" for k, v in sorted(classes.items()))
    raise ConfigError(f"weak: unknown {what} class {value!r} in base {base!r}; known: {known}")


def _settings(options: dict[str, Any]) -> dict[str, Any]:
    """Validated options merged with the defaults (no data needed)."""
    check_options(NAME, options, _OPTIONS)
    s = {**DEFAULTS, **options}
    if not s.get("base"):
        raise ConfigError("weak: option 'base' (the source to build from) is required")
    if not isinstance(s["base"], str):
        raise ConfigError(f"weak: base must be a source name, got {s['base']!r}")
    if s["base"] == NAME:
        raise ConfigError("weak: base cannot be 'weak' itself")
    if s.get("background") is None or not s.get("targets"):
        raise ConfigError("weak: options 'background' and 'targets' (class names or ids) "
                          "are required")
    if not isinstance(s["targets"], (list, tuple)):
        s["targets"] = [s["targets"]]
    for key in ("length", "n_per_class"):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"weak: {key} must be a positive integer, got {v!r}")
    seed = s["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"weak: seed must be a non-negative integer, got {seed!r}")
    s["segments"] = _pair("segments", s["segments"], int)
    s["segment_seconds"] = _pair("segment_seconds", s["segment_seconds"], float)
    fade = s["crossfade_seconds"]
    if isinstance(fade, bool) or not isinstance(fade, (int, float)) or fade < 0:
        raise ConfigError(f"weak: crossfade_seconds must be >= 0, got {fade!r}")
    if s.get("rate") is not None and not (isinstance(s["rate"], (int, float)) and s["rate"] > 0):
        raise ConfigError(f"weak: rate must be a positive number, got {s['rate']!r}")
    if isinstance(s.get("channels"), str):
        s["channels"] = [s["channels"]]
    if s.get("channels") is not None and not isinstance(s["channels"], (list, tuple)):
        raise ConfigError(f"weak: channels must be a list of channel names, got {s['channels']!r}")
    if not isinstance(s.get("base_options") or {}, dict):
        raise ConfigError("weak: base_options must be a mapping")
    return s


def _base(path: str | Path | None, s: dict[str, Any]) -> tuple[Any, str | Path | None, dict]:
    from harlab.data.sources import get_source

    spec = get_source(s["base"])
    base_path = s.get("base_path") if s.get("base_path") is not None else path
    return spec, base_path, dict(s.get("base_options") or {})


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """The base's fingerprint plus every weak option (so any change rebuilds the cache)."""
    s = _settings(options)
    spec, base_path, base_opts = _base(path, s)
    return {
        "source": NAME,
        "version": VERSION,
        "base": spec.fingerprint(base_path, **base_opts),
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(s.items())},
    }


def _runs(labels: np.ndarray, rec_id: np.ndarray, cls: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of the contiguous runs of ``cls`` (never crossing recordings)."""
    is_c = labels == cls
    brk = np.ones(labels.size + 1, bool)
    brk[1:-1] = (is_c[1:] != is_c[:-1]) | (rec_id[1:] != rec_id[:-1])
    edges = np.flatnonzero(brk)
    starts, ends = edges[:-1], edges[1:]
    keep = is_c[starts]
    return starts[keep], (ends - starts)[keep]


def _build_group(
    rng: np.random.Generator, data: np.ndarray, bg_idx: np.ndarray, run_start: np.ndarray,
    run_len: np.ndarray, n: int, length: int, seg_lo: int, seg_hi: int, k_lo: int, k_hi: int,
    fade: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` windows of one (subject, class): x (n, L, C), seg starts/lengths (n, k_hi), joins.

    Unused segment slots have length 0. Positions: ``k`` sorted gap offsets in
    ``[0, free]`` plus the cumulative lengths of the earlier segments, so segments never
    overlap. Sources: a uniform draw over every valid (bout, offset) pair.
    """
    k = rng.integers(k_lo, k_hi + 1, n)
    lens = rng.integers(seg_lo, seg_hi + 1, (n, k_hi))
    lens[np.arange(k_hi)[None, :] >= k[:, None]] = 0
    free = length - lens.sum(1)
    gaps = np.sort((rng.random((n, k_hi)) * (free[:, None] + 1)).astype(np.int64), axis=1)
    starts = gaps + np.cumsum(lens, 1) - lens
    # background: length consecutive samples of the subject's background stream
    off = rng.integers(0, bg_idx.size - length + 1, n)
    src = bg_idx[off[:, None] + np.arange(length)[None, :]]  # (n, L)
    joins = (np.diff(src, axis=1) != 1).sum(1)
    x = data[src]  # (n, L, C)
    # target sources: uniform over (bout, offset) pairs with the bout long enough
    used = lens > 0
    sl = lens[used]
    usable = np.maximum(run_len[None, :] - sl[:, None] + 1, 0)  # (m, runs)
    cum = np.cumsum(usable, 1)
    u = (rng.random(sl.size) * cum[:, -1]).astype(np.int64)
    run = (cum <= u[:, None]).sum(1)
    prev = np.where(run > 0, cum[np.arange(sl.size), np.maximum(run - 1, 0)], 0)
    t_src = run_start[run] + (u - prev)
    # splice all segments at once with flat index arrays
    win = np.repeat(np.nonzero(used)[0], sl)
    first = np.cumsum(sl) - sl
    within = np.arange(sl.sum()) - np.repeat(first, sl)
    pos = np.repeat(starts[used], sl) + within
    tgt = data[np.repeat(t_src, sl) + within]
    if fade > 0:
        edge = np.minimum(within, np.repeat(sl, sl) - 1 - within)
        alpha = np.clip((edge + 1) / (fade + 1), 0.0, 1.0).astype(np.float32)[:, None]
        x[win, pos] = alpha * tgt + (1 - alpha) * x[win, pos]
    else:
        x[win, pos] = tgt
    return x, starts, lens, joins


def _base_recordings(
    path: str | Path | None, s: dict[str, Any]
) -> tuple[RecordingSet, list[Recording], float]:
    """Load the base source, resampled to option ``rate`` when set; returns it, its
    recordings and their one sampling rate (several rates are a ConfigError)."""
    from harlab.data.windows import resample

    spec, base_path, base_opts = _base(path, s)
    rs = spec.load(base_path, **base_opts)
    recs = rs.recordings
    if s.get("rate") is not None:
        recs = [resample(r, float(s["rate"])) for r in recs]
    rates = {r.rate for r in recs}
    if len(rates) > 1:
        raise ConfigError(f"weak: base {s['base']!r} has several sampling rates "
                          f"{sorted(rates)}; set option rate")
    return rs, recs, rates.pop()


def _channel_columns(wanted: list[str] | None, chans: list[str]) -> np.ndarray:
    """Column indices of the ``wanted`` base channels (all of them when not given)."""
    if wanted:
        missing = [c for c in wanted if c not in chans]
        if missing:
            raise ConfigError(f"weak: channels {missing} not in base channels {chans}")
        return np.array([chans.index(c) for c in wanted])
    return np.arange(len(chans))


def _background_and_targets(classes: dict[int, str], s: dict[str, Any]) -> tuple[int, list[int]]:
    """Class ids of the background and the targets; a background that is also a target,
    or a target named twice, is a ConfigError."""
    bg = _class_id(classes, s["background"], "background", s["base"])
    targets = [_class_id(classes, t, "target", s["base"]) for t in s["targets"]]
    if bg in targets:
        raise ConfigError(f"weak: the background class {classes[bg]!r} is also a target")
    if len(set(targets)) != len(targets):
        raise ConfigError(f"weak: targets repeat a class: {s['targets']}")
    return bg, targets


def _segment_bounds(s: dict[str, Any], rate: float, length: int, k_hi: int) -> tuple[int, int]:
    """Shortest and longest target segment in samples at ``rate``; ConfigError when the
    longest, or ``k_hi`` of them, cannot fit in a window of ``length`` samples."""
    seg_lo = max(1, int(round(s["segment_seconds"][0] * rate)))
    seg_hi = max(seg_lo, int(round(s["segment_seconds"][1] * rate)))
    if seg_hi > length:
        raise ConfigError(
            f"weak: a target segment of up to {s['segment_seconds'][1]} s ({seg_hi} samples at "
            f"{rate:g} Hz) is longer than the window of {length} samples"
        )
    if k_hi * seg_hi > length:
        raise ConfigError(
            f"weak: {k_hi} segments of up to {seg_hi} samples do not fit in a window of "
            f"{length} samples; lower segments or segment_seconds"
        )
    return seg_lo, seg_hi


def _window_recordings(
    x: np.ndarray, starts: np.ndarray, lens: np.ndarray, joins: np.ndarray, *, cls: int,
    bg: int, rate: float, names: tuple[str, ...], units: tuple[str, ...], subject: str,
) -> list[Recording]:
    """One Recording per built window of ``subject``, every sample labelled ``cls`` (the
    weak label), with the true segments and background joins in its meta."""
    out: list[Recording] = []
    length = x.shape[1]
    y = np.full(length, cls, np.int64)
    for i in range(x.shape[0]):  # one Recording object per built window
        used = lens[i] > 0
        segs = [[int(a), int(a + b)] for a, b in zip(starts[i][used], lens[i][used],
                                                     strict=True)]
        out.append(Recording(
            data=x[i], labels=y, rate=rate, channels=names, units=units,
            subject=subject, session=f"weak-{cls}-{i}",
            meta={"file": f"weak window {i} of class {cls}, subject {subject}",
                  "weak_segments": segs, "weak_target": int(cls),
                  "weak_background": int(bg),
                  "weak_background_joins": int(joins[i])},
        ))
    return out


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load the base source and build the weakly-labelled recordings (one per window)."""
    s = _settings(options)
    rs, recs, rate = _base_recordings(path, s)
    chans = list(rs.channels)
    col = _channel_columns(s.get("channels"), chans)
    bg, targets = _background_and_targets(rs.classes, s)
    length = int(s["length"])
    k_lo, k_hi = s["segments"]
    seg_lo, seg_hi = _segment_bounds(s, rate, length, k_hi)
    fade = int(round(float(s["crossfade_seconds"]) * rate))
    rng = np.random.default_rng(int(s["seed"]))
    by_subject: dict[str, list[Recording]] = {}
    for r in recs:
        by_subject.setdefault(r.subject, []).append(r)
    out: list[Recording] = []
    dropped = {"weak_subjects_without_background": 0, "weak_windows_without_target_bout": 0}
    units = tuple(str(rs.units[i]) for i in col)  # plain str: checkpoints load weights-only
    names = tuple(str(chans[i]) for i in col)
    for subject in rs.subjects:
        group = by_subject.get(subject, [])
        data = np.concatenate([r.data[:, col] for r in group])
        labels = np.concatenate([r.labels for r in group])
        rec_id = np.repeat(np.arange(len(group)), [r.n_samples for r in group])
        bg_idx = np.flatnonzero(labels == bg)
        if bg_idx.size < length:
            dropped["weak_subjects_without_background"] += 1
            continue
        for cls in targets:
            run_start, run_len = _runs(labels, rec_id, cls)
            longest = int(run_len.max()) if run_len.size else 0
            if longest < seg_lo:
                dropped["weak_windows_without_target_bout"] += int(s["n_per_class"])
                continue
            x, starts, lens, joins = _build_group(
                rng, data, bg_idx, run_start, run_len, int(s["n_per_class"]), length,
                seg_lo, min(seg_hi, longest), k_lo, k_hi, fade,
            )
            out += _window_recordings(x, starts, lens, joins, cls=cls, bg=bg, rate=rate,
                                      names=names, units=units, subject=subject)
    if not out:
        raise DataError(
            f"weak: no window could be built from base {s['base']!r}: no subject has "
            f"{length} samples of {rs.classes[bg]!r} and a bout of a target of at least "
            f"{seg_lo} samples"
        )
    return RecordingSet(
        name=f"weak_{rs.name}",
        recordings=out,
        classes={c: rs.classes[c] for c in targets},
        official_split=rs.official_split,
        citation=rs.citation,
        dropped={**rs.dropped, **{k: v for k, v in dropped.items() if v}},
        info={"weak": {"base": s["base"], "background": rs.classes[bg], "rate": rate,
                       "length": length, "seconds": length / rate,
                       "segment_samples": [seg_lo, seg_hi], "segments": [k_lo, k_hi],
                       "crossfade_samples": fade}},
    )
