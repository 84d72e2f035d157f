"""Export a trained run to ONNX, with its preprocessing and a parity check.

The fast DanHAR layers (:mod:`harlab.models.danhar`, :mod:`harlab.models.blocks`) are
custom ``torch.autograd.Function`` GEMMs that the TorchScript ONNX exporter cannot trace.
For export, a deep copy of the model has those modules' classes swapped for subclasses
whose ``forward`` computes the same function with plain ops (``conv1d`` over the same
channels-last rows, ``mean``/``amax`` pooling); parameters are shared, nothing is
re-trained. The exported graph is then run in ONNX Runtime and compared with the trained
model's own (fast-path) outputs: max abs difference <= 1e-4 and identical argmax, or the
export fails. The TorchScript exporter (``dynamo=False``) is used: on this code base it is
about 10-25x faster than the dynamo exporter and needs no ``onnxscript``.

Everything a deployment needs to reproduce ``harlab predict`` -- channel order and units,
sampling rate, window length and hop, normalisation statistics, class names per output
head, model name/options, harlab/opset versions -- goes into a JSON file next to the
``.onnx`` file and, identically, into the ONNX ``metadata_props`` under key ``harlab``.
It is checked before anything is written (window length and channel count of the model's
input, per-channel finite normalisation, finite rate): a checkpoint whose metadata does
not fit its model is refused, never exported with metadata that would mislead.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import harlab
from harlab.deploy.predictor import metadata_problems
from harlab.errors import CheckpointError, ConfigError, HarlabError
from harlab.fileio import write_bytes_atomic
from harlab.models.blocks import ChannelAttention, TemporalAttention
from harlab.models.danhar import DanHARBlock, TimeConv

FORMATS = ("onnx",)
OPSET = 17
METADATA_KEY = "harlab"
METADATA_FORMAT = "harlab-onnx/1"
INPUT_NAME = "windows"
PARITY_ATOL = 1e-4


class ExportError(HarlabError):
    """A model could not be exported, or the exported model does not match it."""


# --- export-friendly forwards: same parameters, plain torch ops --------------------------


class _PlainTimeConv(TimeConv):
    """TimeConv as ``conv1d`` over rows ``(B, T, Cin)``; weight (k, Cin, Cout) re-laid out."""

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.permute(2, 1, 0)  # (Cout, Cin, k)
        y = F.conv1d(x.transpose(1, 2), w, self.bias, self.stride, self.padding)
        return y.transpose(1, 2)


def _plain_mean_max(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    return x.mean(dim), x.amax(dim)


class _PlainChannelAttention(ChannelAttention):
    pool = staticmethod(_plain_mean_max)


class _PlainTemporalAttention(TemporalAttention):
    pool = staticmethod(_plain_mean_max)


class _PlainDanHARBlock(DanHARBlock):
    """DanHARBlock.forward without the shared-im2col GEMM and in-place updates."""

    def forward(self, x: Tensor, n: int, maps: list[dict[str, Tensor]] | None = None) -> Tensor:
        y = self.conv1(x)
        t, c = y.shape[1], y.shape[2]
        r = torch.relu(self.bn1(y.reshape(-1, c))).reshape(-1, t, c)
        z = self.attend(self.bn2(self.conv2(r).reshape(-1, c)), n, t, maps).reshape(-1, c)
        if self.bn_sc is not None:
            z = z + self.bn_sc(self.shortcut(x).reshape(-1, c))
        return torch.relu(z).reshape(-1, t, c)


_PLAIN: dict[type, type] = {
    TimeConv: _PlainTimeConv,
    DanHARBlock: _PlainDanHARBlock,
    ChannelAttention: _PlainChannelAttention,
    TemporalAttention: _PlainTemporalAttention,
}


def export_friendly(module: nn.Module) -> nn.Module:
    """An eval-mode deep copy of ``module`` with harlab's custom-autograd layers swapped.

    Only exact classes are swapped (a subclass someone adds keeps its own forward and is
    exported as it is, or fails with a clear error).
    """
    plain = copy.deepcopy(module).eval()
    for m in plain.modules():
        swap = _PLAIN.get(type(m))
        if swap is not None:
            m.__class__ = swap
    return plain


class _Outputs(nn.Module):
    """Turn a model's output (tensor, dict of heads or tuple) into a tuple of logits."""

    def __init__(self, module: nn.Module, keys: list[str]) -> None:
        super().__init__()
        self.module = module
        self.keys = keys

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        return outputs_tuple(self.module(x), self.keys)


