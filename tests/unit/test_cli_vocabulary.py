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
    if command == "reproduce danhar":  # a runtime setting of every preset's runs
        return kwargs["threads"]
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


@pytest.mark.parametrize("command", ["train", "cv"])
def test_help_lists_every_split_kind(command: str) -> None:
    from harlab.config import SPLIT_KINDS

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    line = next(ln for ln in result.output.splitlines() if "--split " in ln)
    assert " | ".join((*SPLIT_KINDS, "loso")) in line


@pytest.mark.parametrize("command", ["train", "cv"])
def test_split_loso_is_subject_wise_with_one_fold_per_subject(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv, target = WRITERS[command]
    (cfg, *_), _ = invoke([*argv, "--split", "loso"], target, monkeypatch)
    assert cfg.data.split.kind == "subject" and cfg.data.split.folds == "loso"
    (cfg, *_), _ = invoke([*argv, "--split", "recording"], target, monkeypatch)
    assert cfg.data.split.kind == "recording" and cfg.data.split.folds == 5  # demo.yaml's


def test_an_unknown_split_is_one_line_naming_the_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    from harlab.errors import ConfigError

    result = run_until(["train", DEMO, "--split", "subjct"], WRITERS["train"][1], monkeypatch)
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == ("--split must be one of random, subject, session, "
                                     "recording, given, loso; got 'subjct'. Did you mean "
                                     "'subject'?")


SHORTCUTS = ["--dataset", "usc_had", "--path", "/data/usc had #2", "--model", "cnn",
             "--split", "session", "--epochs", "2", "--batch-size", "32", "--lr", "1e-5",
             "--precision", "bf16-mixed", "--devices", "2", "--strategy", "ddp",
             "--num-nodes", "2", "--threads", "1", "--no-progress", "--out", "/tmp/r"]


@pytest.mark.parametrize("command", ["train", "cv"])
def test_cv_takes_the_shortcuts_train_takes(command: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    argv, target = WRITERS[command]
    (cfg, *_), _ = invoke([*argv, *SHORTCUTS], target, monkeypatch)
    assert (cfg.data.dataset, cfg.data.path, cfg.model.name) == ("usc_had", "/data/usc had #2",
                                                                 "cnn")
    assert cfg.data.split.kind == "session" and cfg.train.max_epochs == 2
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.precision) == (32, 1e-5, "bf16-mixed")
    assert (cfg.train.devices, cfg.train.strategy, cfg.train.num_nodes) == (2, "ddp", 2)
    assert cfg.train.threads == 1 and cfg.train.progress is False and cfg.output_dir == "/tmp/r"


def test_train_seed_draws_the_split_too(monkeypatch: pytest.MonkeyPatch) -> None:
    (cfg,), _ = invoke(["train", DEMO, "--seed", "7"], WRITERS["train"][1], monkeypatch)
    assert cfg.train.seed == 7 and cfg.data.split.seed == 7


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(min_value=1e-12, max_value=10.0, allow_subnormal=False),
       path=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                    min_size=1).filter(lambda p: not p.startswith("-")))
def test_option_values_reach_the_config_unchanged(lr: float, path: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        argv = ["train", DEMO, "--lr", repr(lr), "--path", path, "--out", path]
        (cfg,), _ = invoke(argv, WRITERS["train"][1], mp)
    assert cfg.train.lr == lr and cfg.data.path == path and cfg.output_dir == path


def test_shortcut_overrides_name_only_known_options() -> None:
    from harlab.cli.common import shortcut_overrides

    assert shortcut_overrides(seed=1, model=None) == ["train.seed=1", "data.split.seed=1"]
    assert shortcut_overrides(True, split="loso") == [
        "data.split.kind=subject", "data.split.folds=loso", "train.progress=false"]
    with pytest.raises(TypeError, match="no shortcut option 'sead'"):
        shortcut_overrides(sead=1)


# --- 80 columns -----------------------------------------------------------------------------

def at_80_columns(argv: list[str], module: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``harlab ARGV`` printed by ``module``'s console on an 80-column terminal."""
    from rich.console import Console

    monkeypatch.setattr(importlib.import_module(module), "console", Console(width=80))
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert max(map(len, result.output.splitlines())) <= 80
    assert "…" not in result.output  # nothing cut with an ellipsis
    return result.output


def test_datasets_prints_every_not_found_hint_whole(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from harlab.cli.common import in_cli_words
    from harlab.data.sources import list_sources
    from harlab.errors import HarlabError

    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path))  # nothing there
    hints = []
    for s in list_sources():
        if s.name not in ("custom", "weak"):
            try:
                s.fingerprint(None)
            except HarlabError as exc:
                hints.append(in_cli_words(str(exc)))
    assert len(hints) >= 6
    out = at_80_columns(["datasets"], "harlab.cli.main", monkeypatch)
    unwrapped = "".join(out.split())  # wrapped lines joined: every hint is there in full
    for hint in hints:
        assert "".join(hint.split()) in unwrapped
    assert "pass --path to" in out and "path=" not in out


def test_simulate_persons_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    from harlab.radar.simulate import DEFAULT_PERSONS

    out = at_80_columns(["simulate", "persons"], "harlab.cli.simulate", monkeypatch)
    for p in DEFAULT_PERSONS:
        assert p.name in out and f"{p.height_m:.2f}" in out and f"{p.circle_speed_ms:.2f}" in out
    for label in ("walk stride Hz", "run stride Hz", "jump vx m/s", "circle m/s", "female"):
        assert label in out


def test_source_messages_say_the_path_option() -> None:
    from harlab.cli.common import in_cli_words

    assert in_cli_words("unzip it and pass path= to that folder") == (
        "unzip it and pass --path to that folder")
    assert in_cli_words("give path=/x or glasgow_dir= or data.path=") == (
        "give --path /x or glasgow_dir= or data.path=")


def test_data_info_says_the_path_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path))
    out = at_80_columns(["data", "info", "wisdm"], "harlab.cli.data", monkeypatch)
    assert "pass --path to" in out and "path=" not in out
