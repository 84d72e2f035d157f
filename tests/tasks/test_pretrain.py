"""Reconstruction pre-training of the CAE inside one run: decoder, loss, hand-over, resume."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import harlab.training as training
from harlab.config import RunConfig, load_config
from harlab.data.datamodule import WindowDataModule
from harlab.errors import ConfigError
from harlab.models import build_model
from harlab.models.cae import build_cae
from harlab.tasks.classifier import WindowClassifier
from harlab.tasks.pretrain import (
    ReconstructionPretrainer,
    classifier_parameters,
    read_pretrain_history,
    run_pretraining,
)

CAE = {"channels": (3, 4, 4), "hidden": 8, "kernel_size": 3}


@pytest.mark.parametrize("shape", [(7, 5), (13, 9), (1, 3), (150, 100), (11, 2)])
def test_decoder_gives_back_the_input_shape(shape: tuple[int, int]) -> None:
    model = build_cae(shape, 3, **CAE, pretrain_epochs=1)
    x = torch.randn(2, *shape)
    assert model.reconstruct(x).shape == x.shape
    assert model(x).shape == (2, 3)


def test_no_decoder_without_pretraining_and_the_same_classifier_start() -> None:
    torch.manual_seed(0)
    plain = build_cae((13, 9), 3, **CAE)
    torch.manual_seed(0)
    pre = build_cae((13, 9), 3, **CAE, pretrain_epochs=2)
    assert plain.decoder is None and pre.decoder is not None
    # the decoder is built last: the classifier's initial weights do not depend on it
    mine = {k: v for k, v in pre.state_dict().items() if not k.startswith("decoder.")}
    assert mine.keys() == plain.state_dict().keys()
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in mine.items())
    assert classifier_parameters(pre) == sum(p.numel() for p in plain.parameters())
    with pytest.raises(ValueError, match="no decoder"):
        plain.reconstruct(torch.randn(1, 13, 9))


@pytest.mark.parametrize(("name", "options", "match"), [
    ("cae", {"pretrain_epochs": -1}, "cae: pretrain_epochs must be an integer >= 0"),
    ("cae", {"pretrain_epochs": 1.5}, "cae: pretrain_epochs"),
    ("cnn", {"pretrain_epochs": 3}, "model 'cnn' has no decoder to pre-train"),
])
def test_pretrain_epochs_is_checked(name: str, options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        build_model(name, (20, 4), 3, **options)
    assert "\n" not in str(err.value)


def _module(epochs: int, shape: tuple[int, int] = (12, 5)) -> WindowClassifier:
    """A CAE classifier whose 2-layer encoder keeps 8 x 1 x 3 values of a window."""
    harlab = {"version": training.RUN_FORMAT, "dataset": "custom"}
    options = {**CAE, "channels": (8, 8), "pretrain_epochs": epochs}
    return WindowClassifier("cae", options, list(shape),
                            ["a", "b"], lr=1e-2, harlab=harlab)


def _mse(module: WindowClassifier, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.mean((module.model.reconstruct(x) - x) ** 2))


def test_pretraining_lowers_the_loss_and_hands_over_the_encoder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    t = torch.linspace(0, 6.28, 12)
    # learnable: every window is one of 4 smooth patterns, a little noise
    base = torch.stack([torch.outer(torch.sin(t * (k + 1)), torch.ones(5)) for k in range(4)])
    x = (base[torch.arange(64) % 4] + 0.05 * torch.randn(64, 12, 5)).numpy()
    y = np.arange(64) % 2
    dm = WindowDataModule({"train": x, "val": x[:4]}, {"train": y, "val": y[:4]},
                          batch_size=16)
    module = _module(30)
    before = _mse(module, torch.from_numpy(x))
    cfg = load_config(None, ["train.precision=32-true", "train.progress=false"]).train
    lines: list[str] = []
    facts = run_pretraining(module, dm, tmp_path, cfg, False, lines.append)
    after = _mse(module, torch.from_numpy(x))
    assert facts is not None and facts["epochs"] == 30
    assert after < 0.5 * before
    assert facts["final_reconstruction_mse"] < facts["first_epoch_reconstruction_mse"]
    assert [r["epoch"] for r in read_pretrain_history(tmp_path)] == list(range(30))
    # the classifier holds the checkpoint's encoder; the decoder is frozen for the fit
    saved = torch.load(tmp_path / "checkpoints" / "pretrain.ckpt", weights_only=True)
    for k, v in module.model.encoder.state_dict().items():
        assert torch.equal(v, saved["state_dict"][f"autoencoder.encoder.{k}"])
    assert not any(p.requires_grad for p in module.model.decoder.parameters())
    assert all(p.requires_grad for p in module.model.encoder.parameters())
    # a second call reuses the finished checkpoint in a new module and trains nothing
    again = _module(30)
    run_pretraining(again, dm, tmp_path, cfg, False, lines.append)
    assert _mse(again, torch.from_numpy(x)) == pytest.approx(after, rel=1e-6)
    assert "not repeated" in lines[-1]


# --- whole runs: tiny CSV data, fp32, one thread ------------------------------------------


def _write_data(root: Path) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for s in range(4):
        n = 480
        label = np.where((np.arange(n) // 48) % 2 == 0, "walk", "sit")
        x = rng.normal(size=(n, 5)) + (label == "walk")[:, None]
        pd.DataFrame({"subject": f"p{s}", "session": 1, "timestamp": np.arange(n) / 20.0,
                      **{f"c{i}": x[:, i] for i in range(5)}, "label": label}
                     ).to_csv(root / f"p{s}.csv", index=False)
    return root


def _config(data: Path, out: Path, pretrain: int | None) -> RunConfig:
    sets = ["data.dataset=custom", f"data.path={data}", "data.window.length=13",
            "data.window.step=13", "data.split.kind=random", "model.name=cae",
            "model.options.channels=[3,4,4]", "model.options.hidden=8",
            "train.max_epochs=3", "train.batch_size=16", "train.patience=null",
            "train.precision=32-true", "train.threads=1", "train.progress=false",
            f"output_dir={out}"]
    if pretrain is not None:
        sets.append(f"model.options.pretrain_epochs={pretrain}")
    return load_config(None, sets)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_data(tmp_path_factory.mktemp("d") / "five")


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)


def _one_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def _stop_in(monkeypatch: pytest.MonkeyPatch, cls: type, epoch: int) -> None:
    """Make ``cls.training_step`` fail in ``epoch`` (a crash there: the run's files are
    what a kill leaves)."""
    orig: Callable[..., Any] = cls.training_step

    def step(self: Any, batch: Any, idx: int) -> Any:
        if self.current_epoch == epoch:
            raise RuntimeError(f"stopped in epoch {epoch}")
        return orig(self, batch, idx)

    monkeypatch.setattr(cls, "training_step", step)


def _forbid(monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
    def step(self: Any, batch: Any, idx: int) -> Any:
        raise AssertionError(f"{cls.__name__} trained again")

    monkeypatch.setattr(cls, "training_step", step)


@pytest.fixture(scope="module")
def reference(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The uninterrupted run with 3 pre-training epochs; the encoder the fit started from."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("ref")
    mp.setenv("HARLAB_CACHE", str(root / "cache"))
    mp.delenv("HARLAB_RUN_DIR", raising=False)
    started: dict[str, torch.Tensor] = {}
    orig = training._fit_config

    def spy(module: Any, *args: Any, **kwargs: Any) -> Any:
        started.update({k: v.clone() for k, v in module.model.encoder.state_dict().items()})
        return orig(module, *args, **kwargs)

    mp.setattr(training, "_fit_config", spy)
    try:
        result = training.train(_config(data, root / "runs", 3))
    finally:
        mp.undo()
    return {"run": result.run_dir, "metrics": result.metrics, "started": started}


def test_a_run_pretrains_then_fits_from_the_encoder(reference: dict[str, Any]) -> None:
    run, metrics = reference["run"], reference["metrics"]
    pre = metrics["pretrain"]
    assert pre["epochs"] == 3 and pre["checkpoint"] == "checkpoints/pretrain.ckpt"
    assert pre["final_reconstruction_mse"] == read_pretrain_history(run)[-1][
        "reconstruction_mse"]
    assert json.loads((run / "metrics.json").read_text())["pretrain"] == pre
    assert metrics["epochs_trained"] == 3
    saved = torch.load(run / "checkpoints" / "pretrain.ckpt", weights_only=True)["state_dict"]
    for k, v in reference["started"].items():  # the fit started from the pre-trained encoder
        assert torch.equal(v, saved[f"autoencoder.encoder.{k}"])
    assert "**pre-training**: 3 epochs" in (run / "summary.md").read_text()


def _same_result(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["test"]["macro_f1"] == b["test"]["macro_f1"]
    assert a["test"]["confusion_matrix"] == b["test"]["confusion_matrix"]
    assert a["best_val_macro_f1"] == b["best_val_macro_f1"]


def test_killed_during_pretraining_resumes_there(
        data: Path, tmp_path: Path, cache: None, monkeypatch: pytest.MonkeyPatch,
        reference: dict[str, Any]) -> None:
    _stop_in(monkeypatch, ReconstructionPretrainer, 1)
    with pytest.raises(RuntimeError, match="stopped in epoch 1"):
        training.train(_config(data, tmp_path / "runs", 3))
    run = _one_run(tmp_path / "runs")
    assert not (run / "checkpoints" / "last.ckpt").exists()
    assert len(read_pretrain_history(run)) == 1
    monkeypatch.undo()
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    result = training.resume(run)
    marker = json.loads((run / ".harlab-run").read_text())
    assert marker["attempts"][-1]["pretrain_epochs_done"] == 1
    assert [r["epoch"] for r in read_pretrain_history(run)] == [0, 1, 2]
    assert result.metrics["pretrain"]["final_reconstruction_mse"] == pytest.approx(
        reference["metrics"]["pretrain"]["final_reconstruction_mse"], rel=1e-6)
    _same_result(result.metrics, reference["metrics"])


@pytest.mark.parametrize("epoch", [0, 1])
def test_killed_after_pretraining_does_not_pretrain_again(
        data: Path, tmp_path: Path, cache: None, monkeypatch: pytest.MonkeyPatch,
        reference: dict[str, Any], epoch: int) -> None:
    """Stopped in the supervised fit's first epoch (no last.ckpt yet) or its second."""
    _stop_in(monkeypatch, WindowClassifier, epoch)
    with pytest.raises(RuntimeError, match=f"stopped in epoch {epoch}"):
        training.train(_config(data, tmp_path / "runs", 3))
    run = _one_run(tmp_path / "runs")
    assert (run / "checkpoints" / "last.ckpt").exists() == (epoch == 1)
    monkeypatch.undo()
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    _forbid(monkeypatch, ReconstructionPretrainer)
    result = training.resume(run)
    assert result.metrics["pretrain"] == reference["metrics"]["pretrain"] | {
        "seconds": result.metrics["pretrain"]["seconds"]}
    _same_result(result.metrics, reference["metrics"])


