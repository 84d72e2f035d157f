"""Run and attempt naming: never reuse a path; find earlier attempts in creation order."""

from __future__ import annotations

from pathlib import Path

from harlab.runs import attempts, create_run_dir, first_free


def test_first_free_and_attempts(tmp_path: Path) -> None:
    made = [first_free(tmp_path, "m", Path.mkdir) for _ in range(11)]
    assert [p.name for p in made[:3]] == ["m", "m-2", "m-3"]
    assert attempts(tmp_path, "m") == made  # m-10 after m-9, not after m (lexical order)
    assert attempts(tmp_path, "other") == []

    def write(p: Path) -> None:
        with p.open("xb") as fh:
            fh.write(b"{}")

    files = [first_free(tmp_path, "r", write, ".json") for _ in range(2)]
    assert [p.name for p in files] == ["r.json", "r-2.json"]
    assert attempts(tmp_path, "r", ".json") == files


def test_create_run_dir_never_reuses(tmp_path: Path) -> None:
    a, b = create_run_dir(tmp_path, "x y"), create_run_dir(tmp_path, "x y")
    assert a != b and (a / ".harlab-run").is_file() and (b / ".harlab-run").is_file()
    assert "x-y" in a.name


def test_run_directories_of_another_format_are_refused(tmp_path: Path) -> None:
    import pytest
    import torch

    from harlab.errors import CheckpointError
    from harlab.runs import RUN_FORMAT, check_run_dir, read_checkpoint, run_format

    run = create_run_dir(tmp_path, "r")
    (run / "config.yaml").write_text("{}\n")
    assert run_format(run) == RUN_FORMAT and check_run_dir(run) == run
    (run / ".harlab-run").write_text("harlab-run\n")  # what harlab wrote before formats
    with pytest.raises(CheckpointError, match=f"run format 1; this harlab reads format "
                       f"{RUN_FORMAT} only: train it again"):
        check_run_dir(run)
    (run / ".harlab-run").unlink()
    with pytest.raises(CheckpointError, match=r"not a harlab run directory \(no .harlab-run\)"):
        check_run_dir(run)
    ckpt = tmp_path / "old.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"harlab": {"version": 1}}}, ckpt)
    with pytest.raises(CheckpointError, match="old.ckpt was written in run format 1"):
        read_checkpoint(ckpt)


def test_keep_before_resume_never_overwrites(tmp_path: Path) -> None:
    from harlab.runs import keep_before_resume

    agg = tmp_path / "results.json"
    agg.write_text('{"n": 1}')
    first = keep_before_resume(agg)
    agg.write_text('{"n": 2}')
    second = keep_before_resume(agg)
    third = keep_before_resume(agg, b'{"n": 3}')  # bytes read before, e.g. to parse them
    assert first.name.startswith("results.before-resume-") and first.suffix == ".json"
    assert len({first, second, third}) == 3  # within one second: -2, -3; never reused
    assert [p.read_text() for p in (first, second, third)] == ['{"n": 1}', '{"n": 2}',
                                                               '{"n": 3}']
    assert agg.read_text() == '{"n": 2}'  # the aggregate itself is left to the caller


def test_mranet_resume_plan_with_malformed_limits_is_a_config_error(tmp_path: Path) -> None:
    import json

    import pytest

    from harlab.errors import ConfigError
    from harlab.experiments.reproduce_mranet import PLAN_FILE, load_plan

    plan = {"protocol": "recording", "limits": {"seeds": [0], "epochs": 1}}
    for limits in ("12 epochs", {"seeds": 0, "epochs": 1}):  # a string; seeds not a list
        (tmp_path / PLAN_FILE).write_text(json.dumps({**plan, "limits": limits, "data": "d"}))
        with pytest.raises(ConfigError, match="unreadable plan"):
            load_plan(tmp_path, plan)
    (tmp_path / PLAN_FILE).write_text(json.dumps({**plan, "data": "d"}))
    assert load_plan(tmp_path, {**plan, "limits": {"seeds": [0, 1], "epochs": 1}})["data"] == "d"


def _old_plan_and_now(folder: Path, option: str, value: str) -> dict:
    """Write a reproduce-mranet plan from before ``option`` existed into ``folder``; return
    today's plan for the same run with ``option`` at ``value``."""
    import json

    from harlab.experiments.reproduce_mranet import PLAN_FILE

    old = {"protocol": "recording", "limits": {"seeds": [0], "epochs": 1}, "data": "d",
           "command": "harlab reproduce mranet --epochs 1"}
    (folder / PLAN_FILE).write_text(json.dumps(old))
    return {"protocol": "recording", "limits": {"seeds": [0], "epochs": 1, option: value}}


def test_mranet_precision_is_resolved_checked_and_old_plans_trained_fp32(
        tmp_path: Path, monkeypatch) -> None:
    import pytest

    import harlab.hardware
    from harlab.errors import ConfigError
    from harlab.experiments.reproduce_mranet import Limits, _plan_limits, load_plan

    monkeypatch.setattr(harlab.hardware, "cpu_has_fast_bf16", lambda: True)
    assert Limits(precision="auto").precision == "bf16-mixed"  # the plan records what runs
    monkeypatch.setattr(harlab.hardware, "cpu_has_fast_bf16", lambda: False)
    assert Limits(precision="auto").precision == "32-true"
    assert Limits().precision == "32-true"
    for bad in ("16-mixed", "fp32", ""):
        with pytest.raises(ConfigError, match="--precision must be auto, 32-true or bf16-mixed"):
            Limits(precision=bad)

    # a plan written before --precision existed: its models trained in fp32
    fp32 = _old_plan_and_now(tmp_path, "precision", "32-true")
    assert load_plan(tmp_path, fp32)["limits"]["precision"] == "32-true"
    bf16 = {**fp32, "limits": {**fp32["limits"], "precision": "bf16-mixed"}}
    with pytest.raises(ConfigError) as err:
        load_plan(tmp_path, bf16)
    msg = str(err.value)
    assert "limits.precision: original '32-true', now 'bf16-mixed'" in msg
    assert "(with --precision 32-true): harlab reproduce mranet --epochs 1" in msg
    with pytest.raises(ConfigError, match=r"different options \(limits.precision: '32-true' "
                       r"there, 'bf16-mixed' in .*\) \(with --precision 32-true\)"):
        load_plan(tmp_path, bf16, into=tmp_path / "other")
    assert _plan_limits(Limits(precision="bf16-mixed"))["precision"] == "bf16-mixed"


def test_mranet_init_is_checked_and_old_plans_used_the_default(tmp_path: Path) -> None:
    import pytest

    from harlab.errors import ConfigError
    from harlab.experiments.reproduce_mranet import Limits, _plan_limits, load_plan

    assert Limits().init == "default"
    assert _plan_limits(Limits(init="orthogonal"))["init"] == "orthogonal"
    with pytest.raises(ConfigError, match="--init must be one of default, orthogonal"):
        Limits(init="xavier")
    # a plan written before --init existed: its models started from PyTorch's init
    default = _old_plan_and_now(tmp_path, "init", "default")
    assert load_plan(tmp_path, default)["limits"]["init"] == "default"
    ortho = {**default, "limits": {**default["limits"], "init": "orthogonal"}}
    with pytest.raises(ConfigError, match="limits.init: original 'default', now 'orthogonal'"):
        load_plan(tmp_path, ortho)
    # from before both options: each is read at its default
    both = {**default, "limits": {**default["limits"], "precision": "32-true"}}
    assert load_plan(tmp_path, both)["limits"] == both["limits"]
