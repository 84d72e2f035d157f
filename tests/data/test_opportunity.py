"""OPPORTUNITY: the real column_names.txt plus .dat fixtures in the exact format."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harlab.data.sources import opportunity
from harlab.errors import ConfigError, DataError
from harlab.paths import shared_data_dir
from tests.data.fuzz_tables import mutate, mutations
from tests.data.test_pamap2 import _write

SHARED = shared_data_dir()
NAMES = SHARED / "samples" / "opportunity" / "column_names.txt" if SHARED else None
needs_names = pytest.mark.skipif(
    NAMES is None or not NAMES.is_file(), reason="official column_names.txt absent"
)
# 0-based original columns of the 113 challenge channels, written out by hand
EXPECTED_SENSOR_COLUMNS = [
    *range(1, 46),
    *range(50, 59),
    *range(63, 72),
    *range(76, 85),
    *range(89, 98),
    *range(102, 134),
]
GESTURE_CODES = [406516, 404516, 406520, 408512, 407521, 405506]


def _table(n: int, gestures, locomotion) -> np.ndarray:
    """(n, 250): sensor column c of row r holds 1000*c + r, so columns can be traced."""
    x = np.arange(250)[None, :] * 1000.0 + np.arange(n)[:, None]
    x[:, 0] = np.arange(n) * 33
    x[:, 243] = np.resize(np.asarray(locomotion), n)
    x[:, 249] = np.resize(np.asarray(gestures), n)
    return x


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    base = tmp_path / "OpportunityUCIDataset"
    gestures = [0] * 10 + sum(([c] * 5 for c in GESTURE_CODES), [])
    for subj in ("S1", "S2"):
        for sess in ("ADL1", "ADL4", "Drill"):
            _write(base / "dataset" / f"{subj}-{sess}.dat", _table(60, gestures, [1, 2, 0, 4, 5]))
    if NAMES is not None and NAMES.is_file():
        shutil.copy(NAMES, base / "dataset" / "column_names.txt")
        shutil.copy(NAMES.with_name("label_legend.txt"), base / "dataset" / "label_legend.txt")
    return base


@needs_names
def test_parse_real_column_names():
    cols = opportunity.parse_column_names(NAMES)
    assert len(cols) == 250
    assert cols[1] == ("MILLISEC", "")
    assert cols[2] == ("Accelerometer RKN^ accX", "milli g")
    assert cols[47] == ("InertialMeasurementUnit BACK Quaternion1", "none")
    assert cols[250] == ("ML_Both_Arms", "")
    names, units = opportunity.sensor_channels(NAMES)
    assert len(names) == 113 == len(set(names))
    assert names[0] == "Accelerometer RKN^ accX" and units[0] == "milli g"
    assert names[-1] == "InertialMeasurementUnit R-SHOE Compass" and units[-1] == "degrees"
    assert not any("Quaternion" in n or "LOCATION" in n for n in names)
    assert names[45] == "InertialMeasurementUnit RUA accX"  # right after BACK magneticZ
    assert [cols[c + 1][0] for c in (0, 243, 249)] == ["MILLISEC", "Locomotion", "ML_Both_Arms"]


@needs_names
def test_real_label_legend_matches_the_challenge_tables(tmp_path):
    legend = NAMES.with_name("label_legend.txt")
    parsed = opportunity.parse_label_legend(legend)
    assert parsed["Locomotion"] == {1: "Stand", 2: "Walk", 4: "Sit", 5: "Lie"}
    assert len(parsed["ML_Both_Arms"]) == 17 and parsed["ML_Both_Arms"][405506] == "Toggle Switch"
    opportunity.check_label_legend(legend)  # the built-in gesture table agrees
    bad = tmp_path / "label_legend.txt"
    bad.write_text(legend.read_text().replace("Open Fridge", "Open Freezer"))
    with pytest.raises(DataError, match=r"label_legend.txt: ML_Both_Arms labels differ.*406520"):
        opportunity.check_label_legend(bad)
    bad.write_text("Unique index   -   Track name   -   Label name\n")
    with pytest.raises(DataError, match="not an OPPORTUNITY label_legend.txt"):
        opportunity.check_label_legend(bad)


@needs_names
def test_load_checks_the_dataset_label_legend(root):
    legend = root / "dataset" / "label_legend.txt"
    rs = opportunity.load(root, subjects=["S1"])
    assert rs.info["label_legend"] == str(legend)
    legend.write_text(legend.read_text().replace("1   -   Locomotion   -   Stand", ""))
    with pytest.raises(DataError, match=r"Locomotion labels differ.*1 \('Stand' vs None\)"):
        opportunity.load(root, subjects=["S1"])
    legend.unlink()
    assert "not found" in opportunity.load(root, subjects=["S1"]).info["label_legend"]


def test_column_deletion_constants():
    assert len(opportunity.KEPT_COLUMNS) == 116
    assert list(opportunity.SENSOR_COLUMNS) == EXPECTED_SENSOR_COLUMNS
    assert opportunity.KEPT_COLUMNS[0] == 0 and opportunity.KEPT_COLUMNS[-2:] == (243, 249)


@needs_names
def test_load_gestures_and_column_markers(root):
    rs = opportunity.load(root)
    assert [(r.subject, r.session) for r in rs.recordings] == [
        (s, sess) for s in ("S1", "S2") for sess in ("ADL1", "ADL4", "Drill")
    ]
    assert len(rs.channels) == 113 and rs.rates == {30.0}
    r = rs.recordings[0]
    survivors = (r.data[0] / 1000).round().astype(int).tolist()  # marker of row 0
    assert survivors == EXPECTED_SENSOR_COLUMNS  # which original columns, in which order
    assert np.allclose(r.data[:, 5], 6000 + np.arange(60))
    assert len(rs.classes) == 18 and rs.classes[0] == "Null" and rs.classes[17] == "Toggle Switch"
    assert (r.labels[:10] == 0).all()
    assert r.labels[10:40:5].tolist() == [1, 3, 5, 15, 16, 17]
    assert r.meta["official_split"] == "train" and r.meta["t0_ms"] == 0
    assert rs.recordings[4].meta["official_split"] == "test"  # S2-ADL4
    split = rs.info["official_split_recordings"]
    assert ("S1", "ADL5") in split["train"] and ("S3", "Drill") in split["train"]
    assert split["test"] == [("S2", "ADL4"), ("S2", "ADL5"), ("S3", "ADL4"), ("S3", "ADL5")]
    assert len(split["train"]) == 14 and not any(s == "S4" for s, _ in split["train"])
    assert rs.official_split is None
    assert "S1-ADL2.dat" in rs.info["missing_files"]


@needs_names
def test_locomotion_and_subjects(root):
    rs = opportunity.load(root, task="locomotion", subjects=["S2"])
    assert rs.subjects == ["S2"] and len(rs.recordings) == 3
    assert rs.classes == {0: "Null", 1: "Stand", 2: "Walk", 4: "Sit", 5: "Lie"}
    assert rs.recordings[0].labels[:5].tolist() == [1, 2, 0, 4, 5]
    assert opportunity.load(root, subjects=1).subjects == ["S1"]
    assert opportunity.load(root / "dataset").subjects == ["S1", "S2"]
    assert opportunity.load(root.parent).subjects == ["S1", "S2"]
    with pytest.raises(DataError, match=r"subject\(s\) \['S3'\]"):
        opportunity.load(root, subjects=["S3"])
    with pytest.raises(ConfigError, match="task"):
        opportunity.load(root, task="gesture")
    with pytest.raises(ConfigError, match="thresholds"):
        opportunity.load(root, normalize="minmax")
    fp = opportunity.fingerprint(root, subjects="S1")
    assert [f["name"] for f in fp["files"]] == [
        "dataset/S1-ADL1.dat",
        "dataset/S1-ADL4.dat",
        "dataset/S1-Drill.dat",
    ]


@needs_names
def test_interpolation_and_zero_fill(tmp_path):
    x = _table(50, [0], [1])
    x[10:14, 1] = np.nan  # interior: 4 interpolated
    x[:3, 2] = np.nan  # leading: forward-only interpolation leaves 3 -> zero-filled
    x[-2:, 3] = np.nan  # trailing: 2 filled with the last value
    x[:, 200] = np.nan  # deleted column: not counted
    _write(tmp_path / "dataset" / "S4-ADL2.dat", x)
    shutil.copy(NAMES, tmp_path / "dataset" / "column_names.txt")
    rs = opportunity.load(tmp_path)
    d = rs.recordings[0].data
    assert np.allclose(d[10:14, 0], 1000 + np.arange(10, 14))
    assert (d[:3, 1] == 0).all() and np.allclose(d[3:, 1], 2000 + np.arange(3, 50))
    assert np.allclose(d[-2:, 2], 3047)
    assert rs.dropped == {"interpolated_values": 6, "zero_filled_values": 3}
    raw = opportunity.load(tmp_path, interpolate=False)
    assert int(np.isnan(raw.recordings[0].data).sum()) == 9
    assert rs.recordings[0].meta["official_split"] is None  # S4: not in the challenge


@needs_names
def test_bad_files(root):
    p = root / "dataset" / "S1-ADL1.dat"
    _write(p, _table(20, [406999], [0]))
    with pytest.raises(DataError, match=r"S1-ADL1\.dat: data row 1 has unknown ML_Both_Arms"):
        opportunity.load(root)
    assert opportunity.load(root, task="locomotion").recordings[0].n_samples == 20
    _write(p, _table(20, [0], [3]))
    with pytest.raises(DataError, match="unknown Locomotion .* label 3"):
        opportunity.load(root, task="locomotion")
    lines = p.read_text().splitlines()
    lines[12] = " ".join(lines[12].split()[:-1])
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"S1-ADL1\.dat: line 13 has 249 columns, expected 250"):
        opportunity.load(root)


def test_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path))
    with pytest.raises(DataError, match="OPPORTUNITY not found.*opportunity.*UCI"):
        opportunity.load()
    (tmp_path / "dataset").mkdir()
    with pytest.raises(DataError, match="no S<n>"):
        opportunity.load(tmp_path)
    _write(tmp_path / "dataset" / "S1-Drill.dat", _table(5, [0], [0]))
    with pytest.raises(DataError, match="column_names.txt not found"):
        opportunity.load(tmp_path)
    (tmp_path / "dataset" / "column_names.txt").write_text("Column: 1 MILLISEC\n")
    with pytest.raises(DataError, match="no entry for column 2"):
        opportunity.load(tmp_path)


_TOKENS = st.sampled_from(["0", "12", "-7", "NaN", "1e3", "abc", "1,5", "", "4.5"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    widths=st.lists(st.sampled_from([250, 250, 249, 251, 3]), min_size=1, max_size=4),
    token=_TOKENS,
    where=st.integers(0, 249),
)
def test_fuzz_dat_parser(tmp_path_factory, widths, token, where):
    lines = []
    for w in widths:
        row = ["1"] * w
        if where < w and token:
            row[where] = token
        lines.append(" ".join(row))
    p = tmp_path_factory.mktemp("fuzz") / "S1-ADL1.dat"
    p.write_text("\n".join(lines) + "\n")
    try:
        x = opportunity.read_table(p, 250)
    except DataError as e:
        assert "S1-ADL1.dat" in str(e)
    else:
        assert x.shape == (len(widths), 250)


@needs_names
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=mutations())
def test_fuzz_load_errors_or_keeps_every_column(tmp_path_factory, m):
    """Truncated, reordered, non-numeric and wrong-width .dat files through ``load()``: a
    DataError naming the file, or the 113 channels each still holding their own column."""
    base = tmp_path_factory.mktemp("opp") / "OpportunityUCIDataset"
    p = _write(base / "dataset" / "S1-ADL1.dat", _table(30, [0] * 10 + [406516] * 20, [1, 2]))
    shutil.copy(NAMES, base / "dataset" / "column_names.txt")
    original = p.read_text()
    p.write_text(mutate(original, *m))
    try:
        rs = opportunity.load(base)
    except DataError as e:
        assert "S1-ADL1.dat" in str(e)
        return
    (r,) = rs.recordings
    assert r.data.shape[1] == 113 and r.n_samples <= 30
    got = np.floor(r.data / 1000)
    want = np.broadcast_to(np.array(opportunity.SENSOR_COLUMNS, float), got.shape)
    zero_filled = r.data == 0  # leading NaNs are zero-filled (counted), not interpolated
    assert np.array_equal(got[~zero_filled], want[~zero_filled]), m
    if m[0] == "swap_rows" and p.read_text() != original:
        pytest.fail("rows out of time order were accepted")
