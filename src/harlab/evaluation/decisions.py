"""Decisions over several consecutive frames of one recording.

The MRA-Net paper scores every 1 s radar frame on its own. A deployed system watching a
person for a few seconds would rather decide once over several frames. These functions
pool the class probabilities of ``k`` consecutive frames of one recording (every run of
``k``, sliding by one frame) or of a whole recording, and score one decision per pool.
This is an extension beyond the paper and is reported as such.

Pooling rule: the mean of the frames' class probabilities ("soft voting"), or with
``rule="log"`` the mean of their log-probabilities (the product rule, which assumes the
frames independent and lets one confidently wrong frame dominate).

For recordings that hold several activities (wearable sessions), :func:`segment_ids`
splits each recording into its runs of one true label, and the whole-group span is then
called ``"segment"``.

Frames must be whole, complete runs to make sense: a pool is only formed where all ``k``
positions ``p, p+1, ..., p+k-1`` of one recording are present, so a split that scattered a
recording's frames (the paper's random frame split) forms few pools, and those would mix
training neighbours into the test decision; callers should only use this under a
recording-wise split. Recordings whose frames disagree on the label, and recordings
shorter than ``k``, are left out and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harlab.data.prepare import PreparedData
from harlab.errors import DataError
from harlab.evaluation.plots import plot_metric_curves

RULES = ("mean", "log")
WHOLE = "recording"  # the span name of a whole-recording decision
WHOLE_SPANS = (WHOLE, "segment")  # span names that pool a whole group (same meaning)


def _prepare(probs: np.ndarray, truth: np.ndarray, recording: np.ndarray,
             position: np.ndarray, rule: str
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Sorted by (recording, position): scores, truth, recording codes, positions,
    number of recordings dropped for mixed labels."""
    probs = np.asarray(probs, np.float64)
    n = len(probs)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise DataError(f"decisions: probabilities must be (frames, classes >= 2), got "
                        f"shape {probs.shape}")
    for name, arr in (("truth", truth), ("recording", recording), ("position", position)):
        if len(arr) != n:
            raise DataError(f"decisions: {name} has {len(arr)} entries for {n} frames")
    if rule not in RULES:
        raise DataError(f"decisions: rule must be one of {', '.join(RULES)}, got {rule!r}")
    scores = np.log(np.clip(probs, 1e-12, None)) if rule == "log" else probs
    codes = np.unique(np.asarray(recording).astype(str), return_inverse=True)[1].ravel()
    position = np.asarray(position, np.int64)
    order = np.lexsort((position, codes))
    scores, truth = scores[order], np.asarray(truth)[order]
    codes, position = codes[order], position[order]
    # one label per recording: drop recordings whose frames disagree (counted)
    first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    lo = np.minimum.reduceat(truth, first) if n else truth
    hi = np.maximum.reduceat(truth, first) if n else truth
    mixed = lo != hi
    if mixed.any():
        keep = ~np.repeat(mixed, np.diff(np.r_[first, n]))
        scores, truth, codes, position = scores[keep], truth[keep], codes[keep], position[keep]
    return scores, truth, codes, position, int(mixed.sum())


def segment_ids(recording: np.ndarray, truth: np.ndarray, position: np.ndarray
                ) -> np.ndarray:
    """Split each recording into its runs of one true label, in time order.

    For recordings that hold several activities (a wearable session): each frame gets the
    integer id of its run (unique over all recordings), so :func:`pool_frames` decides
    once per stretch of one label. This is an oracle segmentation (the true labels say
    where a decision starts and ends) and must be reported as such.
    """
    rec = np.asarray(recording).astype(str)
    truth = np.asarray(truth)
    order = np.lexsort((np.asarray(position), rec))
    r, t = rec[order], truth[order]
    new = np.r_[True, (r[1:] != r[:-1]) | (t[1:] != t[:-1])]
    out = np.empty(len(rec), np.int64)
    out[order] = np.cumsum(new) - 1
    return out