def outputs_tuple(out: Any, keys: list[str]) -> tuple[Tensor, ...]:
    """A model output (logits, or a dict of heads taken in ``keys`` order) as a tuple."""
    if isinstance(out, dict):
        return tuple(out[k] for k in keys)
    return (out,)


def describe_heads(
    module: nn.Module, hp: dict[str, Any], sample: Tensor
) -> dict[str, list[str]]:
    """Classification heads of ``module`` (output order) and their class names.

    Follows the checkpoint contract of :class:`harlab.tasks.classifier.WindowClassifier`:
    a single-task model returns logits of its ``class_names``; a multitask model returns a
    dict with the heads of ``hp["task"]["heads"]`` (identity names in
    ``task["identity_names"]``) and possibly ``w``, the FLWL loss weights, which is not a
    head. Heads without stored names get index strings.
    """
    with torch.inference_mode():
        out = module(sample)
    task = hp.get("task") if isinstance(hp.get("task"), dict) else None
    if isinstance(out, dict):
        heads = [str(h) for h in task["heads"]] if task else [k for k in out if k != "w"]
        missing = [h for h in heads if h not in out]
        if missing:
            raise ExportError(f"model output has no head(s) {missing}; it has {list(out)}")
        outs = {h: out[h] for h in heads}
    elif isinstance(out, Tensor):
        heads = [str(task["heads"][0])] if task and len(task["heads"]) == 1 else ["activity"]
        outs = {heads[0]: out}
    else:
        raise ExportError(f"model returns {type(out).__name__}; expected logits or a dict "
                          "of logits per head")
    stored = {"activity": hp.get("class_names"), "identity": (task or {}).get("identity_names")}
    result = {}
    for h, o in outs.items():
        k = int(o.shape[1])
        names = stored.get(h)
        if names is not None and len(names) != k:
            raise ExportError(f"head '{h}' has {k} outputs but {len(names)} stored class names")
        result[h] = [str(v) for v in names] if names is not None else [str(i) for i in range(k)]
    return result


# --- generic ONNX export of a module -------------------------------------------------------


def _op_error(exc: Exception, what: str) -> ExportError:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    op = re.search(r"'((?:aten|prim|onnx)::\w+)'", str(exc))
    if op:
        return ExportError(f"{what}: cannot be exported to ONNX: operator '{op.group(1)}' "
                           f"is not supported at opset {OPSET} ({msg[:200]})")
    if "not in the map" in msg:
        msg += (" -- typically a custom torch.autograd.Function without an ONNX symbolic "
                "(harlab swaps its own DanHAR layers; this one is unknown)")
    return ExportError(f"{what}: cannot be exported to ONNX: {type(exc).__name__}: {msg[:300]}")


def onnx_bytes(
    module: nn.Module, input_shape: tuple[int, int], output_names: list[str], what: str
) -> bytes:
    """Serialise ``module`` (windows (N, T, C) -> logits per head) with a dynamic batch axis."""
    t, c = input_shape
    sample = torch.zeros(2, t, c)
    buf = io.BytesIO()
    axes = {INPUT_NAME: {0: "batch"}, **{o: {0: "batch"} for o in output_names}}
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (sample,), buf, dynamo=False, opset_version=OPSET,
                input_names=[INPUT_NAME], output_names=output_names, dynamic_axes=axes,
                do_constant_folding=True,
            )
    except Exception as exc:  # the exporter raises many types; all mean "not exportable"
        raise _op_error(exc, what) from None
    return buf.getvalue()


