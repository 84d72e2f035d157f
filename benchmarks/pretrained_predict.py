"""End-to-end time of ``harlab predict --pretrained NAME FILE`` on a 60 s recording; JSON.

Writes a 60 s bring-your-own CSV (timestamp + the card's channels at the card's rate, a
walking-like signal) and times the whole command in a fresh process (interpreter start,
imports, checksum, ONNX session, reading, windowing, prediction, output), ``--repeats``
times, fp32 and int8; also the same in-process (``predict_pretrained`` alone) to show what
the process start costs. ``command_cpu`` is the CPU time (user + system) of the command:
on a busy shared machine the wall time is mostly waiting for a core, and the CPU time is
what an idle machine of the same speed needs. With ``--rate R`` the file is written at R
Hz and predicted with ``--resample``.

    python benchmarks/pretrained_predict.py --name danhar-hapt6 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def recording(path: Path, channels: list[str], rate: float, seconds: float = 60.0) -> Path:
    """A ``seconds`` long CSV: a 1.8 Hz oscillation plus noise on every channel."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    x = np.stack([np.sin(2 * np.pi * 1.8 * t + i) for i in range(len(channels))], axis=1)
    df = pd.DataFrame(x + 0.05 * rng.standard_normal(x.shape), columns=channels)
    df.insert(0, "timestamp", np.round(t, 5))
    df.to_csv(path, index=False)
    return path


def _median_s(times: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3), "repeats": len(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="danhar-hapt6")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rate", type=float, default=None, help="write the file at this rate")
    args = ap.parse_args()

    from harlab.deploy.zoo import load_card, predict_pretrained

    card = load_card(args.name)
    rate = args.rate or card["input"]["rate"]
    with tempfile.TemporaryDirectory() as tmp:
        path = recording(Path(tmp) / "rec.csv", card["input"]["channels"], rate)
        extra = ["--resample"] if args.rate else []
        out: dict = {"benchmark": "pretrained_predict", "model": args.name,
                     "recording_s": 60.0, "file_rate": rate, "cpu": platform.processor()
                     or platform.machine(), "cpus": os.cpu_count()}
        for kind in ("fp32", "int8"):
            flag = ["--int8"] if kind == "int8" else []
            cmd = [sys.executable, "-m", "harlab.cli.main", "predict", "--pretrained",
                   args.name, str(path), *extra, *flag]
            times, cpu = [], []
            for _ in range(args.repeats):
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                times.append(time.perf_counter() - t0)
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
                if proc.returncode:
                    raise SystemExit(proc.stderr)
            windows = sum(1 for line in proc.stdout.splitlines() if line.startswith("{"))
            inproc = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                predict_pretrained(args.name, path, resample=bool(args.rate),
                                   int8=kind == "int8")
                inproc.append(time.perf_counter() - t0)
            out[kind] = {"command": _median_s(times), "command_cpu": _median_s(cpu),
                         "in_process": _median_s(inproc),
                         "windows": windows}
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
