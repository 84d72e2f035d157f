"""Run an exported harlab ONNX model with numpy + ONNX Runtime (no torch, no pandas).

The metadata written by ``harlab export`` (a JSON file next to the ``.onnx`` file, also
embedded in the ONNX ``metadata_props``) fixes the preprocessing: channel order, sampling
rate, window length and hop, z-score statistics and the class names of every output head;
it is checked on loading (:func:`metadata_problems`, the check ``harlab export`` makes
before writing it). :meth:`OnnxPredictor.predict_recording` windows a recording exactly
like ``harlab predict`` (windows start at 0, every ``hop`` samples, never past the end) and
normalises with the stored statistics in float32. A window is dropped and counted, never
predicted, when it contains a NaN or infinite sample (``windows_nan``, as in training), a
value that overflows float32 once normalised (``windows_not_finite``), or when the
model's output for it is not finite (``windows_output_not_finite``): no label ever comes
with a NaN probability.

This module may import only the standard library, numpy and onnxruntime.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

METADATA_KEY = "harlab"
METADATA_FORMAT = "harlab-onnx/1"
_REQUIRED = ("channels", "rate", "window_length", "window_step", "normalization", "heads")
MAX_HOP_SECONDS = 86_400.0  # a hop of more than one day of samples is refused
MAX_RATE = 1e6  # Hz; more is not a sampling rate of a wearable or radar stream
MAX_SMOOTH = 1_000_000  # windows in one smoothed decision (int64-safe index arithmetic)


class PredictorError(ValueError):
    """Bad model/metadata files or input data for the light predictor (one clear message)."""


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, stable for large logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z, dtype=np.float32)
    return e / e.sum(axis=1, keepdims=True)


def top_labels(
    probs: dict[str, np.ndarray], classes: dict[str, list[str]]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per head: the predicted class names and their probabilities."""
    labels, prob = {}, {}
    for h, p in probs.items():
        k = p.argmax(axis=1)
        labels[h] = np.asarray(classes[h], dtype=object)[k]
        prob[h] = p[np.arange(len(k)), k]
    return labels, prob


def head_columns(
    labels: dict[str, np.ndarray], prob: dict[str, np.ndarray]
) -> dict[str, list[Any]]:
    """Output columns of harlab's predictions: ``label``/``probability`` for the activity
    head, ``<head>``/``<head>_probability`` for any other head (probabilities to 4 places)."""
    cols: dict[str, list[Any]] = {}
    for head, names in labels.items():
        key = "label" if head == "activity" else head
        pkey = "probability" if head == "activity" else f"{head}_probability"
        cols[key] = names.tolist()
        cols[pkey] = np.round(prob[head].astype(np.float64), 4).tolist()
    return cols


def check_smooth(k: int | None) -> int | None:
    """``--smooth``: None (off) or a number of windows from 1 to MAX_SMOOTH."""
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_SMOOTH:
        raise PredictorError(f"--smooth must be a number of windows >= 1 and <= {MAX_SMOOTH}, "
                             f"got {k!r}")
    return int(k)


def check_hop(hop: int | None, default: int, rate: float) -> int:
    """The hop (``--step``/``--hop``) in samples: ``default`` when None, else a whole number
    from 1 to one day of samples at ``rate`` (no silent default for 0, no int64 overflow)."""
    if hop is None:
        return int(default)
    limit = max(1, int(MAX_HOP_SECONDS * float(rate)))
    if isinstance(hop, bool) or not isinstance(hop, int | np.integer) or not 1 <= hop <= limit:
        raise PredictorError(f"--step/--hop must be a whole number of samples from 1 to {limit} "
                             f"(one day at {float(rate):g} Hz), got {hop!r}")
    return int(hop)


def normalize(x: np.ndarray, mean: np.ndarray, std: np.ndarray,
              bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``(x - mean) / std`` in float32, clipped to ``bounds`` (lo, hi) where given;
    overflow gives inf (found by :func:`finite_rows`; NaN stays NaN under the clip)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        z = (np.asarray(x, np.float32) - mean) / std
    return z if bounds is None else np.where(np.isfinite(z), np.clip(z, *bounds), z)


def finite_rows(x: np.ndarray) -> np.ndarray:
    """Per leading index: are all of its values finite?"""
    return np.isfinite(x).all(axis=tuple(range(1, np.ndim(x))))


def finite_outputs(probs: dict[str, np.ndarray]) -> np.ndarray:
    """Per window: are the probabilities of every head finite?"""
    rows = [finite_rows(p) for p in probs.values()]
    return np.logical_and.reduce(rows) if rows else np.zeros(0, bool)


def _number(value: Any, low: float, high: float) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value) and low <= value <= high)


