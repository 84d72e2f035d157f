"""Multitask (activity + identity) on real USC-HAD through the CLI, split by trial (session);
strict loading of the multitask configs and of the commands that the multitask results page
(docs/results/multitask.md) and the configs quote."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harlab.config import RunConfig, load_config
from harlab.errors import ConfigError
from harlab.models import build_model
from harlab.paths import shared_data_dir
from tests.e2e.test_train_cli import ROOT, run_cli

USC_CONFIG = "configs/usc_had_multitask_session.yaml"
HAPT_CONFIG = "configs/hapt_multitask_session.yaml"
TRAIN_TRIALS = {"t1", "t2", "t3"}
TEST_TRIALS = {"t4", "t5"}
SLICE_SUBJECTS = ["1", "2", "3", "4", "5"]  # 5 of the 14 persons keep the run short
FAST = [
    "--no-progress",
    "--set", f"data.options.subjects=[{','.join(SLICE_SUBJECTS)}]",
    "--set", "model.options.channels=[8,8,8]",
    "--set", "model.options.head=gap",
    "--set", "train.limit_train_batches=4",
    "--set", "train.patience=null",
    "--set", "train.batch_size=64",
    "--set", "train.precision=32-true",
]
SHARED = shared_data_dir()
needs_usc_had = pytest.mark.skipif(
    SHARED is None or not (SHARED / "usc_had").is_dir(), reason="shared USC-HAD data are absent"
)


# --- configs and quoted commands (no data, no training) -------------------------------------

@pytest.mark.parametrize(
    ("path", "rate", "n_classes", "length", "train", "test"),
    [
        (USC_CONFIG, 100.0, 12, 200, ["t1", "t2", "t3"], ["t4", "t5"]),
        (HAPT_CONFIG, 50.0, 6, 128, ["1"], ["2"]),
    ],
)
def test_multitask_configs_load_strictly(
    path: str, rate: float, n_classes: int, length: int, train: list[str], test: list[str]
) -> None:
    cfg = load_config(ROOT / path)
    assert cfg.task.heads == ["activity", "identity"]
    assert cfg.task.loss_weighting == "flwl" and cfg.task.monitor == "mean"
    split = cfg.data.split
    assert split.kind == "session"
    assert split.train_sessions == train and split.test_sessions == test
    assert not set(split.train_sessions) & set(split.test_sessions)
    assert cfg.data.window.samples(rate) == (length, length // 2)
    assert cfg.model.name == "danhar"
    build_model(cfg.model.name, (length, 6), n_classes, **cfg.model.options)
    with pytest.raises(ConfigError, match="unknown config key"):  # strict: typos are errors
        load_config(ROOT / path, ["task.head=[identity]"])


def _captured_train_config(args: list[str], monkeypatch: pytest.MonkeyPatch) -> RunConfig:
    """The RunConfig ``harlab ARGS`` would train with; stops before any data are read."""
    from typer.testing import CliRunner

    import harlab.training
    from harlab.cli.main import app

    class Stop(Exception):
        pass

    seen: list[RunConfig] = []

    def fake_train(cfg: RunConfig, **_: object) -> None:
        seen.append(cfg)
        raise Stop

    monkeypatch.setattr(harlab.training, "train", fake_train)
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, Stop), (args, result.output, result.exception)
    return seen[0]


def _readme_hapt_commands() -> list[list[str]]:
    """The HAPT multitask commands the multitask results page quotes."""
    text = (ROOT / "docs" / "results" / "multitask.md").read_text()
    section = text[text.index("Measured on HAPT") :]
    start = section.index("```bash\n") + len("```bash\n")
    block = section[start : section.index("```\n", start)]
    block = block.replace("\\\n", " ")
    cmds = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [c[1:] for c in cmds if c[:3] == ["harlab", "train", HAPT_CONFIG]]


def test_readme_hapt_commands_give_the_quoted_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    cmds = _readme_hapt_commands()
    assert len(cmds) == 3
    got = [_captured_train_config(c, monkeypatch) for c in cmds]
    for cfg in got:  # "channels 16/32/48, 4 epochs, one seed", train session 1 / test 2
        assert cfg.model.name == "danhar"
        assert cfg.model.options["channels"] == [16, 32, 48]
        assert cfg.train.max_epochs == 4 and cfg.train.seed == 0
        assert cfg.data.dataset == "hapt"
        assert cfg.data.split.train_sessions == ["1"] and cfg.data.split.test_sessions == ["2"]
    single, equal, flwl = got
    assert single.task.heads == ["identity"]
    assert equal.task.heads == ["activity", "identity"] and equal.task.loss_weighting == "equal"
    assert flwl.task.heads == ["activity", "identity"] and flwl.task.loss_weighting == "flwl"


def test_usc_had_config_commands_load(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (ROOT / USC_CONFIG).read_text().splitlines()
    cmds = [shlex.split(m.group(1)) for line in lines
            if (m := re.fullmatch(r"#\s+(harlab train .*)", line))]
    assert len(cmds) == 3
    heads = [_captured_train_config(c[1:], monkeypatch).task.heads for c in cmds]
    assert heads == [["identity"], ["activity"], ["activity", "identity"]]


# --- one short training run on real USC-HAD ---------------------------------------------------

@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    e = dict(os.environ)
    e["HARLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    e.pop("HARLAB_RUN_DIR", None)
    return e


@pytest.fixture(scope="module")
def usc_run(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    run_cli(["train", USC_CONFIG, "--epochs", "1", "--out", str(out), *FAST], env)
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


@needs_usc_had
@pytest.mark.realdata
@pytest.mark.slow
def test_usc_had_multitask_run(usc_run: Path, env: dict[str, str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("metrics.json", "predictions.csv", "history.csv", "confusion_matrix.png",
                 "confusion_matrix_identity.png", "flwl_rw_histogram.png"):
        assert (usc_run / name).is_file(), name

    # both heads reported; identity classes are the persons of the slice
    metrics = json.loads((usc_run / "metrics.json").read_text())
    heads = metrics["test_heads"]
    assert metrics["heads"] == ["activity", "identity"] == list(heads)
    assert metrics["test"] == heads["activity"]
    assert metrics["task"]["loss_weighting"] == "flwl"
    assert len(heads["activity"]["per_class"]) == 12
    assert [c["class"] for c in heads["identity"]["per_class"]] == SLICE_SUBJECTS
    data = json.loads((usc_run / "data.json").read_text())
    assert data["dataset"] == "usc_had" and data["rate"] == 100.0
    assert (data["window_length"], data["window_step"]) == (200, 100)
    for part in ("train", "val", "test"):
        assert data["split_subjects"][part] == SLICE_SUBJECTS
    assert data["split_sessions"] == {"train": sorted(TRAIN_TRIALS), "val": sorted(TRAIN_TRIALS),
                                      "test": sorted(TEST_TRIALS)}

    # the split: the run's own resolved config, re-prepared here, gives the same parts
    from harlab.data.prepare import prepare

    monkeypatch.setenv("HARLAB_CACHE", env["HARLAB_CACHE"])
    cfg = load_config(usc_run / "config.yaml")
    prepared = prepare(cfg.data)
    assert prepared.person_names == SLICE_SUBJECTS
    assert {k: len(v) for k, v in prepared.index.items()} == data["windows"]
    assert set(prepared.sessions("train")) == set(prepared.sessions("val")) == TRAIN_TRIALS
    assert set(prepared.sessions("test")) == TEST_TRIALS
    def recordings(part: str) -> set[tuple[str, str]]:
        return set(zip(prepared.subjects(part), prepared.sessions(part), strict=True))

    for part in ("train", "val"):  # no (person, trial) recording in both train and test
        assert not recordings(part) & recordings("test")
    preds = pd.read_csv(usc_run / "predictions.csv",
                        dtype={"subject": str, "session": str, "true_identity": str,
                               "pred_identity": str})
    assert len(preds) == heads["identity"]["n"] == heads["activity"]["n"]
    assert sorted(preds["window"]) == sorted(prepared.index["test"].tolist())
    assert set(preds["session"]) == TEST_TRIALS
    assert (preds["true_identity"] == preds["subject"]).all()
    assert set(preds["subject"]) == set(SLICE_SUBJECTS)

    # FLWL's r_w = (2 + min w) / (2 + max w) is logged per sample and per epoch, in [2/3, 1]
    rw = preds["flwl_rw"].to_numpy()
    assert np.isfinite(rw).all() and ((rw >= 2 / 3 - 1e-6) & (rw <= 1 + 1e-6)).all()
    history = pd.read_csv(usc_run / "history.csv")
    for col in ("train_flwl_rw", "val_flwl_rw"):
        assert history[col].between(2 / 3 - 1e-6, 1 + 1e-6).all(), col
    assert 2 / 3 <= metrics["flwl_test"]["rw_mean"] <= 1
    assert metrics["flwl_test"]["rw_mean"] == pytest.approx(rw.mean(), abs=1e-3)
