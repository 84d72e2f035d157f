"""CPU throughput of DanHAR: harlab's GEMM layout vs the straightforward 2-D reference.

Prints one JSON object on stdout (progress goes to stderr):

* GEMM peak GFLOP/s (large square ``torch.matmul``, best of several) in fp32 and bf16;
* for the WISDM configuration (window 200 x 3, 6 classes, batch 210, DanHAR-ResNet with
  channel_temporal attention, kernel 6 / stride 2, flatten head, 7x7 temporal kernel):
  training windows/s (forward + backward + Adam step) and batch-1 inference latency
  (median ms) for the reference in fp32, harlab in fp32 and harlab under bf16 autocast;
* forward FLOPs per window (``FlopCounterMode`` on the reference; training counted as 3x
  forward), the achieved GFLOP/s next to the GEMM peak of the same precision, and the
  speed-up over the reference.

Training steps of the three variants are interleaved round-robin so that a change in
machine load hits all of them alike; medians are reported (best values alongside).

    python benchmarks/throughput.py [--warmup 2] [--iters 6] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from harlab.models.danhar import build_danhar
from harlab.models.reference import ReferenceDanHAR, copy_reference_weights

WINDOW, CLASSES, BATCH = (200, 3), 6, 210
CONFIG = {"backbone": "resnet", "attention": "channel_temporal", "kernel_size": 6,
          "stride": 2, "padding": 0, "head": "flatten", "temporal_kernel": "7x7"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def gemm_peak(dtype: torch.dtype, n: int, repeats: int) -> float:
    """Best GFLOP/s of an n x n x n matmul."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


def autocast(bf16: bool) -> Any:
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()


def train_step(model: torch.nn.Module, bf16: bool, x: torch.Tensor,
               y: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        with autocast(bf16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def latencies_ms(models: dict[str, tuple[torch.nn.Module, bool]], x: torch.Tensor,
                 warmup: int, iters: int) -> dict[str, float]:
    """Median batch-1 inference latency per model, timed round-robin like training."""
    times: dict[str, list[float]] = {name: [] for name in models}
    for m, _ in models.values():
        m.eval()
    with torch.inference_mode():
        for i in range(warmup + iters):
            for name, (m, bf16) in models.items():
                with autocast(bf16):
                    t = time.perf_counter()
                    m(x)
                    dt = time.perf_counter() - t
                if i >= warmup:
                    times[name].append(dt)
    for m, _ in models.values():
        m.train()
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warmup", type=int, default=2, help="untimed training steps per variant")
    ap.add_argument("--iters", type=int, default=6, help="timed training steps per variant")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--quick", action="store_true", help="few iterations, small GEMM")
    args = ap.parse_args(argv)
    if args.quick:
        args.warmup, args.iters = 1, 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    n = 1024 if args.quick else 2048
    log(f"GEMM peak ({n}^3, {args.threads} threads) ...")
    peak = {"fp32": gemm_peak(torch.float32, n, 3 if args.quick else 8),
            "bf16": gemm_peak(torch.bfloat16, n, 3 if args.quick else 8)}

    ref = ReferenceDanHAR(WINDOW, CLASSES, **CONFIG)
    fast = build_danhar(WINDOW, CLASSES, **CONFIG)
    fast_bf16 = build_danhar(WINDOW, CLASSES, **CONFIG)
    copy_reference_weights(ref, fast)
    copy_reference_weights(ref, fast_bf16)
    one = torch.randn(1, *WINDOW)
    flops = forward_flops(ref, one)
    variants = {  # name: (model, bf16, precision of the matching GEMM peak)
        "reference_fp32": (ref, False, "fp32"),
        "harlab_fp32": (fast, False, "fp32"),
        "harlab_bf16_autocast": (fast_bf16, True, "bf16"),
    }
    x, y = torch.randn(BATCH, *WINDOW), torch.randint(0, CLASSES, (BATCH,))
    steps = {name: train_step(m, bf16, x, y) for name, (m, bf16, _) in variants.items()}
    for name, step in steps.items():
        log(f"warm-up {name} ...")
        for _ in range(args.warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(args.iters):
        log(f"timed round {i + 1}/{args.iters}")
        for name, step in steps.items():
            t = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t)

    log("batch-1 latency ...")
    lat = latencies_ms({name: (m, bf16) for name, (m, bf16, _) in variants.items()}, one,
                       *((5, 20) if args.quick else (20, 200)))
    results: dict[str, Any] = {}
    for name, (_, _, prec) in variants.items():
        wps = BATCH / statistics.median(times[name])
        train_gflops = 3 * flops * wps / 1e9
        results[name] = {
            "train_windows_per_s": round(wps, 1),
            "train_windows_per_s_best": round(BATCH / min(times[name]), 1),
            "train_gflops_per_s": round(train_gflops, 1),
            "gemm_peak_gflops_per_s": round(peak[prec], 1),
            "train_fraction_of_peak": round(train_gflops / peak[prec], 3),
            "infer_batch1_latency_ms": round(lat[name], 3),
        }
    base = results["reference_fp32"]
    for r in results.values():
        r["train_speedup_vs_reference"] = round(
            r["train_windows_per_s"] / base["train_windows_per_s"], 2)
        r["latency_speedup_vs_reference"] = round(
            base["infer_batch1_latency_ms"] / r["infer_batch1_latency_ms"], 2)
    return {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__,
                    "cpu_capability": torch.backends.cpu.get_cpu_capability()},
        "config": {"window": list(WINDOW), "classes": CLASSES, "batch": BATCH, **CONFIG},
        "iters": args.iters,
        "gemm_peak_gflops_per_s": {k: round(v, 1) for k, v in peak.items()},
        "forward_flops_per_window": flops,
        "train_flops_per_window": 3 * flops,
        "results": results,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
