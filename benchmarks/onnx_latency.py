"""Batch-1 latency of exported DanHAR (ONNX Runtime fp32 / int8) vs PyTorch; prints JSON.

For each window shape (default: the HAPT demo 128x6 and WISDM 200x3, 6 classes, paper
defaults) it times one-window inference of the plain Conv2d reference model
(:mod:`harlab.models.reference`), the fast harlab DanHAR, the exported ONNX model in ONNX
Runtime (fp32) and its dynamic int8 quantisation (``quantize_dynamic``). With ``--run`` it
also exports that trained run and scores PyTorch, ORT fp32 and ORT int8 on the run's own
test split (accuracy, macro-F1, agreement with PyTorch).

    python benchmarks/onnx_latency.py --run runs/<demo_hapt_danhar run> --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _time(fn: Any, x: Any, repeats: int) -> dict[str, float]:
    for _ in range(max(5, repeats // 10)):
        fn(x)
    ts = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        ts[i] = time.perf_counter() - t0
    return {"p50_ms": round(float(np.median(ts)) * 1e3, 3),
            "p95_ms": round(float(np.percentile(ts, 95)) * 1e3, 3)}


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)


def latency(shape: tuple[int, int], threads: int, repeats: int, tmp: Path) -> dict[str, Any]:
    from harlab.export import export_module
    from harlab.models.danhar import build_danhar
    from harlab.models.reference import ReferenceDanHAR, copy_reference_weights

    torch.manual_seed(0)
    ref = ReferenceDanHAR(shape, 6).eval()
    fast = build_danhar(shape, 6).eval()
    copy_reference_weights(ref, fast)
    data, _, parity = export_module(fast, shape, "danhar")
    fp32 = tmp / f"danhar_{shape[0]}x{shape[1]}.onnx"
    fp32.write_bytes(data)
    int8 = fp32.with_name(fp32.stem + "_int8.onnx")
    _quantize(fp32, int8)
    s32, s8 = _session(fp32, threads), _session(int8, threads)
    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    xt = torch.from_numpy(x)

    def torch_fn(model: torch.nn.Module) -> Any:
        def run(inp: torch.Tensor) -> Any:
            with torch.inference_mode():
                return model(inp)
        return run

    xs = np.random.default_rng(1).standard_normal((64, *shape)).astype(np.float32)
    o32 = s32.run(None, {"windows": xs})[0]
    o8 = s8.run(None, {"windows": xs})[0]
    return {
        "shape": list(shape),
        "parameters": int(sum(p.numel() for p in fast.parameters())),
        "onnx_bytes": fp32.stat().st_size,
        "onnx_int8_bytes": int8.stat().st_size,
        "parity_fp32_vs_torch": parity,
        "int8_vs_fp32_argmax_agreement_random": float((o32.argmax(1) == o8.argmax(1)).mean()),
        "torch_reference_conv2d": _time(torch_fn(ref), xt, repeats),
        "torch_harlab_danhar": _time(torch_fn(fast), xt, repeats),
        "ort_fp32": _time(lambda a: s32.run(None, {"windows": a}), x, repeats),
        "ort_int8_dynamic": _time(lambda a: s8.run(None, {"windows": a}), x, repeats),
    }


def accuracy(run: Path, threads: int, tmp: Path) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    from harlab.config import from_dict, load_yaml
    from harlab.data.prepare import prepare
    from harlab.export import export_run
    from harlab.runs import best_checkpoint, load_module
    from harlab.training import predict_proba

    onnx_path, _, meta = export_run(run, out=tmp / "run.onnx")
    int8 = tmp / "run_int8.onnx"
    _quantize(onnx_path, int8)
    cfg = from_dict(load_yaml(run / "config.yaml"))
    data = prepare(cfg.data)
    x, y = data.x["test"], data.y["test"]
    module = load_module(best_checkpoint(run))
    p_torch = predict_proba(module, x).argmax(1)
    out: dict[str, Any] = {"run": str(run), "test_windows": int(len(y)),
                           "split": data.split.description}
    preds = {"torch_fp32": p_torch}
    for name, path in (("ort_fp32", onnx_path), ("ort_int8_dynamic", int8)):
        sess = _session(path, threads)
        preds[name] = np.concatenate([
            sess.run(None, {"windows": x[i : i + 256]})[0].argmax(1)
            for i in range(0, len(x), 256)
        ])
    for name, p in preds.items():
        out[name] = {"accuracy": round(float(accuracy_score(y, p)), 4),
                     "macro_f1": round(float(f1_score(y, p, average="macro")), 4),
                     "agreement_with_torch": round(float((p == p_torch).mean()), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="128x6,200x3", help="window shapes TxC, comma-separated")
    ap.add_argument("--threads", type=int, default=1, help="torch and ORT intra-op threads")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--run", type=Path, default=None, help="trained run to score on its test split")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    result: dict[str, Any] = {"threads": args.threads, "torch": torch.__version__}
    import onnxruntime

    result["onnxruntime"] = onnxruntime.__version__
    with tempfile.TemporaryDirectory() as tmp:
        result["latency_batch1"] = [
            latency((t, c), args.threads, args.repeats, Path(tmp)) for t, c in shapes
        ]
        if args.run is not None:
            result["accuracy"] = accuracy(args.run, args.threads, Path(tmp))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
