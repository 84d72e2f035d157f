"""A tiny trained run (synthetic custom CSV, DanHAR with 2 small blocks, 1 epoch) shared by
the export, predictor and streaming tests, and its ONNX export."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

RATE = 50.0
CHANNELS = ["acc_x", "acc_y", "acc_z"]


def synthetic_recording(seconds: float, seed: int, rate: float = RATE) -> pd.DataFrame:
    """Two activities (slow vs fast oscillation) alternating every 4 s, 3 channels."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    fast = (t // 4).astype(int) % 2 == 1
    f = np.where(fast, 3.0, 0.7)
    phase = 2 * np.pi * np.cumsum(f) / rate
    x = np.stack([np.sin(phase), np.cos(phase), 0.5 * np.sin(2 * phase)], axis=1)
    x += 0.1 * rng.standard_normal(x.shape)
    df = pd.DataFrame(x, columns=CHANNELS)
    df.insert(0, "timestamp", np.round(t, 4))
    df["label"] = np.where(fast, "running", "walking")
    return df


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harlab.config import load_config
    from harlab.training import train

    root = tmp_path_factory.mktemp("deploy")
    data = root / "data"
    data.mkdir()
    for i, subject in enumerate(["s1", "s2", "s3"]):
        df = synthetic_recording(40, seed=i)
        df.insert(0, "session", "1")
        df.insert(0, "subject", subject)
        df.to_csv(data / f"{subject}.csv", index=False)
    old = os.environ.get("HARLAB_CACHE")
    os.environ["HARLAB_CACHE"] = str(root / "cache")
    try:
        cfg = load_config(None, [
            "data.dataset=custom", f"data.path={data}",
            "data.window.length=32", "data.window.step=16", "data.split.kind=random",
            "model.name=danhar", "model.options.channels=[8,16]", "model.options.head=gap",
            "train.max_epochs=1", "train.precision=32-true", "train.progress=false",
            "train.max_time=null", "train.patience=null", f"output_dir={root / 'runs'}",
        ])
        result = train(cfg)
    finally:
        if old is None:
            os.environ.pop("HARLAB_CACHE", None)
        else:
            os.environ["HARLAB_CACHE"] = old
    return result.run_dir


@pytest.fixture(scope="session")
def exported(tiny_run: Path) -> tuple[Path, Path]:
    from harlab.deploy.export import export_run

    onnx_path, json_path, _ = export_run(tiny_run)
    return onnx_path, json_path
