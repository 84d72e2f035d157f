"""Data-pipeline timings for HAPT: load + window (cold / warm cache), prepare, loader; JSON.

Steps, each timed ``--repeats`` times (median and min reported):

* ``load_window_cold``: harlab's window cache is empty (a fresh ``$HARLAB_CACHE`` folder per
  repeat), so the raw HAPT files are parsed, windowed and the cache entry is written;
* ``load_window_nocache``: parse + window with the cache switched off (no write);
* ``load_window_warm``: the cache entry exists: checked, its index arrays read (windows are
  read on demand);
* ``prepare_warm``: split + class filter + train-only z-score fitted in one pass over the
  training windows, from the warm cache (what ``harlab train`` does before the first batch);
* ``loader_epoch``: one shuffled training epoch of ``WindowDataModule`` batches (batch 128),
  reported as windows/s -- each batch read from the cache and normalised, no Python per
  window.

"Cold" means harlab's cache is cold; the operating system's page cache is not dropped (that
needs root), so the raw files are usually already in memory after the first repeat.

    python benchmarks/data_pipeline.py [--repeats 3] [--config configs/demo.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[dict[str, float], Any]:
    """Median/min seconds of ``fn`` over ``repeats`` calls, and the last result."""
    ts, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(ts), 4), "min_s": round(min(ts), 4)}, out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.yaml",
                    help="run config whose data section is used (default: the HAPT demo)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    from harlab.config import from_dict, load_yaml
    from harlab.data.datamodule import WindowDataModule
    from harlab.data.prepare import load_windowed, prepare

    cfg = from_dict(load_yaml(args.config))
    data_cfg = cfg.data
    result: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "cpus": len(os.sched_getaffinity(0)), "load_avg_1m": os.getloadavg()[0]},
        "dataset": data_cfg.dataset, "window": data_cfg.window.to_dict(),
        "repeats": args.repeats,
    }
    old = os.environ.get("HARLAB_CACHE")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = iter(range(10**6))

            def cold() -> Any:
                os.environ["HARLAB_CACHE"] = str(Path(tmp) / f"cold{next(fresh)}")
                return load_windowed(data_cfg, use_cache=True)

            log("cold cache (parse + window + write cache) ...")
            result["load_window_cold"], wd = timed(cold, args.repeats)
            w = wd.windows
            result["recordings"] = len(wd.recordings)
            result["windows"] = int(len(w.y))
            result["window_bytes"] = int(np.prod(w.x.shape)) * 4  # float32
            log("no cache (parse + window) ...")
            result["load_window_nocache"], _ = timed(
                lambda: load_windowed(data_cfg, use_cache=False), args.repeats)
            log("warm cache ...")  # HARLAB_CACHE still names the last cold folder
            result["load_window_warm"], hit = timed(
                lambda: load_windowed(data_cfg, use_cache=True), args.repeats)
            result["warm_hit"] = bool(hit.from_cache)
            log("prepare from warm cache ...")
            result["prepare_warm"], prepared = timed(lambda: prepare(data_cfg), args.repeats)
            dm = WindowDataModule(prepared.x, prepared.y, batch_size=cfg.train.batch_size)

            def epoch() -> int:
                count = 0
                for xb, _ in dm.train_dataloader():
                    count += int(xb.shape[0])
                return count

            log("loader epoch ...")
            stats, n = timed(epoch, args.repeats)
            stats["windows"] = n
            stats["windows_per_s"] = round(n / stats["median_s"], 1)
            result["loader_epoch"] = stats
    finally:
        if old is None:
            os.environ.pop("HARLAB_CACHE", None)
        else:
            os.environ["HARLAB_CACHE"] = old
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
