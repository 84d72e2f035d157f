"""Profile of one DanHAR training step, and its peak memory, at one shape.

Prints one JSON object on stdout: the step's seconds (median of ``--iters`` after one
warm-up), the process's peak RSS before and after the step (``resource.getrusage``: run
one variant per process for a clean peak) and, with ``--top N``, the N ops with most self
CPU time in one ``torch.profiler`` step (``record_shapes``; profiling adds overhead, so
the shares matter, not the times) and the MiB one forward keeps for backward.

    python benchmarks/profile_step.py --shape dsads45 --variant harlab --precision fp32 \
        [--batch N] [--iters 3] [--top 15] [--model danhar] [--layers]

``--layers`` instead times each conv layer (a strided conv with its shortcut, and the
stride-1 conv, of each block) forward + backward on both time-conv paths, best of
``--iters`` after one warm-up: the measurement behind ``harlab.hardware.time_conv_path``'s
shape rule.

``--variant reference`` is the straightforward Conv2d layout (DanHAR models only);
``--model`` is a registered model name (danhar, resnet, cnn, deepconvlstm, ...) built with
the shape's preset options where it takes them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(__file__))
from harlab.hardware import TIME_CONV_ENV, reuse_freed_memory  # noqa: E402
from harlab.models import build_model  # noqa: E402
from harlab.models.danhar import TimeConv, time_convs  # noqa: E402
from harlab.models.reference import ReferenceDanHAR  # noqa: E402
from throughput import SHAPES, autocast, train_step  # noqa: E402

DANHAR_FAMILY = ("danhar", "danhar_cnn", "resnet", "cnn")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(args: argparse.Namespace) -> torch.nn.Module:
    """The model of ``--model`` / ``--variant`` at the shape's window and preset options."""
    shape = SHAPES[args.shape]
    if args.model in DANHAR_FAMILY:
        opts = dict(shape.config)
        if args.model != "danhar":  # the registry's backbone/attention of the variant
            opts.update({"danhar_cnn": {"backbone": "cnn"},
                         "resnet": {"attention": "none"},
                         "cnn": {"backbone": "cnn", "attention": "none"}}[args.model])
        if args.variant == "reference":
            return ReferenceDanHAR(shape.window, shape.classes, **opts)
        return build_model("danhar", shape.window, shape.classes, **opts)
    if args.variant == "reference":
        raise SystemExit("--variant reference: only for the DanHAR family")
    return build_model(args.model, shape.window, shape.classes)


def saved_for_backward_mib(model: torch.nn.Module, x: torch.Tensor, bf16: bool) -> float:
    """MiB of the distinct storages one forward keeps for backward (deterministic, unlike
    peak RSS)."""
    sizes: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        sizes[st.data_ptr()] = max(sizes.get(st.data_ptr(), 0), st.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(bf16):
        model(x)
    return sum(sizes.values()) / 2**20


def top_ops(step: Any, n: int) -> list[dict[str, Any]]:
    """The ``n`` ops of most self CPU time in one profiled ``step``."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step()
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events)
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:n]
    return [{"op": e.key, "shapes": str(e.input_shapes)[:120], "calls": e.count,
             "self_ms": round(e.self_cpu_time_total / 1e3, 1),
             "share": round(e.self_cpu_time_total / total, 3)} for e in rows]


def _layer_step(convs: list[TimeConv], x: torch.Tensor, windows: int, bf16: bool,
                path: str) -> None:
    """Forward + backward of ``convs`` (a strided conv and its shortcut, or one stride-1
    conv) on rows ``x`` with every time conv forced onto ``path``."""
    os.environ[TIME_CONV_ENV] = path
    with autocast(bf16):
        ys = time_convs(x, convs, windows) if len(convs) > 1 else (convs[0](x, windows),)
        loss = sum(y.float().sum() for y in ys)
    loss.backward()


def layer_times(shape_name: str, batch: int, bf16: bool, repeats: int) -> list[dict[str, Any]]:
    """Per conv layer of DanHAR at a shape: forward + backward ms (best of ``repeats``,
    interleaved) on the ``gemm`` and the ``onednn`` path."""
    shape = SHAPES[shape_name]
    k, st, pad = (shape.config[o] for o in ("kernel_size", "stride", "padding"))
    before = os.environ.get(TIME_CONV_ENV)
    rows, cin, t = [], 1, shape.window[0]
    for cout in (128, 256, 384):
        tp = (t + 2 * pad - k) // st + 1
        for kind, convs, x in (
                ("strided+shortcut", [TimeConv(cin, cout, k, st, pad) for _ in range(2)],
                 torch.randn(batch * shape.window[1], t, cin, requires_grad=cin > 1)),
                ("stride 1", [TimeConv(cout, cout, 3, 1, 1)],
                 torch.randn(batch * shape.window[1], tp, cout, requires_grad=True))):
            best = {p: float("inf") for p in ("gemm", "onednn")}
            for i in range(1 + repeats):
                for path in best:
                    t0 = time.perf_counter()
                    _layer_step(convs, x, batch, bf16, path)
                    if i:
                        best[path] = min(best[path], time.perf_counter() - t0)
            rows.append({"layer": f"{kind} {convs[0].weight.shape[1]}->{cout}", "steps_out": tp,
                         "gemm_ms": round(best["gemm"] * 1e3, 1),
                         "onednn_ms": round(best["onednn"] * 1e3, 1),
                         "gemm_over_onednn": round(best["gemm"] / best["onednn"], 2)})
        cin, t = cout, tp
    if before is None:
        os.environ.pop(TIME_CONV_ENV, None)
    else:
        os.environ[TIME_CONV_ENV] = before
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=list(SHAPES), default="dsads45")
    ap.add_argument("--model", default="danhar")
    ap.add_argument("--variant", choices=("harlab", "reference"), default="harlab")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--batch", type=int, default=0, help="0: the shape's preset batch")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--top", type=int, default=0, help="profile one more step: top N ops")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--layers", action="store_true",
                    help="only time each conv layer on both time-conv paths (DanHAR presets)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    reuse_freed_memory()
    torch.manual_seed(0)
    shape = SHAPES[args.shape]
    batch = args.batch or shape.batch
    if args.layers:
        return {"shape": args.shape, "precision": args.precision, "batch": batch,
                "threads": args.threads, "load_avg_1m": round(os.getloadavg()[0], 2),
                "layers": layer_times(args.shape, batch, args.precision == "bf16", args.iters)}
    model = build(args)
    x = torch.randn(batch, *shape.window)
    y = torch.randint(0, shape.classes, (batch,))
    bf16 = args.precision == "bf16"
    step = train_step(model, bf16, x, y)
    rss_before = peak_rss_mib()
    times = []
    for _ in range(1 + args.iters):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    med = statistics.median(times[1:])
    peak = peak_rss_mib()  # before the profiled step, which keeps its own records
    saved = saved_for_backward_mib(model, x, bf16)
    ops = top_ops(step, args.top) if args.top else None
    return {
        "shape": args.shape, "model": args.model, "variant": args.variant,
        "precision": args.precision, "batch": batch, "threads": args.threads,
        "parameters": sum(p.numel() for p in model.parameters()),
        "step_s": round(med, 3), "windows_per_s": round(batch / med, 1),
        "peak_rss_mib_before_step": round(rss_before), "peak_rss_mib": round(peak),
        "saved_for_backward_mib": round(saved),
        "load_avg_1m": round(os.getloadavg()[0], 2), "top_ops": ops,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