def _check_k(k: int | str) -> int | str:
    if k in WHOLE_SPANS:
        return k
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise DataError(f"decisions: k must be a positive number of frames, {WHOLE!r} or "
                        f"'segment', got {k!r}")
    return int(k)


def _pool(scores: np.ndarray, truth: np.ndarray, codes: np.ndarray, position: np.ndarray,
          k: int | str, step: int) -> dict[str, Any]:
    """Pools of frames already sorted by :func:`_prepare` (see :func:`pool_frames`)."""
    if k in WHOLE_SPANS:
        first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else []
        lengths = np.diff(np.r_[first, len(codes)]).astype(np.int64)
        sums = (np.add.reduceat(scores, first, axis=0) if len(codes)
                else np.zeros((0, scores.shape[1])))
        return {"scores": sums / np.maximum(lengths, 1)[:, None], "truth": truth[first],
                "recordings": int(len(lengths)), "too_short": 0, "lengths": lengths}
    cs = np.concatenate([np.zeros((1, scores.shape[1])), np.cumsum(scores, axis=0)])
    starts = np.arange(max(len(codes) - k + 1, 0))
    end = starts + k - 1
    ok = (codes[starts] == codes[end]) & (position[end] - position[starts] == (k - 1) * step)
    starts = starts[ok]
    used = len(np.unique(codes[starts]))
    return {"scores": (cs[starts + k] - cs[starts]) / k, "truth": truth[starts],
            "recordings": int(used), "too_short": int(len(np.unique(codes)) - used),
            "lengths": np.full(len(starts), k, np.int64)}


def pool_frames(probs: np.ndarray, truth: np.ndarray, recording: np.ndarray,
                position: np.ndarray, k: int | str, rule: str = "mean", step: int = 1,
                ) -> dict[str, Any]:
    """Pooled scores of every run of ``k`` consecutive frames (or ``k="recording"`` or
    ``"segment"``: of each whole group) and the true label of each pool.

    ``position`` orders the frames of a recording; frames are consecutive when their
    positions differ by ``step`` (1 for frame indices, the window step for sample starts).

    Returns ``{"scores": (pools, classes), "truth": (pools,), "lengths": frames per pool,
    "recordings": number of recordings that gave at least one pool, "too_short":
    recordings with fewer than k consecutive frames, "mixed_labels": recordings left out
    because their frames disagree on the label}``. Vectorised: one cumulative sum, no
    loop over frames.
    """
    k = _check_k(k)
    scores, truth, codes, position, mixed = _prepare(probs, truth, recording, position, rule)
    return {**_pool(scores, truth, codes, position, k, step), "mixed_labels": mixed}


def decision_curve(probs: np.ndarray, truth: np.ndarray, recording: np.ndarray,
                   position: np.ndarray, spans: Sequence[int | str], class_names: Sequence[str],
                   rule: str = "mean", frame_s: float | None = None,
                   hop_s: float | None = None, step: int = 1) -> list[dict[str, Any]]:
    """Macro-F1 and accuracy of one decision per pool, for each span in ``spans``.

    Each entry: ``frames`` (k or ``"recording"``/``"segment"``), ``seconds`` (time one
    decision covers, from ``frame_s`` and ``hop_s`` when known; for whole groups the mean
    over the scored groups), ``decisions`` (pools scored), ``recordings``, ``too_short``,
    ``mixed_labels``, ``macro_f1``, ``accuracy``; the metrics are None where no pool
    could be formed. Metrics from :func:`harlab.evaluation.metrics.compute_metrics` over
    all ``class_names``. The frames are sorted and checked once for all spans.
    """
    from harlab.evaluation.metrics import compute_metrics

    spans = [_check_k(k) for k in spans]
    scores, truth, codes, position, mixed = _prepare(probs, truth, recording, position, rule)
    out = []
    for k in spans:
        pool = _pool(scores, truth, codes, position, k, step)
        entry: dict[str, Any] = {
            "frames": k, "decisions": int(len(pool["truth"])),
            "recordings": pool["recordings"], "too_short": pool["too_short"],
            "mixed_labels": mixed, "macro_f1": None, "accuracy": None, "seconds": None,
        }
        if frame_s is not None and hop_s is not None:
            frames = k if k not in WHOLE_SPANS else (
                pool["lengths"].mean() if len(pool["lengths"]) else None)
            entry["seconds"] = (None if frames is None
                                else float(frame_s + (frames - 1) * hop_s))
        if len(pool["truth"]):
            m = compute_metrics(pool["truth"], pool["scores"].argmax(1), list(class_names),
                                labels=range(len(class_names)))
            entry["macro_f1"], entry["accuracy"] = m["macro_f1"], m["accuracy"]
        out.append(entry)
    return out


