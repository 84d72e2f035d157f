"""USC-HAD: the original .mat files (real data when shared) and fixtures in that format."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from harlab.data.sources import usc_had
from harlab.errors import ConfigError, DataError
from harlab.paths import shared_data_dir

SHARED = shared_data_dir()
REAL = SHARED / "usc_had" if SHARED else None
needs_real = pytest.mark.skipif(
    REAL is None or not REAL.is_dir(), reason="shared USC-HAD data are absent"
)


@pytest.fixture(scope="module")
def real():
    return usc_had.load()


@needs_real
@pytest.mark.realdata
def test_real_dataset(real):
    recs = real.recordings
    assert len(recs) == 840
    assert real.subjects == [str(s) for s in range(1, 15)]
    assert real.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    assert real.units == ("g", "g", "g", "dps", "dps", "dps")
    assert real.rates == {100.0}
    assert real.classes[1] == "Walking Forward" and real.classes[12] == "Elevator Down"
    assert len(real.classes) == 12
    assert Counter(r.subject for r in recs) == {str(s): 60 for s in range(1, 15)}
    assert {r.session for r in recs} == {f"t{t}" for t in range(1, 6)}
    for r in recs:
        name = Path(r.meta["file"]).name
        act = int(name[1 : name.index("t")])
        assert (r.labels == act).all()
        assert name.endswith(f"{r.session}.mat")
        assert isinstance(r.meta["age"], int) and 18 <= r.meta["age"] <= 60
        assert 150 <= r.meta["height"] <= 200 and 40 <= r.meta["weight"] <= 100
        assert r.meta["sensor_location"] == "front-right-hip"
        assert r.meta["sensor_orientation"].startswith("x-gravity")
    per_subject = {(r.subject, r.meta["age"], r.meta["height"], r.meta["weight"]) for r in recs}
    assert len(per_subject) == 14  # one consistent set of attributes per subject
    assert sum(r.n_samples for r in recs) == 2_811_490
    acc_mag = np.linalg.norm(recs[0].data[:, :3], axis=1).mean()
    assert 0.8 < acc_mag < 1.3  # acc in g


@needs_real
@pytest.mark.realdata
def test_real_quirks(real):
    quirks = real.info["quirks"]
    assert any("Subject14/a3t2.mat: activity_number=2" in q for q in quirks)
    assert any("Subject3/a8t5.mat: trial=4" in q for q in quirks)
    by_file = {Path(r.meta["file"]).relative_to(REAL).as_posix(): r for r in real.recordings}
    a3t2 = by_file["Subject14/a3t2.mat"]
    assert (a3t2.labels == 3).all() and "header_mismatch" in a3t2.meta
    assert by_file["Subject13/a11t4.mat"].labels[0] == 11  # spells 'activity_numbr'
    assert by_file["Subject3/a1t3.mat"].meta["comments"] == "indoor"


@needs_real
@pytest.mark.realdata
def test_real_subset_and_fingerprint():
    rs = usc_had.load(subjects=[2, "5"])
    assert rs.subjects == ["2", "5"] and len(rs.recordings) == 120
    fp = usc_had.fingerprint(subjects=[2])
    assert len(fp["files"]) == 60 and fp["files"][0]["size"] > 0


def _write(root: Path, subject: int, act: int, trial: int, **fields) -> Path:
    d = root / f"Subject{subject}"
    d.mkdir(parents=True, exist_ok=True)
    content = {
        "title": "USC Human Motion Database",
        "version": "1.0",
        "subject": str(subject),
        "age": "27",
        "height": "164cm",
        "weight": "43kg",
        "activity": "walking-forward",
        "activity_number": str(act),
        "trial": str(trial),
        "sensor_location": "front-right-hip",
        "sensor_orientation": "x-gravity",
        "sensor_readings": np.arange(60, dtype=float).reshape(10, 6),
    }
    content.update(fields)
    content = {k: v for k, v in content.items() if v is not None}
    p = d / f"a{act}t{trial}.mat"
    scipy.io.savemat(p, content)
    return p


def test_fixture_layout_and_quirks(tmp_path):
    _write(tmp_path, 1, 1, 1)
    _write(tmp_path, 1, 11, 2, activity_number=None, activity_numbr="11")
    _write(tmp_path, 2, 3, 1, activity_number="2", comments="indoor", age="31.5")
    _write(tmp_path, 10, 12, 5, height="170", weight="n/a")
    (tmp_path / "Subject1" / "notes.mat").write_bytes(b"ignored: not a trial name")
    rs = usc_had.load(tmp_path)
    assert [(r.subject, r.session, int(r.labels[0])) for r in rs.recordings] == [
        ("1", "t1", 1), ("1", "t2", 11), ("2", "t1", 3), ("10", "t5", 12)
    ]
    r = rs.recordings[0]
    np.testing.assert_array_equal(r.data, np.arange(60).reshape(10, 6))
    assert r.meta["age"] == 27 and r.meta["height"] == 164.0 and r.meta["weight"] == 43.0
    assert rs.recordings[2].meta["age"] == 31.5
    assert rs.recordings[2].meta["header_mismatch"] == "activity_number=2 (file name says 3)"
    assert rs.recordings[3].meta["weight"] is None and rs.recordings[3].meta["height"] == 170
    assert len(rs.info["quirks"]) == 1
    assert len(usc_had.load(tmp_path, subjects=["10"]).recordings) == 1


@pytest.mark.parametrize(
    "fields, msg",
    [
        ({"sensor_readings": None}, "no 'sensor_readings'"),
        ({"sensor_readings": np.zeros((10, 5))}, r"\(N, 6\)"),
        ({"sensor_readings": np.full((4, 6), np.nan)}, "NaN/inf values .first at row 1"),
        ({"sensor_readings": "text"}, "sensor_readings"),
    ],
)
def test_fixture_bad_readings(tmp_path, fields, msg):
    _write(tmp_path, 1, 1, 1, **fields)
    with pytest.raises(DataError, match=msg):
        usc_had.load(tmp_path)


def test_fixture_errors(tmp_path, monkeypatch):
    p = _write(tmp_path, 1, 1, 1)
    p.write_bytes(b"MATLAB 5.0 garbage" * 3)
    with pytest.raises(DataError, match=r"a1t1.mat: cannot read MATLAB file"):
        usc_had.load(tmp_path)
    p.unlink()
    with pytest.raises(DataError, match="no a<activity>t<trial>.mat files"):
        usc_had.load(tmp_path)
    _write(tmp_path, 1, 13, 1)
    with pytest.raises(DataError, match="activity 13"):
        usc_had.load(tmp_path)
    with pytest.raises(DataError, match=r"no subject\(s\) \[7\]"):
        usc_had.load(tmp_path, subjects=[7])
    with pytest.raises(ConfigError, match="unknown usc_had option"):
        usc_had.load(tmp_path, subject=[1])
    with pytest.raises(DataError, match="no Subject<N> folders"):
        usc_had.load(tmp_path / "Subject1")


def test_missing_dataset_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"looked in .*usc_had.*HARLAB_SHARED_DATA"):
        usc_had.load()
    with pytest.raises(DataError, match="HARLAB_SHARED_DATA"):
        usc_had.load(tmp_path / "elsewhere")