def ort_session(model: bytes | str | Path) -> Any:
    """A CPU ONNX Runtime session (model bytes or path)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    src = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def check_parity(
    module: nn.Module, onnx_model: bytes, input_shape: tuple[int, int], keys: list[str],
    x: np.ndarray | None = None, seed: int = 0,
) -> dict[str, Any]:
    """Compare ONNX Runtime with ``module`` on windows ``x`` (default: 16 N(0,1) windows).

    Raises ExportError unless every output agrees with identical argmax and to PARITY_ATOL
    times the largest output magnitude (at least 1): float32 rounding grows with the logits,
    and an untrained or radar model fed N(0,1) windows can give logits in the hundreds.
    """
    if x is None:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((16, *input_shape)).astype(np.float32)
    sess = ort_session(onnx_model)
    got = sess.run(None, {INPUT_NAME: x})
    batch1 = sess.run(None, {INPUT_NAME: x[:1]})
    with torch.inference_mode():
        outs = outputs_tuple(module.eval()(torch.from_numpy(x)), keys)
        ref = [r.float().numpy() for r in outs]
    worst, argmax_ok = 0.0, True
    tol = PARITY_ATOL * max([1.0, *(float(np.abs(r).max()) for r in ref if r.size)])
    for g, g1, r in zip(got, batch1, ref, strict=True):
        if g.shape != r.shape:
            raise ExportError(f"ONNX output shape {g.shape} differs from PyTorch {r.shape}")
        worst = max(worst, float(np.abs(g - r).max()), float(np.abs(g1 - r[:1]).max()))
        argmax_ok &= bool((g.argmax(1) == r.argmax(1)).all())
    result = {"windows": int(len(x)), "max_abs_diff": worst, "argmax_equal": argmax_ok,
              "atol": tol}
    if worst > tol or not argmax_ok:
        raise ExportError(
            f"ONNX Runtime output differs from PyTorch (max abs diff {worst:.3g}, argmax "
            f"{'equal' if argmax_ok else 'different'}; tolerance {tol:.3g})"
        )
    return result


def export_module(
    module: nn.Module, input_shape: tuple[int, int], what: str = "model",
    hp: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, list[str]], dict[str, Any]]:
    """Export ``module`` to ONNX bytes with a parity check.

    Returns (bytes, class names per head in output order, parity result). One ONNX output
    per head, named after it, holding logits.
    """
    module = module.eval()
    heads = describe_heads(module, hp or {}, torch.zeros(2, *input_shape))
    wrapped = _Outputs(export_friendly(module), list(heads))
    data = onnx_bytes(wrapped, input_shape, list(heads), what)
    parity = check_parity(module, data, input_shape, list(heads))
    return data, heads, parity


# --- run directories ----------------------------------------------------------------------


def checkpoint_path(run: Path, checkpoint: str) -> Path:
    """The best (best.ckpt, else last.ckpt) or last checkpoint of a run."""
    if checkpoint not in ("best", "last"):
        raise ConfigError(f"checkpoint must be best or last; got {checkpoint!r}")
    from harlab.runs import best_checkpoint

    if checkpoint == "best":
        return best_checkpoint(run)
    path = run / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise CheckpointError(f"{run}: no checkpoints/last.ckpt")
    return path


def _default_out(run: Path, checkpoint: str) -> Path:
    folder = run / "export"
    for i in range(1, 1000):
        path = folder / (f"{checkpoint}.onnx" if i == 1 else f"{checkpoint}-{i}.onnx")
        if not path.exists() and not path.with_suffix(".json").exists():
            return path
    raise ExportError(f"{folder}: too many exports")



def build_metadata(
    module: nn.Module, heads: dict[str, list[str]], parity: dict[str, Any],
    source: dict[str, Any],
) -> dict[str, Any]:
    """The JSON that travels with the ONNX file (plain types only)."""
    hp = dict(module.hparams)
    meta = dict(hp.get("harlab") or {})
    t, c = (int(v) for v in hp["input_shape"])
    head_info = [{"name": h, "output": h, "classes": names, "kind": "logits"}
                 for h, names in heads.items()]
    return {
        "format": METADATA_FORMAT,
        "harlab_version": harlab.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
        "opset": OPSET,
        "input": {"name": INPUT_NAME, "layout": "batch, time, channel", "dtype": "float32",
                  "shape": ["batch", t, c], "normalized": True},
        "heads": head_info,
        "class_names": head_info[0]["classes"],
        "model": {"name": hp.get("model_name"), "options": dict(hp.get("model_options") or {}),
                  "parameters": int(sum(p.numel() for p in module.parameters()))},
        "dataset": meta.get("dataset"),
        "channels": list(meta.get("channels") or []),
        "units": list(meta.get("units") or []),
        "rate": float(meta["rate"]),
        "window_length": int(meta["window_length"]),
        "window_step": int(meta["window_step"]),
        # lo/hi: the bounds the normalised values are clipped to (radar frames scaled by a
        # training-fitted dB ceiling, data.frame_scale: train)
        "normalization": {k: [float(v) for v in meta["normalization"][k]]
                          for k in ("mean", "std", "lo", "hi") if k in meta["normalization"]},
        "parity": parity,
        "source": source,
    }


def checked_metadata(
    module: nn.Module, heads: dict[str, list[str]], parity: dict[str, Any],
    source: dict[str, Any], ckpt: Path,
) -> dict[str, Any]:
    """:func:`build_metadata`, refused (ExportError, one line) unless it describes the
    model: window length and channel count of its input, one finite mean and positive std
    per channel, a finite rate, a step >= 1 (:func:`metadata_problems`)."""
    try:
        meta = build_metadata(module, heads, parity, source)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ExportError(f"{ckpt}: malformed preprocessing metadata in the checkpoint "
                          f"({type(exc).__name__}: {exc})") from None
    shape = tuple(int(v) for v in module.hparams["input_shape"])
    problems = metadata_problems(meta, (shape[0], shape[1]))
    if problems:
        raise ExportError(f"{ckpt}: refusing to export, its preprocessing metadata does not "
                          f"fit the model: {'; '.join(problems)}")
    return meta


def export_run(
    run_dir: str | Path, fmt: str = "onnx", checkpoint: str = "best",
    out: str | Path | None = None, allow_unfinished: bool = False,
) -> tuple[Path, Path, dict[str, Any]]:
    """Export a run's checkpoint; returns (onnx path, metadata JSON path, metadata).

    A run that is not complete is refused unless ``allow_unfinished`` (then warned about
    on the ``harlab`` logger and recorded in the metadata's ``source.unfinished``)."""
    import logging

    import onnx

    from harlab.runs import check_run_dir
    from harlab.tasks.checkpoint import load_run_module

    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; supported: {', '.join(FORMATS)}")
    run = check_run_dir(run_dir)
    ckpt = checkpoint_path(run, checkpoint)
    module, unfinished = load_run_module(run, ckpt, allow_unfinished)
    if unfinished:
        logging.getLogger("harlab").warning(unfinished)
    hp = dict(module.hparams)
    if not isinstance(hp.get("harlab"), dict) or "normalization" not in hp["harlab"]:
        raise CheckpointError(f"{ckpt}: no preprocessing metadata in the checkpoint")
    path = Path(out) if out is not None else _default_out(run, checkpoint)
    if path.suffix != ".onnx":
        raise ConfigError(f"--out must end in .onnx, got {path}")
    json_path = path.with_suffix(".json")
    for p in (path, json_path):
        if p.exists():
            raise ExportError(f"{p} exists; choose another --out (exports are never overwritten)")
    shape = (int(hp["input_shape"][0]), int(hp["input_shape"][1]))
    what = f"{ckpt} (model '{hp.get('model_name')}')"
    data, heads, parity = export_module(module, shape, what, hp)
    source = {"run": str(run.resolve()), "checkpoint": str(ckpt.relative_to(run)),
              "checkpoint_sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
              **({"unfinished": unfinished} if unfinished else {})}
    meta = checked_metadata(module, heads, parity, source, ckpt)
    proto = onnx.load_from_string(data)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    proto.producer_name, proto.producer_version = "harlab", harlab.__version__
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, proto.SerializeToString())
    write_bytes_atomic(json_path, (json.dumps(meta, indent=2) + "\n").encode())
    return path, json_path, meta


