"""End-to-end: ``harlab reproduce danhar`` on a tiny CSV dataset with tiny presets."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from harlab.cli import main as cli

TINY = {
    "description": "PAPER PROTOCOL: tiny CSV fixture",
    "data": {
        "dataset": "custom",
        "window": {"length": 20, "step": 10, "unit": "samples"},
        "split": {"kind": "random", "test_fraction": 0.3, "val_fraction": 0.2},
    },
    "model": {"name": "danhar", "options": {"channels": [4, 8, 8], "head": "gap",
                                            "kernel_size": 3, "stride": 2}},
    "train": {"max_epochs": 50, "batch_size": 32, "patience": None},
}


def write_fixture(root: Path) -> Path:
    """4 subjects x 2 classes at 20 Hz, class-dependent signal, in harlab's CSV schema."""
    rng = np.random.default_rng(0)
    frames = []
    for s in range(4):
        n = 240
        label = np.where(np.arange(n) < n // 2, "walk", "sit")
        x = rng.normal(size=(n, 3)) + (label == "walk")[:, None] * 2.0
        frames.append(pd.DataFrame({
            "subject": f"p{s}", "session": 1, "timestamp": np.arange(n) / 20.0,
            "acc_x": x[:, 0], "acc_y": x[:, 1], "acc_z": x[:, 2], "label": label,
        }))
    path = root / "tiny.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


@pytest.fixture()
def presets(tmp_path: Path) -> Path:
    csv = write_fixture(tmp_path)
    pdir = tmp_path / "presets"
    pdir.mkdir()
    paper = {**TINY, "name": "tiny_paper", "data": {**TINY["data"], "path": str(csv)}}
    honest = {
        **TINY, "name": "tiny_honest", "description": "HONEST: tiny CSV fixture",
        "data": {**TINY["data"], "path": str(csv),
                 "split": {"kind": "subject", "folds": 4, "val_fraction": 0.34}},
    }
    gone = {**paper, "data": {**paper["data"], "path": str(tmp_path / "missing.csv")}}
    for name, cfg in (("tiny_paper", paper), ("tiny_honest", honest), ("gone_paper", gone)):
        (pdir / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
    return pdir


@pytest.mark.slow
def test_reproduce_danhar_end_to_end(presets: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)
    out = tmp_path / "runs"
    args = ["reproduce", "danhar", "--presets", str(presets), "--datasets", "tiny,gone",
            "--models", "danhar", "--seeds", "1", "--folds", "2", "--epochs", "1",
            "--out", str(out), "--no-progress", "--set", "train.limit_train_batches=2"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert "skipped gone/paper" in result.output and "data absent" in result.output
    (parent,) = list(out.iterdir())
    res = json.loads((parent / "results.json").read_text())
    assert res["limits"] == {"epochs": 1, "seeds": 1, "folds": 2, "max_time_per_run": None,
                             "overrides": ["train.limit_train_batches=2"], "split_seed": None}
    runs = res["runs"]
    # paper: 1 seed; honest: the first 2 of 4 folds; gone: skipped (data absent, no honest)
    assert sorted(((r["protocol"], r["model"], r["fold"]) for r in runs), key=str) == [
        ("honest", "danhar", 0), ("honest", "danhar", 1), ("paper", "danhar", None)]
    for r in runs:
        assert r["error"] is None and 0.0 <= r["macro_f1"] <= 1.0 <= r["epochs_trained"] + 1
        run_dir = Path(r["run_dir"])
        assert run_dir.parent == parent / f"tiny_{r['protocol']}"  # one study per preset
        for f in ("config.yaml", "metrics.json", "summary.md", "predictions.csv"):
            assert (run_dir / f).is_file(), f
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["test"]["macro_f1"] == r["macro_f1"] and metrics["model"] == r["model"]
        assert r["trained_at"][:4].isdigit() and r["cpu"] and r["threads"] >= 1
        assert len(r["load_average"]) == 3
    paper = next(r for r in runs if r["protocol"] == "paper")
    assert any("LEAKAGE" in w for w in paper["warnings"])
    # random windows: a recording's windows lie in train and test, no multi-window decisions
    dec = json.loads((Path(paper["run_dir"]) / "metrics.json").read_text())["decisions"]
    assert "also have windows in" in dec["skipped"] and "activity" not in dec
    assert "Not scored:" in (Path(paper["run_dir"]) / "summary.md").read_text()
    for r in runs:
        if r["protocol"] == "honest":  # subject folds: whole test recordings
            dec = json.loads((Path(r["run_dir"]) / "metrics.json").read_text())["decisions"]
            assert "skipped" not in dec and dec["activity"][0]["macro_f1"] == r["macro_f1"]
    honest = [r for r in runs if r["protocol"] == "honest"]
    assert all(r["warnings"] == [] and "subject-wise" in r["split"] for r in honest)
    rows = {(r["dataset"], r["protocol"], r.get("model")): r for r in res["rows"]}
    assert rows[("gone", "paper", None)]["skipped"] and rows[("gone", "honest", None)]["skipped"]
    assert "missing.csv" in rows[("gone", "paper", None)]["data_error"]
    row = rows[("tiny", "honest", "danhar")]
    f1s = [r["macro_f1"] for r in honest if r["model"] == "danhar"]
    assert row["summary"]["n_runs"] == 2
    assert row["summary"]["macro_f1"]["mean"] == pytest.approx(np.mean(f1s))
    assert row["summary"]["macro_f1"]["std"] == pytest.approx(np.std(f1s, ddof=1))
    assert row["summary"]["parameters"] == json.loads(
        (Path(honest[-1]["run_dir"]) / "metrics.json").read_text())["parameters"]
    segs = [r["segment_macro_f1"] for r in honest if r["model"] == "danhar"]
    assert all(0 <= v <= 1 for v in segs) and all(r["n_segments"] > 0 for r in honest)
    assert row["summary"]["segment_macro_f1"]["mean"] == pytest.approx(np.mean(segs))
    assert paper["segment_macro_f1"] is None  # random windows: not scored
    assert rows[("tiny", "paper", "danhar")]["summary"]["segment_macro_f1"] is None
    md = (parent / "results.md").read_text()
    assert "| tiny | honest | danhar |" in md and "LEAKAGE" in md and "gone" in md
    assert "macro-F1, one decision per segment |" in md
    assert "each seed draws its own folds/split (repeated cross-validation)" in md
    line = next(x for x in md.splitlines() if x.startswith("| tiny | honest | danhar |"))
    assert line.split(" | ")[5] == "{mean:.4f} ± {std:.4f}".format(
        **row["summary"]["segment_macro_f1"])
    assert "more than one session" not in md
    assert (parent / "results.png").stat().st_size > 0

    # killed while the third run trained: its directory has no metrics.json
    lost = next(r for r in runs if r["fold"] == 1)
    (Path(lost["run_dir"]) / "metrics.json").unlink()
    resumed = CliRunner().invoke(cli.app, [*args, "--resume", str(parent)])
    assert resumed.exit_code == 0, f"{resumed.output}\n{resumed.exception!r}"
    assert resumed.output.count("finished before, reused") == 2
    assert list(out.iterdir()) == [parent]  # no new parent directory
    res2 = json.loads((parent / "results.json").read_text())
    assert res2["complete"] and len(res2["runs"]) == 3 and len(res2["resumed"]) == 1
    assert res2["resumed"][0]["reused_runs"] == 2 and res2["started"] == res["started"]
    again = next(r for r in res2["runs"] if r["fold"] == 1)
    assert again["run_dir"] != lost["run_dir"] and Path(lost["run_dir"]).is_dir()
    kept = {r["run_dir"] for r in res2["runs"]} & {r["run_dir"] for r in res["runs"]}
    assert len(kept) == 2
    assert "Resumed" in (parent / "results.md").read_text()
    assert "Training times (train s/run) come from more than one session" in (
        parent / "results.md").read_text()

    # a resume may extend the table: a third honest fold is trained, the rest reused
    more = [a if a != "2" or args[i - 1] != "--folds" else "3" for i, a in enumerate(args)]
    extended = CliRunner().invoke(cli.app, [*more, "--resume", str(parent)])
    assert extended.exit_code == 0, f"{extended.output}\n{extended.exception!r}"
    res3 = json.loads((parent / "results.json").read_text())
    assert len(res3["runs"]) == 4 and res3["resumed"][-1]["reused_runs"] == 3
    assert sorted(r["fold"] for r in res3["runs"] if r["protocol"] == "honest") == [0, 1, 2]

    # resuming with another training budget would mix settings in one table: refused
    assert args[-2:] == ["--set", "train.limit_train_batches=2"]
    other = CliRunner().invoke(cli.app, [*args[:-2], "--resume", str(parent),
                                         "--set", "train.limit_train_batches=3"])
    assert other.exit_code != 0
    assert "different training options" in str(other.exception)
    assert "overrides" in str(other.exception)
    assert len(json.loads((parent / "results.json").read_text())["runs"]) == 4


def test_reproduce_resume_needs_a_reproduction_dir(
        presets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    (tmp_path / "notarun").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text('{"runs": [')
    for folder, message in (("notarun", "no results.json there"),
                            ("bad", "not a readable reproduce results file")):
        monkeypatch.setattr(sys, "argv", ["harlab", "reproduce", "danhar", "--presets",
                                          str(presets), "--datasets", "tiny", "--resume",
                                          str(tmp_path / folder)])
        with pytest.raises(SystemExit) as exc:
            cli.main()
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert message in err and str(tmp_path / folder) in err and "Traceback" not in err


def test_reproduce_bad_model_is_one_line_error(presets: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "argv", ["harlab", "reproduce", "danhar", "--presets",
                                      str(presets), "--models", "vgg",
                                      "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown model(s) ['vgg']" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing is created before the plan is valid


def test_max_time_stops_inside_the_first_epoch(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A time cap must bind even in epoch 0 (Lightning ignores it until min_epochs are done)."""
    from harlab.config import load_config
    from harlab.training import train

    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)
    rng = np.random.default_rng(0)
    frames = []
    for s in range(4):  # 4 x 6000 samples, window 20 step 2: ~1,500 batches of 8 per epoch
        n = 6000
        label = np.where(np.arange(n) % 600 < 300, "walk", "sit")
        x = rng.normal(size=(n, 3)) + (label == "walk")[:, None]
        frames.append(pd.DataFrame({"subject": f"p{s}", "session": 1,
                                    "timestamp": np.arange(n) / 20.0, "acc_x": x[:, 0],
                                    "acc_y": x[:, 1], "acc_z": x[:, 2], "label": label}))
    csv = tmp_path / "long.csv"
    pd.concat(frames).to_csv(csv, index=False)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump({
        **TINY, "name": "capped", "output_dir": str(tmp_path / "runs"),
        "data": {**TINY["data"], "path": str(csv), "window": {"length": 20, "step": 2,
                                                                "unit": "samples"}},
        "train": {"max_epochs": 3, "batch_size": 8, "patience": None,
                  "max_time": "00:00:00:02", "progress": False},
    }))
    res = train(load_config(cfg_file, []))
    history = pd.read_csv(res.run_dir / "logs" / "metrics.csv")
    n_train = json.loads((res.run_dir / "data.json").read_text())["windows"]["train"]
    assert n_train // 8 > 500  # an epoch is long
    assert int(history["step"].max()) < n_train // 8  # stopped part-way through epoch 0
    assert history["val_macro_f1"].notna().any()  # validated before stopping
    assert (res.run_dir / "checkpoints" / "best.ckpt").is_file()
    assert 0.0 <= res.metrics["test"]["macro_f1"] <= 1.0


def test_limit_batches_int_one_is_one_batch(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``limit_train_batches: 1`` (an int) means one batch per epoch, not the whole epoch."""
    from harlab.config import load_config
    from harlab.training import train

    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump({
        **TINY, "name": "one_batch", "output_dir": str(tmp_path / "runs"),
        "data": {**TINY["data"], "path": str(write_fixture(tmp_path))},
        "train": {"max_epochs": 2, "batch_size": 8, "patience": None, "progress": False,
                  "limit_train_batches": 1, "limit_val_batches": 1},
    }))
    res = train(load_config(cfg_file, []))
    history = pd.read_csv(res.run_dir / "logs" / "metrics.csv")
    n_train = json.loads((res.run_dir / "data.json").read_text())["windows"]["train"]
    assert n_train // 8 > 2  # the full epoch would be several batches
    # one optimiser step per epoch: the epoch-end rows log global steps 0 and 1
    assert sorted(set(zip(history["epoch"], history["step"], strict=True))) == [(0, 0), (1, 1)]


def test_mixes_sessions_places_runs_by_training_time() -> None:
    from harlab.experiments.danhar_report import mixes_sessions

    first = {"trained_at": "2026-12-01T10:30:00"}
    later = {"trained_at": "2026-12-02T08:10:00"}
    one = {"started": "2026-12-01T10:00:00", "runs": [first, first]}
    assert not mixes_sessions(one)
    resumed = {**one, "resumed": [{"at": "2026-12-02T08:00:00"}]}
    assert not mixes_sessions(resumed)  # resumed, but nothing was trained in the resume
    assert mixes_sessions({**resumed, "runs": [first, later]})
    assert not mixes_sessions({**resumed, "runs": [later, {**first, "error": "bad"}]})
    assert not mixes_sessions({**resumed, "runs": [later, {"macro_f1": 0.5}]})  # no time


@pytest.mark.slow
def test_folds_trained_apart_merge_into_one_danhar_table(
        presets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)
    base = ["reproduce", "danhar", "--presets", str(presets), "--datasets", "tiny",
            "--protocols", "honest", "--models", "danhar", "--seeds", "1", "--epochs", "1",
            "--no-progress", "--set", "train.limit_train_batches=2"]

    def run(*extra: str) -> Any:
        return CliRunner().invoke(cli.app, [*base, *extra])

    def one_more_test_window(text: str) -> str:
        data = json.loads(text)
        data["windows"]["test"] += 1
        return json.dumps(data)

    def only_dir(out: Path) -> Path:
        (d,) = list(out.iterdir())
        return d

    a = run("--only-folds", "0", "--out", str(tmp_path / "a"))
    b = run("--only-folds", "2", "--out", str(tmp_path / "b"))
    assert a.exit_code == 0 and b.exit_code == 0, f"{a.output}\n{b.output}\n{b.exception!r}"
    dir_a, dir_b = only_dir(tmp_path / "a"), only_dir(tmp_path / "b")
    res_b = json.loads((dir_b / "results.json").read_text())
    assert [r["fold"] for r in res_b["runs"]] == [2] and res_b["only_folds"] == [2]
    assert "folds with ids 2" in (dir_b / "results.md").read_text()

    # bad selections: one-line errors, nothing trained
    for extra, words in ((["--only-folds", "7"], "has 4 folds"),
                         (["--only-folds", "1", "--folds", "2"], "not both"),
                         (["--only-folds", "x"], "--only-folds must be"),
                         (["--merge", str(dir_b)], "--merge needs --resume"),
                         (["--split-seed", "-1"], "--split-seed must be >= 0")):
        bad = run(*extra, "--out", str(tmp_path / "bad"))
        assert bad.exit_code != 0 and words in f"{bad.output}{bad.exception}", (extra, bad.output)
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())

    # refused merges copy nothing: another budget, another config, other data
    other = run("--only-folds", "2", "--out", str(tmp_path / "c"),
                "--set", "train.limit_train_batches=3")
    assert other.exit_code == 0
    refused = run("--only-folds", "0,2", "--resume", str(dir_a),
                  "--merge", str(only_dir(tmp_path / "c")))
    assert refused.exit_code != 0 and "different training options" in str(refused.exception)
    # another split seed would put other folds under the same fold ids: refused too
    refused = run("--only-folds", "0", "--resume", str(dir_a), "--split-seed", "3")
    assert refused.exit_code != 0 and "split_seed: original None, now 3" in str(
        refused.exception)
    (run_b,) = [Path(r["run_dir"]) for r in res_b["runs"]]
    for i, (name, edit, words) in enumerate((
        ("config.yaml", lambda t: t.replace("head: gap", "head: flatten"),
         "other settings (model.options.head: 'flatten' there, 'gap' planned)"),
        ("config.yaml", lambda t: t.replace("init: default", "init: orthogonal"),
         "other settings (train.init: 'orthogonal' there, 'default' planned)"),
        ("data.json", one_more_test_window, "other data (windows:"),
    )):
        copy_b = tmp_path / f"tampered_{i}_{name}"
        shutil.copytree(dir_b, copy_b)
        f = copy_b / "tiny_honest" / run_b.name / name
        assert edit(f.read_text()) != f.read_text()
        f.write_text(edit(f.read_text()))
        refused = run("--only-folds", "0,2", "--resume", str(dir_a), "--merge", str(copy_b))
        assert refused.exit_code != 0 and words in str(refused.exception), refused.exception
        assert sorted(p.name for p in (dir_a / "tiny_honest").iterdir() if p.is_dir()) == sorted(
            Path(r["run_dir"]).name for r in json.loads(
                (dir_a / "results.json").read_text())["runs"])

    # the merge: B's fold 2 is copied, nothing is trained, the table has both folds
    moved = tmp_path / "elsewhere"  # a reproduction may move (another machine)
    shutil.copytree(dir_b, moved)
    merged = run("--only-folds", "0,2", "--resume", str(dir_a), "--merge", str(moved))
    assert merged.exit_code == 0, f"{merged.output}\n{merged.exception!r}"
    said = " ".join(merged.output.split())  # Rich wraps lines
    assert "1 runs copied, 0 already here, 0 not asked for" in said
    assert said.count("finished before, reused") == 2
    res = json.loads((dir_a / "results.json").read_text())
    by_fold = {r["fold"]: r for r in res["runs"]}
    assert sorted(by_fold) == [0, 2] and res["resumed"][-1]["merged"][0]["copied"] == 1
    copied = Path(by_fold[2]["run_dir"])
    assert copied.parent == dir_a / "tiny_honest" and copied.name == run_b.name
    assert by_fold[2]["merged_from"] == str(moved / "tiny_honest" / run_b.name)
    assert by_fold[2]["macro_f1"] == res_b["runs"][0]["macro_f1"]
    assert json.loads((copied / "metrics.json").read_text())["test"]["macro_f1"] == (
        res_b["runs"][0]["macro_f1"])
    row = next(r for r in res["rows"] if r.get("model") == "danhar")
    assert row["summary"]["n_runs"] == 2
    md = (dir_a / "results.md").read_text()
    assert f"1 merged from `{moved}`" in md and "folds with ids 0, 2" in md

    # merging again changes nothing: the run is already there
    again = run("--only-folds", "0,2", "--resume", str(dir_a), "--merge", str(moved))
    assert again.exit_code == 0 and "0 runs copied, 1 already here" in " ".join(
        again.output.split())
    assert len([p for p in (dir_a / "tiny_honest").iterdir() if p.is_dir()]) == 2

    # --split-seed: the folds are drawn by that seed, the training seed stays the run's
    fixed = run("--only-folds", "1", "--split-seed", "5", "--out", str(tmp_path / "d"))
    assert fixed.exit_code == 0, f"{fixed.output}\n{fixed.exception!r}"
    dir_d = only_dir(tmp_path / "d")
    res_d = json.loads((dir_d / "results.json").read_text())
    assert res_d["limits"]["split_seed"] == 5
    cfg_d = yaml.safe_load((Path(res_d["runs"][0]["run_dir"]) / "config.yaml").read_text())
    assert cfg_d["data"]["split"]["seed"] == 5 and cfg_d["train"]["seed"] == 0
    assert "seed 5" in res_d["runs"][0]["split"]
    assert "every seed on the folds/split drawn by split seed 5" in (
        dir_d / "results.md").read_text()
