"""End-to-end: train on real data through the CLI, evaluate, predict, resume, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from harlab.paths import shared_data_dir

ROOT = Path(__file__).resolve().parents[2]
HARLAB = [sys.executable, "-m", "harlab.cli.main"]
TINY_MODEL = [
    "--set",
    "model.options.channels=[16,32,48]",
    "--set",
    "model.options.head=gap",
]


def run_cli(
    args: list[str], env: dict[str, str], check: bool = True, timeout: int = 600
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        HARLAB + args, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"harlab {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    e = dict(os.environ)
    e["HARLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    e["PYTHONUNBUFFERED"] = "1"
    e.pop("HARLAB_RUN_DIR", None)
    return e


@pytest.fixture(scope="module")
def hapt_run(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    run_cli(
        [
            "train",
            "configs/demo.yaml",
            "--epochs",
            "3",
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "train.max_time=null",
            "--set",
            "train.patience=null",
            *TINY_MODEL,
        ],
        env,
    )
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def test_hapt_run_directory_contents(hapt_run: Path) -> None:
    for name in (
        "config.yaml",
        "data.json",
        "metrics.json",
        "summary.md",
        "predictions.csv",
        "history.csv",
        "confusion_matrix.png",
        "training_curves.png",
        "per_subject.png",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
    ):
        assert (hapt_run / name).is_file(), name
    for png in hapt_run.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((hapt_run / "metrics.json").read_text())
    data = json.loads((hapt_run / "data.json").read_text())
    # 6 classes, chance is ~0.17: a real model on real data must clearly beat it
    assert metrics["test"]["accuracy"] > 0.6, metrics["test"]
    assert metrics["test"]["macro_f1"] > 0.45
    assert set(data["split_subjects"]["test"]).isdisjoint(data["split_subjects"]["train"])
    assert set(data["split_subjects"]["val"]).isdisjoint(data["split_subjects"]["train"])
    preds = pd.read_csv(hapt_run / "predictions.csv")
    assert len(preds) == data["windows"]["test"] == metrics["test"]["n"]
    assert set(preds["subject"].astype(str)) == set(data["split_subjects"]["test"])
    # checkpoint loads with weights_only=True and carries the preprocessing
    ck = torch.load(hapt_run / "checkpoints" / "best.ckpt", weights_only=True)
    assert ck["hyper_parameters"]["harlab"]["channels"][0] == "acc_x"
    assert len(ck["hyper_parameters"]["harlab"]["normalization"]["mean"]) == 6


def test_evaluate_reproduces_metrics(hapt_run: Path, env: dict[str, str]) -> None:
    proc = run_cli(["evaluate", str(hapt_run)], env)
    assert "macro" in proc.stdout.lower()
    assert "one decision per test segment (mean window probability): activity macro-F1" in (
        " ".join(proc.stdout.split()))
    (ev,) = list(hapt_run.glob("evaluation-test-*.json"))
    got = json.loads(ev.read_text())["metrics"]
    want = json.loads((hapt_run / "metrics.json").read_text())["test"]
    assert got["confusion_matrix"] == want["confusion_matrix"]
    assert got["macro_f1"] == pytest.approx(want["macro_f1"], abs=1e-9)


def test_predict_csv(hapt_run: Path, env: dict[str, str], tmp_path: Path) -> None:
    from harlab.data.sources import get_source

    rs = get_source("hapt").load()
    rec = next(r for r in rs.recordings if r.subject == "2")
    n = 2000
    df = pd.DataFrame(rec.data[:n], columns=list(rec.channels))
    df.insert(0, "timestamp", np.arange(n) / rec.rate)
    path = tmp_path / "rec.csv"
    df.to_csv(path, index=False)
    proc = run_cli(["predict", str(hapt_run), "--input", str(path)], env)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == (n - 128) // 64 + 1
    assert rows[1]["start_s"] == pytest.approx(64 / 50)
    assert {"label", "probability", "start_s", "end_s"} <= set(rows[0])
    out = tmp_path / "pred.csv"
    run_cli(["predict", str(hapt_run), "--input", str(path), "-o", str(out)], env)
    assert len(pd.read_csv(out)) == len(rows)
    # --smooth K: also the decision over the last K windows of the recording
    proc = run_cli(["predict", str(hapt_run), "--input", str(path), "--smooth", "4"], env)
    smooth = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["label"] for r in smooth] == [r["label"] for r in rows]
    assert [r["smoothed_windows"] for r in smooth][:5] == [1, 2, 3, 4, 4]
    assert smooth[0]["label_smoothed"] == smooth[0]["label"]
    proc = run_cli(["predict", str(hapt_run), "--input", str(path), "--smooth", "0"], env,
                   check=False)
    assert proc.returncode == 2 and "--smooth must be a number of windows >= 1" in proc.stderr
    assert "Traceback" not in proc.stderr
    # a hop of 0 is not the default, and a huge one is refused, not an int64 overflow
    for step in ("0", "100000000000000000000"):
        proc = run_cli(["predict", str(hapt_run), "--input", str(path), "--step", step], env,
                       check=False)
        assert proc.returncode == 2 and "--step/--hop must be a whole number" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    # an existing output file is never overwritten; an unwritable one is a one-line error
    for target, message in ((out, "exists"), (tmp_path / "no" / "dir.csv", "No such file")):
        proc = run_cli(["predict", str(hapt_run), "--input", str(path), "-o", str(target)], env,
                       check=False)
        assert proc.returncode != 0 and message in proc.stderr
        assert "Traceback" not in proc.stderr
    # wrong channel set
    df.drop(columns=["gyro_z"]).to_csv(tmp_path / "bad.csv", index=False)
    proc = run_cli(
        ["predict", str(hapt_run), "--input", str(tmp_path / "bad.csv")], env, check=False
    )
    assert proc.returncode != 0 and "gyro_z" in proc.stderr and "Traceback" not in proc.stderr
    # wrong rate
    df2 = df.copy()
    df2["timestamp"] = np.arange(n) / 100.0
    df2.to_csv(tmp_path / "fast.csv", index=False)
    proc = run_cli(
        ["predict", str(hapt_run), "--input", str(tmp_path / "fast.csv")], env, check=False
    )
    assert proc.returncode != 0 and "100 Hz" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli(
        ["predict", str(hapt_run), "--input", str(tmp_path / "fast.csv"), "--resample"], env
    )
    assert len([x for x in proc.stdout.splitlines() if x.startswith("{")]) > 0


def test_resume_and_no_overwrite(env: dict[str, str], tmp_path: Path) -> None:
    common = [
        "train",
        "configs/demo.yaml",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--set",
        "train.limit_train_batches=5",
        "--set",
        "train.max_time=null",
        *TINY_MODEL,
    ]
    run_cli([*common, "--epochs", "1"], env)
    run_cli([*common, "--epochs", "1", "--set", "train.init=orthogonal"], env)
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(runs) == 2  # a second run never reuses the first directory
    for run, init in zip(runs, ("default", "orthogonal"), strict=True):
        assert f"  init: {init}\n" in (run / "config.yaml").read_text()
        ck = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
        assert ck["hyper_parameters"]["init"] == init
    # a complete run is never changed: its resume is refused in one line, nothing written
    before = {p: p.read_bytes() for p in runs[0].rglob("*") if p.is_file()}
    proc = run_cli(["train", "--resume", str(runs[0]), "--epochs", "2", "--no-progress"], env,
                   check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "is a complete run and is never changed" in proc.stderr
    assert {p: p.read_bytes() for p in runs[0].rglob("*") if p.is_file()} == before
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


@pytest.mark.skipif(shared_data_dir() is None, reason="../shared/data not available")
def test_usc_had_slice_beats_chance(env: dict[str, str], tmp_path: Path) -> None:
    run_cli(
        [
            "train",
            "--dataset",
            "usc_had",
            "--model",
            "danhar",
            "--epochs",
            "4",
            "--out",
            str(tmp_path),
            "--no-progress",
            "--set",
            "data.options.subjects=[1,2,3,4,5,6,7,8]",
            "--set",
            "data.window={length: 2.0, step: 1.0, unit: seconds}",
            "--set",
            "data.split={kind: subject, test_subjects: ['7', '8'], seed: 0}",
            "--set",
            "train.patience=null",
            *TINY_MODEL,
        ],
        env,
    )
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    m = json.loads((run / "metrics.json").read_text())["test"]
    assert len(m["per_class"]) == 12
    assert m["accuracy"] > 0.4, m  # chance is 1/12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--dataset", "hapd"], "Did you mean 'hapt'"),
        (["train", "--model", "danhr"], "Did you mean 'danhar'"),
        (["train", "nope.yaml"], "config file not found"),
        (["train", "--set", "train.max_epoch=3"], "Did you mean 'max_epochs'"),
        (["train", "--dataset", "usc_had", "--path", "/nonexistent/usc"], "/nonexistent/usc"),
        (["train", "--set", "data.labels=[1,99]"], "99"),
        (["evaluate", "/nonexistent/run"], "not found"),
    ],
)
def test_cli_user_errors(
    args: list[str], message: str, env: dict[str, str], tmp_path: Path
) -> None:
    proc = run_cli(
        [*args, "--out", str(tmp_path)] if args[0] == "train" else args, env, check=False
    )
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_corrupt_and_foreign_checkpoints(
    hapt_run: Path, env: dict[str, str], tmp_path: Path
) -> None:
    import shutil

    for kind in ("corrupt", "foreign"):
        run = tmp_path / kind
        shutil.copytree(hapt_run, run)
        ck = run / "checkpoints" / "best.ckpt"
        if kind == "corrupt":
            ck.write_bytes(ck.read_bytes()[:1000])
        else:
            torch.save({"state_dict": {}, "something": 1}, ck)
        proc = run_cli(["evaluate", str(run)], env, check=False)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert "best.ckpt" in proc.stderr
        assert ("not a harlab checkpoint" if kind == "foreign" else "not a readable") in proc.stderr


def test_models_and_datasets_listing(env: dict[str, str]) -> None:
    out = run_cli(["models"], env).stdout
    for name in ("danhar", "resnet", "cnn", "deepconvlstm", "lstm"):
        assert name in out
    out = run_cli(["datasets"], env).stdout
    for name in ("hapt", "usc_had", "custom"):
        assert name in out


def test_bring_your_own_csv_with_bad_rows(env: dict[str, str], tmp_path: Path) -> None:
    """A user's CSV folder trains end to end; malformed rows are dropped and counted."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mine"
    folder.mkdir()
    rate, n = 25.0, 1500
    t = np.arange(n) / rate
    for subject in ("ann", "bob", "cem", "dan", "eve"):
        labels = np.where((t // 10) % 2 == 0, "still", "shake")
        amp = np.where(labels == "shake", 1.0, 0.05)
        df = pd.DataFrame({
            "subject": subject, "session": 1, "timestamp": t,
            "ax": amp * np.sin(2 * np.pi * 3 * t) + rng.normal(0, 0.05, n),
            "ay": amp * np.cos(2 * np.pi * 3 * t) + rng.normal(0, 0.05, n),
            "label": labels,
        }).astype({"ax": object})
        if subject == "bob":
            df.loc[[10, 20, 30], "ax"] = "abc"  # malformed cells
            df.loc[[40, 41], "ay"] = np.nan  # empty cells
        df.to_csv(folder / f"{subject}.csv", index=False)
    proc = run_cli(["train", "--dataset", "custom", "--path", str(folder), "--model", "cnn",
                    "--epochs", "10", "--batch-size", "16", "--out", str(tmp_path / "runs"),
                    "--no-progress",
                    "--set", "data.window={length: 2.0, step: 1.0, unit: seconds}",
                    "--set", "data.split={kind: subject, test_subjects: [eve], seed: 0}",
                    "--set", "train.patience=null", *TINY_MODEL], env)
    assert "rows_non_numeric=3" in proc.stdout.replace("\n", "")
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    data = json.loads((run / "data.json").read_text())
    assert data["dropped"]["rows_non_numeric"] == 3
    assert data["dropped"]["rows_missing_value"] == 2
    assert data["class_names"] == ["shake", "still"]
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] > 0.8


def test_cross_validation_reports_mean_and_std(env: dict[str, str], tmp_path: Path) -> None:
    proc = run_cli(["cv", "configs/demo.yaml", "--folds", "0,1", "--seeds", "0", "--epochs", "1",
                    "--out", str(tmp_path), "--no-progress",
                    "--set", "train.limit_train_batches=10", "--set", "train.max_time=null",
                    *TINY_MODEL], env)
    (parent,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    res = json.loads((parent / "cv_results.json").read_text())
    assert [r["fold"] for r in res["runs"]] == [0, 1]
    accs = [r["accuracy"] for r in res["runs"]]
    assert res["summary"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert res["summary"]["accuracy"]["std"] == pytest.approx(np.std(accs, ddof=1))
    assert "±" in (parent / "cv_summary.md").read_text() and "±" in proc.stdout
    # subject folds keep test recordings whole: one decision per segment is summarised too
    assert all(r["segments"] > 0 for r in res["runs"])
    assert res["summary"]["segment_macro_f1"]["n"] == 2
    assert "one decision per segment" in (parent / "cv_summary.md").read_text()
    assert len([p for p in parent.iterdir() if p.is_dir()]) == 2
    # each fold's score is printed as it finishes, and the folds are plotted
    assert proc.stdout.count("test macro-F1") >= 2 and (parent / "cv_folds.png").is_file()
    # a resume with the same plan reuses every finished run and trains nothing
    again = run_cli(["cv", "configs/demo.yaml", "--folds", "0,1", "--seeds", "0", "--epochs",
                     "1", "--out", str(tmp_path), "--no-progress", "--resume",
                     str(parent), "--set", "train.limit_train_batches=10",
                     "--set", "train.max_time=null", *TINY_MODEL], env)
    assert again.stdout.count("finished before, reused") == 2
    assert json.loads((parent / "cv_results.json").read_text())["runs"] == [
        {**r, "reused": True} for r in res["runs"]]
