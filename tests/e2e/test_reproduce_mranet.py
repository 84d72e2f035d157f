"""End-to-end: ``harlab reproduce mranet`` on a tiny simulated radar dataset.

Every model of a reproduction is an ordinary run of the study engine; these tests check the
report, resume, extension, ``--models``, merge, the paper protocol and the refusals.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harlab.cli import main as cli
from harlab.errors import ConfigError, DataError
from harlab.experiments.mranet_paper import NEEDS
from harlab.experiments.mranet_report import _trained_cell, conditions_note

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_one_clear_error_and_leaves_no_run_dir(tmp_path: Path) -> None:
    def error(*args: str) -> BaseException | None:
        res = runner.invoke(cli.app, ["reproduce", "mranet", *args, "--out",
                                      str(tmp_path / "runs")])
        return res.exception

    exc = error("--data", str(tmp_path / "nope"))
    assert isinstance(exc, DataError)  # harlab's main() prints it, exit 2
    assert "frame dataset folder not found" in str(exc)
    exc = error()
    assert isinstance(exc, ConfigError) and "--simulate" in str(exc)
    exc = error("--simulate", "--experiments", "table9")
    assert isinstance(exc, ConfigError) and "table9" in str(exc)
    exc = error("--simulate", "--experiments", "table4", "--models", "lstm_activity")
    assert isinstance(exc, ConfigError) and "lstm_activity" in str(exc)
    assert "mranet_identity" in str(exc)  # the choices for the chosen experiments
    exc = error("--simulate", "--init", "xavier")
    assert isinstance(exc, ConfigError)
    assert "--init must be one of default, orthogonal" in str(exc)
    for ids in ("5", "1,1", "-1", "a"):  # fold ids of --folds 5 are 0..4, distinct
        exc = error("--simulate", "--only-folds", ids)
        assert isinstance(exc, ConfigError) and "--only-folds" in str(exc)
    exc = error("--simulate", "--run-folds", "1", "--only-folds", "0")
    assert isinstance(exc, ConfigError) and "not both" in str(exc)
    exc = error("--simulate", "--max-time-per-run", "0")
    assert isinstance(exc, ConfigError) and "--max-time-per-run must be positive" in str(exc)
    assert not (tmp_path / "runs").exists()


QUICK = ["--folds", "3", "--epochs", "1", "--channels", "4,8,8", "--batch-size", "16",
         "--threads", "2", "--no-progress", "--init", "orthogonal"]


def _ok(*args: str) -> str:
    res = runner.invoke(cli.app, ["reproduce", "mranet", *args])
    assert res.exit_code == 0, f"{res.output}\n{res.exception!r}"
    return " ".join(res.output.split())  # rich wraps lines


def _refused(*args: str) -> str:
    res = runner.invoke(cli.app, ["reproduce", "mranet", *args])
    assert isinstance(res.exception, ConfigError), res.output
    return str(res.exception)


def _runs(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if (p / "config.yaml").is_file())


@pytest.mark.slow
def test_quick_run_writes_report_json_and_figures_from_ordinary_runs(tmp_path: Path) -> None:
    _ok("--simulate", "--quick", "--run-folds", "1", "--experiments", "table4,fig8",
        "--out", str(tmp_path), *QUICK)
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    out = json.loads((run / "results.json").read_text())
    assert out["protocol"] == "recording" and out["data"]["quick"]
    assert out["data"]["persons"] == ["sub1", "sub2"] and len(out["data"]["activities"]) == 5
    assert {r["model"] for r in out["runs"]} == set(NEEDS["table4"])
    for r in out["runs"]:
        assert r["epochs_trained"] == 1 and r["parameters"] > 0 and not r["reloaded"]
        assert r["trained_at"][:4].isdigit() and r["cpu"] and r["threads"] == 2
        assert len(r["load_average"]) == 3
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
    report = (run / "report.md").read_text()
    for section in ("## Table 4", "## Fig. 8", "## Beyond the paper: one decision over "
                    "several frames", "| MRA-Net identity only | identity | ", "98.29", "91.34",
                    "StratifiedGroupKFold", "orthogonal weight initialisation"):
        assert section in report, section
    assert "Fig. 12" not in report
    from harlab.config import resolve_precision

    chosen = resolve_precision("auto")
    assert out["limits"]["precision"] == chosen and f"precision {chosen}, " in report
    assert {r["precision"] for r in out["runs"]} == {chosen}  # what Lightning trained with
    for png in ("fig8a_confusion_identity.png", "fig8b_confusion_activity.png",
                "decisions_vs_span.png"):
        assert (run / png).read_bytes()[:8] == PNG
    assert (run / "data" / "harlab_simulation.json").is_file()
    models = _runs(run)
    assert len(models) == 3 and all((m / "checkpoints" / "best.ckpt").is_file() for m in models)
    study = json.loads((run / "study.json").read_text())
    assert study["complete"] and study["extra"]["simulated_here"]

    # harlab compare reads the reproduction's runs: joint minus identity-only, one pair
    from harlab.experiments.compare import collect_runs

    assert len(collect_runs(run, ["train.init=orthogonal", "model.name=mranet"])) == 3
    res = runner.invoke(cli.app, ["compare", str(run), str(run),
                                  "--where-a", "task.heads=[activity, identity]",
                                  "--where-b", "task.heads=[identity]",
                                  "--out", str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    (cmp_dir,) = (tmp_path / "cmp").iterdir()
    got = json.loads((cmp_dir / "compare.json").read_text())
    row = {r["model"]: r for r in out["runs"]}
    by = {(c["head"], c["score"]): c["difference"] for c in got["comparisons"]}
    assert got["pairs"] == 1 and set(by) == {("identity", "macro_f1"),
                                             ("identity", "segment_macro_f1")}
    assert by["identity", "macro_f1"]["mean"] == pytest.approx(
        row["mranet_flwl"]["identity_macro_f1"] - row["mranet_identity"]["identity_macro_f1"])
    shutil.rmtree(tmp_path / "cmp")  # the resumes below must add no directory here
    _resume_extend_and_refuse(tmp_path, run, out)


def _resume_extend_and_refuse(tmp_path: Path, run: Path, first: dict) -> None:
    """Interrupted, resumed, extended by folds, models, experiments and seeds; refusals."""
    again = ["--run-folds", "1", "--experiments", "table4,fig8", *QUICK, "--resume", str(run)]
    identity = next(m for m in _runs(run) if "mranet_identity" in m.name)
    (identity / "metrics.json").unlink()  # interrupted while training the identity model
    for f in ("results.json", "report.md"):
        (run / f).unlink()
    assert "train.init: 'orthogonal' there, 'default' now" in _refused(
        *[a for a in again if a not in ("--init", "orthogonal")])
    text = _ok(*again)
    assert "resuming study" in text and "finished before, reused" in text
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == [run]
    out = json.loads((run / "results.json").read_text())
    rows = {r["model"]: r for r in out["runs"]}
    assert identity.is_dir() and rows["mranet_identity"]["run"] != identity.name  # kept
    assert rows["mranet_flwl"]["reloaded"] and not rows["mranet_identity"]["reloaded"]
    old = {r["model"]: r for r in first["runs"]}
    assert rows["mranet_flwl"]["activity_macro_f1"] == old["mranet_flwl"]["activity_macro_f1"]
    assert rows["mranet_flwl"]["trained_at"] == old["mranet_flwl"]["trained_at"]
    assert "- resumed " in (run / "report.md").read_text()

    # --models: of Fig. 10's and Table 6's models train only dcnn3_activity; the finished
    # MRA-Net is reused, the rest read n/a
    _ok(*again[:-2], "--experiments", "fig10,table6", "--models", "dcnn3_activity",
        "--resume", str(run))
    out = json.loads((run / "results.json").read_text())
    assert {r["model"] for r in out["runs"]} == {"dcnn3_activity", "mranet_flwl"}
    assert "dcnn5_identity" in out["not_run"] and "mranet_abl2" in out["not_run"]
    report = (run / "report.md").read_text()
    assert "- not run (`--models` left them out): dcnn5_identity" in report
    assert "| dcnn5 (identity) | DCNNs [5] and [19] | n/a | n/a | n/a | n/a |" in report
    assert "| (2) | × | √ | × | n/a / 94.52 |" in report  # Table 6 row, model not trained

    # a second fold of one model: fold 0 is reused, fold 1 trains
    text = _ok("--run-folds", "2", "--experiments", "table4", "--models", "mranet_identity",
               *QUICK, "--resume", str(run))
    assert "radar_mranet_identity_fold1_seed0: test macro-F1" in text
    out = json.loads((run / "results.json").read_text())
    assert sorted((r["model"], r["fold"]) for r in out["runs"]) == [
        ("mranet_activity", 0), ("mranet_flwl", 0), ("mranet_identity", 0),
        ("mranet_identity", 1)]

    # every experiment on fold 0: only the models not trained yet train
    _ok("--run-folds", "1", *QUICK, "--snrs", "0,30", "--snr-recordings", "1",
        "--resume", str(run))
    out = json.loads((run / "results.json").read_text())
    assert {r["model"] for r in out["runs"]} == {k for ks in NEEDS.values() for k in ks}
    assert not out["not_run"]
    report = (run / "report.md").read_text()
    for head in ("## Fig. 9", "## Fig. 10", "## Fig. 11", "## Fig. 12", "## Table 5",
                 "## Table 6", "`mranet_flwl_id`, identity gets 2 + max w",
                 "| FLWL, activity gets 2 + max w (mean w_a / w_i 1.", "**(selected)**",
                 "(6) were reloaded from an earlier session"):
        assert head in report, head
    for png in ("fig9_identity_f1_per_activity.png", "fig10a_identity.png",
                "fig10b_activity.png", "fig11_snr.png", "fig12a_loss_weights.png",
                "fig12b_rw_histogram.png", "fig12b_rw_histogram_eq6_unit.png"):
        assert (run / png).read_bytes()[:8] == PNG, png
    # Fig. 10 and 11 show the paper's baselines: the CAE [9] and JMI-CNN [32], trained here
    fig10 = report[report.index("## Fig. 10"):report.index("## Fig. 11")]
    fig11 = report[report.index("## Fig. 11"):report.index("## Fig. 12")]
    rows = {r["model"]: r for r in out["runs"]}
    cae, jmi = rows["cae_activity"], rows["jmi_cnn_mt_equal"]
    assert f"| CAE (activity) | CAE [9] | {100 * cae['activity_macro_f1']:.2f} ± " in fig10
    assert "pre-training is reproduced as 5 epochs" in fig10 and "JMI" not in fig10
    (cae_metrics,) = run.rglob("*cae_activity*/metrics.json")  # [9]'s pre-training ran
    assert json.loads(cae_metrics.read_text())["pretrain"]["epochs"] == 5
    assert (f"| JMI-CNN (multitask, equal weights) | JMI-CNN [32] | "
            f"{100 * jmi['activity_macro_f1']:.2f} ± ") in fig11
    assert "| JMI-CNN (multitask, equal weights): identity | " in fig11  # its SNR curve
    assert set(out["sweep"]) == {"mranet_flwl", "jmi_cnn_mt_equal"}
    for curve in out["sweep"].values():  # SNR (as a str key in JSON) -> per-head scores
        assert sorted(float(k) for k in curve) == [0.0, 30.0]
    for key in [f"mranet_abl{i}" for i in range(1, 6)]:
        t = out["timing"][key]["trained"]
        assert t["parameters"] > 0 and t["ms_per_frame_b1"] > 0

    # a second seed on the same folds: Table 4 as a paired question over (fold, seed)
    _ok("--run-folds", "1", "--experiments", "table4", "--seeds", "0,1", *QUICK,
        "--resume", str(run))
    out = json.loads((run / "results.json").read_text())
    assert out["limits"]["seeds"] == [0, 1]
    pairs = {(p["head"], p["score"]): p for p in out["table4_pairs"]}
    by = {(r["model"], r["fold"], r["seed"]): r for r in out["runs"]}
    p = pairs[("identity", "per frame")]
    assert p["difference"]["n"] == 2 and p["difference"]["diffs"] == pytest.approx([
        by[("mranet_flwl", 0, s)]["identity_macro_f1"]
        - by[("mranet_identity", 0, s)]["identity_macro_f1"] for s in (0, 1)])
    assert "| +4.53 |" in (run / "report.md").read_text()  # the paper's 95.87 - 91.34
    # the first seed drew the folds: a resume that changes it is another config
    assert "data.split.seed: 0 there, 1 now" in _refused(
        "--run-folds", "1", "--seeds", "1,0", *QUICK, "--resume", str(run))
    assert "train.batch_size: 16 there, 8 now" in _refused(*again, "--batch-size", "8")
    assert "drop --data/--simulate" in _refused(*again, "--simulate")
    assert "no study.json there" in _refused(*again[:-1], str(tmp_path / "elsewhere"))


@pytest.mark.slow
def test_folds_trained_apart_merge_into_one_reproduction(tmp_path: Path) -> None:
    """--only-folds trains chosen folds elsewhere (same folds: same data and fold seed);
    --merge copies them into the reproduction being resumed, where they are reused, not
    retrained. Other data are refused; the paper protocol scatters recordings."""
    common = ["--folds", "3", "--epochs", "1", "--experiments", "table4", "--models",
              "mranet_identity", "--channels", "4,8,8", "--batch-size", "16", "--threads",
              "1", "--no-progress"]
    _ok(*common, "--simulate", "--quick", "--only-folds", "0", "--out", str(tmp_path / "a"))
    (a,) = (tmp_path / "a").iterdir()
    _ok(*common, "--data", str(a / "data"), "--only-folds", "2", "--out", str(tmp_path / "b"))
    (b,) = (tmp_path / "b").iterdir()
    out_b = json.loads((b / "results.json").read_text())
    assert [(r["model"], r["fold"]) for r in out_b["runs"]] == [("mranet_identity", 2)]
    assert "; fold ids [2])" in (b / "report.md").read_text()
    text = _ok(*common, "--only-folds", "0,2", "--resume", str(a), "--merge", str(b))
    assert "1 runs copied, 0 already here, 0 not asked for, 0 unfinished there" in text
    out = json.loads((a / "results.json").read_text())
    assert out["merged"][0]["copied"] == 1 and all(r["reloaded"] for r in out["runs"])
    row = next(r for r in out["runs"] if r["fold"] == 2)
    assert row["identity_macro_f1"] == out_b["runs"][0]["identity_macro_f1"]
    assert out["fold_ids"] == [0, 2] and out["fold_sizes"][1] == out_b["fold_sizes"][0]
    assert len(_runs(b)) == 1  # copied, not moved

    # the data are pinned by their checksum, not their path: another folder is refused
    other = tmp_path / "other_data"
    shutil.copytree(a / "data", other)
    frames_file = sorted(other.glob("*.npy"))[0]
    x = np.load(frames_file)
    x.flat[0] = 0.5 * x.flat[0] + 0.25  # one value changed, still a valid frame
    np.save(frames_file, x)
    _ok(*common, "--data", str(other), "--only-folds", "1", "--out", str(tmp_path / "c"))
    (c,) = (tmp_path / "c").iterdir()
    assert "other identity" in _refused(*common, "--only-folds", "0,1", "--resume", str(a),
                                        "--merge", str(c))
    assert "that is the study being resumed" in _refused(*common, "--resume", str(a),
                                                         "--merge", str(a))
    assert "give it with --resume DIR" in _refused(*common, "--data", str(a / "data"),
                                                   "--merge", str(b))

    # the paper's random frame split scatters recordings: no multi-frame decisions there
    _ok(*common, "--data", str(a / "data"), "--only-folds", "0", "--protocol", "paper",
        "--out", str(tmp_path / "p"))
    (pp,) = (tmp_path / "p").iterdir()
    out_p = json.loads((pp / "results.json").read_text())
    assert out_p["protocol"] == "paper" and "decisions" not in out_p["runs"][0]
    report = (pp / "report.md").read_text()
    assert "LEAK" in report.upper() and "Beyond the paper" not in report
    from harlab.experiments.compare import collect_runs, compare_runs

    with pytest.raises(ConfigError, match="nothing to pair"):  # paper vs recording protocol
        compare_runs(collect_runs(pp), collect_runs(a))


def test_snr_sweep_reprocesses_with_the_folders_own_chain(tmp_path: Path) -> None:
    """A folder written by `harlab simulate radar --processing CUSTOM` re-simulates to its
    own frames (the sweep reads dataset.json's processing, not the default chain)."""
    from harlab.radar.dataset import read_frames_dataset
    from harlab.radar.snr_sweep import check_resimulation, load_processing, load_simulation

    custom = tmp_path / "proc.yaml"
    custom.write_text("dynamic_range_db: 25.0\nmti: two_pulse\n")
    out = tmp_path / "sim"
    res = runner.invoke(cli.app, ["simulate", "radar", "--out", str(out), "--quick",
                                  "--persons", "sub1,sub2", "--activities", "box,walk",
                                  "--workers", "1", "--processing", str(custom),
                                  "--no-progress"])
    assert res.exit_code == 0, res.output
    stack, table = read_frames_dataset(out)
    rec = table["recording"].astype(str).to_numpy()
    first = np.ascontiguousarray(stack[rec == rec[0]].transpose(0, 2, 1))
    sim, proc = load_simulation(out), load_processing(out)
    assert proc.dynamic_range_db == 25.0 and proc.mti == "two_pulse"
    check_resimulation(sim, out, str(rec[0]), first)  # must not raise
    (out / "dataset.json").unlink()  # without the record, the default chain differs
    with pytest.raises(DataError, match="does not reproduce its frames"):
        check_resimulation(sim, out, str(rec[0]), first)


def test_snr_range_counts_frames_without_an_snr(tmp_path: Path) -> None:
    import pandas as pd

    from harlab.experiments.reproduce_mranet import _snr_range

    def labels(**cols) -> Path:
        pd.DataFrame({"file": ["a.npy"] * len(next(iter(cols.values()))), **cols}).to_csv(
            tmp_path / "labels.csv", index=False)
        return tmp_path

    assert _snr_range(labels(snr_db=[20.04, 34.96, 25.0])) == "SNR 20.0-35.0 dB"
    assert _snr_range(labels(snr_db=[20.0, None, 30.0], n_frames=[3, 2, 1])) == (
        "SNR 20.0-30.0 dB; 2 frames noise-free or without a recorded SNR")
    assert _snr_range(labels(snr_db=[None])) == "SNR not recorded in the dataset"
    assert _snr_range(labels(person=["p"])) == "SNR not recorded in the dataset"


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
    only_old = conditions_note({"(1)": [{**old, "cpu": "CPU A"}]}, "CPU A")
    assert len(only_old) == 1 and only_old[0].startswith("Every row was reloaded")


def test_trained_cell_gives_time_span_and_load() -> None:
    a = {"trained_at": "2026-12-02T08:00:59", "load_average": [0.5, 1.04, 1.0]}
    b = {"trained_at": "2026-12-02T09:30:00", "load_average": [2.0, 2.96, 2.0]}
    assert _trained_cell([a]) == "2026-12-02 08:00 (1.0)"
    assert _trained_cell([b, a]) == "2026-12-02 08:00 - 2026-12-02 09:30 (1.0-3.0)"
    assert _trained_cell([{"trained_at": "2026-11-30T10:00:00"}]) == (
        "2026-11-30 10:00 (load not recorded)")
    assert _trained_cell([]) == "n/a"