def test_pretrain_epochs_zero_is_the_plain_run(data: Path, tmp_path: Path,
                                               cache: None) -> None:
    plain = training.train(_config(data, tmp_path / "a", None))
    zero = training.train(_config(data, tmp_path / "b", 0))
    assert "pretrain" not in zero.metrics and not (zero.run_dir / "pretrain_history.csv").exists()
    _same_result(plain.metrics, zero.metrics)
    a = torch.load(plain.run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    b = torch.load(zero.run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    assert all(torch.equal(v, b["state_dict"][k]) for k, v in a["state_dict"].items())


def test_a_multitask_cae_pretrains_its_backbone() -> None:
    from harlab.tasks.multitask import build_multitask_model
    from harlab.tasks.pretrain import autoencoder_part, pretrain_epochs

    model = build_multitask_model("cae", {**CAE, "pretrain_epochs": 2}, (13, 5),
                                  {"activity": 2, "identity": 3})
    assert autoencoder_part(model) is model.backbone and pretrain_epochs(model) == 2
    x = torch.randn(4, 13, 5)
    assert model.backbone.reconstruct(x).shape == x.shape
    decoder = sum(p.numel() for p in model.backbone.decoder.parameters())
    assert classifier_parameters(model) == sum(p.numel() for p in model.parameters()) - decoder
    plain = build_multitask_model("lstm", {"hidden": 4}, (13, 5), {"activity": 2})
    assert autoencoder_part(plain) is None and pretrain_epochs(plain) == 0


def test_cli_refuses_pretraining_a_model_without_decoder(data: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, HARLAB_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    env.pop("HARLAB_RUN_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "harlab.cli.main", "train", "--dataset", "custom", "--path",
         str(data), "--model", "cnn", "--out", str(tmp_path / "runs"), "--no-progress",
         "--set", "data.window.length=13", "--set", "data.split.kind=random",
         "--set", "model.options.pretrain_epochs=2"],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "model 'cnn' has no decoder to pre-train" in line and "cae" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
