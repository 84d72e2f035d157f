"""split.kind=given for per-recording official splits (OPPORTUNITY) and unknown subjects."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harlab.config import DataConfig, SplitConfig, WindowConfig
from harlab.data.prepare import prepare
from harlab.data.recording import Recording, RecordingMeta
from harlab.data.splits import make_split
from harlab.data.windows import make_windows
from harlab.errors import ConfigError
from harlab.paths import shared_data_dir

SHARED = shared_data_dir()
NAMES = SHARED / "samples" / "opportunity" / "column_names.txt" if SHARED else None


def recordings(parts: dict[tuple[str, str], str | None], n: int = 90) -> list[Recording]:
    recs = []
    for k, ((subj, sess), part) in enumerate(parts.items()):
        x = np.full((n, 2), float(k), np.float32)  # every sample carries its recording index
        recs.append(
            Recording(
                x,
                np.arange(n) % 3,
                30.0,
                ["a", "b"],
                ["g", "g"],
                subj,
                sess,
                meta={"official_split": part, "file": f"{subj}-{sess}.dat"},
            )
        )
    return recs


PARTS = {
    **{("S1", s): "train" for s in ("Drill", "ADL1", "ADL2", "ADL3", "ADL4", "ADL5")},
    **{(s, a): "train" for s in ("S2", "S3") for a in ("Drill", "ADL1", "ADL2", "ADL3")},
    **{(s, a): "test" for s in ("S2", "S3") for a in ("ADL4", "ADL5")},
    ("S4", "ADL1"): None,
}


def test_recording_split_follows_the_official_assignment():
    recs = recordings(PARTS)
    w = make_windows(recs, WindowConfig(length=30, step=15))
    sp = make_split(w, recs, SplitConfig(kind="given", seed=0, val_fraction=0.2))
    rec_of = {k: set(w.recording[getattr(sp, k)].tolist()) for k in ("train", "val", "test")}
    test = {i for i, r in enumerate(recs) if r.meta["official_split"] == "test"}
    train = {i for i, r in enumerate(recs) if r.meta["official_split"] == "train"}
    assert rec_of["test"] == test
    assert rec_of["train"] | rec_of["val"] == train and not rec_of["train"] & rec_of["val"]
    assert len(rec_of["val"]) == 3  # round(0.2 * 14) whole training recordings
    s4 = len(recs) - 1
    assert not (
        set(np.flatnonzero(w.recording == s4))
        & set(np.concatenate([sp.train, sp.val, sp.test]).tolist())
    )
    assert "1 recordings outside the official split left out (5 windows)" in sp.description
    # windows never mix recordings: every window's samples carry one recording index
    for part in ("train", "val", "test"):
        idx = getattr(sp, part)
        assert (w.x[idx][:, :, 0] == w.recording[idx][:, None]).all()
    assert sp.subjects["test"] == ["S2", "S3"]


def test_recording_split_seeded_and_val_fraction_zero():
    recs = recordings(PARTS)
    w = make_windows(recs, WindowConfig(length=30, step=15))
    a = make_split(w, recs, SplitConfig(kind="given", seed=1))
    b = make_split(w, [RecordingMeta.of(r) for r in recs], SplitConfig(kind="given", seed=1))
    np.testing.assert_array_equal(a.val, b.val)  # works from cached metadata too
    seeds = {tuple(make_split(w, recs, SplitConfig(kind="given", seed=s)).val) for s in range(6)}
    assert len(seeds) > 1
    c = make_split(w, recs, SplitConfig(kind="given", val_fraction=0.0))
    assert c.val.size == 0 and c.train.size + c.test.size == len(w) - 5


def test_recording_split_needs_both_parts_and_subject_map_wins():
    recs = recordings({("S1", "ADL1"): "train", ("S4", "ADL1"): None})
    w = make_windows(recs, WindowConfig(length=30, step=15))
    with pytest.raises(ConfigError, match="at least one official training and one test"):
        make_split(w, recs, SplitConfig(kind="given"))
    plain = recordings({("1", "a"): None, ("2", "a"): None})
    w = make_windows(plain, WindowConfig(length=30, step=15))
    with pytest.raises(ConfigError, match="no official split"):
        make_split(w, plain, SplitConfig(kind="given"))
    sp = make_split(
        w, plain, SplitConfig(kind="given", val_fraction=0), {"1": "train", "2": "test"}
    )
    assert sp.description == "official subject split"


def test_unknown_subjects_refuse_subject_split():
    recs = recordings({("train-0", "1"): "train", ("test-0", "1"): "test"})
    for r in recs:
        r.meta["subject_unknown"] = True
    w = make_windows(recs, WindowConfig(length=30, step=15))
    with pytest.raises(ConfigError, match="subject-wise split is impossible.*given"):
        make_split(w, recs, SplitConfig(kind="subject", folds=2))


def _dat(path: Path, n: int, gesture: int) -> None:
    x = np.arange(250)[None, :] * 1000.0 + np.arange(n)[:, None]
    x[:, 0] = np.arange(n) * 33
    x[:, 243] = 1
    x[:, 249] = np.resize([0, gesture], n)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(x).to_csv(path, sep=" ", header=False, index=False)


@pytest.mark.skipif(NAMES is None or not NAMES.is_file(), reason="column_names.txt absent")
def test_opportunity_given_split_end_to_end(tmp_path):
    root = tmp_path / "OpportunityUCIDataset" / "dataset"
    files = [
        ("S1", "ADL1"),
        ("S1", "Drill"),
        ("S2", "ADL1"),
        ("S2", "ADL4"),
        ("S3", "ADL5"),
        ("S4", "ADL2"),
    ]
    for subj, sess in files:
        _dat(root / f"{subj}-{sess}.dat", 64, 406516)
    shutil.copy(NAMES, root / "column_names.txt")
    cfg = DataConfig(
        dataset="opportunity",
        path=str(tmp_path),
        window=WindowConfig(length=16, step=8),
        split=SplitConfig(kind="given", val_fraction=0.34, seed=0),
        cache=False,
    )
    data = prepare(cfg)
    sessions = {
        k: set(zip(data.subjects(k), data.sessions(k), strict=True))
        for k in ("train", "val", "test")
    }
    assert sessions["test"] == {("S2", "ADL4"), ("S3", "ADL5")}
    assert len(sessions["val"]) == 1 and sessions["val"] < {
        ("S1", "ADL1"),
        ("S1", "Drill"),
        ("S2", "ADL1"),
    }
    assert sessions["train"] | sessions["val"] == {("S1", "ADL1"), ("S1", "Drill"), ("S2", "ADL1")}
    assert "left out (7 windows)" in data.split.description  # S4-ADL2
    assert data.x["train"].shape[1:] == (16, 113)
