"""UniMiB-SHAR: real 2016 fall data + real label/name/split files, synthetic data matrices."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harlab.data.sources import unimib
from harlab.errors import ConfigError, DataError
from harlab.paths import shared_data_dir

SHARED = shared_data_dir()
R16 = SHARED / "samples" / "unimib_v2016" if SHARED else None
R17 = SHARED / "samples" / "unimib_v2017" if SHARED else None
needs16 = pytest.mark.skipif(
    R16 is None or not (R16 / "fall_data.mat").is_file(), reason="shared UniMiB 2016 absent"
)
needs17 = pytest.mark.skipif(
    R17 is None or not (R17 / "acc_labels.mat").is_file(), reason="shared UniMiB 2017 absent"
)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _save(p: Path, var: str, value) -> None:
    scipy.io.savemat(p, {var: value})


def _names17(k: int) -> np.ndarray:
    cell = np.empty((2, k), dtype=object)
    for i in range(k):
        cell[0, i] = f"Description {i + 1}"
        cell[1, i] = f"C{i + 1}"
    return cell


def _names16(k: int) -> np.ndarray:
    cell = np.empty((k, 1), dtype=object)
    for i in range(k):
        cell[i, 0] = f"c{i + 1}"
    return cell


def _fixture17(root: Path, labels: np.ndarray, variant: str = "acc", k: int = 17, seed=0):
    root.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).uniform(-19.6, 19.6, (len(labels), 453))
    _save(root / f"{variant}_data.mat", f"{variant}_data", data)
    _save(root / f"{variant}_labels.mat", f"{variant}_labels", labels.astype(np.uint8))
    _save(root / f"{variant}_names.mat", f"{variant}_names", _names17(k))
    return data


def _fixture16(root: Path, win_labels: np.ndarray, variant: str = "fall", k: int = 8, seed=0):
    root.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).uniform(-19.6, 19.6, (3 * len(win_labels), 51))
    _save(root / f"{variant}_data.mat", f"{variant}_data", data)
    labels = np.repeat(win_labels, 3, axis=0).astype(np.uint8)
    _save(root / f"{variant}_labels.mat", f"{variant}_labels", labels)
    _save(root / f"{variant}_names.mat", f"{variant}_names", _names16(k))
    return data


SMALL17 = np.array([[1, 1, 1], [3, 1, 2], [17, 2, 6], [10, 5, 1]])
SMALL16 = np.array([[1, 1], [2, 3], [8, 3]])


# --- real files ----------------------------------------------------------------------------


@needs16
@pytest.mark.realdata
def test_real_2016_fall():
    rs = unimib.load(release="2016", variant="fall")
    assert len(rs.recordings) == 5097 // 3 == 1699
    assert len(rs.classes) == 8
    assert rs.classes[1] == "falling_forward" and rs.classes[8] == "falling_left"
    assert rs.subjects == [str(s) for s in range(1, 31)]
    assert rs.channels == ("acc_x", "acc_y", "acc_z") and rs.units == ("m/s^2",) * 3
    assert rs.rates == {50.0}
    raw = scipy.io.loadmat(R16 / "fall_data.mat")["fall_data"]
    lab = scipy.io.loadmat(R16 / "fall_labels.mat")["fall_labels"]
    for i in (0, 1, 850, 1698):
        r = rs.recordings[i]
        assert r.n_samples == 51 and r.meta["row"] == i and r.meta["trial"] is None
        assert r.session == f"w{i}" and r.subject == str(lab[3 * i, 1])
        np.testing.assert_allclose(r.data, raw[3 * i : 3 * i + 3].T, rtol=1e-6)
        assert (r.labels == lab[3 * i, 0]).all()
    assert set(Counter(int(r.labels[0]) for r in rs.recordings)) == set(range(1, 9))
    # the first window starts at rest: |acc| about 1 g (m/s^2 units)
    assert 7 < np.linalg.norm(rs.recordings[0].data[0]) < 12
    assert rs.info["official_folds"] is None  # no split files for the fall variant
    fp = unimib.fingerprint(release="2016", variant="fall")
    assert [f["name"] for f in fp["files"]] == [
        "fall_data.mat",
        "fall_labels.mat",
        "fall_names.mat",
    ]


@needs16
@pytest.mark.realdata
def test_real_2016_fall_subjects():
    rs = unimib.load(release="2016", variant="fall", subjects=[3, "7"])
    assert rs.subjects == ["3", "7"]
    with pytest.raises(DataError, match="no subject"):
        unimib.load(release="2016", variant="fall", subjects=[31])


@needs17
@pytest.mark.realdata
def test_default_2017_fails_clearly():
    with pytest.raises(DataError, match=r"acc_data\.mat.*Download UniMiB-SHAR"):
        unimib.load()
    with pytest.raises(DataError, match=r"acc_data\.mat"):
        unimib.fingerprint()


@needs17
@pytest.mark.realdata
def test_real_2017_labels_with_synthetic_data(tmp_path):
    """Real acc_labels.mat / acc_names.mat + a synthetic acc_data.mat of matching rows."""
    _link(R17 / "acc_labels.mat", tmp_path / "acc_labels.mat")
    _link(R17 / "acc_names.mat", tmp_path / "acc_names.mat")
    lab = scipy.io.loadmat(R17 / "acc_labels.mat")["acc_labels"]
    assert lab.shape == (11771, 3)
    data = np.random.default_rng(1).uniform(-19.6, 19.6, (len(lab), 453))
    _save(tmp_path / "acc_data.mat", "acc_data", data)
    rs = unimib.load(tmp_path)
    assert len(rs.recordings) == 11771
    assert len(rs.classes) == 17
    assert rs.classes[1] == "StandingUpFS" and rs.classes[17] == "FallingLeft"
    assert rs.info["class_descriptions"][16] == "Syncope"
    assert rs.subjects == [str(s) for s in range(1, 31)]
    assert {r.session for r in rs.recordings} == {f"t{t}" for t in range(1, 7)}
    for i in (0, 5000, 11770):
        r = rs.recordings[i]
        assert r.n_samples == 151 and r.rate == 50.0
        np.testing.assert_allclose(r.data, data[i].reshape(3, 151).T, rtol=1e-6)
        assert (r.labels == lab[i, 0]).all() and r.subject == str(lab[i, 1])
        assert r.session == f"t{lab[i, 2]}" and r.meta == {
            "file": str(tmp_path / "acc_data.mat"),
            "row": i,
            "trial": int(lab[i, 2]),
        }
    assert rs.info["official_folds"] is None


@needs16
@pytest.mark.realdata
def test_real_2016_official_folds(tmp_path):
    """Real 2016 acc/two_classes labels + split files with synthetic data matrices."""
    for v in ("acc", "two_classes"):
        for kind in ("labels", "names"):
            _link(R16 / f"{v}_{kind}.mat", tmp_path / f"{v}_{kind}.mat")
        _save(tmp_path / f"{v}_data.mat", f"{v}_data", np.zeros((21039, 51)))
    for p in (R16 / "split").glob("*.mat"):
        _link(p, tmp_path / "split" / p.name)
    acc = unimib.load(tmp_path, release="2016")
    assert len(acc.recordings) == 7013 and len(acc.classes) == 17
    folds = acc.info["official_folds"]
    assert len(folds) == 5 and acc.info["official_folds_subjective"] is None
    cls = np.array([r.labels[0] for r in acc.recordings])
    tests = [set(te.tolist()) for _, te in folds]
    for tr, te in folds:
        assert not set(tr.tolist()) & set(te.tolist())
        # stratified: each class's share of the test fold is about 1/5 of the class
        assert abs(len(te) - 7013 / 5) < 20
        assert set(np.unique(cls[te])) == set(range(1, 18))
    assert all(not (a & b) for i, a in enumerate(tests) for b in tests[i + 1 :])
    # the authors used 5*(n//5) windows per class, so a few windows are in no fold
    used = set().union(*tests)
    assert 7013 - 17 * 4 <= len(used) < 7013

    two = unimib.load(tmp_path, release="2016", variant="two_classes")
    assert two.classes == {1: "adl", 2: "fall"}
    subj = two.info["official_folds_subjective"]
    assert len(subj) == 30 and len(two.info["official_folds"]) == 5
    subjects = np.array([r.subject for r in two.recordings])
    for s, (tr, te) in enumerate(subj, 1):
        assert set(subjects[te]) == {str(s)} and str(s) not in set(subjects[tr])
        assert len(tr) + len(te) == 7013
    # with a subject subset, indices are positions in the loaded recordings
    sub = unimib.load(tmp_path, release="2016", variant="two_classes", subjects=[2, 5])
    sfolds = sub.info["official_folds_subjective"]
    assert len(sfolds) == 2
    for tr, te in sfolds:
        assert len(tr) + len(te) == len(sub.recordings)
        assert len({sub.recordings[i].subject for i in te}) == 1
    for tr, te in sub.info["official_folds"]:
        assert max(tr.max(), te.max()) < len(sub.recordings)


# --- synthetic fixtures in the original formats ----------------------------------------------


def test_2017_fixture_layout(tmp_path):
    data = _fixture17(tmp_path, SMALL17)
    rs = unimib.load(tmp_path, subjects=None)
    assert [r.subject for r in rs.recordings] == ["1", "1", "2", "5"]
    assert [r.session for r in rs.recordings] == ["t1", "t2", "t6", "t1"]
    assert [int(r.labels[0]) for r in rs.recordings] == [1, 3, 17, 10]
    r = rs.recordings[2]
    assert r.data.shape == (151, 3)
    np.testing.assert_allclose(r.data[:, 0], data[2, :151], rtol=1e-6)
    np.testing.assert_allclose(r.data[:, 1], data[2, 151:302], rtol=1e-6)
    np.testing.assert_allclose(r.data[:, 2], data[2, 302:], rtol=1e-6)
    assert rs.classes[17] == "C17" and rs.info["class_descriptions"][1] == "Description 1"
    assert unimib.load(tmp_path, subjects=5).subjects == ["5"]
    fp = unimib.fingerprint(tmp_path)
    assert fp["source"] == "unimib" and len(fp["files"]) == 3


@pytest.mark.parametrize("variant,k", [("adl", 9), ("fall", 8), ("two_classes", 2)])
def test_2017_variants(tmp_path, variant, k):
    labels = np.array([[1, 1, 1], [k, 30, 3]])
    _fixture17(tmp_path, labels, variant=variant, k=k)
    rs = unimib.load(tmp_path, variant=variant, release=2017)
    assert len(rs.classes) == k and len(rs.recordings) == 2


def test_2016_fixture_layout(tmp_path):
    data = _fixture16(tmp_path, SMALL16)
    rs = unimib.load(tmp_path, release="2016", variant="fall")
    assert [r.session for r in rs.recordings] == ["w0", "w1", "w2"]
    assert [r.subject for r in rs.recordings] == ["1", "3", "3"]
    r = rs.recordings[1]
    assert r.data.shape == (51, 3) and (r.labels == 2).all()
    np.testing.assert_allclose(r.data, data[3:6].T, rtol=1e-6)
    assert rs.info["official_folds"] is None


def test_bad_options(tmp_path):
    _fixture17(tmp_path, SMALL17)
    with pytest.raises(ConfigError, match="release"):
        unimib.load(tmp_path, release="2018")
    with pytest.raises(ConfigError, match="variant"):
        unimib.load(tmp_path, variant="adls")
    with pytest.raises(ConfigError, match="option"):
        unimib.load(tmp_path, windows=3)
    with pytest.raises(ConfigError, match="subjects"):
        unimib.load(tmp_path, subjects=["x"])
    with pytest.raises(DataError, match="no subject"):
        unimib.load(tmp_path, subjects=[3])


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        unimib.load(tmp_path / "nope")
    _fixture17(tmp_path, SMALL17)
    (tmp_path / "acc_names.mat").unlink()
    with pytest.raises(DataError, match=r"missing .*acc_names\.mat.*Download"):
        unimib.load(tmp_path)


def test_row_mismatch(tmp_path):
    _fixture17(tmp_path, SMALL17)
    _save(tmp_path / "acc_labels.mat", "acc_labels", SMALL17[:3].astype(np.uint8))
    with pytest.raises(DataError, match=r"acc_data\.mat: 4 data rows but acc_labels\.mat has 3"):
        unimib.load(tmp_path)


def test_wrong_columns_suggests_release(tmp_path):
    _fixture16(tmp_path, SMALL16, variant="acc", k=17)
    _save(tmp_path / "acc_names.mat", "acc_names", _names17(17))
    with pytest.raises(DataError, match=r"acc_data\.mat: expected 453 columns.*release='2016'"):
        unimib.load(tmp_path)
    _fixture17(tmp_path / "b", SMALL17)
    _save(tmp_path / "b" / "acc_names.mat", "acc_names", _names16(17))
    with pytest.raises(DataError, match=r"expected 51 columns"):
        unimib.load(tmp_path / "b", release="2016")


def test_wrong_variable_name(tmp_path):
    _fixture17(tmp_path, SMALL17)
    _save(tmp_path / "acc_data.mat", "data", np.zeros((4, 453)))
    with pytest.raises(DataError, match=r"acc_data\.mat: no variable 'acc_data' \(found: data\)"):
        unimib.load(tmp_path)


def test_bad_values(tmp_path):
    data = _fixture17(tmp_path, SMALL17)
    data[2, 7] = np.nan
    _save(tmp_path / "acc_data.mat", "acc_data", data)
    with pytest.raises(DataError, match="NaN/inf values .*row 3"):
        unimib.load(tmp_path)
    _fixture17(tmp_path, SMALL17)
    bad = SMALL17.copy()
    bad[1, 0] = 18
    _save(tmp_path / "acc_labels.mat", "acc_labels", bad.astype(np.uint8))
    with pytest.raises(DataError, match=r"acc_labels\.mat: class 18"):
        unimib.load(tmp_path)
    bad[1, 0] = 0
    _save(tmp_path / "acc_labels.mat", "acc_labels", bad.astype(np.uint8))
    with pytest.raises(DataError, match="positive integers"):
        unimib.load(tmp_path)
    _save(tmp_path / "acc_labels.mat", "acc_labels", SMALL17[:, :2].astype(np.uint8))
    with pytest.raises(DataError, match="expected 3 label columns"):
        unimib.load(tmp_path)
    _save(tmp_path / "acc_labels.mat", "acc_labels", SMALL17.astype(np.uint8))
    _save(tmp_path / "acc_names.mat", "acc_names", _names16(17))
    with pytest.raises(DataError, match=r"acc_names\.mat: .*\(2, K\) cell"):
        unimib.load(tmp_path)
    _save(tmp_path / "acc_names.mat", "acc_names", np.zeros((2, 17)))
    with pytest.raises(DataError, match="cell array"):
        unimib.load(tmp_path)


def test_2016_bad_triples(tmp_path):
    _fixture16(tmp_path, SMALL16)
    _save(tmp_path / "fall_data.mat", "fall_data", np.zeros((8, 51)))
    _save(tmp_path / "fall_labels.mat", "fall_labels", np.ones((8, 2), np.uint8))
    with pytest.raises(DataError, match="not a multiple of 3"):
        unimib.load(tmp_path, release="2016", variant="fall")
    labels = np.repeat(SMALL16, 3, axis=0)
    labels[4, 0] = 5
    _fixture16(tmp_path, SMALL16)
    _save(tmp_path / "fall_labels.mat", "fall_labels", labels.astype(np.uint8))
    with pytest.raises(DataError, match=r"rows 4\.\.6 .*different labels"):
        unimib.load(tmp_path, release="2016", variant="fall")


def test_bad_split_file(tmp_path):
    _fixture16(tmp_path, SMALL16, variant="acc", k=17)
    split = tmp_path / "split"
    split.mkdir()
    cell = np.empty((17, 1), dtype=object)
    for c in range(17):
        cell[c, 0] = np.ones((5, 1), np.uint8) * 9  # class 1 has only 1 window
    _save(split / "acc_train_idxs5_folds.mat", "train_idxs", cell)
    _save(split / "acc_test_idxs5_folds.mat", "test_idxs", cell)
    with pytest.raises(DataError, match=r"acc_train_idxs5_folds\.mat: index 9 for class 1"):
        unimib.load(tmp_path, release="2016")
    (split / "acc_test_idxs5_folds.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataError, match=r"acc_test_idxs5_folds\.mat: not a MATLAB file"):
        unimib.load(tmp_path, release="2016")


# --- fuzz: corrupted or truncated .mat bytes never escape as another exception ---------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    out = {}
    for release, make, labels, variant in (
        ("2017", _fixture17, SMALL17, "acc"),
        ("2016", _fixture16, SMALL16, "fall"),
    ):
        root = tmp_path_factory.mktemp(f"unimib_pristine{release}")
        make(root, labels)
        out[release] = (variant, {p.name: p.read_bytes() for p in root.glob("*.mat")})
    return out


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    release=st.sampled_from(["2017", "2016"]),
    which=st.sampled_from(["data", "labels", "names"]),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8),
)
def test_fuzz_corrupt_mat(tmp_path_factory, pristine, release, which, cut, flips):
    variant, files = pristine[release]
    root = tmp_path_factory.mktemp("fuzz")
    for name, raw in files.items():
        (root / name).write_bytes(raw)
    name = f"{variant}_{which}.mat"
    raw = bytearray(files[name])
    for pos, val in flips:
        raw[min(int(pos * len(raw)), len(raw) - 1)] = val
    raw = raw[: int(cut * len(raw))] if cut < 0.98 else raw
    (root / name).write_bytes(bytes(raw))
    try:
        rs = unimib.load(root, release=release, variant=variant)
    except DataError as e:
        assert str(root) in str(e)
    else:  # a corruption that leaves a valid file must still give valid windows
        width = unimib.WINDOW[release]
        assert all(r.data.shape == (width, 3) for r in rs.recordings)
        assert all(np.isfinite(r.data).all() for r in rs.recordings)


def test_corrupt_cell_sizes_do_not_crash(tmp_path):
    """These two byte flips inside a cell make scipy.io.loadmat segfault (scipy 1.17)."""
    _fixture17(tmp_path, SMALL17)
    p = tmp_path / "acc_names.mat"
    raw = bytearray(p.read_bytes())
    assert len(raw) == 2368 and raw[2105] == 0 and raw[2196] == 8  # an array flags size
    raw[2105], raw[2196] = 226, 236
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"acc_names\.mat: corrupt MATLAB file"):
        unimib.load(tmp_path)


def test_compressed_mat_files(tmp_path):
    _fixture17(tmp_path, SMALL17)
    for stem in ("acc_data", "acc_labels", "acc_names"):
        value = scipy.io.loadmat(tmp_path / f"{stem}.mat")[stem]
        scipy.io.savemat(tmp_path / f"{stem}.mat", {stem: value}, do_compression=True)
    rs = unimib.load(tmp_path)
    assert len(rs.recordings) == 4 and rs.classes[2] == "C2"
