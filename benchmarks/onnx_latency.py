"""Batch-1 latency and accuracy of exported DanHAR in ONNX Runtime vs PyTorch; prints JSON.

For each window shape (default: the HAPT demo 128x6 and WISDM 200x3, 6 classes, paper
defaults) and each thread count it times one-window inference of

* the plain Conv2d reference model (:mod:`harlab.models.reference`) and the fast harlab
  DanHAR in PyTorch fp32 (and harlab under bf16 autocast),
* the exported ONNX model in ONNX Runtime fp32 at every graph optimisation level
  (``disable`` / ``basic`` / ``extended`` / ``all``),
* its dynamic int8 quantisation (``quantize_dynamic``, int8 weights, activations
  quantised at run time) and its static int8 quantisation (``quantize_static``, QDQ format,
  per-channel int8 weights, uint8 activations calibrated on windows),

all timed round-robin (one call of each per round) so that load changes hit every variant
alike; ``ratio_vs_reference`` is a variant's median latency over the reference's in the
same run. With ``--run`` it also exports that trained run and scores every option on the
run's own test split (accuracy, macro-F1, agreement with PyTorch fp32); the static int8
model is then calibrated on the run's training windows.

    python benchmarks/onnx_latency.py --run runs/<demo_hapt_danhar run> --threads 1,2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

OPT_LEVELS = ("disable", "basic", "extended", "all")


def _time_all(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    """Median/p95 ms per function, called round-robin ``repeats`` times after a warm-up."""
    for _ in range(max(5, repeats // 10)):
        for fn in fns.values():
            fn()
    ts = {name: np.empty(repeats) for name in fns}
    for i in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            ts[name][i] = time.perf_counter() - t0
    return {name: {"p50_ms": round(float(np.median(t)) * 1e3, 3),
                   "p95_ms": round(float(np.percentile(t, 95)) * 1e3, 3)}
            for name, t in ts.items()}


def _session(path: Path, threads: int, level: str = "all") -> Any:
    import onnxruntime as ort

    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = levels[level]
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the quantiser's root-logger advice (pre-processing, 1-D BatchNorm axes)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantize_dynamic(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)


def _quantize_static(src: Path, dst: Path, calib: np.ndarray, batch: int = 32) -> None:
    """QDQ int8 exactly as ``harlab export --quantize int8`` makes it."""
    from harlab.deploy.export import quantize_static_qdq

    quantize_static_qdq(src, dst, calib, batch)


def _torch_fn(model: torch.nn.Module, x: torch.Tensor, bf16: bool = False) -> Callable[[], Any]:
    def run() -> Any:
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
        with torch.inference_mode(), ctx:
            return model(x)
    return run


def latency(shape: tuple[int, int], threads: list[int], repeats: int,
            tmp: Path) -> dict[str, Any]:
    from harlab.deploy.export import export_module
    from harlab.models.danhar import build_danhar
    from harlab.models.reference import ReferenceDanHAR, copy_reference_weights

    torch.manual_seed(0)
    ref = ReferenceDanHAR(shape, 6).eval()
    fast = build_danhar(shape, 6).eval()
    copy_reference_weights(ref, fast)
    data, _, parity = export_module(fast, shape, "danhar")
    fp32 = tmp / f"danhar_{shape[0]}x{shape[1]}.onnx"
    fp32.write_bytes(data)
    dyn, qdq = fp32.with_name(fp32.stem + "_int8.onnx"), fp32.with_name(fp32.stem + "_qdq.onnx")
    _quantize_dynamic(fp32, dyn)
    rng = np.random.default_rng(0)
    _quantize_static(fp32, qdq, rng.standard_normal((256, *shape)).astype(np.float32))
    x = rng.standard_normal((1, *shape)).astype(np.float32)
    xt = torch.from_numpy(x)
    xs = np.random.default_rng(1).standard_normal((64, *shape)).astype(np.float32)
    out: dict[str, Any] = {
        "shape": list(shape),
        "parameters": int(sum(p.numel() for p in fast.parameters())),
        "onnx_bytes": fp32.stat().st_size,
        "onnx_int8_dynamic_bytes": dyn.stat().st_size,
        "onnx_int8_static_qdq_bytes": qdq.stat().st_size,
        "parity_fp32_vs_torch": parity,
    }
    o32 = _session(fp32, 1).run(None, {"windows": xs})[0].argmax(1)
    for name, path in (("int8_dynamic", dyn), ("int8_static_qdq", qdq)):
        o = _session(path, 1).run(None, {"windows": xs})[0].argmax(1)
        out[f"{name}_vs_fp32_argmax_agreement_random"] = float((o == o32).mean())
    out["by_threads"] = {}
    for n in threads:
        torch.set_num_threads(n)
        fns: dict[str, Callable[[], Any]] = {
            "torch_reference_conv2d": _torch_fn(ref, xt),
            "torch_harlab_danhar": _torch_fn(fast, xt),
            "torch_harlab_bf16_autocast": _torch_fn(fast, xt, bf16=True),
        }
        for level in OPT_LEVELS:
            s = _session(fp32, n, level)
            fns[f"ort_fp32_opt_{level}"] = lambda s=s: s.run(None, {"windows": x})
        for name, path in (("ort_int8_dynamic", dyn), ("ort_int8_static_qdq", qdq)):
            s = _session(path, n)
            fns[name] = lambda s=s: s.run(None, {"windows": x})
        res = _time_all(fns, repeats)
        base = res["torch_reference_conv2d"]["p50_ms"]
        for r in res.values():
            r["ratio_vs_reference"] = round(r["p50_ms"] / base, 3)
        out["by_threads"][str(n)] = res
    return out


def accuracy(run: Path, threads: int, tmp: Path, calib_windows: int) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    from harlab.config import from_dict, load_yaml
    from harlab.data.prepare import prepare
    from harlab.deploy.export import export_run
    from harlab.runs import best_checkpoint
    from harlab.tasks.checkpoint import load_module
    from harlab.tasks.predict import predict_proba

    onnx_path, _, _ = export_run(run, out=tmp / "run.onnx")
    cfg = from_dict(load_yaml(run / "config.yaml"))
    data = prepare(cfg.data)
    x, y = data.x["test"], data.y["test"]
    train = data.x["train"]
    pick = np.random.default_rng(0).choice(len(train), min(calib_windows, len(train)),
                                           replace=False)
    dyn, qdq = tmp / "run_int8.onnx", tmp / "run_qdq.onnx"
    _quantize_dynamic(onnx_path, dyn)
    _quantize_static(onnx_path, qdq, np.asarray(train[np.sort(pick)], np.float32))
    module = load_module(best_checkpoint(run))
    p_torch = predict_proba(module, x).argmax(1)
    out: dict[str, Any] = {"run": str(run), "test_windows": int(len(y)),
                           "split": data.split.description,
                           "static_calibration_windows": int(pick.size)}
    preds = {"torch_fp32": p_torch,
             "torch_bf16_autocast": predict_proba(module, x, bf16=True).argmax(1)}
    for name, path, level in (("ort_fp32_opt_disable", onnx_path, "disable"),
                              ("ort_fp32_opt_all", onnx_path, "all"),
                              ("ort_int8_dynamic", dyn, "all"),
                              ("ort_int8_static_qdq", qdq, "all")):
        sess = _session(path, threads, level)
        preds[name] = np.concatenate([
            sess.run(None, {"windows": np.ascontiguousarray(x[i : i + 256], np.float32)})[0]
            .argmax(1) for i in range(0, len(x), 256)
        ])
    base = float(accuracy_score(y, p_torch))
    for name, p in preds.items():
        acc = float(accuracy_score(y, p))
        out[name] = {"accuracy": round(acc, 4),
                     "accuracy_change_vs_torch_fp32": round(acc - base, 4),
                     "macro_f1": round(float(f1_score(y, p, average="macro")), 4),
                     "agreement_with_torch": round(float((p == p_torch).mean()), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="128x6,200x3", help="window shapes TxC, comma-separated")
    ap.add_argument("--threads", default="1", help="intra-op thread counts, comma-separated")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--run", type=Path, default=None, help="trained run to score on its test split")
    ap.add_argument("--calib-windows", type=int, default=512,
                    help="training windows used to calibrate static int8 (with --run)")
    args = ap.parse_args()
    threads = [int(v) for v in args.threads.split(",")]
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    import onnxruntime

    result: dict[str, Any] = {"threads": threads, "torch": torch.__version__,
                              "onnxruntime": onnxruntime.__version__,
                              "load_avg_1m_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        result["latency_batch1"] = [
            latency((t, c), threads, args.repeats, Path(tmp)) for t, c in shapes
        ]
        if args.run is not None:
            torch.set_num_threads(max(threads))
            result["accuracy"] = accuracy(args.run, max(threads), Path(tmp), args.calib_windows)
    result["load_avg_1m_end"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
