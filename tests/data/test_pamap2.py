"""PAMAP2: fixtures in the exact on-disk format (54 whitespace columns, NaN gaps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harlab.data.recording import UNLABELLED
from harlab.data.sources import pamap2
from harlab.errors import ConfigError, DataError
from tests.data.fuzz_tables import mutate, mutations

FIRST_ROW = (
    "8.38 0 104 30 2.37223 8.60074 3.51048 2.43954 8.76165 3.35465 -0.0922174 0.0568115 "
    "-0.0158445 14.6806 -69.2128 -5.58905 1 0 0 0 31.8125"
)


def _table(n: int, labels, seed: int = 0) -> np.ndarray:
    """(n, 54) table: column c of row r holds 1000*c + r (easy to trace), NaN like PAMAP2."""
    rng = np.random.default_rng(seed)
    x = np.arange(54)[None, :] * 1000.0 + np.arange(n)[:, None]
    x[:, 0] = 5.0 + np.arange(n) * 0.01
    x[:, 1] = np.resize(np.asarray(labels), n)
    hr = np.full(n, np.nan)
    hr[::11] = 100 + rng.integers(0, 20, size=len(hr[::11]))
    x[:, 2] = hr
    for start in (3, 20, 37):
        x[:, start + 13 : start + 17] = [1, 0, 0, 0]  # orientation (invalid)
    return x


def _write(path: Path, x: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(x).to_csv(path, sep=" ", header=False, index=False, na_rep="NaN")
    return path


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    base = tmp_path / "PAMAP2_Dataset"
    for subj in (101, 102):
        labels = [0] * 20 + [1] * 60 + [0] * 10 + [4] * 60 + [24] * 50
        _write(base / "Protocol" / f"subject{subj}.dat", _table(200, labels, seed=subj))
    _write(base / "Optional" / "subject101.dat", _table(120, [0] * 20 + [9] * 100))
    return base


def test_format_matches_real_first_row(tmp_path):
    """The official example row parses with the expected layout."""
    row = FIRST_ROW.split() + ["NaN"] * (54 - len(FIRST_ROW.split()))
    p = tmp_path / "one.dat"
    p.write_text(" ".join(row) + "\n")
    x = pamap2.read_table(p, 54)
    assert x.shape == (1, 54) and x[0, 0] == 8.38 and x[0, 2] == 104 and x[0, 3] == 30
    assert np.isnan(x[0, -1])


def test_load_protocol(root):
    rs = pamap2.load(root)
    assert rs.name == "pamap2" and rs.subjects == ["101", "102"]
    assert [r.session for r in rs.recordings] == ["protocol", "protocol"]
    assert len(rs.channels) == 27 and rs.rates == {100.0}
    assert rs.channels[:3] == ("hand_acc16_x", "hand_acc16_y", "hand_acc16_z")
    assert rs.channels[3:6] == ("hand_gyro_x", "hand_gyro_y", "hand_gyro_z")
    assert rs.channels[-1] == "ankle_mag_z"
    assert set(rs.units) == {"m/s^2", "rad/s", "uT"}
    assert sorted(rs.classes) == [1, 2, 3, 4, 5, 6, 7, 12, 13, 16, 17, 24]
    assert rs.classes[24] == "rope jumping"
    r = rs.recordings[0]
    # hand acc16 x is original column 5 (1-based) -> 0-based 4; chest gyro x -> 20+7
    assert np.allclose(r.data[:, 0], 4000 + np.arange(200))
    assert np.allclose(r.data[:, rs.channels.index("chest_gyro_x")], 27000 + np.arange(200))
    assert np.allclose(r.data[:, rs.channels.index("ankle_mag_z")], 49000 + np.arange(200))
    assert r.meta["t0"] == pytest.approx(5.0) and r.meta["file"].endswith("subject101.dat")


def test_transient_become_unlabelled_not_removed(root):
    rs = pamap2.load(root)
    r = rs.recordings[0]
    assert r.n_samples == 200  # nothing removed
    assert (r.labels[:20] == UNLABELLED).all() and (r.labels[80:90] == UNLABELLED).all()
    assert (r.labels[20:80] == 1).all() and (r.labels[150:] == 24).all()
    assert rs.dropped["transient_samples"] == 2 * 30
    assert 0 not in rs.classes
    kept = pamap2.load(root, drop_transient=False)
    assert kept.classes[0] == "transient" and (kept.recordings[0].labels[:20] == 0).all()


def test_interpolation_counts(tmp_path):
    x = _table(100, [1])
    hand_acc_x = 4
    x[10:15, hand_acc_x] = np.nan  # interior gap: 5 values
    x[:3, 21] = np.nan  # chest acc16 x leading: 3 values
    x[-2:, 40] = np.nan  # ankle acc16 z trailing: 2 values (same rows as nothing else)
    x[50, 4:13] = np.nan  # a dropped hand packet: acc16, acc6, gyro (acc6 not loaded)
    _write(tmp_path / "Protocol" / "subject103.dat", x)
    rs = pamap2.load(tmp_path)
    r = rs.recordings[0]
    assert not np.isnan(r.data).any()
    col = r.data[:, 0]
    assert np.allclose(col[10:15], 4000 + np.arange(10, 15))  # linear in a linear signal
    assert np.allclose(r.data[:3, rs.channels.index("chest_acc16_x")], 21003)  # nearest
    assert np.allclose(r.data[-2:, rs.channels.index("ankle_acc16_z")], 40097)
    # 5 + 3 + 2 + (3 acc16 + 3 gyro at row 50) values; rows 10-14, 0-2, 98-99, 50
    assert rs.dropped["interpolated_values"] == 16
    assert rs.dropped["interpolated_rows"] == 11
    raw = pamap2.load(tmp_path, interpolate=False)
    assert int(np.isnan(raw.recordings[0].data).sum()) == 16
    assert raw.dropped["interpolated_values"] == 0


def test_heart_rate_temperature_and_presets(root):
    rs = pamap2.load(root, heart_rate=True, temperature=True)
    assert rs.channels[0] == "heart_rate" and rs.units[0] == "bpm"
    assert rs.channels[1] == "hand_temperature" and rs.units[1] == "degC"
    assert len(rs.channels) == 1 + 3 * 10
    hr = rs.recordings[0].data[:, 0]
    assert not np.isnan(hr).any() and (hr >= 100).all() and (hr < 120).all()
    assert len(pamap2.load(root, channels="acc16").channels) == 9
    assert len(pamap2.load(root, channels="acc16_acc6_gyro_mag").channels) == 36
    with pytest.raises(ConfigError, match="preset"):
        pamap2.load(root, channels="all_of_it")
    with pytest.raises(ConfigError, match="option"):
        pamap2.load(root, downsample=3)


def test_sessions_and_subjects(root):
    opt = pamap2.load(root, sessions="optional")
    assert [(r.subject, r.session) for r in opt.recordings] == [("101", "optional")]
    assert sorted(opt.classes) == [9, 10, 11, 18, 19, 20]
    both = pamap2.load(root, sessions="both")
    assert [(r.subject, r.session) for r in both.recordings] == [
        ("101", "protocol"),
        ("102", "protocol"),
        ("101", "optional"),
    ]
    assert len(both.classes) == 18
    assert pamap2.load(root, subjects=["102"]).subjects == ["102"]
    assert pamap2.load(root.parent, subjects=101).subjects == ["101"]  # parent folder
    with pytest.raises(DataError, match=r"subject\(s\) \[102\]"):
        pamap2.load(root, sessions="optional", subjects=[102])
    with pytest.raises(ConfigError):
        pamap2.load(root, sessions="everything")
    fp = pamap2.fingerprint(root, sessions="both")
    assert [f["name"] for f in fp["files"]] == [
        "Protocol/subject101.dat",
        "Protocol/subject102.dat",
        "Optional/subject101.dat",
    ]


def test_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path))
    with pytest.raises(DataError, match="PAMAP2 not found.*pamap2.*UCI"):
        pamap2.load()
    with pytest.raises(DataError, match="PAMAP2 not found"):
        pamap2.load(tmp_path / "nowhere")
    (tmp_path / "Protocol").mkdir()
    with pytest.raises(DataError, match="no subject<N>.dat"):
        pamap2.load(tmp_path)
    with pytest.raises(DataError, match="no Optional/ folder"):
        pamap2.load(tmp_path, sessions="optional")


def test_wrong_column_count_names_file_and_line(tmp_path):
    p = _write(tmp_path / "Protocol" / "subject101.dat", _table(30, [1]))
    lines = p.read_text().splitlines()
    lines[6] = lines[6] + " 1.0"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"subject101\.dat: line 7 has 55 columns, expected 54"):
        pamap2.load(tmp_path)
    lines[6] = " ".join(lines[6].split()[:50])
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 7 has 50 columns"):
        pamap2.load(tmp_path)


def test_bad_values(tmp_path):
    p = _write(tmp_path / "Protocol" / "subject101.dat", _table(30, [1]))
    lines = p.read_text().splitlines()
    tokens = lines[3].split()
    tokens[10] = "1.2.3"
    p.write_text("\n".join([*lines[:3], " ".join(tokens), *lines[4:]]) + "\n")
    with pytest.raises(DataError, match=r"line 4, column 11: '1\.2\.3' is not a number"):
        pamap2.load(tmp_path)
    _write(p, _table(30, [1, 8]))  # 8 is not an official activity
    with pytest.raises(DataError, match="activityID 8"):
        pamap2.load(tmp_path)
    p.write_text("")
    with pytest.raises(DataError, match="empty"):
        pamap2.load(tmp_path)


_TOKENS = st.sampled_from(["1", "-2.5", "NaN", "3e2", "0", "x", "1.2.3", "--", "nan", "4"])


@st.composite
def _files(draw):
    rows = draw(st.integers(1, 6))
    lines = []
    for _ in range(rows):
        width = draw(st.sampled_from([54, 54, 54, 53, 55, 0, 1]))
        lines.append(" ".join(draw(_TOKENS) for _ in range(width)))
    sep = draw(st.sampled_from(["\n", "\r\n", " \n", "\t\n"]))
    return sep.join(lines) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_files())
def test_fuzz_parser_only_raises_data_error(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("fuzz") / "subject101.dat"
    p.write_text(text)
    try:
        x = pamap2.read_table(p, 54)
    except DataError as e:
        assert "subject101.dat" in str(e)
    else:
        assert x.ndim == 2 and x.shape[1] == 54
        assert x.shape[0] == sum(1 for ln in text.splitlines() if ln.strip())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=mutations())
def test_fuzz_load_errors_or_keeps_every_column(tmp_path_factory, m):
    """Truncated, reordered, non-numeric and wrong-width files through ``load()``: a
    DataError naming the file, or data whose every value is still in its own column."""
    base = tmp_path_factory.mktemp("pamap2") / "PAMAP2_Dataset"
    p = _write(base / "Protocol" / "subject101.dat", _table(30, [1] * 30))
    original = p.read_text()
    p.write_text(mutate(original, *m))
    try:
        rs = pamap2.load(base)
    except DataError as e:
        assert "subject101.dat" in str(e)
        return
    cols, names, _ = pamap2._columns({})
    (r,) = rs.recordings
    assert r.channels == tuple(names) and r.n_samples <= 30
    got = np.floor(r.data / 1000)
    assert np.array_equal(got, np.broadcast_to(np.array(cols, float), got.shape)), m
    if m[0] == "swap_rows" and p.read_text() != original:
        pytest.fail("rows out of time order were accepted")
