"""UCI-HAR: fixtures in the exact layout (fixed-width %16.7e rows) plus the real
subject/label files shared in ../shared/data/samples/uci_har."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from harlab.data.sources import uci_har
from harlab.errors import ConfigError, DataError
from harlab.paths import shared_data_dir

SHARED = shared_data_dir()
SAMPLES = SHARED / "samples" / "uci_har" if SHARED else None
needs_samples = pytest.mark.skipif(
    SAMPLES is None or not (SAMPLES / "train" / "subject_train.txt").is_file(),
    reason="shared UCI-HAR subject/label files are absent",
)
LABELS = "1 WALKING\n2 WALKING_UPSTAIRS\n3 WALKING_DOWNSTAIRS\n4 SITTING\n5 STANDING\n6 LAYING\n"


def _signal_value(split: str, sig: str, axis: str, row: int, col: int) -> float:
    """Deterministic, distinguishable value for every cell."""
    s = ("train", "test").index(split)
    k = uci_har.SIGNALS.index(sig) * 3 + "xyz".index(axis)
    return s * 1000 + k * 100 + row + col / 1000


def _write_split(root: Path, split: str, subjects, ys, signals=uci_har.SIGNALS, fast=False):
    d = root / split
    (d / "Inertial Signals").mkdir(parents=True, exist_ok=True)
    (d / f"subject_{split}.txt").write_text("".join(f"{s}\n" for s in subjects))
    (d / f"y_{split}.txt").write_text("".join(f"{y}\n" for y in ys))
    n = len(subjects)
    cols = np.arange(128)
    for sig in signals:
        for a in "xyz":
            f = d / "Inertial Signals" / f"{sig}_{a}_{split}.txt"
            if fast:  # one constant row repeated (for the full-size real-label fixture)
                row = "".join(f"{v:16.7e}" for v in np.full(128, 0.5)) + "\n"
                f.write_text(row * n)
            else:
                x = np.array([[_signal_value(split, sig, a, r, c) for c in cols] for r in range(n)])
                np.savetxt(f, x, fmt="%16.7e", delimiter="")


def _dataset(tmp_path: Path) -> Path:
    root = tmp_path / "UCI HAR Dataset"
    root.mkdir()
    (root / "activity_labels.txt").write_text(LABELS)
    _write_split(root, "train", [1, 1, 3, 3, 5], [5, 5, 1, 2, 6])
    _write_split(root, "test", [2, 4, 4], [1, 3, 4])
    return root


def test_fixture_windows(tmp_path):
    root = _dataset(tmp_path)
    rs = uci_har.load(tmp_path)  # parent of "UCI HAR Dataset" works too
    assert rs.name == "uci_har"
    assert rs.channels == (
        "total_acc_x",
        "total_acc_y",
        "total_acc_z",
        "body_gyro_x",
        "body_gyro_y",
        "body_gyro_z",
    )
    assert rs.units == ("g",) * 3 + ("rad/s",) * 3
    assert len(rs.recordings) == 8
    assert all(r.n_samples == 128 and r.rate == 50.0 for r in rs.recordings)
    assert rs.official_split == {"1": "train", "3": "train", "5": "train", "2": "test", "4": "test"}
    assert rs.classes[6] == "LAYING"
    r = rs.recordings[3]
    assert (r.subject, r.session, r.meta["split"], r.meta["row"]) == ("3", "train-3", "train", 3)
    assert (r.labels == 2).all()
    t = rs.recordings[6]
    assert (t.subject, t.session, int(t.labels[0])) == ("4", "test-1", 3)
    # values: sample j of channel body_gyro_y is column j of row 1 of body_gyro_y_test.txt
    expected = [_signal_value("test", "body_gyro", "y", 1, c) for c in range(128)]
    np.testing.assert_allclose(t.data[:, 4], expected, rtol=1e-6)
    np.testing.assert_allclose(
        t.data[:, 0], [_signal_value("test", "total_acc", "x", 1, c) for c in range(128)], rtol=1e-6
    )
    assert uci_har.load(root).official_split == rs.official_split


def test_signals_and_splits_options(tmp_path):
    root = _dataset(tmp_path)
    rs = uci_har.load(root, signals=["body_acc"], splits=["test"])
    assert rs.channels == ("body_acc_x", "body_acc_y", "body_acc_z")
    assert len(rs.recordings) == 3 and set(rs.official_split.values()) == {"test"}
    rs = uci_har.load(root, signals=("body_gyro", "body_acc", "total_acc"))
    assert len(rs.channels) == 9 and rs.channels[0] == "body_gyro_x"
    with pytest.raises(ConfigError, match="body_acc"):
        uci_har.load(root, signals=["body_acc", "gravity"])
    with pytest.raises(ConfigError):
        uci_har.load(root, splits=["val"])
    with pytest.raises(ConfigError):
        uci_har.load(root, signals=[])
    with pytest.raises(ConfigError, match="option"):
        uci_har.load(root, window=64)


def test_only_requested_signal_files_needed(tmp_path):
    root = tmp_path / "UCI HAR Dataset"
    _write_split(root, "train", [1, 2], [1, 2], signals=("total_acc",))
    rs = uci_har.load(root, signals="total_acc", splits="train")
    assert rs.channels == ("total_acc_x", "total_acc_y", "total_acc_z")
    assert rs.classes == uci_har.CLASSES  # no activity_labels.txt: built-in names
    with pytest.raises(DataError, match=r"missing file .*body_gyro_x_train\.txt"):
        uci_har.load(root, splits="train")


def test_wrong_column_count(tmp_path):
    root = _dataset(tmp_path)
    f = root / "train" / "Inertial Signals" / "body_gyro_z_train.txt"
    np.savetxt(f, np.ones((5, 127)), fmt="%16.7e", delimiter="")
    with pytest.raises(DataError, match=r"body_gyro_z_train\.txt: rows have 127 values"):
        uci_har.load(root)


def test_wrong_row_count(tmp_path):
    root = _dataset(tmp_path)
    f = root / "test" / "Inertial Signals" / "total_acc_y_test.txt"
    np.savetxt(f, np.ones((2, 128)), fmt="%16.7e", delimiter="")
    with pytest.raises(DataError, match=r"total_acc_y_test\.txt: 2 rows but subject_test"):
        uci_har.load(root)


def test_ragged_and_non_numeric_rows(tmp_path):
    root = _dataset(tmp_path)
    f = root / "train" / "Inertial Signals" / "total_acc_x_train.txt"
    lines = f.read_text().splitlines()
    f.write_text("\n".join([lines[0], lines[1].rsplit(" ", 3)[0]] + lines[2:]) + "\n")
    with pytest.raises(DataError, match=r"total_acc_x_train\.txt"):
        uci_har.load(root)
    f.write_text("\n".join([lines[0], lines[1].replace("e+00", "e+0x", 1)] + lines[2:]) + "\n")
    with pytest.raises(DataError, match=r"total_acc_x_train\.txt: not a table of numbers"):
        uci_har.load(root)
    f.write_text("")
    with pytest.raises(DataError, match=r"total_acc_x_train\.txt: empty file"):
        uci_har.load(root)


def test_label_and_subject_files(tmp_path):
    root = _dataset(tmp_path)
    (root / "train" / "y_train.txt").write_text("5\n5\n1\n2\n")
    with pytest.raises(DataError, match=r"y_train\.txt: 4 lines but subject_train\.txt has 5"):
        uci_har.load(root)
    (root / "train" / "y_train.txt").write_text("5\n5\n1\n2\n9\n")
    with pytest.raises(DataError, match=r"y_train\.txt: activity 9 in row 5"):
        uci_har.load(root)
    (root / "train" / "y_train.txt").write_text("5\n5\n1\n2\n6\n")
    (root / "train" / "subject_train.txt").write_text("1\n1\n3\n3\n2.5\n")
    with pytest.raises(DataError, match=r"subject_train\.txt: subject id in row 5"):
        uci_har.load(root)
    (root / "train" / "subject_train.txt").write_text("1\n1\n3\n3\n4\n")  # 4 is a test subject
    with pytest.raises(DataError, match="subject 4 also appears in the train split"):
        uci_har.load(root)


def test_missing_dataset(monkeypatch, tmp_path):
    with pytest.raises(DataError, match="UCI-HAR not found.*archive.ics.uci.edu"):
        uci_har.load(tmp_path)
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path))
    with pytest.raises(DataError, match=f"looked in {tmp_path / 'uci_har'}"):
        uci_har.load()
    with pytest.raises(DataError, match="not found"):
        uci_har.fingerprint()


def test_default_shared_path_absent_here():
    if SHARED is not None and (SHARED / "uci_har").is_dir():
        pytest.skip("real UCI-HAR folder present")
    with pytest.raises(DataError, match="UCI-HAR not found"):
        uci_har.load()


def test_fingerprint(tmp_path):
    root = _dataset(tmp_path)
    fp = uci_har.fingerprint(tmp_path, signals=["total_acc"])
    names = [e["name"] for e in fp["files"]]
    assert "train/subject_train.txt" in names and "activity_labels.txt" in names
    assert "test/Inertial Signals/total_acc_z_test.txt" in names
    assert not any("body_gyro" in n for n in names)
    assert fp["root"] == str(root) and fp["options"] == {"signals": ["total_acc"]}


@needs_samples
@pytest.mark.realdata
def test_real_subject_files_give_official_split(tmp_path):
    """The real subject/y files: 30 subjects, disjoint official train/test lists, and the
    loader's official_split built from them (full 7352/2947 rows, synthetic signals)."""
    real = {}
    root = tmp_path / "UCI HAR Dataset"
    for split in ("train", "test"):
        subj = np.loadtxt(SAMPLES / split / f"subject_{split}.txt", dtype=int)
        y = np.loadtxt(SAMPLES / split / f"y_{split}.txt", dtype=int)
        real[split] = set(subj.tolist())
        _write_split(root, split, subj.tolist(), y.tolist(), signals=("total_acc",), fast=True)
        shutil.copy(SAMPLES / split / f"subject_{split}.txt", root / split)
        shutil.copy(SAMPLES / split / f"y_{split}.txt", root / split)
    shutil.copy(SAMPLES / "activity_labels.txt", root)
    assert not real["train"] & real["test"]
    assert real["train"] | real["test"] == set(range(1, 31))
    assert len(real["train"]) == 21 and len(real["test"]) == 9
    rs = uci_har.load(root, signals=["total_acc"])
    assert len(rs.recordings) == 7352 + 2947
    assert rs.official_split == {str(s): split for split in ("train", "test") for s in real[split]}
    assert rs.subjects == [str(s) for s in range(1, 31)]
    assert rs.classes == uci_har.CLASSES
    assert rs.recordings[7352].session == "test-0"


