"""End-to-end: `harlab ablate danhar` and `harlab attention` through the CLI on tiny data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HARLAB = [sys.executable, "-m", "harlab.cli.main"]


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(HARLAB + args, env=env, capture_output=True, text=True, timeout=600,
                          cwd=ROOT)


def tiny_config(tmp: Path) -> Path:
    """A custom CSV of 4 subjects x 2 activities at 20 Hz and a tiny DanHAR config."""
    rng = np.random.default_rng(0)
    frames = []
    for s in ("s1", "s2", "s3", "s4"):
        n = 240
        labels = np.repeat(["rest", "shake"], n // 2)
        amp = np.where(labels == "shake", 1.0, 0.05)[:, None]
        frames.append(pd.DataFrame({
            "subject": s, "timestamp": np.arange(n) / 20.0,
            **{c: (amp * rng.standard_normal((n, 1)))[:, 0] for c in ("ax", "ay")},
            "label": labels,
        }))
    pd.concat(frames).to_csv(tmp / "tiny.csv", index=False)
    cfg = {
        "name": "tiny",
        "data": {"dataset": "custom", "path": str(tmp / "tiny.csv"),
                 "window": {"length": 40, "step": 20},
                 "split": {"kind": "subject", "test_subjects": ["s4"], "val_fraction": 0.3}},
        "model": {"name": "danhar", "options": {"channels": [4, 8, 8], "head": "gap",
                                                "reduction": 4}},
        "train": {"max_epochs": 3, "batch_size": 16, "precision": "32-true",
                  "patience": None},
    }
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_ablate_then_attention(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = dict(os.environ, HARLAB_CACHE=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    env.pop("HARLAB_RUN_DIR", None)
    config = tiny_config(tmp_path)
    out = tmp_path / "runs"
    args = ["ablate", "danhar", str(config), "--seeds", "0", "--epochs", "1",
            "--arrangements", "none,channel_temporal", "--out", str(out),
            "--no-progress", "--set", "train.batch_size=8"]
    proc = run_cli(args, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = " ".join(proc.stdout.split())  # rich wraps long lines
    assert "[1/2] tiny_none_seed0: test macro-F1" in text
    assert "[2/2] tiny_channel_temporal_seed0: test macro-F1" in text
    (parent,) = [p for p in out.iterdir() if p.is_dir()]
    assert parent.name.endswith("ablate_tiny")
    res = json.loads((parent / "ablation.json").read_text())
    assert [r["arrangement"] for r in res["summary"]] == ["none", "channel_temporal"]
    assert [r["epochs_trained"] for r in res["runs"]] == [1, 1]
    assert res["config"]["train"]["max_epochs"] == 1
    none, dual = res["summary"]
    assert dual["parameters"] > none["parameters"]  # attention adds parameters
    for row in res["summary"]:
        assert 0 <= row["accuracy"]["mean"] <= 1 and row["accuracy"]["n"] == 1
    # run directories by arrangement (both may be created within the same second, so their
    # timestamped names do not give the training order)
    by_arr = {yaml.safe_load((p / "config.yaml").read_text())["model"]["options"]["attention"]: p
              for p in parent.iterdir() if p.is_dir()}
    assert sorted(by_arr) == ["channel_temporal", "none"]
    runs = [by_arr["none"], by_arr["channel_temporal"]]
    for run in runs:
        assert (run / "checkpoints" / "best.ckpt").is_file()
    md = (parent / "ablation.md").read_text()
    assert "| none (backbone) | 1 |" in md and "| channel+temporal | 1 |" in md
    lines = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| ")}
    assert lines["channel+temporal"].endswith("| 0.9885 | 2.32M |")  # paper Table VII
    assert lines["none (backbone)"].endswith("| — | — |")
    assert "This run is on custom" in md
    # the arrangement minus the backbone alone, paired by seed (one seed: no interval)
    assert "vs_none" not in none and dual["vs_none"]["difference"]["n"] == 1
    assert dual["vs_none"]["difference"]["mean"] == pytest.approx(
        dual["macro_f1"]["mean"] - none["macro_f1"]["mean"])
    assert "| channel+temporal − none | " in md and "too few" in md
    assert "intervals are shown" not in md  # one comparison: nothing to warn about
    assert (parent / "ablation.png").stat().st_size > 0

    # attention of the dual-attention run on plain (not weak) data: no localisation
    proc = run_cli(["attention", str(runs[1]), "--n", "2"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    att = runs[1] / "attention-test-1"
    info = json.loads((att / "attention.json").read_text())
    assert "localisation" not in info and info["attention"] == "channel_temporal"
    assert (att / "temporal_attention.png").is_file() and (att / "channel_attention.png").is_file()
    # the backbone-only run has no attention maps at all: export says so, plots nothing
    from harlab.evaluation.attention import export_attention

    monkeypatch.setenv("HARLAB_CACHE", env["HARLAB_CACHE"])
    target, info = export_attention(runs[0], "test", 2)
    assert info["attention"] == "none" and "block_geometry" not in info
    assert not list(target.glob("*.png"))


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, HARLAB_CACHE=str(tmp_path / "cache"))
    config = tiny_config(tmp_path)
    for args, msg in (
        (["ablate", "danhar", str(config), "--arrangements", "none,dual"], "unknown arrangement"),
        (["attention", str(tmp_path / "nope")], "run directory not found"),
    ):
        proc = run_cli(args, env)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert msg in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("overrides", "arrangements", "seeds", "match"),
    [
        (["model.name=lstm"], None, [0], "needs model.name danhar"),
        ([], ["channel", "channel"], [0], "repeat"),
        ([], None, [], "at least one"),
    ],
)
def test_ablation_rejects_bad_requests_before_training(
    tmp_path: Path, overrides: list[str], arrangements: list[str] | None, seeds: list[int],
    match: str,
) -> None:
    from harlab.config import load_config
    from harlab.errors import ConfigError
    from harlab.experiments.ablation import run_ablation

    cfg = load_config(tiny_config(tmp_path), [f"output_dir={tmp_path / 'runs'}", *overrides])
    with pytest.raises(ConfigError, match=match):
        run_ablation(cfg, seeds, arrangements)
    assert not (tmp_path / "runs").exists()  # nothing created


def test_interrupted_ablation_resumes_and_merges_seeds_trained_elsewhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seed-major with a summary after every run: an interruption keeps complete pairs;
    --resume reuses finished runs; --merge copies another ablation's seeds in."""
    import harlab.training
    from harlab.config import dump_yaml, load_config
    from harlab.errors import ConfigError
    from harlab.experiments.ablation import run_ablation
    from harlab.runs import create_run_dir
    from harlab.training import TrainResult

    class Interrupted(Exception):
        """Stands for a kill in the middle of the ablation."""

    calls: list[str] = []
    stop_at = [0]

    def fake_train(run_cfg: Any, console: Any = None) -> TrainResult:
        calls.append(run_cfg.name)
        run = create_run_dir(run_cfg.output_dir, run_cfg.name)
        (run / "config.yaml").write_text(dump_yaml(run_cfg))
        if len(calls) == stop_at[0]:
            raise Interrupted  # killed mid-run: no metrics.json
        att = run_cfg.model.options["attention"]
        score = 0.6 + 0.1 * (att != "none") + 0.01 * run_cfg.train.seed
        m = {"test": {"macro_f1": score, "accuracy": score}, "parameters": 10,
             "train_seconds": 1.0, "epochs_trained": 1, "best_val_macro_f1": score}
        (run / "metrics.json").write_text(json.dumps(m))
        return TrainResult(run, m, True)

    monkeypatch.setattr(harlab.training, "train", fake_train)
    config = tiny_config(tmp_path)
    here = load_config(config, [f"output_dir={tmp_path / 'here'}"])
    there = load_config(config, [f"output_dir={tmp_path / 'there'}"])
    arr = ["none", "channel"]
    stop_at[0] = 4  # stopped while training seed 1's second arrangement
    with pytest.raises(Interrupted):
        run_ablation(here, [0, 1], arr)
    (a,) = (tmp_path / "here").iterdir()
    saved = json.loads((a / "ablation.json").read_text())
    assert not saved["complete"]
    assert [(r["arrangement"], r["seed"]) for r in saved["runs"]] == [
        ("none", 0), ("channel", 0), ("none", 1)]
    assert saved["summary"][1]["vs_none"]["difference"]["n"] == 1
    assert "Partial: the ablation is still running" in (a / "ablation.md").read_text()
    stop_at[0] = 0
    b, _ = run_ablation(there, [2], arr)  # seed 2 on another machine
    other, _ = run_ablation(there, [3], ["none", "temporal"])
    before = sorted(a.iterdir())
    with pytest.raises(ConfigError, match=r"cannot merge .* other variants"):
        run_ablation(here, [0], arr, resume=a, merge=[b, other])
    assert sorted(a.iterdir()) == before  # b was fine, but nothing is copied before a refusal
    with pytest.raises(ConfigError, match="give it with --resume DIR"):
        run_ablation(here, [0], arr, merge=[b])
    n = len(calls)
    _, res = run_ablation(here, [0], arr, resume=a, merge=[b])
    assert calls[n:] == ["tiny_channel_seed1"]  # only the run that was interrupted
    assert res["complete"] and res["seeds"] == [0, 1, 2] and len(res["runs"]) == 6
    assert res["merged"][0]["copied"] == 2 and res["merged"][0]["unfinished"] == 0
    none, channel = res["summary"]
    assert channel["vs_none"]["difference"]["n"] == 3
    assert channel["vs_none"]["difference"]["mean"] == pytest.approx(0.1)
    md = (a / "ablation.md").read_text()
    assert f"Merged from `{b}`: 2 runs copied" in md and "Partial" not in md
    assert all((a / r["run"] / "metrics.json").is_file() for r in res["runs"])
    with pytest.raises(ConfigError, match="train.max_epochs: 3 there, 5 now"):
        run_ablation(load_config(config, ["train.max_epochs=5"]), [0], arr, resume=a)
