"""Pretrained models shipped inside the package (``harlab zoo``, ``predict --pretrained``).

Every model is a folder ``harlab/deploy/pretrained/<name>/`` holding ``card.json`` (its
model card, written by ``harlab zoo build``), ``model.onnx`` (fp32) and
``model.int8.onnx`` (static int8); the ONNX files carry harlab's export metadata (channels,
rate, window, normalisation, classes), so the light predictor runs them. A file whose
sha256 differs from the card's is refused before it is loaded.

Sensor models take a bring-your-own recording file (CSV/Parquet, one column per channel
of the card). Its units are the card's unless ``--units`` says otherwise
(``acc=m/s^2,gyro=deg/s``: a key names a channel or the prefix before ``_`` of several);
accelerations convert between g and m/s² (g = 9.80665 m/s²), angular rates between rad/s
and deg/s, nothing else. A rate other than the card's is resampled only on request. Radar
models take one ``.npy`` stack of frames as ``harlab simulate radar`` writes them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from harlab.deploy.predictor import (
    OnnxPredictor,
    PredictorError,
    check_hop,
    finite_outputs,
    finite_rows,
    head_columns,
    top_labels,
)
from harlab.errors import ConfigError, DataError
from harlab.radar.dataset import META, frame_dynamic_range, unit_dynamic_range

ZOO_DIR = Path(__file__).resolve().parent / "pretrained"
CARD_FORMAT = "harlab-zoo-card/1"
STANDARD_GRAVITY = 9.80665  # m/s² per g
# every spelling harlab accepts -> (quantity, canonical unit)
UNIT_ALIASES: dict[str, tuple[str, str]] = {
    "g": ("acceleration", "g"),
    "m/s^2": ("acceleration", "m/s^2"), "m/s2": ("acceleration", "m/s^2"),
    "m/s²": ("acceleration", "m/s^2"), "ms-2": ("acceleration", "m/s^2"),
    "rad/s": ("angular rate", "rad/s"),
    "deg/s": ("angular rate", "deg/s"), "dps": ("angular rate", "deg/s"),
    "°/s": ("angular rate", "deg/s"),
}
# factor that turns a value in the key's unit into the canonical base unit of its quantity
_TO_BASE = {"g": STANDARD_GRAVITY, "m/s^2": 1.0, "rad/s": 1.0, "deg/s": math.pi / 180.0}
CARD_KEYS = ("format", "name", "title", "task", "model", "dataset", "recipe", "score",
             "input", "classes", "files", "verification", "harlab")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def zoo_names(root: Path = ZOO_DIR) -> list[str]:
    """Names of the shipped models (folders with a card), sorted."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "card.json").is_file())


def card_problems(card: Any) -> list[str]:
    """What is wrong with a model card (empty if nothing)."""
    if not isinstance(card, dict):
        return ["card is not a JSON object"]
    probs = [f"lacks {k}" for k in CARD_KEYS if k not in card]
    if probs:
        return probs
    if card["format"] != CARD_FORMAT:
        probs.append(f"format {card['format']!r} is not {CARD_FORMAT}")
    for kind in ("fp32", "int8"):
        f = card["files"].get(kind) if isinstance(card["files"], dict) else None
        if not isinstance(f, dict) or not {"path", "sha256", "bytes"} <= set(f):
            probs.append(f"files.{kind} must hold path, sha256 and bytes")
    score = card["score"]
    if not isinstance(score, dict) or not all(
            isinstance(score.get(k), float) and math.isfinite(score[k]) for k in ("mean", "std")):
        probs.append("score must hold a finite mean and std")
    inp = card["input"]
    if not isinstance(inp, dict) or inp.get("kind") not in ("sensor", "radar_frames"):
        probs.append("input.kind must be sensor or radar_frames")
    return probs


def load_card(name: str, root: Path = ZOO_DIR) -> dict[str, Any]:
    """The card of a shipped model; an unknown name or a bad card is a one-line error."""
    names = zoo_names(root)
    if name not in names:
        raise ConfigError(f"no pretrained model {name!r}; shipped: {', '.join(names) or 'none'}"
                          " (harlab zoo list)")
    path = root / name / "card.json"
    try:
        card = json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None
    problems = card_problems(card)
    if problems:
        raise DataError(f"{path}: bad model card: {'; '.join(problems)}")
    return card


