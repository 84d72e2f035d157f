"""A run's life: running -> complete | failed; kill -9 and resume; foreign checkpoints.

Tiny synthetic CSV runs through the CLI (a subprocess each). A killed run is made with a
wrapper that stops the training inside a chosen step (it touches a file there and waits),
so the SIGKILL lands exactly at that point.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
HARLAB = [sys.executable, "-m", "harlab.cli.main"]
# deterministic: fp32, one thread; epochs long enough that a kill lands inside one
SETTINGS = ["--no-progress", "--model", "cnn", "--epochs", "4", "--batch-size", "16",
            "--set", "data.window.length=40", "--set", "data.window.step=20",
            "--set", "data.split.kind=random", "--set", "train.patience=null",
            "--set", "train.precision=32-true", "--set", "train.threads=1",
            "--set", "train.limit_train_batches=6",
            "--set", "model.options.channels=[4,8,8]", "--set", "model.options.head=gap",
            "--set", "model.options.kernel_size=3"]
# the subprocess stops inside training step 2 of epoch 1, the validation of epoch 2, or
# just after epoch 1's last.ckpt is saved (before that epoch's training metrics are logged)
KILLABLE = """
import os, sys, time
from pathlib import Path
from lightning.pytorch.callbacks import ModelCheckpoint
from harlab.tasks.classifier import WindowClassifier
point, here = os.environ["STOP_AT"], Path(os.environ["STOP_SIGNAL"])

def stop(name, epoch, batch):
    def step(self, batch_data, batch_idx):
        if point == name and self.current_epoch == epoch and batch_idx == batch:
            here.touch()
            time.sleep(600)
        return getattr(WindowClassifier, "_orig_" + name)(self, batch_data, batch_idx)
    return step

for name, epoch, batch in (("training_step", 1, 2), ("validation_step", 2, 0)):
    setattr(WindowClassifier, "_orig_" + name, getattr(WindowClassifier, name))
    setattr(WindowClassifier, name, stop(name, epoch, batch))
saving = ModelCheckpoint.on_train_epoch_end

def saved(self, trainer, pl_module):
    saving(self, trainer, pl_module)
    if point == "last_checkpoint" and self.filename == "last" and trainer.current_epoch == 1:
        here.touch()
        time.sleep(600)

