"""End-to-end: `harlab ablate tasks` (joint vs single-task, paired by seed) on tiny data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from harlab.cli import main as cli
from harlab.evaluation.paired import interval_count


def tiny_multitask_config(tmp: Path) -> Path:
    """3 persons x 2 sessions x 2 activities (custom CSV, 20 Hz); train s1, test s2."""
    rng = np.random.default_rng(0)
    frames = []
    for p, gain in (("p1", 0.5), ("p2", 1.0), ("p3", 2.0)):  # persons differ in amplitude
        for session in ("s1", "s2"):
            n = 200
            labels = np.repeat(["rest", "shake"], n // 2)
            amp = np.where(labels == "shake", gain, 0.05)[:, None]
            frames.append(pd.DataFrame({
                "subject": p, "session": session, "timestamp": np.arange(n) / 20.0,
                **{c: (amp * rng.standard_normal((n, 1)))[:, 0] for c in ("ax", "ay")},
                "label": labels,
            }))
    pd.concat(frames).to_csv(tmp / "tiny_mt.csv", index=False)
    cfg = {
        "name": "tiny_mt",
        "data": {"dataset": "custom", "path": str(tmp / "tiny_mt.csv"),
                 "window": {"length": 40, "step": 20},
                 "split": {"kind": "session", "train_sessions": ["s1"],
                           "test_sessions": ["s2"], "val_fraction": 0.3}},
        "model": {"name": "danhar", "options": {"channels": [4, 8, 8], "head": "gap",
                                                "reduction": 4}},
        "task": {"heads": ["activity", "identity"], "loss_weighting": "flwl",
                 "monitor": "identity"},
        "train": {"max_epochs": 1, "batch_size": 8, "precision": "32-true",
                  "patience": None},
    }
    path = tmp / "tiny_mt.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_ablate_tasks_pairs_joint_and_single_runs_by_seed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)
    config = tiny_multitask_config(tmp_path)
    out = tmp_path / "runs"
    args = ["ablate", "tasks", str(config), "--seeds", "0,1", "--weightings", "flwl,equal",
            "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    said = " ".join(result.output.split())
    assert "[1/8] tiny_mt_activity_only_seed0" in said
    assert "[8/8] tiny_mt_joint_equal_seed1" in said
    (parent,) = [p for p in out.iterdir() if p.is_dir()]
    assert parent.name.endswith("ablate_tasks_tiny_mt")
    res = json.loads((parent / "tasks.json").read_text())
    assert [v["name"] for v in res["variants"]] == [
        "activity_only", "identity_only", "joint_flwl", "joint_equal"]
    assert len(res["runs"]) == 8 and len([p for p in parent.iterdir() if p.is_dir()]) == 8
    by = {(r["variant"], r["seed"]): r for r in res["runs"]}
    for (variant, seed), r in by.items():  # each record is its run directory's numbers
        run = parent / r["run"]
        metrics = json.loads((run / "metrics.json").read_text())
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["train"]["seed"] == seed
        want = {"activity_only": ["activity"], "identity_only": ["identity"]}.get(
            variant, ["activity", "identity"])
        assert cfg["task"]["heads"] == want and sorted(r["heads"]) == sorted(want)
        # a single head cannot be monitored by the other head's score
        assert cfg["task"]["monitor"] == ("mean" if variant == "activity_only" else "identity")
        assert cfg["task"]["loss_weighting"] == {"joint_flwl": "flwl"}.get(variant, "equal")
        heads = metrics.get("test_heads") or {"activity": metrics["test"]}
        for h in want:
            assert r["heads"][h]["macro_f1"] == heads[h]["macro_f1"]
            seg = metrics["decisions"][h][-1]
            assert seg["frames"] == "segment" and r["heads"][h]["segment_macro_f1"] == (
                seg["macro_f1"])
    # joint minus single, paired by seed, for every joint model, head and score
    comps = {(c["joint"], c["head"], c["score"]): c for c in res["comparisons"]}
    assert len(comps) == 2 * 2 * 2
    c = comps[("joint_equal", "identity", "macro_f1")]
    diffs = [by[("joint_equal", s)]["heads"]["identity"]["macro_f1"]
             - by[("identity_only", s)]["heads"]["identity"]["macro_f1"] for s in (0, 1)]
    assert c["single"] == "identity_only" and c["difference"]["n"] == 2
    assert c["difference"]["diffs"] == pytest.approx(diffs)
    assert c["difference"]["mean"] == pytest.approx(np.mean(diffs))
    row = next(r for r in res["rows"] if r["variant"] == "joint_flwl")
    assert row["heads"]["activity"]["macro_f1"]["mean"] == pytest.approx(np.mean(
        [by[("joint_flwl", s)]["heads"]["activity"]["macro_f1"] for s in (0, 1)]))
    assert "identity" not in next(r for r in res["rows"]
                                  if r["variant"] == "activity_only")["heads"]
    md = (parent / "tasks.md").read_text()
    assert "| joint_equal | identity | macro-F1 per window |" in md
    assert "Joint minus single-task, paired by seed" in md
    # 8 comparisons (2 joint models x 2 heads x 2 scores), but the note counts only those
    # with an interval: with 2 seeds an equal pair of differences has none
    shown = interval_count(c["difference"] for c in res["comparisons"])
    assert (f"{shown} intervals are shown" in md) == (shown >= 2)
    assert shown >= 2 or "intervals are shown" not in md
    assert "with 2 seeds the smallest two-sided Wilcoxon p is 0.5" in " ".join(md.split())
    assert (parent / "tasks.png").stat().st_size > 0
    assert res["complete"] and "Partial" not in md

    # interrupted while training seed 1's joint_flwl run: its metrics were never written
    (parent / by[("joint_flwl", 1)]["run"] / "metrics.json").unlink()
    # a third seed extends the study (its own seeds are kept: asking for seed 2 alone
    # drops nothing); the 7 finished runs on disk are reused, 1 + 4 are trained
    more = [a if a != "0,1" else "2" for a in args]
    resumed = CliRunner().invoke(cli.app, [*more, "--resume", str(parent)])
    assert resumed.exit_code == 0, f"{resumed.output}\n{resumed.exception!r}"
    said = " ".join(resumed.output.split())
    assert said.count("finished before, reused") == 7 and "(7 finished runs)" in said
    assert [p.name for p in out.iterdir()] == [parent.name]  # no new study directory
    res2 = json.loads((parent / "tasks.json").read_text())
    assert res2["complete"] and len(res2["runs"]) == 12 and res2["seeds"] == [0, 1, 2]
    assert len([p for p in parent.iterdir() if p.is_dir()]) == 8 + 1 + 4  # nothing overwritten
    kept = {(r["variant"], r["seed"]): r for r in res2["runs"]}
    assert kept[("identity_only", 1)] == by[("identity_only", 1)]
    assert kept[("joint_flwl", 1)]["run"] != by[("joint_flwl", 1)]["run"]
    c = next(c for c in res2["comparisons"] if (c["joint"], c["head"], c["score"]) == (
        "joint_equal", "identity", "macro_f1"))
    assert c["difference"]["n"] == 3
    # another setting would mix two studies in one table: refused, nothing trained
    at = more.index("--weightings")
    for argv, words in (([*more, "--set", "train.batch_size=4"],
                         "train.batch_size: 8 there, 4 now"),
                        ([*more[:at], *more[at + 2:], "--weightings", "equal"],
                         "other variants")):
        bad = CliRunner().invoke(cli.app, [*argv, "--resume", str(parent)])
        assert bad.exit_code != 0 and words in str(bad.exception), (argv, bad.exception)
    assert len([p for p in parent.iterdir() if p.is_dir()]) == 13
    missing = CliRunner().invoke(cli.app, [*more, "--resume", str(tmp_path)])
    assert missing.exit_code != 0 and "no study.json there" in str(missing.exception)


def test_ablate_tasks_refuses_bad_studies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)
    config = tiny_multitask_config(tmp_path)
    out = tmp_path / "runs"
    base = ["ablate", "tasks", str(config), "--out", str(out), "--no-progress"]
    for extra, words in (
        (["--weightings", "loud"], "unknown loss weighting(s) ['loud']"),
        (["--seeds", "0,0"], "repeat"),
        (["--merge", str(tmp_path)], "give it with --resume DIR"),
        (["--set", "task.heads=[activity]", "--set", "task.loss_weighting=equal",
          "--set", "task.monitor=mean"], "needs a multitask config"),
        (["--set", "data.split.kind=subject", "--set", "data.split.test_subjects=[p3]",
          "--set", "data.split.train_sessions=null", "--set", "data.split.test_sessions=null"],
         "puts different persons in training and test"),
    ):
        bad = CliRunner().invoke(cli.app, [*base, *extra])
        assert bad.exit_code != 0 and words in f"{bad.output}{bad.exception}", (extra, bad)
    assert not out.exists() or not any(out.iterdir())  # nothing trained, no directory


def test_an_interrupted_resume_keeps_every_finished_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harlab.training
    from harlab.config import dump_yaml, load_config
    from harlab.experiments.tasks_ablation import run_tasks_ablation
    from harlab.runs import create_run_dir
    from harlab.training import TrainResult

    class Interrupted(Exception):
        """Stands for a kill in the middle of the study."""

    cfg = load_config(tiny_multitask_config(tmp_path), [f"output_dir={tmp_path / 'runs'}"])
    calls: list[str] = []
    fail_at = [0]

    def fake_train(run_cfg: Any, console: Any = None) -> TrainResult:
        calls.append(run_cfg.name)
        run = create_run_dir(run_cfg.output_dir, run_cfg.name)
        (run / "config.yaml").write_text(dump_yaml(run_cfg))
        if len(calls) == fail_at[0]:
            raise Interrupted  # the user stops the study during this training
        test = {"macro_f1": 0.5, "accuracy": 0.5}
        m = {"test": test, "parameters": 10, "train_seconds": 1.0, "epochs_trained": 1,
             "test_heads": {h: test for h in run_cfg.task.heads}}
        (run / "metrics.json").write_text(json.dumps(m))
        return TrainResult(run, m, True)

    monkeypatch.setattr(harlab.training, "train", fake_train)
    parent, first = run_tasks_ablation(cfg, [0, 1], ["equal"])  # 3 models x 2 seeds
    assert len(first["runs"]) == 6 and len(calls) == 6
    by = {(r["variant"], r["seed"]): r for r in first["runs"]}
    for lost in (("joint_equal", 0), ("identity_only", 1)):
        (parent / by[lost]["run"] / "metrics.json").unlink()
    fail_at[0] = 8  # the resume retrains seed 0's joint run, then is stopped in seed 1
    with pytest.raises(Interrupted):
        run_tasks_ablation(cfg, [0, 1], ["equal"], resume=parent)
    saved = json.loads((parent / "tasks.json").read_text())
    # every finished run (reused first) and seed 0's new joint run are all there
    assert not saved["complete"]
    assert sorted((r["variant"], r["seed"]) for r in saved["runs"]) == [
        ("activity_only", 0), ("activity_only", 1), ("identity_only", 0), ("joint_equal", 0),
        ("joint_equal", 1)]
    fail_at[0] = 0
    _, done = run_tasks_ablation(cfg, [0, 1], ["equal"], resume=parent)
    assert done["complete"] and len(done["runs"]) == 6 and len(calls) == 9


def test_unscored_segments_are_left_out_of_the_comparison() -> None:
    from harlab.experiments.tasks_ablation import summarize

    def rec(variant: str, seed: int, heads: list[str]) -> dict[str, Any]:
        return {"variant": variant, "seed": seed, "train_seconds": 1.0, "epochs_trained": 1,
                "parameters": 5,
                "heads": {h: {"macro_f1": 0.5 + 0.01 * seed, "accuracy": 0.5,
                              "segment_macro_f1": None, "n_segments": None} for h in heads}}

    runs = [rec(v, s, h) for s in (0, 1) for v, h in (
        ("activity_only", ["activity"]), ("identity_only", ["identity"]),
        ("joint_equal", ["activity", "identity"]))]  # random split: no segment scores
    out = summarize(runs, ["activity_only", "identity_only", "joint_equal"],
                    ["activity", "identity"])
    assert [(c["head"], c["score"]) for c in out["comparisons"]] == [
        ("activity", "macro_f1"), ("identity", "macro_f1")]


def test_seeds_trained_elsewhere_merge_into_one_study(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--merge copies another study's finished runs (same config) into the one resumed:
    one table pairs all seeds, nothing is retrained or overwritten, dropped runs counted."""
    import harlab.training
    from harlab.config import dump_yaml, load_config
    from harlab.errors import ConfigError
    from harlab.experiments.tasks_ablation import run_tasks_ablation
    from harlab.runs import create_run_dir
    from harlab.training import TrainResult

    class Interrupted(Exception):
        """Stands for a kill in the middle of the study."""

    calls: list[str] = []

    def fake_train(run_cfg: Any, console: Any = None) -> TrainResult:
        calls.append(run_cfg.name)
        run = create_run_dir(run_cfg.output_dir, run_cfg.name)
        (run / "config.yaml").write_text(dump_yaml(run_cfg))
        score = 0.5 + 0.1 * ("joint" in run_cfg.name) + 0.01 * run_cfg.train.seed
        test = {"macro_f1": score, "accuracy": score}
        m = {"test": test, "parameters": 10, "train_seconds": 1.0, "epochs_trained": 1,
             "test_heads": {h: test for h in run_cfg.task.heads}}
        (run / "metrics.json").write_text(json.dumps(m))
        return TrainResult(run, m, True)

    monkeypatch.setattr(harlab.training, "train", fake_train)
    config = tiny_multitask_config(tmp_path)
    here = load_config(config, [f"output_dir={tmp_path / 'here'}"])
    there = load_config(config, [f"output_dir={tmp_path / 'there'}"])  # paths may differ
    a, _ = run_tasks_ablation(here, [0], ["equal"])  # run1-3
    b, _ = run_tasks_ablation(there, [1, 2], ["equal"])  # run4-9
    b_runs = {(r["variant"], r["seed"]): r
              for r in json.loads((b / "tasks.json").read_text())["runs"]}
    (b / b_runs["joint_equal", 2]["run"] / "metrics.json").unlink()  # interrupted there
    (a / b_runs["activity_only", 1]["run"]).mkdir()  # a name taken here: never overwritten
    with pytest.raises(ConfigError, match="give it with --resume DIR"):
        run_tasks_ablation(here, [0], ["equal"], merge=[b])
    with pytest.raises(ConfigError, match="that is the study being resumed"):
        run_tasks_ablation(here, [0], ["equal"], resume=a, merge=[a])
    with pytest.raises(ConfigError, match=r"cannot merge .* other variants"):
        c, _ = run_tasks_ablation(there, [3], ["flwl"])
        run_tasks_ablation(here, [0], ["equal"], resume=a, merge=[c])
    n = len(calls)
    _, res = run_tasks_ablation(here, [0], ["equal"], resume=a, merge=[b])
    assert len(calls) == n + 1 and calls[-1].endswith("joint_equal_seed2")  # only the lost run
    assert res["complete"] and res["seeds"] == [0, 1, 2] and len(res["runs"]) == 9
    (info,) = res["merged"]
    assert info == {"from": str(b), "copied": 5, "already_there": 0, "not_planned": 0,
                    "unfinished": 1, "runs": info["runs"]}
    got = {(r["variant"], r["seed"]): r for r in res["runs"]}
    assert got["activity_only", 1]["run"] == b_runs["activity_only", 1]["run"] + "-2"
    assert all((a / r["run"] / "metrics.json").is_file() for r in res["runs"])
    assert all((b / r["run"]).is_dir() for r in b_runs.values())  # copied, not moved
    c = next(c for c in res["comparisons"] if (c["joint"], c["head"], c["score"]) == (
        "joint_equal", "identity", "macro_f1"))
    assert c["difference"]["n"] == 3 and c["difference"]["mean"] == pytest.approx(0.1)
    assert f"Merged from `{b}`: 5 runs copied" in (a / "tasks.md").read_text()
    # merging again copies nothing; the record of the first merge is kept
    _, again = run_tasks_ablation(here, [0], ["equal"], resume=a, merge=[b])
    assert len(calls) == n + 1 and len(again["runs"]) == 9
    assert [m["copied"] for m in again["merged"]] == [5, 0]
    assert again["merged"][1]["already_there"] == 5