def model_file(card: dict[str, Any], int8: bool = False, root: Path = ZOO_DIR) -> Path:
    """The card's ONNX file, after checking its sha256 against the card."""
    entry = card["files"]["int8" if int8 else "fp32"]
    path = root / card["name"] / entry["path"]
    if not path.is_file():
        raise DataError(f"{path}: model file missing from the installed package")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise DataError(f"{path}: sha256 {digest[:12]}... differs from the card's "
                        f"{entry['sha256'][:12]}...; the file is damaged or was replaced")
    return path


def canonical_unit(unit: str, where: str) -> tuple[str, str]:
    """(quantity, canonical name) of a unit spelling; unknown units are a ConfigError."""
    key = str(unit).strip().lower().replace(" ", "")
    if key not in UNIT_ALIASES:
        raise ConfigError(f"{where}: unknown unit {unit!r}; known: g, m/s^2, rad/s, deg/s")
    return UNIT_ALIASES[key]


def parse_units(spec: str | None, channels: list[str]) -> dict[str, str]:
    """``--units acc=g,gyro=deg/s`` -> the canonical unit of every channel it names (a key
    is a channel name or the prefix before ``_`` of several). Empty when ``spec`` is None."""
    out: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        key, sep, unit = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--units: {part.strip()!r} is not CHANNEL=UNIT (e.g. acc=g)")
        hit = [c for c in channels if c == key or c.startswith(key + "_")]
        if not hit:
            raise ConfigError(f"--units: {key!r} names none of the model's channels "
                              f"({', '.join(channels)})")
        canon = canonical_unit(unit, f"--units {key}")[1]
        out.update(dict.fromkeys(hit, canon))
    return out


def unit_factors(file_units: dict[str, str], channels: list[str], model_units: list[str]
                 ) -> np.ndarray:
    """Per model channel: the factor from the file's unit to the model's (1 where the file's
    unit is not given); a unit of another quantity is refused naming the channel."""
    factors = np.ones(len(channels), np.float64)
    for i, (c, mu) in enumerate(zip(channels, model_units, strict=True)):
        if c not in file_units:
            continue
        fq, fu = canonical_unit(file_units[c], f"--units {c}")
        mq, mc = canonical_unit(mu, f"model channel {c}")
        if fq != mq:
            raise ConfigError(f"--units {c}={fu}: the model's {c} is an {mq} in {mc}; "
                              f"{fu} cannot be converted to it")
        factors[i] = _TO_BASE[fu] / _TO_BASE[mc]
    return factors