def _norm_problem(norm: Any, c: int) -> str | None:
    if not isinstance(norm, dict) or not {"mean", "std"} <= set(norm):
        return "normalization must hold mean and std lists"
    if ("lo" in norm) != ("hi" in norm):
        return "normalization must hold both lo and hi bounds or neither"
    for key in ("mean", "std", "lo", "hi"):
        if key not in norm:
            continue
        vals = norm[key]
        if not isinstance(vals, list) or len(vals) != c:
            n = len(vals) if isinstance(vals, list) else type(vals).__name__
            return f"normalization {key} has {n} values for {c} channels"
        if not all(_number(v, -3e38, 3e38) for v in vals):
            return f"normalization {key} has non-finite or non-numeric values"
    if not all(v > 0 for v in norm["std"]):
        return "normalization std values must be > 0"
    return None


def metadata_problems(
    meta: dict[str, Any], input_shape: tuple[int, int] | None = None
) -> list[str]:
    """What is wrong with export metadata (empty if nothing): channels, rate, window length
    (= the model's input length ``input_shape[0]`` when given) and step, normalisation with
    one finite mean and positive std per channel, heads with class names."""
    chans = meta.get("channels")
    if not isinstance(chans, list) or not chans or len(set(map(str, chans))) != len(chans):
        return [f"channels must be a non-empty list of distinct names, got {chans!r}"]
    c, probs = len(chans), []
    rate, length, step = meta.get("rate"), meta.get("window_length"), meta.get("window_step")
    if not _number(rate, 0, MAX_RATE) or rate == 0:
        probs.append(f"rate must be a finite number of Hz in (0, {MAX_RATE:g}], got {rate!r}")
    if input_shape is not None and (length, c) != tuple(input_shape):
        probs.append(f"window of {length!r} samples x {c} channels differs from the model's "
                     f"input ({input_shape[0]} samples x {input_shape[1]} channels)")
    elif not isinstance(length, int) or not _number(length, 1, 10**7):
        probs.append(f"window_length must be a whole number of samples >= 1, got {length!r}")
    if not isinstance(step, int) or not _number(step, 1, 10**7):
        probs.append(f"window_step must be a whole number of samples >= 1, got {step!r}")
    norm = _norm_problem(meta.get("normalization"), c)
    if norm:
        probs.append(norm)
    heads = meta.get("heads")
    if (not isinstance(heads, list) or not heads
            or not all(isinstance(h, dict) and h.get("name") and h.get("classes") for h in heads)):
        probs.append("heads must be a non-empty list of {name, classes}")
    return probs


