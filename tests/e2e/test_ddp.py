"""DDP with 2 CPU processes (gloo) gives the same metrics as a single-process evaluation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harlab.training import evaluate

ROOT = Path(__file__).resolve().parents[2]


def test_ddp_two_cpu_processes_match_single_process(tmp_path: Path) -> None:
    env = dict(os.environ, HARLAB_CACHE=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    env.pop("HARLAB_RUN_DIR", None)
    cmd = [
        sys.executable,
        "-m",
        "harlab.cli.main",
        "train",
        "configs/demo.yaml",
        "--out",
        str(tmp_path / "runs"),
        "--no-progress",
        "--epochs",
        "2",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--set",
        "train.precision=32-true",
        "--set",
        "train.max_time=null",
        "--set",
        "train.limit_train_batches=8",
        "--set",
        "train.threads=1",
        "--set",
        "model.options.channels=[16,32,48]",
        "--set",
        "model.options.head=gap",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert "ddp" in json.loads((run / "metrics.json").read_text())["strategy"]
    # validation macro-F1 logged during DDP (each rank scored a disjoint shard, torchmetrics
    # synchronised the states) equals a single-process evaluation of the same weights
    hist = pd.read_csv(run / "history.csv")
    last_val = float(hist.dropna(subset=["val_macro_f1"]).iloc[-1]["val_macro_f1"])
    os.environ["HARLAB_CACHE"] = env["HARLAB_CACHE"]
    try:
        single = evaluate(run, part="val", checkpoint="last")
        test_single = evaluate(run, part="test", checkpoint="best")
    finally:
        os.environ.pop("HARLAB_CACHE", None)
    assert single["metrics"]["macro_f1"] == pytest.approx(last_val, abs=1e-5)
    test_ddp = json.loads((run / "metrics.json").read_text())["test"]
    assert test_single["metrics"]["confusion_matrix"] == test_ddp["confusion_matrix"]
