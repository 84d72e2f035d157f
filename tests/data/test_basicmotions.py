"""BasicMotions .ts loader: fixtures in the real format, fuzzing, and the real files."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harlab.config import SplitConfig, WindowConfig
from harlab.data.sources import basicmotions as bm
from harlab.data.sources import get_source
from harlab.data.splits import make_split
from harlab.data.windows import make_windows
from harlab.errors import ConfigError, DataError
from harlab.paths import cache_dir

CLASSES = ["Standing", "Running", "Walking", "Badminton"]
HEADER = [
    "#A comment line as in the real file.",
    "@problemName BasicMotions",
    "@timeStamps false",
    "@missing false",
    "@univariate false",
    "@dimensions 6",
    "@equalLength true",
    "@seriesLength {length}",
    "@classLabel true " + " ".join(CLASSES),
    "@data",
]


def cases(n: int, length: int = 8, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    x = np.random.default_rng(seed).normal(size=(n, 6, length)).round(6)
    return x, [CLASSES[i % 4] for i in range(n)]


def ts_text(x: np.ndarray, labels: list[str], header: list[str] | None = None) -> str:
    head = [h.format(length=x.shape[2]) for h in (header or HEADER)]
    rows = [
        ":".join(",".join(repr(float(v)) for v in dim) for dim in case) + f":{lab}"
        for case, lab in zip(x, labels, strict=True)
    ]
    return "\n".join(head + rows) + "\n"


@pytest.fixture()
def folder(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    xtr, ytr = cases(8, seed=1)
    xte, yte = cases(4, seed=2)
    (tmp_path / "BasicMotions_TRAIN.ts").write_text(ts_text(xtr, ytr))
    (tmp_path / "BasicMotions_TEST.ts").write_text(ts_text(xte, yte))
    return tmp_path, xtr, xte


def test_load_fixture_layout_classes_and_official_split(folder):
    root, xtr, xte = folder
    rs = bm.load(root)
    assert len(rs.recordings) == 12 and rs.channels == bm.CHANNELS and rs.rates == {10.0}
    assert rs.classes == {0: "Standing", 1: "Running", 2: "Walking", 3: "Badminton"}
    r = rs.recordings[5]
    np.testing.assert_allclose(r.data, xtr[5].T, rtol=1e-6)  # (T, C): dimension d = column d
    assert r.labels.tolist() == [1] * 8 and r.subject == "train-5"
    assert r.meta["subject_unknown"] and r.meta["file"].endswith("BasicMotions_TRAIN.ts")
    np.testing.assert_allclose(rs.recordings[8].data, xte[0].T, rtol=1e-6)
    assert rs.official_split["train-7"] == "train" and rs.official_split["test-3"] == "test"
    w = make_windows(rs.recordings, WindowConfig(length=8, step=8))
    sp = make_split(
        w, rs.recordings, SplitConfig(kind="given", val_fraction=0.25), rs.official_split
    )
    assert sorted(w.recording[sp.test].tolist()) == [8, 9, 10, 11]
    assert len(sp.val) == 2 and len(sp.train) == 6
    with pytest.raises(ConfigError, match="subject-wise split is impossible"):
        make_split(w, rs.recordings, SplitConfig(kind="subject", folds=2))
    assert len(bm.load(root, splits="test").recordings) == 4
    assert get_source("basicmotions").info["classes"] == 4


def test_zip_wheel_subfolder_and_fingerprint(folder, tmp_path_factory):
    root, xtr, _ = folder
    other = tmp_path_factory.mktemp("z")
    for name, prefix in (
        ("BasicMotions.zip", ""),
        ("aeon-0-py3-none-any.whl", "aeon/datasets/data/BasicMotions/"),
    ):
        with zipfile.ZipFile(other / name, "w") as zf:
            for f in bm.FILES.values():
                zf.write(root / f, prefix + f)
        rs = bm.load(other / name)
        np.testing.assert_allclose(rs.recordings[0].data, xtr[0].T, rtol=1e-6)
        assert "!" in rs.recordings[0].meta["file"]
        fp = bm.fingerprint(other / name)
        assert fp["members"] == [prefix + f for f in bm.FILES.values()]
    sub = other / "d" / "BasicMotions"
    sub.mkdir(parents=True)
    for f in bm.FILES.values():
        (sub / f).write_bytes((root / f).read_bytes())
    assert len(bm.load(other / "d").recordings) == 12
    fp = bm.fingerprint(other / "d")
    assert [e["name"] for e in fp["files"]] == list(bm.FILES.values())


def test_missing_and_bad_options(tmp_path, folder, monkeypatch):
    monkeypatch.setenv("HARLAB_SHARED_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="BasicMotions not found.*harlab data download"):
        bm.load(tmp_path / "empty")
    root, _, _ = folder
    (root / "BasicMotions_TEST.ts").unlink()
    with pytest.raises(DataError, match="has no BasicMotions_TEST.ts"):
        bm.load(root)
    assert len(bm.load(root, splits=["train"]).recordings) == 8
    with pytest.raises(ConfigError, match="splits"):
        bm.load(root, splits=["dev"])
    with pytest.raises(ConfigError, match="Did you mean 'splits'"):
        bm.load(root, split="train")
    (tmp_path / "junk.zip").write_bytes(b"no zip")
    with pytest.raises(DataError, match="junk.zip: not a zip"):
        bm.load(tmp_path / "junk.zip")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace("@data\n", ""), "line 10: expected a header line"),
        (lambda t: t.split("@data")[0], "no @data line"),
        (lambda t: t.replace("@classLabel true", "@classLabel false"), "@classLabel must be"),
        (lambda t: t.replace("@equalLength true", "@equalLength false"), "ragged"),
        (lambda t: t.replace("@timeStamps false", "@timeStamps true"), "timeStamps true"),
        (lambda t: t.replace("@dimensions 6", "@dimensions 5"), "6 dimensions before the label"),
        (lambda t: t.replace("@seriesLength 8", "@seriesLength x"), "must be an integer"),
        (lambda t: t.replace(":Walking", ":Jogging", 1), "'Jogging' is not one of"),
        (lambda t: t.replace(",", ",?,", 1), "has 9 values, expected 8"),
        (lambda t: t.replace("@problemName", "@problem"), "unknown header '@problem'"),
        (lambda t: t + "1:2:3\n", "line 19: 2 dimensions"),
    ],
)
def test_malformed_headers_and_rows(tmp_path, mutate, message):
    x, y = cases(8)
    p = tmp_path / "BasicMotions_TRAIN.ts"
    p.write_text(mutate(ts_text(x, y)))
    with pytest.raises(DataError, match=message):
        bm.parse_ts(p.read_text(), str(p))


def test_non_numeric_missing_and_non_finite_name_the_line():
    x, y = cases(3)
    lines = ts_text(x, y).splitlines()
    for bad, msg in (
        ("abc", "line 12: not a number"),
        ("?", "line 12: missing value"),
        ("inf", "line 12: non-finite"),
    ):
        rows = list(lines)
        vals = rows[11].split(",")
        vals[3] = bad
        rows[11] = ",".join(vals)
        with pytest.raises(DataError, match=msg):
            bm.parse_ts("\n".join(rows), "f.ts")


def test_reordered_header_and_inferred_sizes_parse_the_same():
    x, y = cases(4)
    ref = bm.parse_ts(ts_text(x, y), "a")
    hdr = [HEADER[0], *reversed(HEADER[1:-1]), HEADER[-1]]
    got = bm.parse_ts(ts_text(x, y, hdr), "b")
    np.testing.assert_array_equal(ref[0], got[0])
    minimal = ["@classLabel true " + " ".join(CLASSES), "@data"]
    got = bm.parse_ts(ts_text(x, y, minimal), "c")  # dimensions/length from the first case
    assert got[0].shape == (4, 6, 8) and got[2] == y


_EDITS = st.sampled_from(["truncate", "swap_header", "token", "drop_dim", "drop_value"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edit=_EDITS, pos=st.integers(0, 10_000), token=st.sampled_from(["x", "", "1e", "--1"]))
def test_fuzz_ts_parser(edit, pos, token):
    x, y = cases(4)
    text = ts_text(x, y)
    lines = text.splitlines()
    data0 = len(HEADER)
    if edit == "truncate":
        text = text[: pos % len(text)]
    elif edit == "swap_header":
        i, j = 1 + pos % (data0 - 1), 1 + (pos // 7) % (data0 - 1)
        lines[i], lines[j] = lines[j], lines[i]
        text = "\n".join(lines)
    else:
        row = data0 + pos % 4
        dims = lines[row].split(":")
        d = (pos // 4) % 6
        vals = dims[d].split(",")
        if edit == "token":
            vals[pos % len(vals)] = token
            dims[d] = ",".join(vals)
        elif edit == "drop_dim":
            del dims[d]
        else:
            dims[d] = ",".join(vals[:-1])
        lines[row] = ":".join(dims)
        text = "\n".join(lines)
    try:
        got, classes, labels = bm.parse_ts(text, "fuzz.ts")
    except DataError as e:
        assert str(e).startswith("fuzz.ts: ")
    else:  # accepted only when nothing was lost or shifted
        assert got.shape[1:] == (6, 8) and classes == CLASSES
        np.testing.assert_array_equal(got, x[: len(got)])
        assert labels == y[: len(got)]


def _real_source() -> Path | None:
    """The real BasicMotions files: installed aeon, an aeon wheel, or a harlab download."""
    aeon = bm._aeon_data_dir()
    if aeon is not None:
        return aeon
    env = os.environ.get("HARLAB_AEON_WHEEL")
    wheels = [Path(env)] if env else bm.aeon_wheels()
    for w in wheels:
        if w.is_file():
            return w
    dl = cache_dir() / "datasets" / "basicmotions"
    return dl if dl.is_dir() else None


@pytest.mark.realdata
@pytest.mark.skipif(_real_source() is None, reason="no aeon package/wheel or download")
def test_real_basicmotions():
    rs = bm.load(_real_source())
    assert len(rs.recordings) == 80
    assert rs.classes == {0: "Standing", 1: "Running", 2: "Walking", 3: "Badminton"}
    for split in ("train", "test"):
        recs = [r for r in rs.recordings if r.meta["split"] == split]
        assert len(recs) == 40
        assert np.bincount([int(r.labels[0]) for r in recs]).tolist() == [10, 10, 10, 10]
    assert all(r.data.shape == (100, 6) for r in rs.recordings)
    assert rs.recordings[0].data[:3, 0].tolist() == pytest.approx([0.079106, 0.079106, -0.903497])
    assert np.isfinite(np.stack([r.data for r in rs.recordings])).all()
