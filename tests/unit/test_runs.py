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
