"""WISDM v1.1 raw: fixtures in the exact raw format, quirks, drop counts, fuzzing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harlab.data.sources import wisdm
from harlab.errors import ConfigError, DataError
from harlab.paths import shared_data_dir

# Real-format lines, including every documented quirk.
RAW = (
    "33,Jogging,49105962326000,-0.6946377,12.680544,0.50395286;\n"
    "33,Jogging,49106062271000,5.012288,11.264028,0.95342433;\n"
    "33,Jogging,49106112167000,4.903325,10.882658,-0.08172209;"
    "33,Jogging,49106222305000,-0.61291564,18.496431,3.0237172;\n"  # two records on a line
    "33,Jogging,0,0.0,0.0,0.0;\n"  # zero timestamp
    "33,Walking,49106332290000,-1.1849703,12.108489,7.205164,;\n"  # trailing comma
    "33,Walking,49106442306000,1.3756552,-2.4925237,-6.510526;\n"
    "33,Walking,49106542312000,-0.61291564,10.56939;\n"  # missing field
    "17,Sitting,1234500000,0.1,9.8,0.2;\n"
    "17,Dancing,1234550000,0.1,9.8,0.2;\n"  # unknown activity
    "17,Sitting,1234600000,abc,9.8,0.2;\n"  # non-numeric
    "33,Jogging,49106642312000,1.0,2.0,3.0;\n"  # user 33 again: new run
)


def _write(tmp_path: Path, text: str, name: str = wisdm.FILE_NAME) -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


def test_fixture_runs_labels_and_drops(tmp_path):
    f = _write(tmp_path, RAW)
    rs = wisdm.load(f)
    assert rs.name == "wisdm" and rs.official_split is None
    assert rs.channels == ("acc_x", "acc_y", "acc_z") and rs.units == ("m/s^2",) * 3
    assert rs.classes == {
        1: "Walking",
        2: "Jogging",
        3: "Upstairs",
        4: "Downstairs",
        5: "Sitting",
        6: "Standing",
    }
    assert rs.dropped == {
        "records_malformed": 2,
        "records_unknown_activity": 1,
        "records_zero_timestamp": 1,
    }
    runs = [(r.subject, r.session, int(r.labels[0]), r.n_samples) for r in rs.recordings]
    assert runs == [("33", "0", 2, 4), ("33", "1", 1, 2), ("17", "0", 5, 1), ("33", "2", 2, 1)]
    assert rs.rates == {20.0}
    first = rs.recordings[0]
    np.testing.assert_allclose(first.data[0], [-0.6946377, 12.680544, 0.50395286], rtol=1e-6)
    np.testing.assert_allclose(first.data[3], [-0.61291564, 18.496431, 3.0237172], rtol=1e-6)
    np.testing.assert_allclose(rs.recordings[1].data[0], [-1.1849703, 12.108489, 7.205164])
    assert all((r.labels == r.labels[0]).all() for r in rs.recordings)
    assert first.meta["first_timestamp"] == 49105962326000
    assert first.meta["last_timestamp"] == 49106222305000
    assert rs.info["records_total"] == 12 and rs.info["records_kept"] == 8


def test_folder_path_and_subjects_option(tmp_path):
    _write(tmp_path, RAW)
    rs = wisdm.load(tmp_path, subjects=[17])
    assert [r.subject for r in rs.recordings] == ["17"]
    with pytest.raises(DataError, match="user"):
        wisdm.load(tmp_path, subjects=[5])
    with pytest.raises(ConfigError, match="window"):
        wisdm.load(tmp_path, window=3)
    with pytest.raises(ConfigError):
        wisdm.load(tmp_path, subjects=["x"])


def test_file_order_kept_when_timestamps_reset(tmp_path):
    text = "".join(f"5,Walking,{t},{i}.0,0,0;\n" for i, t in enumerate([300, 200, 100, 900]))
    rs = wisdm.load(_write(tmp_path, text))
    assert rs.recordings[0].data[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_crlf_and_blank_lines(tmp_path):
    text = "1,Standing,10,1,2,3;\r\n\r\n1,Standing,20,4,5,6;\r\n"
    rs = wisdm.load(_write(tmp_path, text))
    assert rs.recordings[0].n_samples == 2 and sum(rs.dropped.values()) == 0


def test_missing_default_path_names_where_and_how(monkeypatch, tmp_path):
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"wisdm_v1\.1.*fordham") as e:
        wisdm.load()
    assert str(tmp_path) in str(e.value)
    with pytest.raises(DataError, match="not found"):
        wisdm.fingerprint()


def test_default_shared_path_absent_here():
    shared = shared_data_dir()
    if shared is not None and (shared / "wisdm_v1.1" / wisdm.FILE_NAME).is_file():
        pytest.skip("real WISDM file present")
    with pytest.raises(DataError, match="WISDM v1.1 not found"):
        wisdm.load()


def test_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        wisdm.load(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="no valid WISDM records"):
        wisdm.load(_write(tmp_path, ""))
    with pytest.raises(DataError, match="no valid WISDM records.*records_malformed=2"):
        wisdm.load(_write(tmp_path, "hello world;\nfoo,bar\n"))
    bad = tmp_path / "bin.txt"
    bad.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(DataError, match="binary"):
        wisdm.load(bad)


def test_fingerprint(tmp_path):
    f = _write(tmp_path, RAW)
    fp = wisdm.fingerprint(tmp_path)
    assert fp["source"] == "wisdm"
    assert fp["files"][0]["name"] == wisdm.FILE_NAME
    assert fp["files"][0]["size"] == f.stat().st_size


def test_info():
    assert wisdm.INFO["rate"] == 20.0 and wisdm.INFO["class_ids"][1] == "Walking"
    for key in ("summary", "subjects", "classes", "channels", "rate", "citation", "licence"):
        assert key in wisdm.INFO


# ---------------------------------------------------------------- fuzzing the parser

_ACTS = list(wisdm.CLASSES.values())
_BAD_TOKENS = ["", "abc", "1.2.3", "--1", "NaN", "inf", "Jogging", "-", ".", " "]


def _num() -> st.SearchStrategy[str]:
    return st.floats(-30, 30, allow_nan=False).map(lambda v: repr(round(v, 6)))


def _valid_fields():
    return st.tuples(
        st.integers(1, 36).map(str),
        st.sampled_from(_ACTS),
        st.integers(0, 10**14).map(str),
        _num(),
        _num(),
        _num(),
    ).map(list)


@st.composite
def _record(draw) -> str:
    fields = draw(_valid_fields())
    kind = draw(st.sampled_from(["ok", "truncate", "extra", "swap", "junk", "activity", "comma"]))
    if kind == "truncate":
        fields = fields[: draw(st.integers(1, 5))]
    elif kind == "extra":
        fields = fields + [draw(_num())]
    elif kind == "swap":
        i, j = draw(st.tuples(st.integers(0, 5), st.integers(0, 5)))
        fields[i], fields[j] = fields[j], fields[i]
    elif kind == "junk":
        fields[draw(st.integers(0, 5))] = draw(st.sampled_from(_BAD_TOKENS))
    elif kind == "activity":
        fields[1] = draw(st.sampled_from(["walking", "Running", "", "Walking "]))
    text = ",".join(fields)
    if kind == "comma":
        text += ","
    return text


def _oracle(record: str):
    """Independent per-record reference parser: ('keep', values) or ('drop', reason)."""
    r = record.strip()
    if r.endswith(","):
        r = r[:-1]
    parts = [p.strip() for p in r.split(",")]
    if len(parts) != 6 or not (parts[0].isascii() and parts[0].isdigit() and len(parts[0]) <= 9):
        return "drop", "records_malformed"
    try:
        nums = [float(p) for p in parts[2:]]
    except ValueError:
        return "drop", "records_malformed"
    if not all(math.isfinite(v) for v in nums):
        return "drop", "records_malformed"
    names = {v: k for k, v in wisdm.CLASSES.items()}
    if parts[1] not in names:
        return "drop", "records_unknown_activity"
    if nums[0] == 0:
        return "drop", "records_zero_timestamp"
    return "keep", (int(parts[0]), names[parts[1]], nums[1:])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=st.lists(_record(), min_size=1, max_size=25),
    joins=st.lists(st.sampled_from([";\n", ";", ";\r\n", ";;\n"]), min_size=25, max_size=25),
)
def test_fuzz_parser_matches_oracle(tmp_path, records, joins):
    text = "".join(r + j for r, j in zip(records, joins, strict=False))
    f = _write(tmp_path, text, "fuzz.txt")
    expected = [_oracle(r) for r in records]
    kept = [v for k, v in expected if k == "keep"]
    try:
        rs = wisdm.load(f)
    except DataError as e:
        assert not kept and "no valid WISDM records" in str(e)
        return
    for reason in rs.dropped:
        assert rs.dropped[reason] == sum(1 for k, v in expected if k == "drop" and v == reason)
    assert sum(rs.dropped.values()) + sum(r.n_samples for r in rs.recordings) == len(records)
    got_users = [int(r.subject) for r in rs.recordings for _ in range(r.n_samples)]
    got_labels = np.concatenate([r.labels for r in rs.recordings]).tolist()
    got_xyz = np.concatenate([r.data for r in rs.recordings])
    assert got_users == [u for u, _, _ in kept]
    assert got_labels == [a for _, a, _ in kept]
    np.testing.assert_allclose(got_xyz, np.array([v for *_, v in kept]), rtol=1e-6, atol=1e-6)


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("0123456789,;.-eE\n abWalkingJog\x00\u0663\u00a0\r")),
        max_size=200,
    )
)
def test_fuzz_arbitrary_text_never_crashes(text):
    try:
        df, dropped = wisdm.parse_records(text)
    except Exception as e:  # pragma: no cover - the assertion documents the contract
        pytest.fail(f"parse_records raised {type(e).__name__}: {e}")
    assert set(dropped) == {
        "records_malformed",
        "records_unknown_activity",
        "records_zero_timestamp",
    }
    assert list(df.columns) == ["user", "activity", "timestamp", "x", "y", "z"]
    assert df["activity"].isin(list(wisdm.CLASSES)).all()
    assert np.isfinite(df[["timestamp", "x", "y", "z"]].to_numpy(float)).all()
    assert (df["timestamp"] != 0).all()


def test_class_names_match_official_about_file():
    shared = shared_data_dir()
    about = shared / "samples" / "wisdm_v1.1" / "WISDM_ar_v1.1_raw_about.txt" if shared else None
    if about is None or not about.is_file():
        pytest.skip("official WISDM about file is absent")
    text = about.read_text(errors="replace")
    listed = {ln.split("->")[0].strip() for ln in text.splitlines() if "->" in ln}
    assert listed == set(wisdm.CLASSES.values())
    assert "20Hz" in text.replace(" ", "")