def smooth_probabilities(
    p: np.ndarray, k: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Causal moving mean: each row averaged with up to ``k - 1`` rows before it.

    ``groups`` (one id per row, rows of a group contiguous) restarts the mean at each new
    group (a new recording, a stream reset). Returns the means and how many rows each
    averages. One cumulative sum, no loop over rows.
    """
    n = len(p)
    idx = np.arange(n)
    if groups is None or n == 0:
        first = np.zeros(n, np.int64)
    else:
        g = np.asarray(groups)
        new = np.r_[True, g[1:] != g[:-1]]
        first = np.maximum.accumulate(np.where(new, idx, 0))
    lo = np.maximum(idx - int(k) + 1, first)
    cs = np.concatenate([np.zeros((1, p.shape[1])), np.cumsum(p, axis=0, dtype=np.float64)])
    count = idx + 1 - lo
    return (cs[idx + 1] - cs[lo]) / np.maximum(count, 1)[:, None], count


def smoothed_columns(
    probs: dict[str, np.ndarray], classes: dict[str, list[str]], k: int,
    groups: np.ndarray | None = None,
) -> dict[str, list[Any]]:
    """The decision over the last ``k`` windows of every head (:func:`smooth_probabilities`,
    restarting at each new ``groups`` id): :func:`head_columns` keys suffixed
    ``_smoothed``, plus ``smoothed_windows`` (how many windows each row averages)."""
    if set(classes) < set(probs):
        raise PredictorError("smoothing needs the class names of every head")
    means, count = {}, np.zeros(0, np.int64)
    for h, p in probs.items():
        means[h], count = smooth_probabilities(p, k, groups)
    labels, prob = top_labels(means, classes)
    cols = {f"{key}_smoothed": v for key, v in head_columns(labels, prob).items()}
    cols["smoothed_windows"] = count.astype(int).tolist()
    return cols


@dataclass
class RecordingPredictions:
    """Per-window predictions of one recording; ``labels``/``probability`` per head."""

    start_s: np.ndarray
    end_s: np.ndarray
    labels: dict[str, np.ndarray]
    probability: dict[str, np.ndarray]
    probabilities: dict[str, np.ndarray]
    dropped: dict[str, int] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)  # class names per head
    # runs of windows one hop apart (windows dropped for NaN split them); smoothing restarts
    segment: np.ndarray | None = None

    def rows(self, smooth: int | None = None) -> list[dict[str, Any]]:
        """One dict per window: start_s, end_s, label, probability (+ <head>, its probability);
        with ``smooth`` = k also the decision over the last k windows (``*_smoothed``)."""
        cols: dict[str, list[Any]] = {
            "start_s": np.round(self.start_s, 3).tolist(),
            "end_s": np.round(self.end_s, 3).tolist(),
            **head_columns(self.labels, self.probability),
        }
        k = check_smooth(smooth)
        if k and len(self.start_s):
            cols |= smoothed_columns(self.probabilities, self.classes, k, self.segment)
        keys = list(cols)
        return [dict(zip(keys, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


def _read_metadata(model_path: Path, metadata_path: Path | None, session: Any) -> dict[str, Any]:
    if metadata_path is not None:
        try:
            meta = json.loads(Path(metadata_path).read_text())
        except FileNotFoundError:
            raise PredictorError(f"{metadata_path}: metadata file not found") from None
        except (OSError, ValueError) as exc:
            raise PredictorError(f"{metadata_path}: not a readable JSON file: {exc}") from None
        where = str(metadata_path)
    else:
        raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if raw is None:
            raise PredictorError(
                f"{model_path}: no harlab metadata inside the ONNX file; pass the JSON "
                "written next to it by harlab export"
            )
        where = str(model_path)
        try:
            meta = json.loads(raw)
        except ValueError as exc:
            raise PredictorError(f"{where}: harlab metadata is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != METADATA_FORMAT:
        raise PredictorError(f"{where}: not harlab export metadata (format {METADATA_FORMAT})")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise PredictorError(f"{where}: metadata lacks {', '.join(missing)}")
    return meta


class OnnxPredictor:
    """An exported harlab model plus its preprocessing, for windows or whole recordings."""

    def __init__(
        self, model_path: str | Path, metadata_path: str | Path | None = None,
        threads: int | None = None, batch_size: int = 256,
    ) -> None:
        import onnxruntime as ort

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise PredictorError(f"{self.model_path}: ONNX model not found")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(
                str(self.model_path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise PredictorError(f"{self.model_path}: not a loadable ONNX model: {first[:200]}"
                                 ) from None
        meta = _read_metadata(self.model_path, Path(metadata_path) if metadata_path else None,
                              self.session)
        shape = self.session.get_inputs()[0].shape  # ["batch", T, C] as exported
        static = tuple(shape[1:]) if len(shape) == 3 and all(
            isinstance(v, int) for v in shape[1:]) else None
        problems = metadata_problems(meta, static)
        if problems:
            raise PredictorError(f"{metadata_path or self.model_path}: bad harlab metadata: "
                                 + "; ".join(problems))
        self.metadata = meta
        try:
            self.channels: list[str] = [str(c) for c in meta["channels"]]
            self.units: list[str] = [str(u) for u in meta.get("units", [])]
            self.rate = float(meta["rate"])
            self.window_length = int(meta["window_length"])
            self.window_step = int(meta["window_step"])
            self.mean = np.asarray(meta["normalization"]["mean"], np.float32)
            self.std = np.asarray(meta["normalization"]["std"], np.float32)
            norm = meta["normalization"]
            self.bounds = ((np.asarray(norm["lo"], np.float32), np.asarray(norm["hi"], np.float32))
                           if "lo" in norm else None)
            self.heads: list[str] = [str(h["name"]) for h in meta["heads"]]
            self.classes: dict[str, list[str]] = {
                str(h["name"]): [str(c) for c in h["classes"]] for h in meta["heads"]
            }
            self._outputs = [str(h.get("output", h["name"])) for h in meta["heads"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PredictorError(f"{metadata_path or self.model_path}: malformed harlab "
                                 f"metadata ({type(exc).__name__}: {exc})") from None
        self._input = self.session.get_inputs()[0].name
        self.batch_size = int(batch_size)
        c = len(self.channels)
        if self.mean.shape != (c,) or self.std.shape != (c,):
            raise PredictorError(f"{self.model_path}: normalisation does not match {c} channels")
        names = {o.name for o in self.session.get_outputs()}
        if not set(self._outputs) <= names:
            raise PredictorError(
                f"{self.model_path}: metadata heads {self._outputs} are not the model's "
                f"outputs {sorted(names)}"
            )

    def predict_windows(self, x: np.ndarray, normalized: bool = False) -> dict[str, np.ndarray]:
        """Class probabilities per head for raw windows ``x`` (N, T, C) in the model's units."""
        x = np.asarray(x, dtype=np.float32)
        shape = (self.window_length, len(self.channels))
        if x.ndim != 3 or x.shape[1:] != shape:
            raise PredictorError(f"windows must have shape (N, {shape[0]}, {shape[1]}), "
                                 f"got {x.shape}")
        if not normalized:
            x = self.normalize(x)
        x = np.ascontiguousarray(x, dtype=np.float32)
        parts: list[list[np.ndarray]] = [[] for _ in self._outputs]
        for i in range(0, len(x), self.batch_size):
            outs = self.session.run(self._outputs, {self._input: x[i : i + self.batch_size]})
            for p, o in zip(parts, outs, strict=True):
                p.append(o)
        return {
            h: softmax(np.concatenate(p)) if p
            else np.zeros((0, len(self.classes[h])), np.float32)
            for h, p in zip(self.heads, parts, strict=True)
        }

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Raw samples (..., C) z-scored with the stored statistics, in float32."""
        return normalize(x, self.mean, self.std, self.bounds)

    def select_channels(self, data: np.ndarray, channels: list[str]) -> np.ndarray:
        """Columns of ``data`` (samples, len(channels)) in the model's channel order."""
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[1] != len(channels):
            raise PredictorError(
                f"data must be (samples, {len(channels)}) for channels {channels}, got "
                f"{data.shape}"
            )
        missing = [c for c in self.channels if c not in channels]
        if missing:
            raise PredictorError(f"data lacks channel(s) {', '.join(missing)}; the model "
                                 f"needs {', '.join(self.channels)}")
        return data[:, [channels.index(c) for c in self.channels]].astype(np.float32)

    def predict_recording(
        self, data: np.ndarray, rate: float, channels: list[str], hop: int | None = None,
    ) -> RecordingPredictions:
        """Window one continuous recording (samples, channels) and predict every window
        whose normalised values and outputs are finite (the others are counted)."""
        if abs(float(rate) - self.rate) > 0.01 * self.rate:
            raise PredictorError(
                f"sampling rate {rate:g} Hz differs from the model's {self.rate:g} Hz; "
                "resample first (harlab predict --resample does)"
            )
        x = self.select_channels(data, list(channels))
        hop = check_hop(hop, self.window_step, self.rate)
        length = self.window_length
        if len(x) < length:
            raise PredictorError(f"recording of {len(x)} samples is shorter than one window "
                                 f"({length} samples at {self.rate:g} Hz)")
        z = self.normalize(x)
        starts = np.arange((len(x) - length) // hop + 1, dtype=np.int64) * hop

        def inside(bad: np.ndarray) -> np.ndarray:  # windows with a flagged sample
            cum = np.concatenate([[0], np.cumsum(bad)])
            return (cum[starts + length] - cum[starts]) > 0

        nan, not_finite = inside(~finite_rows(x)), inside(~finite_rows(z))
        dropped = {"windows_nan": int(nan.sum()),
                   "windows_not_finite": int((not_finite & ~nan).sum())}
        starts = starts[~not_finite]
        windows = np.lib.stride_tricks.sliding_window_view(z, length, axis=0)[starts]
        probs = self.predict_windows(windows.transpose(0, 2, 1), normalized=True)
        ok = finite_outputs(probs)
        dropped["windows_output_not_finite"] = int((~ok).sum())
        starts, probs = starts[ok], {h: p[ok] for h, p in probs.items()}
        labels, prob = top_labels(probs, self.classes)
        start_s = starts / float(rate)
        return RecordingPredictions(
            start_s=start_s, end_s=start_s + length / float(rate), labels=labels,
            probability=prob, probabilities=probs,
            dropped={k: v for k, v in dropped.items() if v}, classes=dict(self.classes),
            segment=np.cumsum(np.r_[0, np.diff(starts) != hop]),
        )


__all__ = ["OnnxPredictor", "PredictorError", "RecordingPredictions", "check_hop",
           "check_smooth", "finite_outputs", "finite_rows", "head_columns",
           "metadata_problems", "normalize", "smooth_probabilities", "smoothed_columns",
           "softmax", "top_labels"]
