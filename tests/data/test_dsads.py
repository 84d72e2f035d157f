"""DSADS: fixtures in the exact layout data/aNN/pN/sNN.txt (125 x 45 comma-separated)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harlab.data.sources import dsads
from harlab.errors import ConfigError, DataError
from harlab.paths import shared_data_dir


def _segment(act: int, subj: int, seg: int) -> np.ndarray:
    rows = np.arange(125)[:, None] + (seg - 1) * 125  # sample index within the recording
    cols = np.arange(45)[None, :]
    return act * 10 + subj + rows / 10000 + cols / 100


def _write(root: Path, acts=(1, 19), subjs=(1, 8), n_seg=3) -> Path:
    data = root / "data"
    for a in acts:
        for p in subjs:
            d = data / f"a{a:02d}" / f"p{p}"
            d.mkdir(parents=True)
            for s in range(1, n_seg + 1):
                np.savetxt(d / f"s{s:02d}.txt", _segment(a, p, s), fmt="%.4f", delimiter=",")
    return data


def test_fixture_concatenates_segments(tmp_path):
    data = _write(tmp_path)
    rs = dsads.load(tmp_path)  # parent of data/ works as well as data/
    assert rs.name == "dsads" and rs.official_split is None
    assert len(rs.channels) == 45
    assert rs.channels[:3] == ("T_acc_x", "T_acc_y", "T_acc_z")
    assert rs.channels[3] == "T_gyro_x" and rs.channels[6] == "T_mag_x"
    assert rs.channels[9] == "RA_acc_x" and rs.channels[-1] == "LL_mag_z"
    assert rs.units[0] == "m/s^2" and rs.units[3] == "rad/s"
    assert [(int(r.labels[0]), r.subject, r.session) for r in rs.recordings] == [
        (1, "1", "1"),
        (1, "8", "1"),
        (19, "1", "1"),
        (19, "8", "1"),
    ]
    r = rs.recordings[3]
    assert r.n_samples == 375 and r.rate == 25.0 and (r.labels == 19).all()
    assert r.meta["segments"] == 3 and r.meta["file"] == str(data / "a19" / "p8")
    expected = np.concatenate([_segment(19, 8, s) for s in (1, 2, 3)])
    np.testing.assert_allclose(r.data, expected, rtol=1e-6)
    assert rs.classes[19] == "playing basketball" and len(rs.classes) == 19
    assert dsads.load(data).subjects == ["1", "8"]


def test_subset_options(tmp_path):
    _write(tmp_path)
    rs = dsads.load(tmp_path, subjects=[8])
    assert [r.subject for r in rs.recordings] == ["8", "8"]
    rs = dsads.load(tmp_path, subjects=8, activities=[19])
    assert len(rs.recordings) == 1 and int(rs.recordings[0].labels[0]) == 19
    with pytest.raises(DataError, match=r"no subject\(s\) \[3\]"):
        dsads.load(tmp_path, subjects=[1, 3])
    with pytest.raises(ConfigError, match="out of range"):
        dsads.load(tmp_path, subjects=[9])
    with pytest.raises(ConfigError):
        dsads.load(tmp_path, subjects=["one"])
    with pytest.raises(ConfigError, match="option"):
        dsads.load(tmp_path, trials=[1])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda x: x[:124], r"s02\.txt: 124 rows, expected 125"),
        (lambda x: np.vstack([x, x[:1]]), r"s02\.txt: 126 rows, expected 125"),
        (lambda x: x[:, :44], r"s02\.txt: row 1 has 44 values, expected 45"),
        (lambda x: np.hstack([x, x[:, :1]]), r"s02\.txt: row 1 has 46 values, expected 45"),
    ],
)
def test_wrong_segment_shape_names_file(tmp_path, mutate, message):
    data = _write(tmp_path, acts=(5,), subjs=(2,))
    f = data / "a05" / "p2" / "s02.txt"
    np.savetxt(f, mutate(_segment(5, 2, 2)), fmt="%.4f", delimiter=",")
    with pytest.raises(DataError, match=message):
        dsads.load(tmp_path)


def test_compensating_row_counts_are_caught(tmp_path):
    """124 + 126 rows add up to 2 x 125: must still be reported, never shifted."""
    data = _write(tmp_path, acts=(5,), subjs=(2,))
    d = data / "a05" / "p2"
    np.savetxt(d / "s01.txt", _segment(5, 2, 1)[:124], fmt="%.4f", delimiter=",")
    np.savetxt(d / "s02.txt", np.vstack([_segment(5, 2, 2)] * 2)[:126], fmt="%.4f", delimiter=",")
    with pytest.raises(DataError, match=r"s01\.txt: 124 rows"):
        dsads.load(tmp_path)


def test_bad_values_name_file(tmp_path):
    data = _write(tmp_path, acts=(5,), subjs=(2,))
    f = data / "a05" / "p2" / "s03.txt"
    lines = f.read_text().splitlines()
    lines[7] = lines[7].replace("5", "x", 1)
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"s03\.txt: row 8 has a non-numeric value"):
        dsads.load(tmp_path)
    lines[7] = ",".join(["nan"] * 45)
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"s03\.txt: row 8 has a non-finite value"):
        dsads.load(tmp_path)
    lines[7] = ""
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"s03\.txt"):
        dsads.load(tmp_path)
    f.write_text("")
    with pytest.raises(DataError, match=r"s03\.txt: 0 rows"):
        dsads.load(tmp_path)


def test_missing_segment_and_folders(tmp_path):
    data = _write(tmp_path, acts=(5,), subjs=(2,))
    (data / "a05" / "p2" / "s02.txt").unlink()
    with pytest.raises(DataError, match=r"p2 is missing segment file\(s\) s02\.txt"):
        dsads.load(tmp_path)
    with pytest.raises(DataError, match="DSADS not found.*archive.ics.uci.edu"):
        dsads.load(tmp_path / "elsewhere")


def test_crlf_segments(tmp_path):
    data = _write(tmp_path, acts=(3,), subjs=(4,), n_seg=2)
    f = data / "a03" / "p4" / "s01.txt"
    f.write_bytes(f.read_bytes().replace(b"\n", b"\r\n"))
    rs = dsads.load(data)
    assert rs.recordings[0].n_samples == 250


def test_default_path(monkeypatch, tmp_path):
    shared = shared_data_dir()
    if shared is None or not (shared / "dsads").is_dir():
        with pytest.raises(DataError, match="DSADS not found"):
            dsads.load()
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path))
    with pytest.raises(DataError, match=f"looked in {tmp_path / 'dsads'}"):
        dsads.fingerprint()
    _write(tmp_path / "dsads", acts=(2,), subjs=(7,), n_seg=1)
    assert dsads.load().subjects == ["7"]


def test_fingerprint(tmp_path):
    _write(tmp_path)
    fp = dsads.fingerprint(tmp_path, activities=[1])
    assert fp["source"] == "dsads"
    assert [e["name"] for e in fp["files"]][:2] == ["a01/p1/s01.txt", "a01/p1/s02.txt"]
    assert len(fp["files"]) == 6


def test_info():
    for key in ("summary", "subjects", "classes", "channels", "rate", "citation", "licence"):
        assert key in dsads.INFO
    assert dsads.INFO["rate"] == 25.0 and len(dsads.INFO["channels"]) == 45
