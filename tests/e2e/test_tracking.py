"""Experiment tracking (train.loggers): what TensorBoard and MLflow received, read back with
each library's own reader; studies grouped; a missing package named in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harlab.config import load_config
from harlab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

SETTINGS = ["data.dataset=custom", "model.name=cnn", "train.max_epochs=2",
            "train.batch_size=16", "data.window.length=40", "data.window.step=20",
            "data.split.kind=random", "train.patience=null", "train.precision=32-true",
            "train.limit_train_batches=3", "train.progress=false",
            "model.options.channels=[4,8,8]", "model.options.head=gap",
            "model.options.kernel_size=3"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 subjects, 2 classes at 20 Hz, 3 channels, in harlab's CSV schema."""
    root = tmp_path_factory.mktemp("csv")
    rng = np.random.default_rng(0)
    for s in range(3):
        n = 600
        label = np.where((np.arange(n) // 100) % 2 == 0, "walk", "sit")
        x = rng.normal(size=(n, 3)) + (label == "walk")[:, None]
        pd.DataFrame({"subject": f"p{s}", "session": 1, "timestamp": np.arange(n) / 20.0,
                      **{f"c{i}": x[:, i] for i in range(3)}, "label": label}
                     ).to_csv(root / f"p{s}.csv", index=False)
    return root


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "HARLAB_RUN_DIR",
                 "HARLAB_STUDY_DIR"):
        monkeypatch.delenv(name, raising=False)


def _cfg(data_dir: Path, out: Path, *extra: str):
    return load_config(None, [*SETTINGS, f"data.path={data_dir}", f"output_dir={out}",
                              *extra])


def test_logger_names_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown logger 'wandb'"):
        load_config(None, ["train.loggers=[csv, wandb]"])
    with pytest.raises(ConfigError, match="twice"):
        load_config(None, ["train.loggers=[mlflow, mlflow]"])
    with pytest.raises(ConfigError, match="train.loggers must be a list"):
        load_config(None, ["train.loggers=mlflow"])
    assert load_config(None, []).train.loggers == ["csv"]


def test_a_missing_tracking_package_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    import harlab.tracking as tracking

    monkeypatch.setattr(tracking, "find_spec", lambda name: None)
    with pytest.raises(ConfigError) as err:
        tracking.check_installed(["csv", "mlflow"])
    assert "pip install 'harlab[tracking]'" in str(err.value) and "\n" not in str(err.value)


def test_train_refuses_a_missing_logger_before_making_a_run(data_dir: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    import harlab.tracking as tracking
    from harlab.training import train

    monkeypatch.setattr(tracking, "find_spec",
                        lambda name: None if name in ("tensorboard", "tensorboardX") else 1)
    with pytest.raises(ConfigError, match=r"tensorboard package is not installed"):
        train(_cfg(data_dir, tmp_path / "runs", "train.loggers=[mlflow, tensorboard]"))
    assert not (tmp_path / "runs").exists()


def test_cli_names_an_unknown_logger_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harlab.cli.main", "train", "configs/demo.yaml",
                           "--out", str(tmp_path), "--set", "train.loggers=[csv, wandb]"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and "train.loggers" in lines[0] and "wandb" in lines[0]
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_tensorboard_and_mlflow_receive_config_metrics_and_reports(data_dir: Path,
                                                                    tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from harlab.tracking import describe
    from harlab.training import read_history, train

    out = tmp_path / "runs"
    res = train(_cfg(data_dir, out, "train.loggers=[csv, tensorboard, mlflow]"))
    run = res.run_dir
    line = describe(["csv", "tensorboard", "mlflow"], run)  # what the run printed
    assert f"--logdir {run}" in line and (out / "mlruns").resolve().as_uri() in line
    history = read_history(run)  # the CSV log is still there and still read
    assert [r["epoch"] for r in history] == [0, 1]
    metrics = json.loads((run / "metrics.json").read_text())

    events = EventAccumulator(str(run / "tensorboard")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"val_macro_f1", "train_loss", "test_macro_f1", "test_accuracy"} <= tags
    val = [e.value for e in events.Scalars("val_macro_f1")]
    assert val == pytest.approx([r["val_macro_f1"] for r in history], abs=1e-6)
    (test_f1,) = [e.value for e in events.Scalars("test_macro_f1")]
    assert test_f1 == pytest.approx(metrics["test"]["macro_f1"], abs=1e-6)

    client = MlflowClient((out / "mlruns").as_uri())
    (found,) = client.search_runs([client.get_experiment_by_name("harlab").experiment_id])
    assert found.info.status == "FINISHED" and found.info.run_name == run.name
    params = found.data.params
    assert params["config/train/max_epochs"] == "2" and params["config/model/name"] == "cnn"
    assert found.data.metrics["test_macro_f1"] == pytest.approx(metrics["test"]["macro_f1"])
    val_hist = client.get_metric_history(found.info.run_id, "val_macro_f1")
    assert [m.value for m in sorted(val_hist, key=lambda m: m.step)] == pytest.approx(
        [r["val_macro_f1"] for r in history], abs=1e-6)
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"summary.md", "metrics.json", "config.yaml", "confusion_matrix.png",
            "training_curves.png"} <= artifacts
    assert not (Path.cwd() / "mlruns").exists()


@pytest.mark.slow
def test_a_study_groups_its_runs(data_dir: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    from harlab.experiments.engine import Plan, Variant, open_study, run_study

    store = tmp_path / "store"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())  # the variable wins
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "studies")
    base = _cfg(data_dir, tmp_path, "train.loggers=[tensorboard, mlflow]", "train.max_epochs=1")
    plan = Plan(kind="cv", base=base, variants=[Variant("run")], folds=None, seeds=[0, 1])
    parent, record = open_study(plan, tmp_path / "study")
    results = run_study(parent, plan, record)
    names = {r.run_dir.name for r in results}
    assert len(names) == 2
    assert {p.name for p in (parent / "tensorboard").iterdir()} == names
    assert not (parent / "mlruns").exists()
    client = MlflowClient(store.as_uri())
    runs = client.search_runs([client.get_experiment_by_name("studies").experiment_id])
    (study_run,) = [r for r in runs if "harlab.study_id" in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == study_run.info.run_id]
    assert {r.info.run_name for r in children} == names and len(runs) == 3


def test_test_metrics_are_named_per_head_and_only_finite_scalars() -> None:
    from harlab.tracking import scalar_test_metrics

    single = {"test": {"accuracy": 0.5, "macro_f1": float("nan"), "per_class": [1, 2],
                       "n": 10, "balanced": True}}
    assert scalar_test_metrics(single) == {"test_accuracy": 0.5, "test_n": 10.0}
    multi = {"test": {"accuracy": 0.5},
             "test_heads": {"activity": {"accuracy": 0.5}, "identity": {"macro_f1": 0.25}}}
    assert scalar_test_metrics(multi) == {"test_accuracy": 0.5, "test_identity_macro_f1": 0.25}


@pytest.mark.slow
def test_a_resumed_run_continues_its_mlflow_run(data_dir: Path, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from harlab.runs import set_run_state
    from harlab.training import read_history, resume, train

    out = tmp_path / "runs"
    run = train(_cfg(data_dir, out, "train.loggers=[csv, mlflow]", "train.max_epochs=1")
                ).run_dir
    set_run_state(run, "failed", error="test: stopped after epoch 1")
    resume(run, 2, False)
    client = MlflowClient((out / "mlruns").as_uri())
    runs = client.search_runs([client.get_experiment_by_name("harlab").experiment_id])
    assert len(runs) == 1  # the resume went on in the run's own MLflow run
    (found,) = runs
    assert found.info.status == "FINISHED" and found.info.run_name == run.name
    assert found.data.params["config/train/max_epochs"] == "1"  # parameters cannot change
    assert found.data.tags["resumed/config/train/max_epochs"] == "2"
    hist = sorted(client.get_metric_history(found.info.run_id, "val_macro_f1"),
                  key=lambda m: m.step)
    assert [m.value for m in hist] == pytest.approx(
        [r["val_macro_f1"] for r in read_history(run)], abs=1e-6)
    assert len(hist) == 2


def test_loggers_option_sets_train_loggers() -> None:
    from harlab.cli.common import shortcut_overrides

    assert shortcut_overrides(loggers="csv, tensorboard,mlflow") == [
        "train.loggers=[csv, tensorboard, mlflow]"]
    cfg = load_config(None, shortcut_overrides(loggers="tensorboard"))
    assert cfg.train.loggers == ["tensorboard"]
    with pytest.raises(ConfigError, match="unknown logger 'wandb'"):
        load_config(None, shortcut_overrides(loggers="csv,wandb"))
