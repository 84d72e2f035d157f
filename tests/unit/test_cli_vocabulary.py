"""One option vocabulary across the commands: parsed through Typer, stopped before training.

Each command's work function is replaced by one that records what the command passed it
and stops, so these tests check the option parsing only (no data are read, nothing trains).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from harlab.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DEMO = "configs/demo.yaml"
MULTITASK = "configs/hapt_multitask_session.yaml"

# command line (without options under test) -> the function it hands its work to
WRITERS: dict[str, tuple[list[str], str]] = {
    "train": (["train", DEMO], "harlab.training.train"),
    "cv": (["cv", DEMO], "harlab.experiments.cv.cross_validate"),
    "ablate danhar": (["ablate", "danhar", DEMO], "harlab.experiments.ablation.run_ablation"),
    "ablate tasks": (["ablate", "tasks", MULTITASK],
                     "harlab.experiments.tasks_ablation.run_tasks_ablation"),
    "search-ratio": (["search-ratio", MULTITASK],
                     "harlab.experiments.ratio_search.ratio_search"),
    "compare": (["compare", "runs/a", "runs/b"], "harlab.experiments.compare.write_comparison"),
    "reproduce danhar": (["reproduce", "danhar"],
                         "harlab.experiments.reproduce_danhar.reproduce_danhar"),
    "reproduce mranet": (["reproduce", "mranet"],
                         "harlab.experiments.reproduce_mranet.reproduce_mranet"),
}


class Stop(Exception):
    """Raised by the stand-in work function once it has recorded its call."""


def run_until(argv: list[str], target: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``harlab ARGV`` with ``target`` replaced by a stand-in that stops; Typer's Result."""
    module, name = target.rsplit(".", 1)

    def fake(*args: Any, **kwargs: Any) -> None:
        raise Stop(args, kwargs)

    monkeypatch.setattr(importlib.import_module(module), name, fake)
    monkeypatch.chdir(ROOT)
    return CliRunner().invoke(app, argv)


def invoke(argv: list[str], target: str, monkeypatch: pytest.MonkeyPatch
           ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``harlab ARGV`` up to the call of ``target``; the (args, kwargs) it was called with."""
    result = run_until(argv, target, monkeypatch)
    assert isinstance(result.exception, Stop), (argv, result.output, result.exception)
    return result.exception.args


def written_to(command: str, call: tuple[tuple[Any, ...], dict[str, Any]]) -> str:
    """Where ``command``'s recorded call would have written its new directory."""
    args, kwargs = call
    if command == "compare":
        return str(args[4])
    if command.startswith("reproduce"):
        return str(kwargs["out"])
    return args[0].output_dir  # a RunConfig


@pytest.mark.parametrize("command", list(WRITERS))
def test_every_writing_command_takes_out(command: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    argv, target = WRITERS[command]
    call = invoke([*argv, "--out", str(tmp_path / "here")], target, monkeypatch)
    assert written_to(command, call) == str(tmp_path / "here")


@pytest.mark.parametrize("command", list(WRITERS))
def test_the_old_output_dir_spelling_is_gone(command: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    argv, target = WRITERS[command]
    result = run_until([*argv, "--output-dir", "x"], target, monkeypatch)
    assert result.exit_code == 2 and "No such option" in result.output


TRAINERS = ["train", "cv", "ablate danhar", "ablate tasks", "search-ratio", "reproduce danhar"]


def trained_with(command: str, call: tuple[tuple[Any, ...], dict[str, Any]]) -> Any:
    """``train.threads`` of the runs ``command``'s recorded call would train."""
    args, kwargs = call
    if command == "reproduce danhar":  # overrides applied to every preset
        from harlab.config import load_config

        return load_config(ROOT / DEMO, kwargs["overrides"]).train.threads
    return args[0].train.threads


@pytest.mark.parametrize("command", TRAINERS)
def test_threads_sets_train_threads(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    argv, target = WRITERS[command]
    assert trained_with(command, invoke([*argv, "--threads", "3"], target, monkeypatch)) == 3
    assert trained_with(command, invoke(argv, target, monkeypatch)) is None  # torch's default
    result = run_until([*argv, "--threads", "0"], target, monkeypatch)
    assert result.exit_code == 2 and "--threads" in result.output


@settings(max_examples=25, deadline=None)
@given(threads=st.integers(1, 4096), before=st.integers(1, 64))
def test_threads_reach_the_config_over_a_set(threads: int, before: int) -> None:
    with pytest.MonkeyPatch.context() as mp:
        argv = ["train", DEMO, "--set", f"train.threads={before}", "--threads", str(threads)]
        (cfg,), _ = invoke(argv, WRITERS["train"][1], mp)
    assert cfg.train.threads == threads  # the shortcut wins over --set, as the others do
