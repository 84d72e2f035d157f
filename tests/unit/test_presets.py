"""DanHAR presets (configs/danhar): strict loading, protocol facts, honest splits by subject."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harlab.config import RunConfig, apply_overrides, from_dict, load_config
from harlab.data.recording import Recording
from harlab.data.splits import make_split
from harlab.data.windows import make_windows
from harlab.errors import ConfigError
from harlab.experiments import paper_numbers as pn
from harlab.experiments.reproduce_danhar import (
    DATASETS,
    MODELS,
    model_variant,
    preset_path,
    preset_plan,
)
from harlab.models import build_model

PRESETS = Path(__file__).resolve().parents[2] / "configs" / "danhar"
# dataset key -> (source sampling rate in Hz, subject ids, sessions per subject)
DATA = {
    "wisdm": (20.0, [str(i) for i in range(1, 37)], ["0"]),
    "unimib": (50.0, [str(i) for i in range(1, 31)], ["t1"]),
    "pamap2": (100.0, [str(i) for i in range(101, 110)], ["protocol"]),
    "opportunity": (30.0, ["S1", "S2", "S3", "S4"],
                    ["ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill"]),
    "weak": (50.0, [str(i) for i in range(1, 15)], ["w0"]),
    "hapt": (50.0, [str(i) for i in range(1, 31)], ["1", "2"]),
    "uci_har": (50.0, [str(i) for i in range(1, 31)], ["1", "2"]),
    "uci_har_inertial": (50.0, [str(i) for i in range(1, 31)], ["train-0", "train-1"]),
    "usc_had": (100.0, [str(i) for i in range(1, 15)], ["t1"]),
    "dsads": (25.0, [str(i) for i in range(1, 9)], ["1"]),
    "opportunity_locomotion": (30.0, ["S1", "S2", "S3", "S4"],
                               ["ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill"]),
}


def preset(dataset: str, protocol: str) -> RunConfig:
    return load_config(preset_path(dataset, protocol, PRESETS))


def window_samples(cfg: RunConfig, dataset: str) -> tuple[int, int, float]:
    rate = cfg.data.window.target_rate or DATA[dataset][0]
    length, step = cfg.data.window.samples(rate)
    return length, step, rate


# the official UCI-HAR test subjects (HAPT's `given` split) and OPPORTUNITY challenge runs
UCI_HAR_TEST = {"2", "4", "9", "10", "12", "13", "18", "20", "24"}
OPP_TRAIN = {("S1", s) for s in ("Drill", "ADL1", "ADL2", "ADL3", "ADL4", "ADL5")} | {
    (p, s) for p in ("S2", "S3") for s in ("Drill", "ADL1", "ADL2", "ADL3")}
OPP_TEST = {(p, s) for p in ("S2", "S3") for s in ("ADL4", "ADL5")}


def _opp_part(subject: str, session: str) -> str | None:
    key = (subject, session)
    return "train" if key in OPP_TRAIN else "test" if key in OPP_TEST else None


def synthetic(cfg: RunConfig, dataset: str) -> tuple[list[Recording], object]:
    """Recordings with the dataset's subject/session ids (and official split metadata,
    as the real loaders set it), windowed by the preset."""
    rate, subjects, sessions = DATA[dataset]
    length, _, _ = window_samples(cfg, dataset)
    n = int(np.ceil(3 * length * rate / (cfg.data.window.target_rate or rate)))
    recs = [
        Recording(np.zeros((n, 1), np.float32), np.full(n, 1), rate, ["x"], ["g"], s, k,
                  meta={"official_split": _opp_part(s, k)}
                  if dataset.startswith("opportunity") else {})
        for s in subjects for k in sessions
    ]
    return recs, make_windows(recs, cfg.data.window)


def split_of(cfg: RunConfig, dataset: str, recs: list[Recording], w: object) -> object:
    official = None
    if dataset in ("uci_har", "uci_har_inertial"):
        official = {s: "test" if s in UCI_HAR_TEST else "train" for s in DATA[dataset][1]}
    return make_split(w, recs, cfg.data.split, official)


def test_every_dataset_has_both_presets_and_nothing_else() -> None:
    files = sorted(p.name for p in PRESETS.glob("*.yaml"))
    assert files == sorted(f"{d}_{p}.yaml" for d in DATASETS for p in ("paper", "honest"))


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("protocol", ["paper", "honest"])
def test_preset_loads_strictly_and_builds_every_table_model(dataset: str, protocol: str) -> None:
    cfg = preset(dataset, protocol)
    source = {"uci_har": "hapt", "uci_har_inertial": "uci_har",
              "opportunity_locomotion": "opportunity"}
    assert cfg.data.dataset == source.get(dataset, dataset)
    assert cfg.description.startswith("PAPER PROTOCOL" if protocol == "paper" else "HONEST")
    # the registry's backbone/attention defaults must not be overridden by the preset
    assert not {"backbone", "attention"} & set(cfg.model.options)
    length, _, _ = window_samples(cfg, dataset)
    params = {}
    for m in MODELS:  # each with the options its variant gives (DeepConvLSTM: its own)
        run = from_dict(apply_overrides(cfg.to_dict(), list(model_variant(m).overrides)))
        params[m] = sum(p.numel() for p in build_model(
            m, (length, 3), 4, **run.model.options).parameters())
    assert params["cnn"] < params["danhar_cnn"] and params["resnet"] < params["danhar"]
    assert params["cnn"] < params["resnet"]


def test_strict_keys_reject_a_typo(tmp_path: Path) -> None:
    text = (PRESETS / "hapt_honest.yaml").read_text().replace("val_fraction", "val_fractoin")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match="val_fractoin"):
        load_config(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    ("dataset", "rate", "length", "step", "batch", "lr", "lr_step"),
    [
        ("wisdm", 20.0, 200, 100, 210, 1e-3, 50),
        ("unimib", 50.0, 151, 151, 128, 1e-3, None),
        ("opportunity", 30.0, 64, 8, 300, 1e-4, 50),
        ("weak", 50.0, 2048, 2048, 200, 1e-3, None),
        ("hapt", 50.0, 128, 64, 128, 1e-3, 50),
        ("uci_har", 50.0, 128, 64, 128, 1e-3, 50),
        ("uci_har_inertial", 50.0, 128, 128, 128, 1e-3, 50),
        ("usc_had", 100.0, 200, 100, 128, 1e-3, 50),
        ("dsads", 25.0, 125, 62, 128, 1e-3, 50),
        ("opportunity_locomotion", 30.0, 64, 8, 300, 1e-4, 50),
    ],
)
def test_paper_protocol_facts(dataset: str, rate: float, length: int, step: int, batch: int,
                              lr: float, lr_step: int | None) -> None:
    cfg = preset(dataset, "paper")
    assert window_samples(cfg, dataset) == (length, step, rate)
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.lr_step) == (batch, lr, lr_step)
    assert cfg.train.optimizer == "adam" and cfg.train.max_epochs == 500


def test_pamap2_paper_protocol() -> None:
    cfg = preset("pamap2", "paper")
    length, step, rate = window_samples(cfg, "pamap2")
    assert rate == pytest.approx(100 / 3)
    assert length / rate == pytest.approx(5.12, abs=0.02)  # 5.12 s windows
    assert 1 - step / length == pytest.approx(0.78, abs=0.005)  # 78 % overlap
    assert cfg.data.split.kind == "subject" and cfg.data.split.test_subjects == ["105", "106"]
    assert (cfg.train.lr, cfg.train.batch_size) == (5e-4, 300)
    recs, w = synthetic(cfg, "pamap2")
    sp = make_split(w, recs, cfg.data.split)
    assert {recs[i].subject for i in w.recording[sp.test]} == {"105", "106"}


def test_wisdm_paper_network_is_the_authors() -> None:
    cfg = preset("wisdm", "paper")
    model = build_model("danhar", (200, 3), 6, **cfg.model.options)
    assert sum(p.numel() for p in model.parameters()) == 2_443_564  # authors' WISDM code


@pytest.mark.parametrize(("dataset", "task"), [("opportunity", "gestures"),
                                            ("opportunity_locomotion", "locomotion")])
def test_opportunity_paper_uses_the_challenge_runs(dataset: str, task: str) -> None:
    cfg = preset(dataset, "paper")
    assert cfg.data.options["task"] == task and cfg.data.split.kind == "given"
    recs, w = synthetic(cfg, dataset)
    sp = split_of(cfg, dataset, recs, w)
    runs = [{(recs[i].subject, recs[i].session) for i in w.recording[idx]}
            for idx in (sp.train, sp.val, sp.test)]
    assert runs[2] == OPP_TEST and runs[0] | runs[1] == OPP_TRAIN and runs[1]
    assert not runs[0] & runs[1]


@pytest.mark.parametrize("dataset", ["uci_har", "uci_har_inertial"])
def test_uci_har_paper_uses_the_official_subject_split(dataset: str) -> None:
    cfg = preset(dataset, "paper")
    if dataset == "uci_har":  # HAPT raw: keep UCI-HAR's six classes
        assert cfg.data.labels == [1, 2, 3, 4, 5, 6]
    assert cfg.data.split.kind == "given"
    recs, w = synthetic(cfg, dataset)
    sp = split_of(cfg, dataset, recs, w)
    assert {recs[i].subject for i in w.recording[sp.test]} == UCI_HAR_TEST


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_paper_random_split_warns_of_leakage_when_windows_overlap(dataset: str) -> None:
    cfg = preset(dataset, "paper")
    recs, w = synthetic(cfg, dataset)
    sp = split_of(cfg, dataset, recs, w)
    leaky = any("LEAKAGE" in m for m in sp.warnings)
    assert leaky == (cfg.data.split.kind == "random" and w.step < w.length)
    if dataset in ("wisdm", "hapt", "usc_had", "dsads"):
        assert leaky  # overlapping windows split at random: must be flagged


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_honest_preset_is_subject_wise(dataset: str) -> None:
    cfg = preset(dataset, "honest")
    split = cfg.data.split
    _, subjects, _ = DATA[dataset]
    assert split.kind == "subject" and not split.test_subjects
    assert split.folds == min(10, len(subjects)) and split.val_fraction == 0.2
    assert cfg.data.normalize and cfg.train.patience
    if dataset not in ("weak", "unimib", "uci_har_inertial"):  # 3 s windows, 50 % overlap
        length, step, rate = window_samples(cfg, dataset)
        # exact where 1.5 s is a whole number of samples; else the nearest (DSADS at 25 Hz)
        assert length / rate == 3.0 and abs(step - 1.5 * rate) <= 0.5
    recs, w = synthetic(cfg, dataset)
    seen: set[str] = set()
    for run in preset_plan(dataset, "honest", cfg, ["cnn"], [0], None).runs():
        sp = make_split(w, recs, run.cfg.data.split)
        parts = [{recs[i].subject for i in w.recording[idx]} for idx in (sp.train, sp.val,
                                                                         sp.test)]
        assert parts[0] and parts[1] and parts[2]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        seen |= parts[2]
    assert seen == set(subjects)  # every subject is tested exactly once over the folds


def test_preset_plan_limits_folds_and_seeds() -> None:
    cfg = preset("hapt", "honest")
    runs = preset_plan("hapt", "honest", cfg, ["cnn", "danhar"], [0, 1], 2).runs()
    assert len(runs) == 2 * 2 * 2
    assert {(r.seed, r.fold) for r in runs} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert all(r.cfg.data.split.seed == r.seed == r.cfg.train.seed for r in runs)
    assert {r.cfg.model.name for r in runs} == {"cnn", "danhar"}
    assert all(r.variant in r.name for r in runs)  # the model is in every run name
    assert cfg.model.name == "danhar" and cfg.data.split.fold == 0  # base left untouched
    paper = preset_plan("hapt", "paper", preset("hapt", "paper"), ["cnn"], [0, 1, 2], 2)
    assert [r.fold for r in paper.runs()] == [None] * 3
    # one split seed: every training seed trains on the same folds
    fixed = preset_plan("hapt", "honest", cfg, ["cnn"], [0, 1, 2], None, [1, 3],
                        split_seed=7).runs()
    assert {(r.seed, r.fold) for r in fixed} == {(s, f) for s in (0, 1, 2) for f in (1, 3)}
    assert all(r.cfg.data.split.seed == 7 and r.cfg.train.seed == r.seed for r in fixed)
    with pytest.raises(ConfigError, match="has 10 folds, ids 0-9"):
        preset_plan("hapt", "honest", cfg, ["cnn"], [0], None, [12])
    lstm = preset_plan("hapt", "honest", cfg, ["deepconvlstm"], [0], 1).runs()[0].cfg
    assert lstm.model.name == "deepconvlstm" and lstm.model.options == {}


def test_paper_numbers_cover_the_tables() -> None:
    for dataset, rows in pn.DANHAR_TABLES.items():
        assert dataset in DATASETS and set(rows) == set(MODELS) - {"deepconvlstm"}
        # attention adds few parameters to each backbone; the ResNet is the larger one
        assert rows["cnn"].parameters < rows["danhar_cnn"].parameters < rows["resnet"].parameters
        assert rows["resnet"].parameters < rows["danhar"].parameters
    ref = pn.reference("pamap2", "paper", "danhar")
    assert ref is not None and ref["value"] == 0.9316 and "Table III" in ref["where"]
    assert pn.reference("hapt", "paper", "danhar") is None
    honest = pn.reference("unimib", "honest", "cnn")
    assert honest is not None and honest["metric"] == "macro_f1" and honest["value"] == 0.633
    assert pn.reference("usc_had", "honest", "cnn") is None


def test_attention_pairs_pair_runs_by_seed_and_fold() -> None:
    from harlab.experiments.danhar_report import attention_pairs, results_markdown

    def run(model: str, seed: int, fold: int | None, f1: float, seg: float | None,
            protocol: str = "honest", error: str | None = None) -> dict:
        return {"dataset": "usc_had", "protocol": protocol, "model": model, "seed": seed,
                "fold": fold, "macro_f1": f1, "segment_macro_f1": seg, "error": error,
                "accuracy": f1, "warnings": []}

    runs = [run("cnn", 0, 0, 0.70, 0.72), run("cnn", 0, 1, 0.60, 0.65),
            run("cnn", 0, 2, 0.65, None),
            run("danhar_cnn", 0, 0, 0.75, 0.80), run("danhar_cnn", 0, 1, 0.62, 0.64),
            run("danhar_cnn", 0, 2, 0.0, 0.0, error="diverged"),  # failed: not paired
            run("resnet", 0, None, 0.8, None, "paper"), run("danhar", 0, None, 0.79, None,
                                                             "paper")]
    pairs = {(p["protocol"], p["attention"], p["score"]): p for p in attention_pairs(runs)}
    assert sorted(pairs) == [("honest", "danhar_cnn", "per segment"),
                             ("honest", "danhar_cnn", "per window"),
                             ("paper", "danhar", "per window")]  # no segments: not scored
    window = pairs[("honest", "danhar_cnn", "per window")]["difference"]
    assert window["keys"] == [[0, 0], [0, 1]] and window["diffs"] == pytest.approx([0.05, 0.02])
    assert window["unpaired"] == 1  # cnn's fold 2 has no partner (its partner failed)
    seg = pairs[("honest", "danhar_cnn", "per segment")]["difference"]
    assert seg["diffs"] == pytest.approx([0.08, -0.01]) and seg["wins"] == 1
    paper = pairs[("paper", "danhar", "per window")]
    assert paper["difference"]["n"] == 1 and "too few" in paper["verdict"]
    result = {"run_dir": "r", "started": "s", "finished": "f", "hardware": {}, "rows": [],
              "runs": runs, "limits": {"epochs": 2, "seeds": 1, "folds": None,
                                       "max_time_per_run": None, "overrides": [],
                                       "split_seed": None}}
    md = results_markdown(result)
    assert "Attention minus the plain backbone, paired by (seed, fold)" in md
    assert "| usc_had | honest | danhar_cnn − cnn | per window | +0.0350 ± 0.0212 [" in md
    assert "2 intervals are shown" in md


def test_segment_cell_says_how_many_runs_were_scored() -> None:
    from harlab.experiments.danhar_report import _segment_cell

    # a row whose segment score covers fewer runs than the row says so
    row = {"n_runs": 6, "segment_macro_f1": {"mean": 0.7, "std": 0.01, "n": 3}}
    assert _segment_cell(row) == "0.7000 ± 0.0100 (3 of 6 runs scored)"
    assert _segment_cell({**row, "n_runs": 3}) == "0.7000 ± 0.0100"


def test_deepconvlstm_rows_cite_the_compared_method() -> None:
    ref = pn.reference("opportunity", "paper", "deepconvlstm")
    assert ref is not None and ref["value"] == 0.7890 and "Table IV" in ref["where"]
    assert "params" not in ref["text"]  # the compared methods' rows give no count
    assert pn.reference("wisdm", "paper", "deepconvlstm") is None  # not in Table I


def test_wisdm_paper_text_preset_has_the_papers_95_percent_overlap() -> None:
    """Section IV-A1: 10 s windows, 95 % overlap (0.5 s step); the rest as wisdm_paper."""
    text = load_config(PRESETS.parent / "wisdm_danhar_paper_text.yaml")
    code = preset("wisdm", "paper")
    length, step = text.data.window.samples(20.0)
    assert (length, step) == (200, 10) and 1 - step / length == pytest.approx(0.95)
    assert code.data.window.samples(20.0) == (200, 100)
    assert text.data.split == code.data.split and text.train == code.train
    assert text.model == code.model
    recs, w = synthetic(text, "wisdm")
    assert any("LEAKAGE" in m for m in split_of(text, "wisdm", recs, w).warnings)
