"""Radar simulator speed: real-time factor per activity (one core) and default-dataset wall time.

Prints JSON. ``realtime_factor`` = simulated seconds per wall-clock second for one
``duration`` s recording on one core (median of ``repeats``). ``dataset_sim_s`` = wall time
of simulating the default dataset (6 persons x 5 activities, MRA-Net Table 3 counts) with
``workers`` processes; ``dataset_sim_proc_s`` adds the processing chain (MTI, STFT, 1 s
frames), and ``dataset_write_s`` times ``harlab.radar.dataset.write_frames_dataset`` fed by
``simulate_dataset`` (simulation in ``workers`` processes, processing and writing in the
main process).

Like ``simulate_dataset``, the benchmark keeps freed memory for reuse
(``harlab.hardware.reuse_freed_memory``) in the main process and its pool;
``--default-malloc`` measures with glibc's default allocator instead.

Usage: ``python benchmarks/radar_sim.py [--duration 30] [--workers 2] [--no-dataset]
[--default-malloc]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any

from harlab.hardware import MALLOC_ENV, process_pool, reuse_freed_memory
from harlab.radar.dataset import write_frames_dataset
from harlab.radar.processing import frames, process
from harlab.radar.simulate import (
    ACTIVITIES,
    DEFAULT_PERSONS,
    SimulationConfig,
    _run_task,
    simulate_dataset,
    simulate_recording,
)


def _sim_and_process(task: tuple[Any, ...]) -> int:
    return int(frames(process(_run_task(task))).shape[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-dataset", action="store_true")
    ap.add_argument("--default-malloc", action="store_true",
                    help="glibc's default allocator everywhere (simulate_dataset included)")
    args = ap.parse_args()
    if args.default_malloc:  # before anything calls reuse_freed_memory()
        os.environ[MALLOC_ENV] = "0"
    reuse = reuse_freed_memory()

    cfg = SimulationConfig()
    out: dict[str, Any] = {"cpu_count": os.cpu_count(), "prf_hz": cfg.radar.prf_hz,
                           "recording_s": args.duration, "malloc_reuse": reuse,
                           "realtime_factor": {}}
    simulate_recording(DEFAULT_PERSONS[0], "walk", cfg.radar, 1.0, 10.0, 0)  # warm-up
    for act in ACTIVITIES:
        walls = []
        for rep in range(args.repeats):
            t0 = time.perf_counter()
            simulate_recording(DEFAULT_PERSONS[rep % 6], act, cfg.radar, args.duration, 10.0,
                               seed=rep)
            walls.append(time.perf_counter() - t0)
        out["realtime_factor"][act] = round(args.duration / statistics.median(walls), 1)

    if not args.no_dataset:
        tasks = cfg.tasks()
        out["dataset_recordings"] = len(tasks)
        out["dataset_simulated_s"] = round(len(tasks) * cfg.duration_s, 1)
        out["workers"] = args.workers
        t0 = time.perf_counter()
        n = sum(1 for _ in simulate_dataset(cfg, workers=args.workers, progress=False))
        out["dataset_sim_s"] = round(time.perf_counter() - t0, 2)
        assert n == len(tasks)
        t0 = time.perf_counter()
        with process_pool(args.workers) as ex:
            n_frames = sum(ex.map(_sim_and_process, tasks, chunksize=2))
        out["dataset_sim_proc_s"] = round(time.perf_counter() - t0, 2)
        out["dataset_frames"] = n_frames
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            raws = simulate_dataset(cfg, workers=args.workers, progress=False)
            write_frames_dataset(raws, os.path.join(tmp, "ds"), progress=False)
            out["dataset_write_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