def test_bad_activity_labels_file(tmp_path):
    root = _dataset(tmp_path)
    (root / "activity_labels.txt").write_text("WALKING 1\n")
    with pytest.raises(DataError, match=r"activity_labels\.txt: expected lines '<id> <NAME>'"):
        uci_har.load(root)


@needs_samples
@pytest.mark.parametrize("protocol", ["paper", "honest"])
def test_inertial_presets_on_the_real_split(tmp_path, protocol):
    """configs/danhar/uci_har_inertial_*.yaml on full-size files with the real subject/label
    lists: every published window is used once, 6 channels, and the test subjects are the
    official 9 (paper) or a subject-disjoint fold (honest)."""
    from harlab.config import load_config
    from harlab.data.prepare import load_windowed, prepare

    root = tmp_path / "UCI HAR Dataset"
    subjects = {}
    for split in ("train", "test"):
        subj = np.loadtxt(SAMPLES / split / f"subject_{split}.txt", dtype=int)
        y = np.loadtxt(SAMPLES / split / f"y_{split}.txt", dtype=int)
        subjects[split] = {str(s) for s in subj.tolist()}
        _write_split(root, split, subj.tolist(), y.tolist(),
                     signals=("total_acc", "body_gyro"), fast=True)
    shutil.copy(SAMPLES / "activity_labels.txt", root)
    preset = Path(__file__).resolve().parents[2] / "configs" / "danhar"
    cfg = load_config(preset / f"uci_har_inertial_{protocol}.yaml", [f"data.path={root}"])
    data = prepare(cfg.data, load_windowed(cfg.data, use_cache=False))
    n = {p: data.index[p].size for p in ("train", "val", "test")}
    assert sum(n.values()) == 7352 + 2947 and min(n.values()) > 0
    assert data.x["test"].shape[1:] == (128, 6)
    parts = {p: set(data.windowed.subject[data.index[p]].tolist()) for p in n}
    assert not (parts["train"] & parts["val"] or parts["train"] & parts["test"]
                or parts["val"] & parts["test"])
    if protocol == "paper":
        assert parts["test"] == subjects["test"]
        assert parts["train"] | parts["val"] == subjects["train"]
    else:
        assert len(parts["test"]) == 3  # 30 subjects in 10 folds
