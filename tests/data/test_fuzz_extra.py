"""Hypothesis fuzzing for the loaders whose own test files had none (DSADS, UCI-HAR,
USC-HAD): truncated, reordered, non-numeric and wrong-width input must give a DataError
naming the file, or data identical to the original (never shifted columns/rows)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harlab.data.sources import dsads, uci_har, usc_had
from harlab.errors import DataError
from tests.data.test_dsads import _segment
from tests.data.test_dsads import _write as write_dsads
from tests.data.test_uci_har import _dataset as uci_dataset
from tests.data.test_usc_had import _write as write_usc

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
EDITS = st.sampled_from(["truncate", "token", "drop_value", "extra_value", "swap_lines"])
TOKENS = st.sampled_from(["abc", "", "1,5", "nan", "--2", "1e"])


def mutate(text: str, edit: str, pos: int, token: str, sep: str) -> str:
    """Apply one edit to a delimited numeric text file."""
    lines = text.splitlines()
    row = pos % len(lines)
    if edit == "truncate":
        return text[: pos % len(text)]
    if edit == "swap_lines":
        other = (pos // 7) % len(lines)
        lines[row], lines[other] = lines[other], lines[row]
        return "\n".join(lines) + "\n"
    vals = lines[row].split(sep) if sep else lines[row].split()
    k = (pos // 3) % len(vals)
    if edit == "token":
        vals[k] = token
    elif edit == "drop_value":
        del vals[k]
    else:
        vals.insert(k, "1.0")
    lines[row] = (sep or " ").join(vals)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def dsads_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dsads")
    write_dsads(root, acts=(1,), subjs=(1,), n_seg=2)
    return root


@FUZZ
@given(edit=EDITS, pos=st.integers(0, 100_000), token=TOKENS)
def test_fuzz_dsads_segment(dsads_root, tmp_path_factory, edit, pos, token):
    root = tmp_path_factory.mktemp("d")
    shutil.copytree(dsads_root / "data", root / "data")
    f = root / "data" / "a01" / "p1" / "s02.txt"
    f.write_text(mutate(f.read_text(), edit, pos, token, ","))
    try:
        rs = dsads.load(root)
    except DataError as e:
        assert "s02.txt" in str(e) or "a01" in str(e)
    else:
        expected = np.concatenate([_segment(1, 1, 1), np.loadtxt(f, delimiter=",")])
        assert expected.shape == (250, 45)  # nothing dropped, no column shifted
        np.testing.assert_allclose(rs.recordings[0].data, expected, rtol=1e-6)


@pytest.fixture(scope="module")
def uci_root(tmp_path_factory) -> tuple[Path, np.ndarray, list[str]]:
    root = uci_dataset(tmp_path_factory.mktemp("uci"))
    ref = uci_har.load(root)
    return root, np.stack([r.data for r in ref.recordings]), [r.subject for r in ref.recordings]


@FUZZ
@given(
    edit=EDITS,
    pos=st.integers(0, 100_000),
    token=TOKENS,
    which=st.sampled_from(
        [
            "train/Inertial Signals/body_gyro_y_train.txt",
            "train/y_train.txt",
            "test/subject_test.txt",
        ]
    ),
)
def test_fuzz_uci_har_files(uci_root, tmp_path_factory, edit, pos, token, which):
    root = tmp_path_factory.mktemp("u") / "UCI HAR Dataset"
    shutil.copytree(uci_root[0], root)
    _, want, subjects = uci_root
    f = root / which
    f.write_text(mutate(f.read_text(), edit, pos, token, ""))
    try:
        rs = uci_har.load(root)
    except DataError as e:
        assert f.name in str(e)
    else:  # accepted: every window and label identical, or only rows reordered
        got = np.stack([r.data for r in rs.recordings])
        assert got.shape == want.shape
        if edit != "swap_lines":
            np.testing.assert_array_equal(got, want)
            assert [r.subject for r in rs.recordings] == subjects


@pytest.fixture(scope="module")
def usc_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("usc")
    write_usc(root, 1, 1, 1)
    write_usc(root, 2, 3, 1)
    return root


@FUZZ
@given(
    cut=st.integers(0, 2000),
    flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 255)), max_size=3),
    truncate=st.booleans(),
)
def test_fuzz_usc_had_mat(usc_root, tmp_path_factory, cut, flips, truncate):
    root = tmp_path_factory.mktemp("m")
    shutil.copytree(usc_root, root, dirs_exist_ok=True)
    f = root / "Subject2" / "a3t1.mat"
    raw = bytearray(f.read_bytes())
    for at, x in flips:
        raw[at % len(raw)] ^= x
    if truncate:
        raw = raw[: cut % len(raw)]
    f.write_bytes(bytes(raw))
    try:
        rs = usc_had.load(root)
    except DataError as e:
        assert "a3t1.mat" in str(e) or "Subject2" in str(e)
    else:  # a flip in padding/metadata text may be harmless; the samples must be intact
        r = next(r for r in rs.recordings if r.subject == "2")
        assert r.data.shape == (10, 6) and r.labels.shape == (10,)
        assert int(r.labels[0]) == 3
