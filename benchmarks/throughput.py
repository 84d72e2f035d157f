"""CPU throughput of DanHAR: harlab's GEMM layout vs the straightforward 2-D reference.

Prints one JSON object on stdout (progress goes to stderr):

* GEMM peak GFLOP/s (large square ``torch.matmul``, best of several) in fp32 and bf16;
* for the WISDM configuration (window 200 x 3, 6 classes, batch 210, DanHAR-ResNet with
  channel_temporal attention, kernel 6 / stride 2, flatten head, 7x7 temporal kernel):
  training windows/s (forward + backward + Adam step) and batch-1 inference latency
  (median ms) for the reference in fp32 (and under bf16 autocast where bf16 is native),
  harlab in fp32 and harlab under bf16 autocast, each harlab variant on the time-conv paths
  ``harlab.hardware.time_conv_path()`` picks (by CPU, and under bf16 by each conv's shape;
  ``--both-paths`` adds harlab with every conv forced onto each path: ``gemm``, GEMMs on
  rows, and ``onednn``, oneDNN conv2d on them);
* forward FLOPs per window (``FlopCounterMode`` on the reference; training counted as 3x
  forward), the achieved GFLOP/s next to the GEMM peak of the same precision, and the
  speed-up over the reference (``--compile`` adds harlab under ``torch.compile`` and
  reports the compile time of its first step);
* ``peak_bound_max_speedup``: the fp32 GEMM peak over the reference's achieved GFLOP/s --
  the largest training speed-up any fp32 implementation of the same FLOPs could reach
  (``peak_bound_max_speedup_bf16``: the same with the bf16 peak);
* ``--shapes``: which DanHAR shapes get the measurement above (comma-separated; default
  ``wisdm``): ``dsads45`` (DSADS paper preset: 125 x 45, 19 classes, batch 128) and
  ``opportunity113`` (OPPORTUNITY paper preset: 64 x 113, 18 classes, batch 300), both with
  their presets' 7x1 temporal kernel, reported under ``many_channels`` (``--shape-batch N``
  measures them at batch N: opportunity113 at 300 needs ~24 GB of memory);
* MRA-Net (radar frame 150 x 100, 6 classes, batch 128; ``--no-mranet`` skips it):
  training windows/s, GFLOP/s and batch-1 latency in fp32, NCHW vs channels_last, and
  channels_last under bf16 autocast where bf16 is native;
* with ``--accuracy-epochs N``: the reference (fp32), harlab fp32 and harlab under bf16
  autocast trained in lockstep (same weights, same batches) for N epochs on a real split
  (default: the HAPT demo config), with test accuracy / macro-F1 of each, their prediction
  agreement with the reference and real-data windows/s.

Training steps of the three variants are interleaved round-robin so that a change in
machine load hits all of them alike; medians are reported (best values alongside). Like
harlab's training, the benchmark keeps freed memory for reuse
(``harlab.hardware.reuse_freed_memory``, process-wide, so the reference gets it too);
``--default-malloc`` measures with glibc's default allocator instead.

bf16 variants run only where the CPU has native bf16 matrix instructions (AMX or
AVX512-BF16; ``--bf16 auto``, the default). Elsewhere bf16 is emulated at a few GFLOP/s
(1.2-1.9 GFLOP/s on a 2-vCPU AVX2 EPYC, 40x below fp32), so one bf16 DanHAR training step
takes minutes and the run would not finish; the JSON then says so under ``bf16_skipped``
and gives the emulated rate of a small GEMM. ``--bf16 on`` measures it anyway.

    python benchmarks/throughput.py [--warmup 2] [--iters 6] [--threads N] [--quick]
                                    [--no-mranet] [--compile] [--accuracy-epochs N]
                                    [--default-malloc] [--bf16 auto|on|off]
                                    [--shapes wisdm,dsads45,opportunity113] [--shape-batch N]
                                    [--both-paths]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from harlab.hardware import (
    MALLOC_ENV,
    TIME_CONV_ENV,
    cpu_has_fast_bf16,
    hardware,
    reuse_freed_memory,
)
from harlab.models.danhar import build_danhar
from harlab.models.mranet import build_mranet
from harlab.models.reference import ReferenceDanHAR, copy_reference_weights

WINDOW, CLASSES, BATCH = (200, 3), 6, 210
MRANET_WINDOW, MRANET_BATCH = (150, 100), 128
CONFIG = {"backbone": "resnet", "attention": "channel_temporal", "kernel_size": 6,
          "stride": 2, "padding": 0, "head": "flatten", "temporal_kernel": "7x7"}



@dataclass(frozen=True)
class Shape:
    """One DanHAR workload: window (samples, channels), classes, batch and model options."""

    name: str
    window: tuple[int, int]
    classes: int
    batch: int
    config: dict[str, Any]
    note: str


# the many-channel shapes use their paper presets' model options ((6,1) kernels, 7x1 temporal)
PRESET = {**CONFIG, "temporal_kernel": "7x1", "reduction": 16}
SHAPES = {
    "wisdm": Shape("wisdm", WINDOW, CLASSES, BATCH, CONFIG, "WISDM: 200 x 3, batch 210"),
    "dsads45": Shape("dsads45", (125, 45), 19, 128, PRESET,
                     "DSADS, configs/danhar/dsads_paper.yaml: 125 x 45, batch 128"),
    "opportunity113": Shape("opportunity113", (64, 113), 18, 300, PRESET,
                            "OPPORTUNITY, configs/danhar/opportunity_paper.yaml: 64 x 113, "
                            "batch 300"),
}


def parse_shapes(text: str) -> list[str]:
    """The names of ``--shapes`` (comma-separated); an unknown name exits with code 2."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in SHAPES]
    if bad or not names:
        print(f"--shapes: unknown shape {', '.join(bad) or '(none given)'}; "
              f"choose from {', '.join(SHAPES)}", file=sys.stderr)
        sys.exit(2)
    return names

