"""End-to-end: the shipped DSADS and OPPORTUNITY-locomotion presets run through
``harlab reproduce danhar`` on fixtures written in the datasets' own file layouts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harlab.cli import main as cli
from tests.data.test_dsads import _write as write_dsads
from tests.data.test_opportunity import NAMES, _table, needs_names
from tests.data.test_pamap2 import _write as write_table

PRESETS = Path(__file__).resolve().parents[2] / "configs" / "danhar"


def _reproduce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: str,
               data: Path) -> dict:
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)
    out = tmp_path / "runs"
    args = ["reproduce", "danhar", "--presets", str(PRESETS), "--datasets", dataset,
            "--models", "cnn", "--seeds", "1", "--folds", "1", "--epochs", "1",
            "--out", str(out), "--no-progress", "--set", f"data.path={data}",
            "--set", "train.limit_train_batches=1",
            # narrow layers keep CI fast; kernel, stride, windows and split stay the preset's
            "--set", "model.options.channels=[4,8,8]"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    (parent,) = list(out.iterdir())
    return json.loads((parent / "results.json").read_text())


def _data(run: dict) -> dict:
    """The run's data.json: channels, windows, classes and split parts."""
    return json.loads((Path(run["run_dir"]) / "data.json").read_text())


@pytest.mark.slow
def test_dsads_presets_run_on_the_release_layout(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # 3 activities x 8 subjects x 2 segments of 5 s (250 samples at 25 Hz per recording)
    data = write_dsads(tmp_path / "dsads", acts=(1, 9, 19), subjs=tuple(range(1, 9)), n_seg=2)
    res = _reproduce(tmp_path, monkeypatch, "dsads", data)
    runs = {r["protocol"]: r for r in res["runs"]}
    assert set(runs) == {"paper", "honest"}
    assert all(r["error"] is None for r in runs.values())
    assert any("LEAKAGE" in w for w in runs["paper"]["warnings"])
    assert runs["honest"]["warnings"] == [] and "subject-wise" in runs["honest"]["split"]
    paper, honest = _data(runs["paper"]), _data(runs["honest"])
    # the presets' windows at 25 Hz: 125/62 (paper) and 3 s = 75/38 (honest), 45 channels
    assert (paper["window_length"], paper["window_step"]) == (125, 62)
    assert (honest["window_length"], honest["window_step"]) == (75, 38)
    assert len(paper["channels"]) == len(honest["channels"]) == 45
    assert paper["class_ids"] == honest["class_ids"] == [1, 9, 19]
    # leave-one-subject-out: fold 0 tests exactly one of the 8 subjects
    assert len(honest["split_subjects"]["test"]) == 1
    assert len(honest["split_subjects"]["train"]) + len(honest["split_subjects"]["val"]) == 7


@pytest.mark.slow
@needs_names
def test_opportunity_locomotion_presets_run_on_challenge_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "OpportunityUCIDataset" / "dataset"
    locomotion = np.repeat([0, 1, 2, 4, 5], 100)  # Null, Stand, Walk, Sit, Lie; 500 rows
    for subj in ("S1", "S2", "S3", "S4"):
        for sess in ("ADL1", "ADL4"):  # ADL1 trains, S2/S3 ADL4 test in the challenge split
            write_table(base / f"{subj}-{sess}.dat", _table(500, [0], locomotion))
    shutil.copy(NAMES, base / "column_names.txt")
    shutil.copy(NAMES.with_name("label_legend.txt"), base / "label_legend.txt")
    res = _reproduce(tmp_path, monkeypatch, "opportunity_locomotion", base.parent)
    runs = {r["protocol"]: r for r in res["runs"]}
    assert set(runs) == {"paper", "honest"}
    assert all(r["error"] is None for r in runs.values())
    for run in runs.values():
        d = _data(run)
        assert len(d["channels"]) == 113
        assert d["class_names"] == ["Null", "Stand", "Walk", "Sit", "Lie"]
    # the challenge split tests S2/S3 ADL4 (ADL5 is not in the fixture); S4 is unused
    paper = _data(runs["paper"])
    assert (paper["window_length"], paper["window_step"]) == (64, 8)
    assert paper["split_subjects"]["test"] == ["S2", "S3"]
    assert paper["split_sessions"]["test"] == ["ADL4"]
    assert "S4" not in {s for part in paper["split_subjects"].values() for s in part}
    # LOSO tests one subject per fold
    assert len(_data(runs["honest"])["split_subjects"]["test"]) == 1