ModelCheckpoint.on_train_epoch_end = saved
from harlab.cli.main import main
sys.argv = ["harlab", *sys.argv[1:]]
main()
"""


def write_data(root: Path, channels: int) -> Path:
    """4 subjects, 2 classes at 20 Hz, ``channels`` channels, in harlab's CSV schema."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for s in range(4):
        n = 1200
        label = np.where((np.arange(n) // 100) % 2 == 0, "walk", "sit")
        x = rng.normal(size=(n, channels)) + (label == "walk")[:, None]
        pd.DataFrame({"subject": f"p{s}", "session": 1, "timestamp": np.arange(n) / 20.0,
                      **{f"c{i}": x[:, i] for i in range(channels)}, "label": label}
                     ).to_csv(root / f"p{s}.csv", index=False)
    return root


def run_cli(args: list[str], env: dict[str, str], code: int = 0
            ) -> subprocess.CompletedProcess:
    proc = subprocess.run(HARLAB + args, env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == code, f"{args}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2, no traceback, the error on one (last) line holding ``words``."""
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr
    for w in words:
        assert w in last, last


def train_run(env: dict[str, str], data: Path, out: Path, *extra: str) -> Path:
    run_cli(["train", "--dataset", "custom", "--path", str(data), "--out", str(out),
             *SETTINGS, *extra], env)
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def marker(run: Path) -> dict:
    return json.loads((run / ".harlab-run").read_text())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    e = dict(os.environ, HARLAB_CACHE=str(tmp_path_factory.mktemp("cache")),
             PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT / "src"))
    e.pop("HARLAB_RUN_DIR", None)
    return e


@pytest.fixture(scope="module")
def data3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("d") / "three", 3)


@pytest.fixture(scope="module")
def reference(env: dict[str, str], data3: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Path:
    """The uninterrupted run."""
    return train_run(env, data3, tmp_path_factory.mktemp("reference"))


@pytest.mark.slow
def test_complete_run_records_its_state_and_limits(reference: Path) -> None:
    record = marker(reference)
    assert record["state"] == "complete" and len(record["attempts"]) == 1
    assert record["attempts"][0]["outcome"] == "complete"
    m = json.loads((reference / "metrics.json").read_text())
    assert m["epochs_trained"] == 4 and m["stopped_by"] is None
    assert "unfinished_epoch" not in m
    # 6 of the 17 batches of 16 of the training part's windows
    assert m["train_batches_per_epoch"]["used"] == 6 and m["train_batches_per_epoch"]["of"] > 6
    assert "(train.limit_train_batches)" in (reference / "summary.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("point", ["training_step", "validation_step", "last_checkpoint"])
def test_kill_9_then_resume_equals_the_uninterrupted_run(
    point: str, reference: Path, data3: Path, env: dict[str, str], tmp_path: Path
) -> None:
    out, signal_file = tmp_path / "runs", tmp_path / "reached"
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    proc = subprocess.Popen(
        [sys.executable, str(script), "train", "--dataset", "custom", "--path", str(data3),
         "--out", str(out), *SETTINGS], env=dict(env, STOP_AT=point, STOP_SIGNAL=str(signal_file)),
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not signal_file.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    assert marker(run)["state"] == "running" and not (run / "metrics.json").exists()
    # an unfinished run is refused by evaluate/predict/export, or used with a warning
    one_line_error(run_cli(["evaluate", str(run)], env, code=2), "unfinished run",
                   "--allow-unfinished", f"harlab train --resume {run}")
    one_line_error(run_cli(["export", str(run)], env, code=2), "unfinished run")
    allowed = run_cli(["evaluate", str(run), "--allow-unfinished"], env)
    assert "unfinished run" in " ".join(allowed.stdout.split())
    for ev in run.glob("evaluation-*.json"):
        ev.unlink()  # written by the test itself; the comparison below is of training
    # resume with its own settings: 4 epochs (not the default 30), config.yaml unchanged
    config_before = (run / "config.yaml").read_text()
    run_cli(["train", "--resume", str(run), "--no-progress"], env)
    assert (run / "config.yaml").read_text() == config_before
    record = marker(run)
    assert record["state"] == "complete" and len(record["attempts"]) == 2
    assert record["attempts"][1]["resumed_from_epoch"] == (1 if point == "training_step" else 2)
    if point == "last_checkpoint":  # epoch 1's training metrics never reached the first log
        first = pd.read_csv(run / "logs" / "metrics.csv")
        assert first.loc[first["epoch"] == 1, "train_loss"].isna().all()
    assert [p for p in out.iterdir()] == [run]  # continued in place, nothing else made
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    # identical to the run that was never interrupted: predictions, scores, whole history
    pd.testing.assert_frame_equal(pd.read_csv(run / "predictions.csv"),
                                  pd.read_csv(reference / "predictions.csv"))
    mine, ref = (json.loads((r / "metrics.json").read_text()) for r in (run, reference))
    assert mine["test"]["confusion_matrix"] == ref["test"]["confusion_matrix"]
    assert mine["epochs_trained"] == ref["epochs_trained"] == 4
    hist, ref_hist = (pd.read_csv(r / "history.csv") for r in (run, reference))
    assert list(hist["epoch"]) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(hist, ref_hist, rtol=1e-5)


@pytest.mark.slow
def test_resume_refusals_and_extension(reference: Path, env: dict[str, str],
                                       tmp_path: Path) -> None:
    from harlab.runs import set_run_state

    # a complete run is never changed
    before = {p: p.read_bytes() for p in reference.rglob("*") if p.is_file()}
    one_line_error(run_cli(["train", "--resume", str(reference), "--epochs", "9"], env, code=2),
                   "is a complete run and is never changed", "config.yaml")
    assert {p: p.read_bytes() for p in reference.rglob("*") if p.is_file()} == before
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    set_run_state(run, "failed", error="test: stopped")
    # options that would change the run's settings are refused, naming them
    for args, named in ((["configs/demo.yaml"], "CONFIG"), (["--set", "train.lr=0.1"], "--set"),
                        (["--dataset", "hapt"], "--dataset"), (["--model", "lstm"], "--model"),
                        (["--out", str(tmp_path)], "--out")):
        one_line_error(run_cli(["train", "--resume", str(run), *args], env, code=2), named,
                       "only --epochs and --no-progress")
    one_line_error(run_cli(["train", "--resume", str(run), "--epochs", "3"], env, code=2),
                   "may raise that number, not lower it")
    # truncated and tampered checkpoints: one line each
    last = run / "checkpoints" / "last.ckpt"
    good = last.read_bytes()
    last.write_bytes(good[:2000])
    one_line_error(run_cli(["train", "--resume", str(run)], env, code=2), "last.ckpt",
                   "not a readable checkpoint")
    ck = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    ck["state_dict"] = {k: v[..., :1] if v.ndim else v for k, v in ck["state_dict"].items()}
    torch.save(ck, last)
    one_line_error(run_cli(["train", "--resume", str(run)], env, code=2), "last.ckpt",
                   "does not fit its run's model")
    last.write_bytes(good)
    # --epochs raises an unfinished run's max_epochs, recorded in config.yaml; the history
    # keeps the first attempt's epochs
    run_cli(["train", "--resume", str(run), "--epochs", "5", "--no-progress"], env)
    assert "max_epochs: 5\n" in (run / "config.yaml").read_text()
    assert list(pd.read_csv(run / "history.csv")["epoch"]) == [0, 1, 2, 3, 4]
    assert (run / "logs" / "attempt-2" / "metrics.csv").is_file()
    record = marker(run)
    assert [a["outcome"] for a in record["attempts"]] == ["failed", "complete"]
    assert record["attempts"][0]["error"] == "test: stopped"


@pytest.mark.slow
def test_checkpoints_of_other_runs_are_refused(reference: Path, data3: Path,
                                               env: dict[str, str], tmp_path: Path) -> None:
    two = train_run(env, write_data(tmp_path / "two", 2), tmp_path / "r2", "--epochs", "1")
    lstm = train_run(env, data3, tmp_path / "r3", "--epochs", "1", "--model", "lstm",
                     "--set", "model.options={}")
    for source, words in ((two, ("its channels is ['c0', 'c1']",)),
                          (lstm, ("its model is lstm", "the run's is cnn"))):
        run = tmp_path / f"mixed-{source.parent.name}"
        shutil.copytree(reference, run)
        shutil.copy2(source / "checkpoints" / "best.ckpt", run / "checkpoints" / "best.ckpt")
        for args in (["evaluate", str(run)], ["export", str(run)],
                     ["predict", str(run), "--input", str(data3 / "p0.csv")]):
            one_line_error(run_cli(args, env, code=2), "does not belong to run", *words)
        assert not (run / "export").exists()


@pytest.mark.slow
def test_evaluate_refuses_another_channel_count(reference: Path, data3: Path,
                                                env: dict[str, str], tmp_path: Path) -> None:
    """A run whose data now have another channel count than its checkpoint: one line."""
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    data = write_data(tmp_path / "two", 2)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace(
        str(data3), str(data)))
    one_line_error(run_cli(["evaluate", str(run)], env, code=2), "best.ckpt",
                   "the model takes windows of shape [40, 3]", "[40, 2]")


def test_failed_run_is_marked_with_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             data3_local: Path) -> None:
    import harlab.training as training
    from harlab.config import load_config
    from harlab.errors import ConfigError

    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(training, "fit_module", broken)
    cfg = load_config(None, ["data.dataset=custom", f"data.path={data3_local}",
                             "data.window.length=40", "data.window.step=20",
                             "data.split.kind=random", "model.name=cnn",
                             f"output_dir={tmp_path / 'runs'}", "train.progress=false"])
    with pytest.raises(RuntimeError, match="disk on fire"):
        training.train(cfg)
    (run,) = list((tmp_path / "runs").iterdir())
    record = marker(run)
    assert record["state"] == "failed"
    assert record["attempts"][0]["error"] == "RuntimeError: disk on fire"
    assert (run / "config.yaml").is_file()  # kept, never deleted
    # a model that does not fit the data stops before any directory is made
    bad = load_config(None, ["data.dataset=custom", f"data.path={data3_local}",
                             "data.split.kind=random", "data.window.length=4",
                             "data.window.step=4", "model.name=cnn",
                             f"output_dir={tmp_path / 'runs2'}"])
    with pytest.raises(ConfigError, match="too short"):
        training.train(bad)
    assert not (tmp_path / "runs2").exists() or not list((tmp_path / "runs2").iterdir())


@pytest.fixture()
def data3_local(tmp_path: Path) -> Path:
    return write_data(tmp_path / "three", 3)


def test_infinite_lr_is_refused_before_a_run_exists(env: dict[str, str], data3: Path,
                                                    tmp_path: Path) -> None:
    one_line_error(run_cli(["train", "--dataset", "custom", "--path", str(data3), "--out",
                            str(tmp_path), "--set", "train.lr=.inf"], env, code=2),
                   "train.lr must be a", "inf")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_max_time_inside_an_epoch_is_not_a_trained_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data3_local: Path
) -> None:
    from harlab.config import load_config
    from harlab.tasks.classifier import WindowClassifier
    from harlab.training import train

    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)
    step = WindowClassifier.training_step

    def slow_step(self: WindowClassifier, batch: object, batch_idx: int) -> object:
        time.sleep(0.4)  # 9 batches of 16: an epoch takes over 3 s, the limit is 1 s
        return step(self, batch, batch_idx)

    monkeypatch.setattr(WindowClassifier, "training_step", slow_step)
    cfg = load_config(None, ["data.dataset=custom", f"data.path={data3_local}",
                             "data.window.length=40", "data.window.step=20",
                             "data.split.kind=random", "model.name=cnn",
                             "model.options={channels: [4, 8, 8], head: gap, kernel_size: 3}",
                             "train.batch_size=16", "train.max_epochs=3",
                             "train.max_time=00:00:00:01", "train.patience=null",
                             "train.progress=false", f"output_dir={tmp_path / 'runs'}"])
    res = train(cfg)
    m = res.metrics
    part = m["unfinished_epoch"]
    assert part["epoch"] == 0 and 1 <= part["batches"] < part["of"] == 9
    assert m["epochs_trained"] == 0 and m["stopped_before_max_epochs"] is True
    assert m["stopped_by"] == "max_time" and "train_batches_per_epoch" not in m
    summary = " ".join((res.run_dir / "summary.md").read_text().split())
    assert (f"train.max_time stopped training inside epoch 0 after {part['batches']} of 9 "
            "batches; that epoch is not counted; stopped after 0 of 3 epochs (the time limit "
            "train.max_time)") in summary
