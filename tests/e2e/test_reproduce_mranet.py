"""End-to-end: ``harlab reproduce mranet`` on a tiny simulated radar dataset."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harlab.cli import main as cli
from harlab.errors import ConfigError, DataError
from harlab.experiments.reproduce_mranet import Frames, conditions_note, make_folds

runner = CliRunner()


def _frames(n_rec_per_cell: int = 4, frames_per_rec: int = 3) -> Frames:
    """3 persons x 2 activities, recordings of a few frames (labels only matter here)."""
    act, per, rec = [], [], []
    r = 0
    for p in range(3):
        for a in range(2):
            for _ in range(n_rec_per_cell):
                act += [a] * frames_per_rec
                per += [p] * frames_per_rec
                rec += [f"{r:05d}"] * frames_per_rec
                r += 1
    n = len(act)
    return Frames(np.zeros((n, 4, 3), np.float32), np.array(act), np.array(per),
                  np.array(rec), ["a0", "a1"], ["p0", "p1", "p2"], Path("fixture"))


def test_folds_keep_recordings_whole_and_cover_every_frame_once() -> None:
    fr = _frames(n_rec_per_cell=10)
    folds = make_folds(fr, 3, "recording", seed=0, val_fraction=0.2)
    assert len(folds) == 3
    tests = np.concatenate([te for _, _, te in folds])
    assert np.array_equal(np.sort(tests), np.arange(len(fr.x)))  # every frame tested once
    for tr, va, te in folds:
        parts = [set(fr.recording[i]) for i in (tr, va, te)]
        assert not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert not (parts[0] & parts[1])
        assert len(tr) + len(va) + len(te) == len(fr.x)
        # stratified: every activity x person cell is in train and test
        cells = fr.activity * 3 + fr.person
        assert set(cells[tr]) == set(cells[te]) == set(range(6))


def test_paper_protocol_splits_frames_of_one_recording() -> None:
    fr = _frames(n_rec_per_cell=2, frames_per_rec=10)
    tr, _, te = make_folds(fr, 3, "paper", seed=0, val_fraction=0.2)[0]
    assert set(fr.recording[tr]) & set(fr.recording[te])  # the leakage the report warns about


def test_bad_input_is_one_clear_error_and_leaves_no_run_dir(tmp_path: Path) -> None:
    res = runner.invoke(cli.app, ["reproduce", "mranet", "--data", str(tmp_path / "nope"),
                                  "--out", str(tmp_path / "runs")])
    assert isinstance(res.exception, DataError)  # harlab's main() prints it, exit 2
    assert "frame dataset folder not found" in str(res.exception)
    res = runner.invoke(cli.app, ["reproduce", "mranet", "--out", str(tmp_path / "runs")])
    assert isinstance(res.exception, ConfigError) and "--simulate" in str(res.exception)
    res = runner.invoke(cli.app, ["reproduce", "mranet", "--simulate", "--experiments",
                                  "table9", "--out", str(tmp_path / "runs")])
    assert isinstance(res.exception, ConfigError) and "table9" in str(res.exception)
    res = runner.invoke(cli.app, ["reproduce", "mranet", "--simulate", "--experiments",
                                  "table4", "--models", "lstm_activity", "--out",
                                  str(tmp_path / "runs")])
    msg = str(res.exception)
    assert isinstance(res.exception, ConfigError) and "lstm_activity" in msg
    assert "mranet_identity" in msg  # the choices for the chosen experiments
    res = runner.invoke(cli.app, ["reproduce", "mranet", "--simulate", "--init", "xavier",
                                  "--out", str(tmp_path / "runs")])
    assert isinstance(res.exception, ConfigError)
    assert "--init must be one of default, orthogonal" in str(res.exception)
    for ids in ("5", "1,1", "-1", "a"):  # fold ids of --folds 5 are 0..4, distinct
        res = runner.invoke(cli.app, ["reproduce", "mranet", "--simulate", "--only-folds",
                                      ids, "--out", str(tmp_path / "runs")])
        assert isinstance(res.exception, ConfigError) and "--only-folds" in str(res.exception)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_quick_run_writes_report_json_and_figures(tmp_path: Path) -> None:
    res = runner.invoke(cli.app, [
        "reproduce", "mranet", "--simulate", "--quick", "--folds", "3", "--run-folds", "1",
        "--epochs", "1", "--experiments", "table4,fig8", "--channels", "4,8,8",
        "--batch-size", "16", "--threads", "2", "--out", str(tmp_path), "--no-progress",
        "--init", "orthogonal",
    ])
    assert res.exit_code == 0, res.output
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    out = json.loads((run / "results.json").read_text())
    assert out["protocol"] == "recording" and out["data"]["quick"]
    assert out["data"]["persons"] == ["sub1", "sub2"] and len(out["data"]["activities"]) == 5
    assert {r["model"] for r in out["runs"]} == {"mranet_flwl", "mranet_activity",
                                                "mranet_identity"}
    for r in out["runs"]:
        assert r["epochs_trained"] == 1 and r["parameters"] > 0
        for head in ("activity", "identity"):
            if f"{head}_macro_f1" in r:
                assert 0.0 <= r[f"{head}_macro_f1"] <= 1.0
                assert 0.0 <= r[f"{head}_accuracy"] <= 1.0
    tr, va, te = out["fold_sizes"][0]
    assert tr + va + te == out["data"]["frames"] and te > 0 and va > 0
    # beyond the paper: one decision over k consecutive frames / a whole test recording
    for r in out["runs"]:
        for head in ("activity", "identity"):
            if f"{head}_macro_f1" not in r:
                assert head not in r["decisions"]
                continue
            curve = r["decisions"][head]
            assert [e["frames"] for e in curve] == [1, 2, 4, 8, "recording"]
            assert curve[0]["macro_f1"] == pytest.approx(r[f"{head}_macro_f1"])
            assert curve[0]["decisions"] == te and curve[0]["seconds"] == 1.0
            assert 0 < curve[-1]["decisions"] == curve[-1]["recordings"] < te
            assert curve[1]["seconds"] == pytest.approx(1.64)  # frame 1 s, hop 0.64 s
        s = out["summary"][r["model"]]["decisions"]
        assert s[next(iter(r["decisions"]))][0]["runs"] == 1
    report = (run / "report.md").read_text()
    assert "## Beyond the paper: one decision over several frames" in report
    assert "| MRA-Net identity only | identity | " in report
    assert (run / "decisions_vs_span.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Table 4" in report and "98.29" in report and "91.34" in report
    # --precision auto: the plan and the report record what auto chose on this CPU
    from harlab.config import resolve_precision

    chosen = resolve_precision("auto")
    assert out["limits"]["precision"] == chosen and f"precision {chosen}, " in report
    plan = json.loads((run / "reproduce_plan.json").read_text())
    assert plan["limits"]["precision"] == chosen
    assert {r["precision"] for r in out["runs"]} == {chosen}  # what Lightning trained with
    # --init orthogonal (the paper's initialisation) is recorded like every training option
    assert out["limits"]["init"] == plan["limits"]["init"] == "orthogonal"
    assert "orthogonal weight initialisation" in report
    assert "StratifiedGroupKFold" in report and "Fig. 12" not in report
    for png in ("fig8a_confusion_identity.png", "fig8b_confusion_activity.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "data" / "harlab_simulation.json").is_file()
    assert len(list((run / "runs").glob("*/checkpoints/best.ckpt"))) == 3

    # harlab compare reads a reproduction's models: joint minus identity-only, one pair
    import shutil

    from harlab.experiments.compare import collect_runs

    assert len(collect_runs(run, ["model.channels=[4,8,8]", "train.init=orthogonal"])) == 3
    res = runner.invoke(cli.app, ["compare", str(run), str(run), "--where-a",
                                  "model.name=mranet_flwl", "--where-b",
                                  "model.name=mranet_identity", "--out",
                                  str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    (cmp_dir,) = (tmp_path / "cmp").iterdir()
    got = json.loads((cmp_dir / "compare.json").read_text())
    row = {r["model"]: r for r in out["runs"]}
    assert got["pairs"] == 1 and got["models"] == {"A": ["mranet_flwl"],
                                                   "B": ["mranet_identity"]}
    by = {(c["head"], c["score"]): c["difference"] for c in got["comparisons"]}
    assert set(by) == {("identity", "macro_f1"), ("identity", "segment_macro_f1")}
    assert by["identity", "macro_f1"]["mean"] == pytest.approx(
        row["mranet_flwl"]["identity_macro_f1"] - row["mranet_identity"]["identity_macro_f1"])
    assert by["identity", "segment_macro_f1"]["mean"] == pytest.approx(
        row["mranet_flwl"]["decisions"]["identity"][-1]["macro_f1"]
        - row["mranet_identity"]["decisions"]["identity"][-1]["macro_f1"])
    assert (cmp_dir / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shutil.rmtree(tmp_path / "cmp")  # the resume below must add no directory here

    for r in out["runs"]:  # each row records when, where and under what load it trained
        assert r["trained_at"][:4].isdigit() and r["cpu"] and r["threads"] == 2
        assert len(r["load_average"]) == 3 and "reloaded" not in r

    # interrupted while training the identity-only model: its metrics were never written
    first = {r["model"]: r for r in out["runs"]}
    for f in ("results.json", "report.md"):
        (run / f).unlink()
    (run / "runs" / "mranet_identity_fold0_seed0" / "metrics.json").unlink()
    # and the activity-only model was trained by a harlab that did not record conditions
    old = run / "runs" / "mranet_activity_fold0_seed0" / "metrics.json"
    m = json.loads(old.read_text())
    old.write_text(json.dumps({k: v for k, v in m.items() if k != "trained_at"}))
    again = ["reproduce", "mranet", "--folds", "3", "--run-folds", "1", "--epochs", "1",
             "--experiments", "table4,fig8", "--channels", "4,8,8", "--batch-size", "16",
             "--threads", "1", "--no-progress", "--resume", str(run)]
    res = runner.invoke(cli.app, again)  # without --init orthogonal: another plan
    assert isinstance(res.exception, ConfigError)
    assert "limits.init: original 'orthogonal', now 'default'" in str(res.exception)
    again[-2:-2] = ["--init", "orthogonal"]  # the run directory stays last
    res = runner.invoke(cli.app, again)
    assert res.exit_code == 0, res.output
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == [run]
    out2 = json.loads((run / "results.json").read_text())
    rows = {r["model"]: r for r in out2["runs"]}
    assert rows["mranet_identity"]["run"] == "runs/mranet_identity_fold0_seed0-2"
    assert (run / "runs" / "mranet_identity_fold0_seed0").is_dir()  # kept, not overwritten
    for key in ("mranet_flwl", "mranet_activity"):  # reloaded models score as recorded
        assert rows[key]["activity_macro_f1"] == pytest.approx(
            first[key]["activity_macro_f1"], abs=5e-3)
        assert rows[key]["train_seconds"] == first[key]["train_seconds"]
    assert out2["resumed"]["reused_models"] == 2 and "resumed" in (run / "report.md").read_text()
    assert rows["mranet_flwl"]["reloaded"] and "reloaded" not in rows["mranet_identity"]
    for key in ("mranet_flwl", "mranet_identity"):  # reloaded models are re-scored too
        assert [e["decisions"] for e in rows[key]["decisions"]["identity"]] == [
            e["decisions"] for e in first[key]["decisions"]["identity"]]
    assert rows["mranet_flwl"]["trained_at"] == first["mranet_flwl"]["trained_at"]
    assert rows["mranet_identity"]["threads"] == 1  # trained now, with --threads 1
    assert rows["mranet_activity"]["trained_at_from"] == "metrics.json file time"

    # extending to a second fold reuses fold 0 and trains fold 1 only
    more = [a if a != "1" or again[i - 1] != "--run-folds" else "2"
            for i, a in enumerate(again)]
    res = runner.invoke(cli.app, more)
    assert res.exit_code == 0, res.output
    out3 = json.loads((run / "results.json").read_text())
    assert out3["resumed"]["reused_models"] == 3 and len(out3["runs"]) == 6
    assert sorted({r["fold"] for r in out3["runs"]}) == [0, 1]

    # --models: of Fig. 10's and Table 6's models train only dcnn3_activity; the finished
    # MRA-Net is reloaded, the rest read n/a
    part = [*again, "--experiments", "fig10,table6", "--models", "dcnn3_activity"]
    res = runner.invoke(cli.app, part)
    assert res.exit_code == 0, res.output
    out_p = json.loads((run / "results.json").read_text())
    assert {r["model"] for r in out_p["runs"]} == {"dcnn3_activity", "mranet_flwl"}
    assert out_p["resumed"]["reused_models"] == 1
    assert "dcnn5_identity" in out_p["not_run"] and "mranet_abl2" in out_p["not_run"]
    report = (run / "report.md").read_text()
    assert "- not run (`--models` left them out): dcnn5_identity" in report
    assert "| dcnn5 (identity) | n/a | n/a | n/a | n/a |" in report
    assert "| (2) | × | √ | × | n/a / 94.52 |" in report  # Table 6 row, model not trained

    # every other experiment on fold 0 (fold 1 is kept but not run): only new models train
    rest = [*again, "--experiments", "table4,fig8,fig9,fig10,fig11,fig12,table5,table6",
            "--snrs", "0,30", "--snr-recordings", "1"]
    res = runner.invoke(cli.app, rest)
    assert res.exit_code == 0, res.output
    out4 = json.loads((run / "results.json").read_text())
    from harlab.experiments.reproduce_mranet import NEEDS

    assert {r["model"] for r in out4["runs"]} == {k for ks in NEEDS.values() for k in ks}
    assert out4["resumed"]["reused_models"] == 4 and not out4["not_run"]
    report = (run / "report.md").read_text()
    for head in ("## Fig. 9", "## Fig. 10", "## Fig. 11", "## Fig. 12", "## Table 5",
                 "## Table 6", "`mranet_flwl_id`, identity gets 2 + max w",
                 "| FLWL, activity gets 2 + max w (mean w_a / w_i 1.", "**(selected)**"):
        assert head in report, head
    for png in ("fig9_identity_f1_per_activity.png", "fig10a_identity.png",
                "fig10b_activity.png", "fig11_snr.png", "fig12a_loss_weights.png",
                "fig12b_rw_histogram.png", "fig12a_loss_weights_eq6.png",
                "fig12b_rw_histogram_eq6.png", "fig12b_rw_histogram_eq6_unit.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    sweep = out4["sweep"]
    assert set(sweep) == {"mranet_flwl", "dcnn3_mt_equal"}
    for curve in sweep.values():  # SNR (as a str key in JSON) -> per-head scores
        assert sorted(float(k) for k in curve) == [0.0, 30.0]
    # rows (1)-(5) trained now, row (6) (the FLWL model) reloaded: the report says so
    assert "Training times come from different sessions: (6) were reloaded" in report
    assert "(1), (2), (3), (4), (5) were trained in this one" in report
    for key in [f"mranet_abl{i}" for i in range(1, 6)]:
        t = out4["timing"][key]["trained"]
        assert t["parameters"] > 0 and t["ms_per_frame_b1"] > 0

    # a second seed: seed 0 is reloaded, the Table 4 models train for seed 1 on the same folds
    seeds = [*again, "--experiments", "table4", "--seeds", "0,1"]
    res = runner.invoke(cli.app, seeds)
    assert res.exit_code == 0, res.output
    out5 = json.loads((run / "results.json").read_text())
    assert out5["limits"]["seeds"] == [0, 1] and out5["fold_sizes"] == out4["fold_sizes"]
    assert sorted((r["model"], r["seed"], bool(r.get("reloaded"))) for r in out5["runs"]) == [
        (k, s, s == 0) for k in sorted(NEEDS["table4"]) for s in (0, 1)]
    # every resume is listed; each rewritten aggregate was kept beside the new one
    assert [r["reused_models"] for r in out5["resumes"]] == [2, 3, 1, 4, 3]
    assert out5["resumed"] == out5["resumes"][-1]
    assert len(list(run.glob("results.before-resume-*.json"))) == 4
    report = (run / "report.md").read_text()
    assert report.count("- resumed ") == 5 and "seeds [0, 1]" in report
    # Table 4 as a paired question: multitask minus single-task per (fold, seed)
    pairs = {(p["head"], p["score"]): p for p in out5["table4_pairs"]}
    assert sorted(pairs) == [("activity", "per frame"), ("activity", "whole recording"),
                             ("identity", "per frame"), ("identity", "whole recording")]
    by = {(r["model"], r["seed"]): r for r in out5["runs"]}
    p = pairs[("identity", "per frame")]
    assert (p["multitask"], p["single"]) == ("mranet_flwl", "mranet_identity")
    assert p["difference"]["n"] == 2 and p["difference"]["diffs"] == pytest.approx([
        by[("mranet_flwl", s)]["identity_macro_f1"]
        - by[("mranet_identity", s)]["identity_macro_f1"] for s in (0, 1)])
    whole = pairs[("activity", "whole recording")]["difference"]["diffs"]
    assert whole == pytest.approx([
        by[("mranet_flwl", s)]["decisions"]["activity"][-1]["macro_f1"]
        - by[("mranet_activity", s)]["decisions"]["activity"][-1]["macro_f1"] for s in (0, 1)])
    assert "Multitask minus single-task, paired by (fold, seed)" in report
    assert "| identity | MRA-Net multitask (FLWL) − MRA-Net identity only | per frame |" in report
    assert "| +4.53 |" in report  # the paper's identity gain, 95.87 - 91.34
    assert "4 intervals are shown" in report
    # the first seed drew the folds: it must stay first
    res = runner.invoke(cli.app, [*again, "--experiments", "table4", "--seeds", "1,0"])
    assert isinstance(res.exception, ConfigError) and "keep it first (e.g. --seeds 0,1)" in str(
        res.exception)

    # other options would mix settings; --data/--simulate are the original run's
    res = runner.invoke(cli.app, [*again, "--batch-size", "8"])
    assert isinstance(res.exception, ConfigError) and "different options" in str(res.exception)
    res = runner.invoke(cli.app, [*again, "--simulate"])
    assert isinstance(res.exception, ConfigError) and "drop --data/--simulate" in str(
        res.exception)
    res = runner.invoke(cli.app, [*again[:-1], str(tmp_path / "elsewhere")])
    assert isinstance(res.exception, ConfigError) and "reproduce_plan.json" in str(res.exception)


def test_folds_trained_apart_merge_into_one_reproduction(tmp_path: Path) -> None:
    """--only-folds trains chosen folds elsewhere (same folds: same data and first seed);
    --merge copies them into the reproduction being resumed, where they are reloaded and
    re-scored, not retrained. Other options or other data are refused."""
    import shutil

    common = ["--folds", "3", "--epochs", "1", "--experiments", "table4", "--models",
              "mranet_identity", "--channels", "4,8,8", "--batch-size", "16", "--threads",
              "1", "--no-progress"]

    def invoke(*args: str) -> dict:
        res = runner.invoke(cli.app, ["reproduce", "mranet", *common, *args])
        assert res.exit_code == 0, res.output
        return res

    invoke("--simulate", "--quick", "--only-folds", "0", "--out", str(tmp_path / "a"))
    (a,) = (tmp_path / "a").iterdir()
    invoke("--data", str(a / "data"), "--only-folds", "2", "--out", str(tmp_path / "b"))
    (b,) = (tmp_path / "b").iterdir()
    out_b = json.loads((b / "results.json").read_text())
    assert [(r["model"], r["fold"]) for r in out_b["runs"]] == [("mranet_identity", 2)]
    assert out_b["fold_ids"] == [2] and "; fold ids [2])" in (b / "report.md").read_text()

    # b also holds a model that was interrupted there: counted, not copied
    (b / "runs" / "mranet_identity_fold1_seed0" / "checkpoints").mkdir(parents=True)
    res = invoke("--only-folds", "0,2", "--resume", str(a), "--merge", str(b))
    assert "merged from" in res.output and "1 model(s) copied" in res.output
    assert "1 unfinished there (not copied)" in " ".join(res.output.split())  # rich wraps
    out = json.loads((a / "results.json").read_text())
    assert out["resumed"]["merged"] == [{"from": str(b), "copied": 1, "already_there": 0,
                                         "incomplete": 1,
                                         "models": ["mranet_identity_fold2_seed0"]}]
    assert not (a / "runs" / "mranet_identity_fold1_seed0").exists()
    assert out["resumed"]["reused_models"] == 2 and all(r["reloaded"] for r in out["runs"])
    row = next(r for r in out["runs"] if r["fold"] == 2)
    assert row["identity_macro_f1"] == pytest.approx(out_b["runs"][0]["identity_macro_f1"],
                                                     abs=5e-3)
    assert out["fold_ids"] == [0, 2] and out["fold_sizes"][1] == out_b["fold_sizes"][0]
    # the per-model line also gives the whole-recording decision
    assert re.search(r"identity F1 [01]\.\d{4} \(whole recordings [01]\.\d{4}\)",
                     " ".join(res.output.split()))
    assert (b / "runs" / "mranet_identity_fold2_seed0").is_dir()  # copied, not moved
    assert [e["frames"] for e in row["decisions"]["identity"]] == [1, 2, 4, 8, "recording"]

    # the paper's random frame split scatters recordings: no multi-frame decisions there
    invoke("--data", str(a / "data"), "--only-folds", "0", "--protocol", "paper",
           "--out", str(tmp_path / "p"))
    (pp,) = (tmp_path / "p").iterdir()
    out_p = json.loads((pp / "results.json").read_text())
    assert out_p["protocol"] == "paper" and "decisions" not in out_p["runs"][0]
    assert "decisions" not in out_p["summary"]["mranet_identity"]
    report = (pp / "report.md").read_text()
    assert "LEAK" in report.upper() and "Beyond the paper" not in report
    assert not (pp / "decisions_vs_span.png").exists()

    # another seed of the same folds, trained apart: --split-seed 0 draws seed 0's folds
    invoke("--data", str(a / "data"), "--seeds", "1", "--split-seed", "0", "--only-folds", "0",
           "--out", str(tmp_path / "s"))
    (s1,) = (tmp_path / "s").iterdir()
    out_s = json.loads((s1 / "results.json").read_text())
    assert out_s["fold_seed"] == 0 and out_s["fold_sizes"] == out["fold_sizes"][:1]
    assert "folds drawn with seed 0" in (s1 / "report.md").read_text()
    invoke("--seeds", "0,1", "--only-folds", "0", "--resume", str(a), "--merge", str(s1))
    out_m = json.loads((a / "results.json").read_text())
    assert sorted((r["seed"], r["reloaded"]) for r in out_m["runs"]) == [(0, True), (1, True)]
    # harlab compare pairs such models only on the same frames, protocol, folds and seeds
    from harlab.experiments.compare import collect_runs, compare_runs

    with pytest.raises(ConfigError, match="nothing to pair"):  # paper vs recording protocol
        compare_runs(collect_runs(pp), collect_runs(a, ["train.seed=0"]))
    with pytest.raises(ConfigError, match="pairs would be ambiguous"):  # s1's, merged into a
        compare_runs(collect_runs(tmp_path, ["train.seed=1"]), collect_runs(a))
    invoke("--seeds", "1", "--split-seed", "0", "--only-folds", "0", "--resume", str(a))
    assert [r["seed"] for r in json.loads((a / "results.json").read_text())["runs"]] == [1]
    res = runner.invoke(cli.app, ["reproduce", "mranet", *common, "--seeds", "1",
                                  "--only-folds", "0", "--resume", str(a)])
    assert isinstance(res.exception, ConfigError)
    assert "keep it first (e.g. --seeds 0,1) or give --split-seed 0" in str(res.exception)

    # run c: b's models brought from a machine where the data lay elsewhere; the plans'
    # recorded data fingerprints match, and a model already here stays
    c = tmp_path / "c"
    shutil.copytree(b, c)
    plan = json.loads((c / "reproduce_plan.json").read_text())
    assert plan["data_sha256"] == json.loads((a / "reproduce_plan.json").read_text())[
        "data_sha256"]
    (c / "reproduce_plan.json").write_text(json.dumps(
        {**plan, "data": str(tmp_path / "other_machine" / "data")}))
    invoke("--only-folds", "0,2", "--resume", str(a), "--merge", str(c))
    merged = json.loads((a / "results.json").read_text())["resumed"]["merged"]
    assert merged == [{"from": str(c), "copied": 0, "already_there": 1, "incomplete": 1,
                       "models": []}]

    def refused(src: Path, *extra: str) -> str:
        res = runner.invoke(cli.app, ["reproduce", "mranet", *common, "--only-folds", "0,2",
                                      *extra, "--merge", str(src)])
        assert isinstance(res.exception, ConfigError), res.output
        return str(res.exception)

    (c / "reproduce_plan.json").write_text(json.dumps({**plan, "data_sha256": "0" * 64}))
    assert "trained on other data" in refused(c, "--resume", str(a))
    # a plan from before the fingerprint: its data folder is hashed if it is there
    legacy = {k: v for k, v in plan.items() if k != "data_sha256"}
    (c / "reproduce_plan.json").write_text(json.dumps(
        {**legacy, "data": str(tmp_path / "other_machine" / "data")}))
    assert "not there to compare" in refused(c, "--resume", str(a))
    same = tmp_path / "same_data"
    shutil.copytree(a / "data", same)
    (c / "reproduce_plan.json").write_text(json.dumps({**legacy, "data": str(same)}))
    invoke("--only-folds", "0,2", "--resume", str(a), "--merge", str(c))
    # harlab compare hashes such a plan's folder too, and reads an option the plan predates
    # (here init) as its default
    old_plan = {**legacy, "data": str(same), "limits": {
        k: v for k, v in legacy["limits"].items() if k != "init"}}
    (c / "reproduce_plan.json").write_text(json.dumps(old_plan))
    (got,) = collect_runs(c, ["train.init=default"])
    assert got["pair_key"] == collect_runs(a, ["data.split.fold=2"])[0]["pair_key"]
    (c / "reproduce_plan.json").write_text(json.dumps({**old_plan, "data": str(tmp_path / "x")}))
    with pytest.raises(ConfigError, match="no data fingerprint and its data folder"):
        collect_runs(c)
    (c / "reproduce_plan.json").write_text(json.dumps({**legacy, "data": str(same)}))
    frames_file = max((p for p in same.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)
    raw = bytearray(frames_file.read_bytes())
    raw[-1] ^= 1  # one byte of the copy changed
    frames_file.write_bytes(bytes(raw))
    assert "trained on other data" in refused(c, "--resume", str(a))
    # other options, other folds (first seed), itself, and no --resume
    (c / "reproduce_plan.json").write_text(json.dumps(
        {**plan, "limits": {**plan["limits"], "epochs": 2}}))
    msg = refused(c, "--resume", str(a))
    assert f"cannot merge {c} into {a}: different options (limits.epochs: 2 there, 1 in" in msg
    (c / "reproduce_plan.json").write_text(json.dumps(
        {**plan, "limits": {**plan["limits"], "seeds": [3]}}))
    assert "its folds were drawn with seed 3" in refused(c, "--resume", str(a))
    assert "that is the reproduction being resumed" in refused(a, "--resume", str(a))
    assert "give it with --resume DIR" in refused(b, "--data", str(a / "data"))
    assert "not both" in refused(b, "--resume", str(a), "--run-folds", "1")


def test_snr_range_counts_frames_without_an_snr() -> None:
    from harlab.experiments.reproduce_mranet import Frames, _snr_range

    def frames(snr):
        n = 0 if snr is None else len(snr)
        return Frames(np.zeros((n, 2, 2)), np.zeros(n, int), np.zeros(n, int),
                      np.zeros(n, str), ["a"], ["p"], Path("."),
                      None if snr is None else np.asarray(snr, float))

    assert _snr_range(frames([20.04, 34.96, 25.0])) == "SNR 20.0-35.0 dB"
    assert _snr_range(frames([20.0, np.nan, 30.0, np.nan])) == (
        "SNR 20.0-30.0 dB; 2 frames noise-free or without a recorded SNR")
    assert _snr_range(frames([np.nan])) == "SNR not recorded in the dataset"
    assert _snr_range(frames(None)) == "SNR not recorded in the dataset"


def test_snr_sweep_reprocesses_with_the_folders_own_chain(tmp_path: Path) -> None:
    """A folder written by `harlab simulate radar --processing CUSTOM` re-simulates to its
    own frames (the sweep reads dataset.json's processing, not the default chain)."""
    from harlab.experiments.reproduce_mranet import (
        check_resimulation,
        load_frames,
        load_processing,
        load_simulation,
    )

    custom = tmp_path / "proc.yaml"
    custom.write_text("dynamic_range_db: 25.0\nmti: two_pulse\n")
    out = tmp_path / "sim"
    res = runner.invoke(cli.app, ["simulate", "radar", "--out", str(out), "--quick",
                                  "--persons", "sub1,sub2", "--activities", "box,walk",
                                  "--workers", "1",
                                  "--processing", str(custom), "--no-progress"])
    assert res.exit_code == 0, res.output
    fr, sim = load_frames(out), load_simulation(out)
    proc = load_processing(out)
    assert proc.dynamic_range_db == 25.0 and proc.mti == "two_pulse"
    check_resimulation(sim, fr, str(fr.recording[0]))  # must not raise
    (out / "dataset.json").unlink()  # without the record, the default chain differs
    with pytest.raises(DataError, match="does not reproduce its frames"):
        check_resimulation(sim, fr, str(fr.recording[0]))


def test_conditions_note_flags_mixed_sessions_and_cpus() -> None:
    now = {"trained_at": "2026-12-02T08:00:00", "cpu": "CPU A", "load_average": [1, 1, 1]}
    old = {"trained_at": "2026-12-01T23:00:00", "cpu": "CPU B", "load_average": [3, 3, 3],
           "reloaded": True}
    assert conditions_note({"(1)": [now], "(2)": [now]}, "CPU A") == [
        "Every row was trained in this run, on this CPU."]
    mixed = " ".join(conditions_note({"(1)": [now], "(2)": [old]}, "CPU A"))
    assert "(2) were reloaded from an earlier session" in mixed
    assert "(1) were trained in this one" in mixed
    assert "different CPUs (CPU A; CPU B)" in mixed
    # all reloaded, on the machine writing the report: no CPU note, but not "this run"
    only_old = conditions_note({"(1)": [{**old, "cpu": "CPU A"}]}, "CPU A")
    assert len(only_old) == 1 and only_old[0].startswith("Every row was reloaded")
    # an older row without recorded conditions
    legacy = conditions_note({"(1)": [{"trained_at": "2026-11-30T10:00:00", "reloaded": True,
                                        "trained_at_from": "metrics.json file time"}]}, "CPU A")
    assert any("show the time their metrics.json was written" in n for n in legacy)


def test_trained_cell_gives_time_span_and_load() -> None:
    from harlab.experiments.reproduce_mranet import _trained_cell

    a = {"trained_at": "2026-12-02T08:00:59", "load_average": [0.5, 1.04, 1.0]}
    b = {"trained_at": "2026-12-02T09:30:00", "load_average": [2.0, 2.96, 2.0]}
    assert _trained_cell([a]) == "2026-12-02 08:00 (1.0)"
    assert _trained_cell([b, a]) == "2026-12-02 08:00 - 2026-12-02 09:30 (1.0-3.0)"
    assert _trained_cell([{"trained_at": "2026-11-30T10:00:00"}]) == (
        "2026-11-30 10:00 (load not recorded)")
    assert _trained_cell([]) == "n/a"


def test_frame_positions_default_to_row_order_within_each_recording() -> None:
    fr = _frames(n_rec_per_cell=1, frames_per_rec=3)
    assert fr.position is None and fr.frame_timing is None
    assert fr.positions().tolist() == [0, 1, 2] * 6
    fr.recording = np.array(["a", "b"] * 9)  # interleaved rows: counted per recording
    assert fr.positions()[:4].tolist() == [0, 0, 1, 1]