def span_label(frames: int | str, seconds: float | None = None, unit: str = "frame") -> str:
    """Column name of a span: ``"4 frames (2.92 s)"``, ``"whole recording (~10.6 s)"``."""
    if frames in WHOLE_SPANS:
        return f"whole {frames}" + (f" (~{seconds:.1f} s)" if seconds is not None else "")
    n = int(frames)
    return f"{n} {unit}{'s' if n != 1 else ''}" + (f" ({seconds:.2f} s)" if seconds else "")


# windows per decision scored beside the per-window metrics (see window_decisions)
DECISION_SPANS: tuple[int | str, ...] = (1, 2, 4, 8, "segment")


def window_decisions(
    data: PreparedData, probs: dict[str, np.ndarray], names: dict[str, list[str]],
    part: str = "test",
) -> dict[str, Any]:
    """One decision over k consecutive windows (and over each whole segment) per head.

    A segment is a run of consecutive windows of one recording with the same true label
    of that head (oracle segmentation; for identity usually the whole recording). The
    mean class probability of the pool decides (:mod:`harlab.evaluation.decisions`).
    Skipped, with the reason, where the part's recordings also hold windows of another
    part (a split by windows): pooling neighbours of training windows would inflate it.
    """
    rec, starts, window_s, hop_s, step = _decision_units(data, part)
    others = [q for q in data.index if q != part and len(data.index[q])]
    shared = np.intersect1d(rec, np.concatenate([_decision_units(data, q)[0]
                                                 for q in others]) if others else [])
    if len(shared):
        return {"skipped": f"{len(shared)} of the {part} part's {len(np.unique(rec))} "
                f"recordings also have windows in {'/'.join(others)} (split by windows), so "
                "a decision over neighbouring windows would lean on training data"}
    if reason := single_window_reason(rec, part):
        return {"skipped": reason}
    out: dict[str, Any] = {
        "segments": "runs of consecutive windows of one recording with the same true label, "
                    "an oracle segmentation",
        "rule": "mean of the windows' class probabilities",
        "window_s": window_s, "hop_s": hop_s,
    }
    for head, head_names in names.items():
        truth = data.labels(head, part)
        seg = segment_ids(rec, truth, starts)
        out[head] = decision_curve(probs[head], truth, seg, starts, DECISION_SPANS,
                                   head_names, frame_s=window_s, hop_s=hop_s, step=step)
    return out


def single_window_reason(recording: np.ndarray, part: str) -> str | None:
    """Why no decision over several windows can be made when every recording of ``part``
    gave one window (pre-cut windows without frame order): None where some gave more."""
    counts = np.unique(recording, return_counts=True)[1]
    if len(counts) and counts.max() > 1:
        return None
    return (f"every one of the {part} part's {len(counts)} recordings is a single window, so "
            "there are no neighbouring windows to pool (each decision would be the window's "
            "own)")


