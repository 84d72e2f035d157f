"""End-to-end multitask (activity + identity) on real HAPT through the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.e2e.test_train_cli import run_cli

FAST = [
    "--no-progress",
    "--set", "model.options.channels=[8,8,8]",
    "--set", "model.options.head=gap",
    "--set", "train.limit_train_batches=4",
    "--set", "train.patience=null",
    "--set", "train.batch_size=64",
    "--set", "train.precision=32-true",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    e = dict(os.environ)
    e["HARLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    e.pop("HARLAB_RUN_DIR", None)
    return e


@pytest.fixture(scope="module")
def mt_run(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    run_cli(["train", "configs/hapt_multitask_session.yaml", "--epochs", "1",
             "--out", str(out), *FAST], env)
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def test_multitask_run_outputs(mt_run: Path) -> None:
    for name in ("metrics.json", "summary.md", "predictions.csv", "confusion_matrix.png",
                 "confusion_matrix_identity.png", "flwl_rw_histogram.png", "history.csv",
                 "checkpoints/best.ckpt"):
        assert (mt_run / name).is_file(), name
    metrics = json.loads((mt_run / "metrics.json").read_text())
    heads = metrics["test_heads"]
    assert metrics["heads"] == ["activity", "identity"]
    assert metrics["test"] == heads["activity"]
    assert len(heads["identity"]["per_class"]) == 30  # 30 HAPT persons
    assert "per_activity" in heads["identity"]
    assert 2 / 3 <= metrics["flwl_test"]["rw_mean"] <= 1
    preds = pd.read_csv(mt_run / "predictions.csv", dtype={"subject": str, "session": str,
                                                           "true_identity": str,
                                                           "pred_identity": str})
    assert len(preds) == heads["identity"]["n"]
    for head, sfx in (("activity", ""), ("identity", "_identity")):  # csv agrees with metrics
        acc = float((preds[f"true{sfx}"] == preds[f"pred{sfx}"]).mean())
        assert acc == pytest.approx(heads[head]["accuracy"])
    assert {"true", "pred", "true_identity", "pred_identity", "flwl_rw"} <= set(preds.columns)
    assert (preds["true_identity"].astype(str) == preds["subject"]).all()
    assert set(preds["session"]) == {"2"}  # trained on session 1, tested on session 2
    history = pd.read_csv(mt_run / "history.csv")
    for col in ("train_flwl_rw", "val_identity_macro_f1", "val_activity_macro_f1"):
        assert col in history.columns, col
    summary = (mt_run / "summary.md").read_text()
    assert "identity head" in summary and "flwl" in summary
    # one decision over k windows / a whole segment of one label; session 2 is all test
    dec = metrics["decisions"]
    assert "skipped" not in dec and dec["hop_s"] < dec["window_s"]
    for head in ("activity", "identity"):
        curve = dec[head]
        assert [e["frames"] for e in curve] == [1, 2, 4, 8, "segment"]
        assert curve[0]["decisions"] == heads[head]["n"]
        assert curve[0]["macro_f1"] == pytest.approx(heads[head]["macro_f1"])
        assert curve[-1]["decisions"] < curve[-2]["decisions"] < curve[0]["decisions"]
    # identity is one label per recording: one segment per test recording (30 persons)
    assert dec["identity"][-1]["decisions"] == 30 < dec["activity"][-1]["decisions"]
    assert "## One decision over several windows" in summary
    assert (mt_run / "decisions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_and_predict_identity(mt_run: Path, env: dict[str, str],
                                       tmp_path: Path) -> None:
    run_cli(["evaluate", str(mt_run)], env)
    (ev,) = list(mt_run.glob("evaluation-test-*.json"))
    got = json.loads(ev.read_text())["heads"]
    want = json.loads((mt_run / "metrics.json").read_text())["test_heads"]
    for head in ("activity", "identity"):
        assert got[head]["confusion_matrix"] == want[head]["confusion_matrix"]
    got_dec = json.loads(ev.read_text())["decisions"]
    want_dec = json.loads((mt_run / "metrics.json").read_text())["decisions"]
    assert [e["decisions"] for e in got_dec["identity"]] == [
        e["decisions"] for e in want_dec["identity"]]

    from harlab.data.sources import get_source

    rec = next(r for r in get_source("hapt").load().recordings if r.subject == "3")
    n = 1000
    df = pd.DataFrame(rec.data[:n], columns=list(rec.channels))
    df.insert(0, "timestamp", np.arange(n) / rec.rate)
    df.to_csv(tmp_path / "rec.csv", index=False)
    proc = run_cli(["predict", str(mt_run), "--input", str(tmp_path / "rec.csv")], env)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert rows and {"label", "identity", "identity_probability"} <= set(rows[0])


def test_identity_with_subject_split_is_one_line_error(env: dict[str, str],
                                                       tmp_path: Path) -> None:
    proc = run_cli(["train", "configs/hapt_multitask_session.yaml", "--out",
                    str(tmp_path), "--split", "subject", *FAST], env, check=False)
    assert proc.returncode == 2 and "split.kind=session" in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_search_ratio(env: dict[str, str], tmp_path: Path) -> None:
    run_cli(["search-ratio", "configs/hapt_multitask_session.yaml", "--ratios", "0.6667,1",
             "--epochs", "1", "--out", str(tmp_path), *FAST], env)
    (parent,) = list(tmp_path.iterdir())
    out = json.loads((parent / "ratio_search.json").read_text())
    assert [r["ratio"] for r in out["runs"]] == [0.6667, 1.0]
    best = max(out["runs"], key=lambda r: r["val_score"])
    assert out["best_ratio"] == best["ratio"]  # chosen on validation only
    assert "(selected)" in (parent / "ratio_search.md").read_text()
    assert len([p for p in parent.iterdir() if p.is_dir()]) == 2
