"""Scale benchmark: peak memory, preparation time and training speed at 1x, 4x, 16x HAPT.

For each scale a bring-your-own-format dataset (``custom`` source, one Parquet or CSV file
per subject) of that many times the size of UCI HAPT is generated: HAPT has ~1.1 M samples
of 6 channels at 50 Hz from 30 subjects; scale k has ``30 * sqrt(k)`` subjects with
recordings ``sqrt(k)`` times longer (2 sessions each, 12 activities in bouts with
unlabelled gaps). Each scale then runs in a fresh process (so its peak RSS is its own):

* ``prepare``: ``harlab.data.prepare.prepare`` with an empty window cache: read, window and
  cache every recording, split by subject, fit the normalisation (cold cache);
* ``train``: ``harlab.training.train`` for one epoch on the same config (the cache is now
  warm): the whole run, including scoring the test part and writing the run directory.

Printed as JSON: per scale the samples and windows, ``prepare_s``, the training windows/s
(training windows / training seconds of that epoch, validation included), the peak RSS of
the preparation and of the training run (``/proc/self/clear_refs`` resets the peak in
between), and the ratios the targets are about. ``--no-cache`` runs the in-memory path
(``data.cache: false``: the whole dataset loaded, windowed and held) for comparison.
``--source NAME`` instead prepares that named dataset from the shared data folder (its
``--options`` as JSON) in a fresh process, no training: peak RSS and seconds of ``prepare``.

    python benchmarks/data_scale.py [--scales 1 4 16] [--format parquet|csv] [--model lstm]
        [--model-options JSON] [--batch-size 512] [--no-cache]
    python benchmarks/data_scale.py --source usc_had [--options JSON] [--no-cache]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HAPT_SUBJECTS, HAPT_SAMPLES, RATE = 30, 18_000, 50.0  # 30 x 2 x 18,000 = 1.08 M samples
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def generate(folder: Path, scale: int, fmt: str, seed: int = 0) -> int:
    """Write the dataset of ``scale`` x HAPT into ``folder`` (one file per subject);
    returns its number of samples."""
    import pandas as pd

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    subjects = round(HAPT_SUBJECTS * math.sqrt(scale))
    length = round(HAPT_SAMPLES * math.sqrt(scale))
    means = rng.normal(0, 1, (12, len(CHANNELS)))
    total = 0
    for s in range(1, subjects + 1):
        frames = []
        for session in (1, 2):
            bouts = rng.integers(300, 1500, size=length // 300 + 1)
            acts = rng.integers(1, 13, size=bouts.size)
            label = np.repeat(acts, bouts)[:length]
            gap = (np.cumsum(np.repeat(np.ones_like(bouts), bouts))[:length] % 900) < 60
            label = np.where(gap, -1, label)
            data = means[np.maximum(label, 1) - 1] + rng.normal(0, 0.5, (length, len(CHANNELS)))
            frame = pd.DataFrame(data.astype(np.float32), columns=list(CHANNELS))
            frame.insert(0, "timestamp", np.arange(length) / RATE)
            frame.insert(0, "session", session)
            frame.insert(0, "subject", f"s{s:04d}")
            frame["label"] = label
            frames.append(frame)
            total += length
        table = pd.concat(frames)
        if fmt == "parquet":
            table.to_parquet(folder / f"s{s:04d}.parquet", index=False)
        else:
            table.to_csv(folder / f"s{s:04d}.csv", index=False, float_format="%.5g")
    return total


def _peak_mb() -> float:
    """Peak RSS of this process since start or the last reset (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _data(dataset: str, path: str | None, cache: bool, **extra: Any) -> dict[str, Any]:
    """The data config every measurement uses: 128-sample windows, 5-fold subject split."""
    return {"dataset": dataset, "path": path, "cache": cache, **extra,
            "window": {"length": 128, "step": 64, "unit": "samples",
                       "label_policy": "majority", "min_purity": 0.8},
            "split": {"kind": "subject", "folds": 5, "fold": 0, "val_fraction": 0.2,
                      "seed": 0}}


def source_child(name: str, options: dict[str, Any], work: Path, cache: bool
                 ) -> dict[str, Any]:
    """Prepare the named source (cold cache) in this process; RSS before and at the peak."""
    os.environ["HARLAB_CACHE"] = str(work / "cache")
    from harlab.config import from_dict
    from harlab.data.prepare import prepare

    cfg = from_dict({"data": _data(name, None, cache, options=options)})
    rss_before = _peak_mb()
    t0 = time.perf_counter()
    data = prepare(cfg.data)
    return {"windows": {k: int(v.size) for k, v in data.y.items()},
            "samples": sum(r.n_samples for r in data.windowed.recordings),
            "prepare_s": round(time.perf_counter() - t0, 2),
            "peak_rss_before_prepare_mb": round(rss_before, 1),
            "peak_rss_prepare_mb": round(_peak_mb(), 1)}


def child(folder: Path, work: Path, model: str, options: dict[str, Any], batch: int,
          cache: bool = True) -> dict[str, Any]:
    """Prepare (cold cache) and train one epoch in this process; the figures."""
    os.environ["HARLAB_CACHE"] = str(work / "cache")
    from harlab.config import from_dict
    from harlab.data.prepare import prepare
    from harlab.training import train

    cfg = from_dict({
        "name": "scale", "output_dir": str(work / "runs"),
        "data": _data("custom", str(folder), cache, labels=list(range(1, 13))),
        "model": {"name": model, "options": options},
        "train": {"max_epochs": 1, "batch_size": batch, "precision": "32", "progress": False},
    })
    t0 = time.perf_counter()
    data = prepare(cfg.data)
    prepare_s = time.perf_counter() - t0
    windows = {k: int(v.size) for k, v in data.y.items()}
    peak_prepare = _peak_mb()
    del data
    reset = Path("/proc/self/clear_refs")
    try:
        reset.write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        reset = None
    result = train(cfg)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    train_s = float(metrics["train_seconds"])
    return {"windows": windows, "prepare_s": round(prepare_s, 2),
            "train_seconds": round(train_s, 2),
            "train_windows_per_s": round(windows["train"] / train_s, 1),
            "peak_rss_prepare_mb": round(peak_prepare, 1),
            "peak_rss_train_mb": round(_peak_mb(), 1) if reset else None,
            "peak_rss_mb": round(max(peak_prepare, _peak_mb()), 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    ap.add_argument("--model", default="lstm", help="registered model to train (default lstm)")
    ap.add_argument("--model-options", type=json.loads, default={"hidden": 32, "layers": 1},
                    help='its options as JSON (default {"hidden": 32, "layers": 1}: a small '
                    "model, so the epoch measures the data path more than the model)")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--no-cache", action="store_true",
                    help="data.cache: false, the in-memory path, for comparison")
    ap.add_argument("--source", help="prepare this named dataset from the shared data "
                    "instead (no scales, no training)")
    ap.add_argument("--options", type=json.loads, default={}, help="--source's options (JSON)")
    ap.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.source:
        return _source(args)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.model, args.model_options,
                               args.batch_size, not args.no_cache)))
        return {}
    out: dict[str, Any] = {"machine": {"cpu": platform.processor() or platform.machine(),
                                       "cores": os.cpu_count(), "python": sys.version.split()[0],
                                       "format": args.format, "model": args.model,
                                       "model_options": args.model_options,
                                       "batch_size": args.batch_size,
                                       "cache": not args.no_cache},
                           "scales": {}}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory(prefix="harlab-scale-") as tmp:
        for k in args.scales:
            work = Path(tmp) / f"x{k}"
            t0 = time.perf_counter()
            samples = generate(work / "data", k, args.format)
            log(f"{k}x: {samples:,} samples generated in {time.perf_counter() - t0:.0f} s")
            proc = subprocess.run([sys.executable, __file__, "--model", args.model,
                                   "--model-options", json.dumps(args.model_options),
                                   "--batch-size", str(args.batch_size),
                                   *(["--no-cache"] if args.no_cache else []),
                                   "--child", str(work / "data"), str(work)],
                                  env=env, text=True, capture_output=True)
            if proc.returncode:
                log(proc.stderr[-3000:])
                raise SystemExit(f"{k}x: the run failed (exit {proc.returncode})")
            fig = json.loads(proc.stdout.strip().splitlines()[-1])
            out["scales"][str(k)] = {"samples": samples, **fig}
            log(f"{k}x: {json.dumps(fig)}")
    s = out["scales"]
    if "1" in s and len(s) > 1:
        big = str(max(args.scales))
        out["peak_rss_ratio"] = round(s[big]["peak_rss_mb"] / s["1"]["peak_rss_mb"], 2)
        out["prepare_s_per_m_samples"] = {
            k: round(v["prepare_s"] / (v["samples"] / 1e6), 2) for k, v in s.items()}
    print(json.dumps(out, indent=1))
    return out


def _source(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare ``--source`` in a fresh process (a child, or this one as the child)."""
    if args.child:
        print(json.dumps(source_child(args.source, args.options, args.child[1],
                                      not args.no_cache)))
        return {}
    env = {"PYTHONPATH": str(ROOT / "src"), **os.environ}  # a PYTHONPATH given wins
    with tempfile.TemporaryDirectory(prefix="harlab-source-") as tmp:
        proc = subprocess.run([sys.executable, __file__, "--source", args.source, "--options",
                               json.dumps(args.options), *(["--no-cache"] if args.no_cache
                                                           else []), "--child", tmp, tmp],
                              env=env, text=True, capture_output=True)
    if proc.returncode:
        log(proc.stderr[-3000:])
        raise SystemExit(f"{args.source}: preparing failed (exit {proc.returncode})")
    out = {"machine": {"cpu": platform.processor() or platform.machine(),
                       "cores": os.cpu_count(), "python": sys.version.split()[0]},
           "source": args.source, "options": args.options, "cache": not args.no_cache,
           **json.loads(proc.stdout.strip().splitlines()[-1])}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