def _decision_units(data: PreparedData, part: str
                    ) -> tuple[np.ndarray, np.ndarray, float | None, float | None, int]:
    """(recording of each window of ``part``, its position, window seconds, seconds between
    neighbouring windows, position step) for pooling neighbouring windows.

    Pre-cut data (every harlab recording is one window with a ``frame`` field, as radar
    frames are) pool the frames of one source recording (subject, session) in the order the
    source lists them (time order); a frame's seconds and the hop between frames are the
    recordings' ``frame_s`` and ``hop_s`` where the source knows them (else None).
    """
    w = data.windowed.windows
    metas = data.windowed.recordings
    rec = data.recordings(part)
    window_s = w.length / w.rate
    if not _pre_cut(data):
        return rec.astype(str), data.starts(part), window_s, w.step / w.rate, w.step
    wd = data.windowed  # one window per recording: its cached per-window ids are the frames'
    every = np.char.add(np.char.add(wd.subject.astype(str), "\x1f"), wd.session.astype(str))
    group = np.unique(every, return_inverse=True)[1].reshape(-1)
    by_group = np.argsort(group, kind="stable")  # each recording's frames in listed order
    first = np.searchsorted(group[by_group], group[by_group])
    position = np.empty(len(every), np.int64)  # index of each frame within its recording
    position[by_group] = np.arange(len(every)) - first
    idx = data.index[part]
    hop = metas[0].meta.get("hop_s") if metas else None
    frame_s = metas[0].meta.get("frame_s") if metas else None  # None: the source does not know
    return (every[idx], position[idx], float(frame_s) if frame_s is not None else None,
            float(hop) if hop is not None else None, 1)


def _pre_cut(data: PreparedData) -> bool:
    """Every recording gave exactly one window and records its frame index."""
    metas = data.windowed.recordings
    per_rec = np.bincount(data.windowed.windows.recording, minlength=len(metas))
    return bool(metas) and bool((per_rec == 1).all()) and all("frame" in m.meta for m in metas)


def decisions_markdown(dec: dict[str, Any]) -> str:
    """A markdown section for :func:`window_decisions` output."""
    lines = ["## One decision over several windows (beyond per-window scoring)", ""]
    if "skipped" in dec:
        return "\n".join([*lines, f"Not scored: {dec['skipped']}.", ""])
    heads = [h for h in dec if isinstance(dec[h], list)]
    spans = dec[heads[0]]
    lines += [f"Mean class probability over k consecutive test windows (sliding by one) or "
              f"over each segment ({dec['segments']}); macro-F1, decisions in brackets.", "",
              "| head | " + " | ".join(span_label(e["frames"], e["seconds"], "window")
                                      for e in spans) + " |",
              "|---|" + "---|" * len(spans)]
    for head in heads:
        cells = ["n/a" if e["macro_f1"] is None else f"{e['macro_f1']:.4f} ({e['decisions']})"
                 for e in dec[head]]
        lines.append(f"| {head} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


def whole_decision(dec: dict[str, Any] | None, head: str) -> dict[str, Any]:
    """The whole-segment entry (the last span) of ``head``'s decisions; {} if not scored."""
    entries = (dec or {}).get(head)
    return entries[-1] if isinstance(entries, list) and entries else {}


def decisions_line(dec: dict[str, Any] | None) -> str | None:
    """One console line: macro-F1 of one decision per whole test segment, per head."""
    if not dec or "skipped" in dec:
        return None
    parts = []
    for head in dec:
        e = whole_decision(dec, head)
        if e.get("macro_f1") is not None:
            secs = f", ~{e['seconds']:.1f} s each" if e["seconds"] else ""
            parts.append(f"{head} macro-F1 {e['macro_f1']:.4f} ({e['decisions']} segments"
                         f"{secs})")
    return ("one decision per test segment (mean window probability): " + "; ".join(parts)
            if parts else None)


def plot_window_decisions(dec: dict[str, Any], path: Path, title: str) -> Path | None:
    """PNG of macro-F1 against the seconds one decision covers; None, and no file, when
    skipped or when no head has two spans to draw a curve through."""
    curves = {}
    for head, entries in dec.items():
        if not isinstance(entries, list):
            continue
        pts = [(e["seconds"], e["macro_f1"], 0.0) for e in entries
               if e["macro_f1"] is not None and e["seconds"] is not None]
        if len({x for x, _, _ in pts}) > 1:
            curves[head] = tuple(zip(*pts, strict=True))
    if not curves:
        return None
    return plot_metric_curves(path, curves, "seconds one decision covers "
                                "(last point: whole segment, mean length)", title)


