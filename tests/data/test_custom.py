"""Bring-your-own-data CSV/Parquet source: schema, grouping, labels, drops, gaps, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harlab.data.sources import custom
from harlab.errors import ConfigError, DataError


def _csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def _frame(n: int = 6, rate: float = 10.0, **extra) -> pd.DataFrame:
    t = np.arange(n) / rate
    return pd.DataFrame({"timestamp": t, "ax": t * 2, "ay": -t, **extra})


def test_basic_grouping_sorting_and_string_labels(tmp_path):
    df = pd.concat(
        [
            _frame(5, subject="s2", session=1, label=["walk"] * 3 + ["run"] * 2),
            _frame(4, subject="s1", session=1, label=["sit", "", "sit", "walk"]),
        ]
    )
    p = tmp_path / "x.csv"
    df.sample(frac=1.0, random_state=0).to_csv(p, index=False)  # shuffled rows
    rs = custom.load(p)
    assert rs.classes == {0: "run", 1: "sit", 2: "walk"}
    assert rs.channels == ("ax", "ay") and rs.units == ("unknown", "unknown")
    assert rs.rates == {10.0}
    assert sorted((r.subject, r.session) for r in rs.recordings) == [("s1", "1"), ("s2", "1")]
    s2 = next(r for r in rs.recordings if r.subject == "s2")
    np.testing.assert_allclose(s2.data[:, 0], np.arange(5) / 10 * 2, rtol=1e-6)  # sorted
    assert s2.labels.tolist() == [2, 2, 2, 0, 0]
    s1 = next(r for r in rs.recordings if r.subject == "s1")
    assert s1.labels.tolist() == [1, -1, 1, 2]
    assert s1.meta["file"] == str(p) and s1.meta["start_time"] == 0.0
    assert rs.dropped == {}


def test_rate_option_without_timestamps_and_integer_labels(tmp_path):
    p = _csv(tmp_path / "walk01.csv", "x,y,z,label\n1,2,3,1\n4,5,6,\n7,8,9,-1\n1,1,1,3")
    rs = custom.load(p, rate=25, units="g")
    (r,) = rs.recordings
    assert (r.subject, r.session, r.rate) == ("walk01", "1", 25.0)
    assert r.units == ("g", "g", "g")
    assert r.labels.tolist() == [1, -1, -1, 3]
    assert rs.classes == {1: "1", 3: "3"}
    rs = custom.load(p, rate=25, classes={1: "walk", 3: "run", 4: "jump"})
    assert rs.classes == {1: "walk", 3: "run", 4: "jump"}
    with pytest.raises(DataError, match=r"labels \[3\] are not in the classes option"):
        custom.load(p, rate=25, classes={"1": "walk"})
    with pytest.raises(DataError, match="no 'timestamp' column and no rate option"):
        custom.load(p)


def test_options_columns_units_and_classes(tmp_path):
    p = _csv(
        tmp_path / "d.csv",
        "who,t,a,b,c,act\n"
        "u1,0.0,1,2,3,walk\nu1,0.5,1,2,3,run\nu1,1.0,1,2,3,walk\nu1,1.5,1,2,3,nope",
    )
    rs = custom.load(
        p,
        subject_column="who",
        timestamp_column="t",
        label_column="act",
        channels=["c", "a"],
        units={"a": "m/s^2"},
        classes={"walk": 5, "run": 7, "nope": -1},
    )
    (r,) = rs.recordings
    assert r.subject == "u1" and r.rate == 2.0 and r.channels == ("c", "a")
    assert r.units == ("unknown", "m/s^2")
    assert r.labels.tolist() == [5, 7, 5, -1]
    assert rs.classes == {5: "walk", 7: "run"}
    with pytest.raises(ConfigError, match="2 units given for 3 channels"):
        custom.load(p, timestamp_column="t", label_column="act", units=["g", "g"])
    with pytest.raises(DataError, match=r"missing column\(s\) \['zz'\]"):
        custom.load(p, channels=["zz"], rate=2)
    with pytest.raises(DataError, match=r"missing column\(s\) \['label'\]"):
        custom.load(p, label_column="label", rate=2)
    with pytest.raises(ConfigError, match="unknown custom option 'chanels'"):
        custom.load(p, chanels=["a"])
    with pytest.raises(ConfigError, match="rate must be a positive"):
        custom.load(p, rate=-3)


def test_malformed_rows_are_counted_and_warned(tmp_path, caplog):
    p = _csv(
        tmp_path / "m.csv",
        "timestamp,a,b\n0.0,1,2\n0.1,x,2\n0.2,,2\n,1,2\n0.4,1,inf\n0.5,1\n"
        + "".join(f"{t / 10},1,2\n" for t in range(6, 12)),
    )
    with caplog.at_level(logging.WARNING, logger="harlab"):
        rs = custom.load(p)
    assert rs.dropped == {
        "rows_non_numeric": 1,
        "rows_missing_value": 3,
        "rows_missing_timestamp": 1,
        "gaps": 1,
    }
    assert [r.n_samples for r in rs.recordings] == [1, 6]
    assert [r.session for r in rs.recordings] == ["1-1", "1-2"]
    assert "dropped 5 malformed row(s)" in caplog.text and "m.csv" in caplog.text
    bad = _csv(tmp_path / "bad.csv", "timestamp,a\n0,x\n0.1,\n,3")
    with pytest.raises(DataError, match=r"bad.csv: all 3 rows were dropped"):
        custom.load(bad)


def test_values_beyond_float32_are_dropped_without_a_warning(tmp_path):
    import warnings

    p = _csv(tmp_path / "big.csv", "a,b\n1,2\n1e308,2\n1,-1e39\n3.4e38,1\n1,2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" fails the test
        rs = custom.load(p, rate=10)
        (r,) = rs.recordings
        np.testing.assert_array_equal(r.data[:, 0], np.float32([1, 3.4e38, 1]))
        assert rs.dropped == {"rows_missing_value": 2}
        from harlab.data.recording import Recording  # any source: inf, never a warning

        rec = Recording(np.array([[1e308]]), np.array([0]), 1.0, ("a",), ("",), "s", "1")
        assert np.isinf(rec.data[0, 0])


def test_gap_splitting(tmp_path):
    t = np.r_[np.arange(10), np.arange(13, 20), np.arange(21, 24)] * 0.02  # 2-period step ok
    df = pd.DataFrame({"timestamp": t, "v": np.arange(len(t)), "session": "a"})
    p = tmp_path / "g.parquet"
    df.to_parquet(p)
    rs = custom.load(p)
    assert rs.rates == {50.0}
    assert [(r.session, r.n_samples) for r in rs.recordings] == [("a-1", 10), ("a-2", 10)]
    assert rs.dropped == {"gaps": 1}
    assert rs.recordings[1].meta["start_time"] == pytest.approx(0.26)


def test_timestamp_problems(tmp_path):
    irregular = _csv(tmp_path / "i.csv", "timestamp,a\n0,1\n0.1,1\n0.2,1\n0.21,1\n0.3,1")
    with pytest.raises(DataError, match=r"i.csv: irregular timestamps.*row 4"):
        custom.load(irregular)
    dup = _csv(tmp_path / "d.csv", "timestamp,a\n0,1\n0.1,1\n0.1,1\n0.2,1")
    with pytest.raises(DataError, match="irregular"):
        custom.load(dup)
    ms = _csv(tmp_path / "ms.csv", "timestamp,a\n0,1\n20,1\n40,1")
    with pytest.raises(DataError, match="timestamps must be in seconds"):
        custom.load(ms, rate=50)
    assert custom.load(ms, tolerance=0.5).rates == {0.05}  # consistent, if odd
    with pytest.raises(DataError, match="single-sample"):
        custom.load(_csv(tmp_path / "one.csv", "timestamp,a\n0,1"))
    with pytest.raises(ConfigError, match="tolerance"):
        custom.load(ms, tolerance=2)


def test_iso_timestamps_and_rounded_ms(tmp_path):
    # Daphnet-style: 64 Hz written as ms-rounded date-times (steps of 15 or 16 ms).
    t = pd.Timestamp("1970-01-01 00:04:40") + pd.to_timedelta(
        np.round(np.arange(200) * 15.625), unit="ms"
    )
    df = pd.DataFrame({"timestamp": t.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3], "v": 1.0})
    p = tmp_path / "daph.csv"
    df.to_csv(p, index=False)
    (r,) = custom.load(p).recordings
    assert r.rate == pytest.approx(64.0, rel=1e-3) and r.n_samples == 200
    assert r.meta["start_time"] == pytest.approx(280.0)


def test_folder_of_files_shares_label_mapping(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    _frame(4, label="walk").to_csv(d / "alice.csv", index=False)
    _frame(4, label=["sit", "jog", "jog", "sit"]).to_parquet(d / "bob.parquet")
    _frame(4, label=[1, 2, 2, 1]).to_csv(d / "carol.csv.gz", index=True)  # saved index
    (d / "readme.txt").write_text("not data")
    rs = custom.load(d)
    assert rs.classes == {0: "1", 1: "2", 2: "jog", 3: "sit", 4: "walk"}
    assert rs.subjects == ["alice", "bob", "carol"]
    by = {r.subject: r.labels.tolist() for r in rs.recordings}
    assert by == {"alice": [4] * 4, "bob": [3, 2, 2, 3], "carol": [0, 1, 1, 0]}
    assert rs.channels == ("ax", "ay")  # 'Unnamed: 0' index column ignored
    assert len(rs.info["files"]) == 3
    fp = custom.fingerprint(d, rate=10)
    names = [Path(f["name"]).name for f in fp["files"]]
    assert names == ["alice.csv", "bob.parquet", "carol.csv.gz"]
    assert fp["options"] == {"rate": 10}


def test_inconsistent_channels_across_files(tmp_path):
    _frame(3).to_csv(tmp_path / "a.csv", index=False)
    _frame(3, az=1.0).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match="b.csv has channels"):
        custom.load(tmp_path)


def test_read_table_and_recording_from_file(tmp_path):
    p = _csv(tmp_path / "r.csv", " timestamp , a ,note\n0, 1 ,hi\n0.5,2,there")
    df = custom.read_table(p)
    assert list(df.columns) == ["timestamp", "a", "note"]
    recs = custom.recording_from_file(p)
    assert len(recs) == 1 and recs[0].channels == ("a",) and recs[0].rate == 2.0
    assert recs[0].labels.tolist() == [-1, -1]
    with pytest.raises(DataError, match="file not found"):
        custom.read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unsupported file type"):
        custom.read_table(_csv(tmp_path / "x.json", "{}"))
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="e.csv: file is empty"):
        custom.read_table(empty)
    with pytest.raises(DataError, match="no data rows"):
        custom.read_table(_csv(tmp_path / "h.csv", "a,b"))
    with pytest.raises(DataError, match=r"w.csv, line 3: 4 fields but the header has 3"):
        custom.read_table(_csv(tmp_path / "w.csv", "a,b,c\n1,2,3\n1,2,3,4"))
    with pytest.raises(DataError, match=r"v.csv, line 2: 4 fields"):
        custom.read_table(_csv(tmp_path / "v.csv", "a,b,c\n1,2,3,4\n1,2,3"))
    pq = tmp_path / "bad.parquet"
    pq.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="bad.parquet: cannot parse"):
        custom.read_table(pq)
    with pytest.raises(DataError, match="no numeric channel"):
        custom.load(_csv(tmp_path / "s.csv", "a,b\nx,y"), rate=1)
    with pytest.raises(DataError, match="give path="):
        custom.load()
    with pytest.raises(DataError, match="label -3 is negative"):
        custom.load(_csv(tmp_path / "n.csv", "a,label\n1,-3"), rate=1)


# --- property test: malformed CSV rows never escape as raw pandas errors ---------------

_number = st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.6g}")
_kind = st.sampled_from(["ok", "ok", "ok", "non_numeric", "empty", "truncated", "extra"])


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(_kind, _number, _number, st.sampled_from(["1", "2", ""]))))
def test_csv_parser_property(tmp_path, rows):
    lines = ["a,b,label"]
    for kind, a, b, lab in rows:
        lines.append(
            {
                "ok": f"{a},{b},{lab}",
                "non_numeric": f"{a},x{b},{lab}",
                "empty": f",{b},{lab}",
                "truncated": f"{a}",
                "extra": f"{a},{b},{lab},9",
            }[kind]
        )
    p = tmp_path / "prop.csv"
    p.write_text("\n".join(lines) + "\n")
    kinds = [k for k, *_ in rows]
    if not rows:
        with pytest.raises(DataError, match="no data rows"):
            custom.load(p, rate=10)
    elif "extra" in kinds:
        with pytest.raises(DataError, match=r"prop.csv, line \d+: 4 fields"):
            custom.load(p, rate=10)
    elif "ok" not in kinds:
        with pytest.raises(DataError, match="prop.csv"):
            custom.load(p, rate=10, channels=["a", "b"])
    else:
        rs = custom.load(p, rate=10, channels=["a", "b"])
        assert sum(r.n_samples for r in rs.recordings) == kinds.count("ok")
        assert rs.dropped.get("rows_non_numeric", 0) == kinds.count("non_numeric")
        assert rs.dropped.get("rows_missing_value", 0) == kinds.count("empty") + kinds.count(
            "truncated"
        )
        ok = [(float(a), float(b), lab) for k, a, b, lab in rows if k == "ok"]
        (r,) = rs.recordings
        np.testing.assert_allclose(r.data, np.array([o[:2] for o in ok]), rtol=1e-6, atol=1e-30)
        assert r.labels.tolist() == [int(o[2]) if o[2] else -1 for o in ok]