def predict_pretrained(
    name: str, input_path: Path, units: str | None = None, rate: float | None = None,
    resample: bool = False, step: int | None = None, smooth: int | None = None,
    int8: bool = False, root: Path = ZOO_DIR,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``harlab predict --pretrained NAME FILE``: (rows, info) as ``harlab predict``."""
    card = load_card(name, root)
    model = OnnxPredictor(model_file(card, int8, root))
    if card["input"]["kind"] == "radar_frames":
        if units or rate is not None or resample or step is not None or smooth:
            raise ConfigError(f"{name} takes radar frames, one window each: --units, --rate, "
                              "--resample, --step and --smooth do not apply")
        return predict_frames(model, Path(input_path))
    return _predict_sensor(model, Path(input_path), units, rate, resample, step, smooth)


def _predict_sensor(
    model: OnnxPredictor, path: Path, units: str | None,
    rate: float | None, resample: bool, step: int | None, smooth: int | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Read, convert units, resample if asked, window and predict a recording file."""
    from harlab.data.sources.custom import recordings_and_drops

    channels = list(model.channels)
    given = parse_units(units, channels)
    factors = unit_factors(given, channels, list(model.units))
    recs, file_drops = recordings_and_drops(path, channels=channels, rate=rate)
    if not recs:
        raise DataError(f"{path}: no usable samples")
    try:
        hop = check_hop(step, model.window_step, model.rate)
    except PredictorError as exc:
        raise ConfigError(str(exc)) from None
    rows: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter(file_drops)
    for rec in recs:
        if abs(rec.rate - model.rate) > 0.01 * model.rate:
            if not resample:
                raise DataError(f"{path}: sampling rate {rec.rate:g} Hz differs from the "
                                f"model's {model.rate:g} Hz; pass --resample to resample it")
            from harlab.data.windows import resample as resample_rec  # scipy: only here

            rec = resample_rec(rec, model.rate)
        data = np.asarray(rec.data, np.float64) * factors[
            [channels.index(c) for c in rec.channels]]
        try:
            res = model.predict_recording(data, rec.rate, list(rec.channels), hop=hop)
        except PredictorError as exc:
            raise DataError(f"{path}: {exc}") from None
        dropped.update(res.dropped)
        rows += [{"subject": rec.subject, "session": rec.session, **r}
                 for r in res.rows(smooth)]
    if not rows:
        counts = ", ".join(f"{k}={v}" for k, v in dropped.items() if v)
        raise DataError(f"{path}: no usable window: every window has missing, infinite or "
                        f"overflowing values ({counts})")
    info = {"windows": len(rows), "dropped": {k: v for k, v in dropped.items() if v},
            "channels": channels, "heads": list(model.heads), "rate": model.rate,
            "converted": {c: float(f) for c, f in zip(channels, factors, strict=True)
                          if f != 1.0},
            "assumed_units": ", ".join(f"{c} {u}" for c, u in zip(channels, model.units,
                                                                  strict=True)
                                       if c not in given)}
    return rows, info


def load_frames(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A ``.npy`` stack of radar frames (frames, Doppler bins, time) or one frame, as
    ``harlab simulate radar`` writes them, returned as windows (frames, time, bins)."""
    if path.suffix.lower() != ".npy":
        raise DataError(f"{path}: radar models take one .npy stack of frames "
                        "(frames x Doppler bins x time), as harlab simulate radar writes")
    try:
        stack = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy array: {exc}") from None
    stack = stack[None] if stack.ndim == 2 else stack
    t, bins = shape
    if stack.ndim != 3 or stack.shape[1:] != (bins, t):
        raise DataError(f"{path}: frames of shape {tuple(stack.shape)}; the model needs "
                        f"(frames, {bins} Doppler bins, {t} time columns)")
    if not np.issubdtype(stack.dtype, np.number):
        raise DataError(f"{path}: frames of dtype {stack.dtype} are not numbers")
    finite = stack[np.isfinite(stack)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise DataError(f"{path}: values from {finite.min():g} to {finite.max():g}; the model "
                        "takes dB-normalised frames in [0, 1] (not level frames in dB)")
    return np.ascontiguousarray(stack.transpose(0, 2, 1), np.float32)


def check_frame_range(path: Path, units: list[str]) -> None:
    """DataError when the frame folder holding ``path`` (its ``dataset.json``) says its
    frames span another dB range than the model's unit (``norm_db60``: 60 dB) names."""
    want = unit_dynamic_range(units[0]) if units else None
    have = frame_dynamic_range(path.parent) if (path.parent / META).is_file() else None
    if want is not None and have is not None and abs(have - want) > 1e-6:
        raise DataError(f"{path}: its folder's frames span {have:g} dB ({path.parent / META}); "
                        f"the model was trained on frames spanning {want:g} dB: make the frames "
                        f"again with dynamic_range_db: {want:g}")


def predict_frames(model: OnnxPredictor, path: Path
                   ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per radar frame of a ``.npy`` stack (non-finite frames dropped, counted)."""
    check_frame_range(path, list(model.units))
    x = load_frames(path, (model.window_length, len(model.channels)))
    keep = finite_rows(x)
    idx = np.flatnonzero(keep)
    probs = model.predict_windows(x[keep])
    ok = finite_outputs(probs)
    dropped = {"frames_not_finite": int((~keep).sum()),
               "frames_output_not_finite": int((~ok).sum())}
    if not ok.any():
        raise DataError(f"{path}: no usable frame ({dropped})")
    labels, prob = top_labels({h: p[ok] for h, p in probs.items()}, model.classes)
    cols = {"frame": idx[ok].tolist(), **head_columns(labels, prob)}
    rows = [dict(zip(cols, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]
    info = {"windows": len(rows), "dropped": {k: v for k, v in dropped.items() if v},
            "channels": list(model.channels), "heads": list(model.heads)}
    return rows, info


__all__ = ["CARD_FORMAT", "STANDARD_GRAVITY", "ZOO_DIR", "card_problems", "check_frame_range",
           "load_card", "model_file", "parse_units", "predict_pretrained", "sha256_file",
           "unit_factors", "zoo_names"]