def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sync(device: torch.device | str) -> None:
    """Wait for the device's queued work (a no-op on the CPU): GPU timings need it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def gemm_peak(dtype: torch.dtype, n: int, repeats: int, device: str = "cpu") -> float:
    """Best GFLOP/s of an n x n x n matmul (on ``device``; timed between synchronisations)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.matmul(a, b)
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


def autocast(bf16: bool, device: str = "cpu") -> Any:
    return torch.autocast(device, dtype=torch.bfloat16) if bf16 else nullcontext()


def train_step(model: torch.nn.Module, bf16: bool, x: torch.Tensor,
               y: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        with autocast(bf16, x.device.type):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def latencies_ms(models: dict[str, tuple[torch.nn.Module, bool]], x: torch.Tensor,
                 warmup: int, iters: int,
                 paths: dict[str, str] | None = None) -> dict[str, float]:
    """Median batch-1 inference latency per model, timed round-robin like training (each
    on its time-conv path of ``paths``, where given)."""
    times: dict[str, list[float]] = {name: [] for name in models}
    for m, _ in models.values():
        m.eval()
    with torch.inference_mode():
        for i in range(warmup + iters):
            for name, (m, bf16) in models.items():
                with autocast(bf16), conv_path((paths or {}).get(name)):
                    t = time.perf_counter()
                    m(x)
                    dt = time.perf_counter() - t
                if i >= warmup:
                    times[name].append(dt)
    for m, _ in models.values():
        m.train()
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def timed_rounds(steps: dict[str, Callable[[], None]], warmup: int,
                 iters: int, device: str = "cpu") -> dict[str, list[float]]:
    """Seconds per step of each variant, interleaved round-robin after ``warmup`` steps
    (each step timed to the end of its work on ``device``)."""
    for name, step in steps.items():
        log(f"warm-up {name} ...")
        for _ in range(warmup):
            step()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(iters):
        log(f"timed round {i + 1}/{iters}")
        for name, step in steps.items():
            t = time.perf_counter()
            step()
            sync(device)
            times[name].append(time.perf_counter() - t)
    return times


def mranet(args: argparse.Namespace, peak: dict[str, float], bf16: bool) -> dict[str, Any]:
    """MRA-Net training windows/s and batch-1 latency: fp32 NCHW vs channels_last (default),
    and with native bf16 also channels_last under bf16 autocast."""
    torch.manual_seed(0)
    base = build_mranet(MRANET_WINDOW, CLASSES, channels_last=False)
    cl = build_mranet(MRANET_WINDOW, CLASSES)  # harlab's default layout
    cl.load_state_dict(base.state_dict())
    variants = {  # name: (model, bf16, precision of the matching GEMM peak)
        "mranet_fp32_nchw": (base, False, "fp32"),
        "mranet_fp32_channels_last": (cl, False, "fp32"),
    }
    if bf16:
        cl_bf16 = build_mranet(MRANET_WINDOW, CLASSES)
        cl_bf16.load_state_dict(base.state_dict())
        variants["mranet_bf16_channels_last"] = (cl_bf16, True, "bf16")
    one = torch.randn(1, *MRANET_WINDOW)
    flops = forward_flops(base, one)
    x = torch.randn(MRANET_BATCH, *MRANET_WINDOW)
    y = torch.randint(0, CLASSES, (MRANET_BATCH,))
    steps = {name: train_step(m, b, x, y) for name, (m, b, _) in variants.items()}
    times = timed_rounds(steps, args.warmup, args.iters)
    log("MRA-Net batch-1 latency ...")
    lat = latencies_ms({name: (m, b) for name, (m, b, _) in variants.items()}, one,
                       *((5, 20) if args.quick else (10, 100)))
    out: dict[str, Any] = {"window": list(MRANET_WINDOW), "batch": MRANET_BATCH,
                           "parameters": sum(p.numel() for p in base.parameters()),
                           "forward_flops_per_window": flops}
    ref_wps = MRANET_BATCH / statistics.median(times["mranet_fp32_nchw"])
    for name, (_, _, prec) in variants.items():
        wps = MRANET_BATCH / statistics.median(times[name])
        out[name] = {"train_windows_per_s": round(wps, 1),
                     "train_gflops_per_s": round(3 * flops * wps / 1e9, 1),
                     f"train_fraction_of_{prec}_peak": round(3 * flops * wps / 1e9 / peak[prec],
                                                              3),
                     "infer_batch1_latency_ms": round(lat[name], 3),
                     "train_speedup_vs_nchw_fp32": round(wps / ref_wps, 2),
                     "latency_speedup_vs_nchw_fp32": round(
                         lat["mranet_fp32_nchw"] / lat[name], 2)}
    return out


def accuracy_check(config: Path, epochs: int, max_batches: int = 0,
                   bf16: bool = True) -> dict[str, Any]:
    """Train the reference (fp32), harlab fp32 and (with ``bf16``) harlab bf16-autocast in
    lockstep on a real split; compare test scores.

    All start from the same weights (``copy_reference_weights``) and see the same shuffled
    batches, so any accuracy difference comes from the implementation and precision alone
    (rounding), not from initialisation or data order. Also times each on the real windows.
    """
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    from harlab.config import from_dict, load_yaml
    from harlab.data.prepare import prepare

    cfg = from_dict(load_yaml(config))
    data = prepare(cfg.data)
    shape, k = data.input_shape, len(data.class_ids)
    opts = dict(cfg.model.options or {})
    torch.manual_seed(cfg.train.seed)
    ref = ReferenceDanHAR(shape, k, **opts)
    fast = build_danhar(shape, k, **opts)
    copy_reference_weights(ref, fast)
    xtr, ytr = torch.from_numpy(data.x["train"]), torch.from_numpy(data.y["train"]).long()
    models = {  # name: (model, bf16 autocast), as in main()'s variants
        "reference_fp32": (ref, False), "harlab_fp32": (fast, False),
    }
    if bf16:
        fast_bf16 = build_danhar(shape, k, **opts)
        copy_reference_weights(ref, fast_bf16)
        models["harlab_bf16_autocast"] = (fast_bf16, True)
    opts_ = {n: torch.optim.Adam(m.parameters(), lr=cfg.train.lr) for n, (m, _) in models.items()}
    seconds = dict.fromkeys(models, 0.0)
    bs, seen = cfg.train.batch_size, 0
    for epoch in range(epochs):
        order = torch.from_numpy(np.random.default_rng(epoch).permutation(len(ytr)))
        batches = [order[i : i + bs] for i in range(0, len(order) - bs + 1, bs)]
        batches = batches[:max_batches] if max_batches > 0 else batches
        for b, idx in enumerate(batches):
            if b % 10 == 0:
                log(f"accuracy check: epoch {epoch + 1}/{epochs}, batch {b}/{len(batches)}")
            xb, yb = xtr[idx], ytr[idx]
            for name, (m, bf16) in models.items():
                t = time.perf_counter()
                with autocast(bf16):
                    loss = F.cross_entropy(m(xb).float(), yb)
                opts_[name].zero_grad(set_to_none=True)
                loss.backward()
                opts_[name].step()
                seconds[name] += time.perf_counter() - t
            seen += len(idx)
    xte, yte = torch.from_numpy(data.x["test"]), data.y["test"]
    logits = {}
    with torch.inference_mode():
        for name, (m, bf16) in models.items():
            m.eval()
            with autocast(bf16):  # bf16 models are scored as they would be deployed
                logits[name] = torch.cat([m(xte[i : i + 512]).float()
                                          for i in range(0, len(xte), 512)])
    preds = {n: v.argmax(1).numpy() for n, v in logits.items()}
    ref_logits, ref_pred = logits["reference_fp32"], preds["reference_fp32"]
    out: dict[str, Any] = {"config": str(config), "split": data.split.description,
                           "epochs": epochs, "train_windows_seen": seen,
                           "test_windows": int(len(yte))}
    for name, p in preds.items():
        out[name] = {"test_accuracy": round(float(accuracy_score(yte, p)), 4),
                     "test_macro_f1": round(float(f1_score(yte, p, average="macro")), 4),
                     "train_windows_per_s": round(seen / seconds[name], 1),
                     "train_speedup_vs_reference": round(seconds["reference_fp32"]
                                                         / seconds[name], 2)}
        if name != "reference_fp32":
            out[name]["max_abs_logit_diff_vs_reference"] = float(
                (ref_logits - logits[name]).abs().max())
            out[name]["prediction_agreement_with_reference"] = float((ref_pred == p).mean())
    return out


def danhar_variants(shape: Shape, use_bf16: bool, compile_: bool,
                    both_paths: bool) -> dict[str, tuple[torch.nn.Module, bool, str, str]]:
    """name: (model, bf16, peak used, ``$HARLAB_TIME_CONV``) of every variant measured at
    ``shape``: the reference (fp32, and bf16 where native), harlab fp32 and bf16 on the
    paths ``time_conv_path()`` picks (``auto``: by CPU, and under bf16 by each conv's
    shape), with ``both_paths`` also with every conv forced onto ``gemm`` and onto
    ``onednn``, and with ``compile_`` harlab fp32 under ``torch.compile`` (its compile
    time is reported)."""
    ref = ReferenceDanHAR(shape.window, shape.classes, **shape.config)
    variants = {"reference_fp32": (ref, False, "fp32", "auto")}
    if use_bf16:
        variants["reference_bf16_autocast"] = (ref, True, "bf16", "auto")
    plan = [("harlab_fp32", False, True, "auto"),
            ("harlab_bf16_autocast", True, use_bf16, "auto")]
    for forced in ("gemm", "onednn"):
        plan += [(f"harlab_fp32_{forced}", False, both_paths, forced),
                 (f"harlab_bf16_autocast_{forced}", True, use_bf16 and both_paths, forced)]
    for name, bf16, on, path in [*plan, ("harlab_fp32_compiled", False, compile_, "auto")]:
        if on:
            m = build_danhar(shape.window, shape.classes, **shape.config)
            copy_reference_weights(ref, m)
            variants[name] = (torch.compile(m) if name.endswith("compiled") else m, bf16,
                              "bf16" if bf16 else "fp32", path)
    return variants


@contextmanager
def conv_path(path: str | None) -> Iterator[None]:
    """``$HARLAB_TIME_CONV`` set to ``path`` (unchanged for None) inside the block."""
    before = os.environ.get(TIME_CONV_ENV)
    if path is not None:
        os.environ[TIME_CONV_ENV] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(TIME_CONV_ENV, None)
        else:
            os.environ[TIME_CONV_ENV] = before


def on_path(path: str, step: Callable[[], None]) -> Callable[[], None]:
    """``step`` run with ``$HARLAB_TIME_CONV`` set to ``path``."""
    def run() -> None:
        with conv_path(path):
            step()
    return run


def danhar_shape(shape: Shape, args: argparse.Namespace, peak: dict[str, float],
                 use_bf16: bool, compile_: bool) -> dict[str, Any]:
    """Training windows/s, GFLOP/s, fraction of the GEMM peak and batch-1 latency of the
    variants of :func:`danhar_variants` at one shape."""
    torch.manual_seed(0)
    log(f"DanHAR at {shape.note} ...")
    models = danhar_variants(shape, use_bf16, compile_, getattr(args, "both_paths", False))
    # the reference's two precisions share one model: each gets its own copy
    variants = {name: (copy.deepcopy(m) if name == "reference_bf16_autocast" else m, bf16, prec,
                       path) for name, (m, bf16, prec, path) in models.items()}
    one = torch.randn(1, *shape.window)
    flops = forward_flops(variants["reference_fp32"][0], one)
    x = torch.randn(shape.batch, *shape.window)
    y = torch.randint(0, shape.classes, (shape.batch,))
    steps = {name: on_path(path, train_step(m, bf16, x, y))
             for name, (m, bf16, _, path) in variants.items()}
    compile_s = None
    if compile_:
        log("compiling harlab_fp32_compiled (first step) ...")
        t0 = time.perf_counter()
        steps["harlab_fp32_compiled"]()
        compile_s = round(time.perf_counter() - t0, 1)
    times = timed_rounds(steps, args.warmup, args.iters)
    log("batch-1 latency ...")
    lat = latencies_ms({name: (m, bf16) for name, (m, bf16, _, _) in variants.items()}, one,
                       *((5, 20) if args.quick else (20, 200)),
                       paths={name: v[3] for name, v in variants.items()})
    results: dict[str, Any] = {}
    raw_gflops: dict[str, float] = {}  # unrounded: a tiny shape rounds to 0.0 GFLOP/s
    for name, (_, _, prec, path) in variants.items():
        wps = shape.batch / statistics.median(times[name])
        gflops = raw_gflops[name] = 3 * flops * wps / 1e9
        results[name] = {
            "train_windows_per_s": round(wps, 1),
            "train_windows_per_s_best": round(shape.batch / min(times[name]), 1),
            "train_gflops_per_s": round(gflops, 1),
            "gemm_peak_gflops_per_s": round(peak[prec], 1),
            "train_fraction_of_peak": round(gflops / peak[prec], 3),
            "infer_batch1_latency_ms": round(lat[name], 3),
            "time_conv_env": None if name.startswith("reference") else path,
        }
    base = results["reference_fp32"]
    for r in results.values():
        r["train_speedup_vs_reference"] = round(
            r["train_windows_per_s"] / base["train_windows_per_s"], 2)
        r["latency_speedup_vs_reference"] = round(
            base["infer_batch1_latency_ms"] / r["infer_batch1_latency_ms"], 2)
    ref_gflops = raw_gflops["reference_fp32"]
    return {
        "config": {"window": list(shape.window), "classes": shape.classes,
                   "batch": shape.batch, **shape.config},
        "compile_first_step_s": compile_s,
        "forward_flops_per_window": flops,
        "train_flops_per_window": 3 * flops,
        "results": results,
        "peak_bound_max_speedup": round(peak["fp32"] / ref_gflops, 2),
        "peak_bound_max_speedup_bf16": (round(peak["bf16"] / ref_gflops, 2)
                                        if use_bf16 else None),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warmup", type=int, default=2, help="untimed training steps per variant")
    ap.add_argument("--iters", type=int, default=6, help="timed training steps per variant")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--quick", action="store_true", help="few iterations, small GEMM")
    ap.add_argument("--no-mranet", action="store_true", help="skip the MRA-Net measurement")
    ap.add_argument("--accuracy-epochs", type=int, default=0,
                    help="also train reference and harlab in lockstep on a real split (0: skip)")
    ap.add_argument("--accuracy-batches", type=int, default=0,
                    help="cap on training batches per epoch of the accuracy check (0: all)")
    ap.add_argument("--accuracy-config", type=Path,
                    default=Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
    ap.add_argument("--default-malloc", action="store_true",
                    help="keep glibc's default allocator (no harlab.hardware.reuse_freed_memory)")
    ap.add_argument("--compile", action="store_true",
                    help="add harlab fp32 under torch.compile (inductor) as a fourth variant")
    ap.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                    help="bf16 autocast variants: auto = only on CPUs with native bf16 "
                         "(AMX/AVX512-BF16); emulated bf16 is ~40x slower than fp32")
    ap.add_argument("--shapes", default="wisdm",
                    help="comma-separated DanHAR shapes to measure: " + ", ".join(
                        f"{k} ({v.note})" for k, v in SHAPES.items()))
    ap.add_argument("--shape-batch", type=int, default=0,
                    help="batch size for every --shapes shape (0: each shape's preset batch; "
                         "opportunity113 at batch 300 holds ~24 GB, beyond a 23 GB machine)")
    ap.add_argument("--both-paths", action="store_true",
                    help="also measure harlab with every time conv forced onto the gemm "
                         "and onto the onednn path ($HARLAB_TIME_CONV)")
    args = ap.parse_args(argv)
    parse_shapes(args.shapes)  # a wrong name fails before the GEMM peak is measured
    if args.quick:
        args.warmup, args.iters = 1, 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.default_malloc:  # before anything calls reuse_freed_memory()
        os.environ[MALLOC_ENV] = "0"
    reuse_freed_memory()  # process-wide, so every variant gets it (harlab training does)

    n = 1024 if args.quick else 2048
    use_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and cpu_has_fast_bf16())
    log(f"GEMM peak ({n}^3, {args.threads} threads) ...")
    peak = {"fp32": gemm_peak(torch.float32, n, 3 if args.quick else 8)}
    bf16_skipped = None
    if use_bf16:
        peak["bf16"] = gemm_peak(torch.bfloat16, n, 3 if args.quick else 8)
    else:  # a small GEMM shows the emulated rate in seconds, not the minutes of 2048^3
        emulated = gemm_peak(torch.bfloat16, 256, 2)
        bf16_skipped = (f"no native bf16 on this CPU (no AMX/AVX512-BF16): a 256^3 bf16 GEMM "
                        f"ran at {emulated:.1f} GFLOP/s against {peak['fp32']:.1f} fp32; "
                        "bf16 variants not measured (--bf16 on measures them anyway)")
        log(bf16_skipped)
    load_start = os.getloadavg()[0]
    selected = [replace(SHAPES[n], batch=args.shape_batch) if args.shape_batch > 0
                else SHAPES[n] for n in parse_shapes(args.shapes)]
    wisdm = next((danhar_shape(s, args, peak, use_bf16, args.compile)
                  for s in selected if s.name == "wisdm"), None)
    many = {s.name: danhar_shape(s, args, peak, use_bf16, False)
            for s in selected if s.name != "wisdm"}
    accuracy = (accuracy_check(args.accuracy_config, args.accuracy_epochs, args.accuracy_batches,
                               use_bf16) if args.accuracy_epochs > 0 else None)
    out_mranet = None if args.no_mranet else mranet(args, peak, use_bf16)
    return {
        "machine": {**hardware(), "threads": args.threads,
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                    "load_avg_1m_start": round(load_start, 2),
                    "load_avg_1m_end": round(os.getloadavg()[0], 2)},
        "iters": args.iters,
        "gemm_peak_gflops_per_s": {k: round(v, 1) for k, v in peak.items()},
        **(wisdm or {}),
        "many_channels": many or None,
        "bf16_skipped": bf16_skipped,
        "mranet": out_mranet,
        "accuracy_check": accuracy,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