QUANTIZATIONS = ("none", "int8")


def quantize_static_qdq(src: Path, dst: Path, calib: np.ndarray, batch: int = 32) -> None:
    """Static int8 in QDQ format: per-channel int8 weights, uint8 activations whose ranges
    are calibrated (min/max) on ``calib`` windows; the fastest option on CPUs without AMX
    (see docs/performance.md), unlike dynamic int8, which is slower than fp32 there."""
    import contextlib

    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([calib[i : i + batch] for i in range(0, len(calib), batch)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            b = next(self.batches, None)
            return None if b is None else {INPUT_NAME: np.ascontiguousarray(b, np.float32)}

    import logging

    pre = dst.with_name(f".{dst.stem}.{os.getpid()}.pre.onnx")
    root = logging.getLogger()  # onnxruntime.quantization warns per BatchNorm via the root logger
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            quantize_static(
                str(pre), str(dst), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
    except Exception as exc:  # onnxruntime raises many types; all mean "cannot quantise"
        raise ExportError(f"{src}: static int8 quantisation failed: {exc}") from None
    finally:
        root.setLevel(level)
        pre.unlink(missing_ok=True)


def quantize_export(
    onnx_path: Path, meta: dict[str, Any], run: Path, calibration_windows: int = 512,
    seed: int = 0,
) -> tuple[Path, Path, dict[str, Any]]:
    """Write ``<name>.int8.onnx`` (+ JSON) next to an fp32 export of ``run``.

    Calibration uses training windows only; the int8 model is compared with the fp32 export
    on the validation windows (never the test part): argmax agreement and accuracy of both
    are stored under ``quantization`` in the metadata so the cost is visible.
    """
    import onnx

    from harlab.config import run_config
    from harlab.data.prepare import prepare

    if calibration_windows < 1:
        raise ConfigError(f"calibration windows must be >= 1, got {calibration_windows}")
    q_path = onnx_path.with_name(onnx_path.stem + ".int8.onnx")
    q_json = q_path.with_suffix(".json")
    for p in (q_path, q_json):
        if p.exists():
            raise ExportError(f"{p} exists; exports are never overwritten")
    data = prepare(run_config(run / "config.yaml").data)
    train = data.x["train"]
    pick = np.sort(np.random.default_rng(seed).choice(
        len(train), min(calibration_windows, len(train)), replace=False))
    tmp = q_path.with_name(f".{q_path.name}.{os.getpid()}.tmp")
    try:
        quantize_static_qdq(onnx_path, tmp, np.asarray(train[pick], np.float32))
        part = "val" if len(data.x["val"]) else "train"
        x, y = np.asarray(data.x[part], np.float32), data.y[part]
        out = meta["heads"][0]["output"]
        preds = {}
        for name, model in (("fp32", onnx_path), ("int8", tmp)):
            sess = ort_session(model)
            preds[name] = np.concatenate([
                sess.run([out], {INPUT_NAME: x[i : i + 256]})[0].argmax(1)
                for i in range(0, len(x), 256)
            ])
        qmeta = dict(meta)
        qmeta["quantization"] = {
            "kind": "static int8 QDQ (per-channel int8 weights, uint8 activations, min/max)",
            "calibration": f"{len(pick)} training windows, seed {seed}",
            "checked_on": f"{len(x)} {part} windows, head {out!r}",
            "agreement_with_fp32": round(float((preds["fp32"] == preds["int8"]).mean()), 4),
            "accuracy_fp32": round(float((preds["fp32"] == y).mean()), 4),
            "accuracy_int8": round(float((preds["int8"] == y).mean()), 4),
            "fp32_model": onnx_path.name,
        }
        proto = onnx.load(str(tmp))
        for entry in proto.metadata_props:
            if entry.key == METADATA_KEY:
                entry.value = json.dumps(qmeta)
                break
        else:
            entry = proto.metadata_props.add()
            entry.key, entry.value = METADATA_KEY, json.dumps(qmeta)
        write_bytes_atomic(q_path, proto.SerializeToString())
    finally:
        tmp.unlink(missing_ok=True)
    write_bytes_atomic(q_json, (json.dumps(qmeta, indent=2) + "\n").encode())
    return q_path, q_json, qmeta


__all__ = [
    "ExportError",
    "check_parity",
    "export_friendly",
    "export_module",
    "export_run",
    "ort_session",
    "quantize_export",
    "quantize_static_qdq",
]
