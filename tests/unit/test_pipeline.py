"""Normalisation, cache, config and the batch sampler."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harlab.config import apply_overrides, from_dict, load_config
from harlab.data import cache as cache_mod
from harlab.data.datamodule import ArrayDataset, BatchIndexSampler
from harlab.data.normalize import Normalizer
from harlab.errors import ConfigError


def test_normalizer_fits_train_only_and_roundtrips() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(5, 3, size=(50, 20, 4)).astype(np.float32)
    x[..., 3] = 7.0  # constant channel -> std 1, not a division by zero
    n = Normalizer.fit(x)
    z = n.apply(x)
    np.testing.assert_allclose(z[..., :3].reshape(-1, 3).mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z[..., :3].reshape(-1, 3).std(0), 1, atol=1e-3)
    assert np.all(z[..., 3] == 0)
    n2 = Normalizer.from_dict(json.loads(json.dumps(n.to_dict())))
    np.testing.assert_array_equal(n2.apply(x), z)
    with pytest.raises(ConfigError, match="channels"):
        n.apply(np.zeros((1, 20, 3), np.float32))


def _arrays(n: int = 7) -> dict[str, np.ndarray]:
    return {
        "x": np.random.default_rng(1).normal(size=(n, 5, 2)).astype(np.float32),
        "y": np.arange(n),
        "recording": np.zeros(n, np.int64),
        "start": np.arange(n),
        "purity": np.ones(n, np.float32),
    }


def test_cache_roundtrip_and_corruption_rebuild(tmp_path: Path) -> None:
    key = cache_mod.cache_key({"a": 1})
    assert key == cache_mod.cache_key({"a": 1}) != cache_mod.cache_key({"a": 2})
    cache_mod.save_entry(tmp_path, key, _arrays(), {"name": "t"})
    hit = cache_mod.load_entry(tmp_path, key)
    assert hit is not None and hit[1]["name"] == "t"
    np.testing.assert_array_equal(hit[0]["x"], _arrays()["x"])
    # truncate one array: detected, entry removed, None returned (caller rebuilds)
    xfile = tmp_path / key / "x.npy"
    xfile.write_bytes(xfile.read_bytes()[:-8])
    assert cache_mod.load_entry(tmp_path, key) is None
    assert not (tmp_path / key).exists()
    # garbage manifest
    cache_mod.save_entry(tmp_path, key, _arrays(), {"name": "t"})
    (tmp_path / key / "manifest.json").write_text("{not json")
    assert cache_mod.load_entry(tmp_path, key) is None
    # no temp folders left behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cache_entry_with_changed_contents_is_rebuilt(tmp_path: Path, caplog) -> None:
    key = cache_mod.cache_key({"a": 1})
    entry = cache_mod.save_entry(tmp_path, key, _arrays(), {"name": "t"})
    manifest = json.loads((entry / "manifest.json").read_text())
    assert all(len(spec["sha256"]) == 64 for spec in manifest["arrays"].values())
    x = np.load(entry / "x.npy", mmap_mode="r+")
    x[:] = 0  # same size, shape and dtype: only the checksum tells
    x.flush()
    del x
    with caplog.at_level("WARNING", logger="harlab"):
        assert cache_mod.load_entry(tmp_path, key) is None
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "x.npy does not match its sha256" in warning and "\n" not in warning
    assert not entry.exists()


CACHE_WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from harlab.data import cache

class Stall:  # np.ascontiguousarray(y) blocks here, after x.npy was written
    def __array__(self, dtype=None, copy=None):
        Path(sys.argv[2]).touch()
        time.sleep(120)

n = 7
arrays = {"x": np.ones((n, 5, 2), np.float32), "y": Stall(), "recording": np.zeros(n),
          "start": np.arange(n), "purity": np.ones(n)}
cache.save_entry(Path(sys.argv[1]), sys.argv[3], arrays, {"name": "t"})
"""


def test_cache_writer_killed_mid_write_then_rerun(tmp_path: Path) -> None:
    root, flag = tmp_path / "cache", tmp_path / "writing"
    key = cache_mod.cache_key({"a": 1})
    src = str(Path(cache_mod.__file__).parents[2])
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.Popen([sys.executable, "-c", CACHE_WRITER, str(root), str(flag), key],
                            env=env)
    deadline = time.monotonic() + 60
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert flag.exists(), "the writer did not reach the middle of its write"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (orphan,) = root.iterdir()  # the killed writer's temporary folder, half written
    assert orphan.name.startswith(f".{key}.tmp-{proc.pid}-") and (orphan / "x.npy").is_file()
    assert cache_mod.load_entry(root, key) is None  # nothing under the final name
    assert not orphan.exists()  # removed: its writer is gone
    cache_mod.save_entry(root, key, _arrays(), {"name": "t"})
    arrays, manifest = cache_mod.load_entry(root, key)
    np.testing.assert_array_equal(arrays["x"], _arrays()["x"])
    assert [p.name for p in root.iterdir()] == [key]


def test_only_dead_writers_temp_folders_are_removed(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(done.stdout)
    key = "0" * 32
    names = [f".{key}.tmp-{dead}-0123abcd",  # dead writer: removed
             f".{key}.tmp-{os.getpid()}-0123abcd",  # running writer: kept
             f".{key}.tmp-{dead}-notmine", "user-folder", f"{key}.tmp-{dead}-0123abcd"]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
    assert cache_mod.load_entry(tmp_path, key) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])
    old = tmp_path / names[1]
    os.utime(old, (time.time() - 2 * 86_400,) * 2)  # a day old: stale even if the pid runs
    cache_mod.load_entry(tmp_path, key)
    assert not old.exists() and len(list(tmp_path.iterdir())) == 3


def test_config_defaults_overrides_and_unknown_keys(tmp_path: Path) -> None:
    cfg = from_dict({})
    assert cfg.model.name == "danhar" and cfg.data.split.kind == "subject"
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  dataset: usc_had\n  window: {length: 2.0, step: 1.0, unit: seconds}\n")
    cfg = load_config(p, ["train.max_epochs=3", "data.split.kind=session", "model.options.r=4"])
    assert cfg.data.dataset == "usc_had" and cfg.data.window.unit == "seconds"
    assert cfg.train.max_epochs == 3 and cfg.data.split.kind == "session"
    assert cfg.model.options == {"r": 4}
    with pytest.raises(ConfigError, match="Did you mean 'max_epochs'"):
        from_dict({"train": {"max_epoch": 3}})
    with pytest.raises(ConfigError, match="precision"):
        from_dict({"train": {"precision": "fp8"}})
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides({}, ["nonsense"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("key,value,ok", [
    ("limit_train_batches", 1.0, True), ("limit_train_batches", 0.25, True),
    ("limit_val_batches", 3, True), ("limit_val_batches", 0, False),
    ("limit_val_batches", 1.5, False), ("limit_train_batches", True, False),
    ("limit_val_batches", "half", False), ("min_epochs", None, True), ("min_epochs", 2, True),
    ("min_epochs", 31, False), ("min_epochs", -1, False), ("min_epochs", 1.5, False),
])
def test_train_limits_are_checked(key: str, value: object, ok: bool) -> None:
    if ok:
        assert getattr(from_dict({"train": {key: value}}).train, key) == value
    else:
        with pytest.raises(ConfigError, match=f"train.{key}"):
            from_dict({"train": {key: value}})


def test_sampler_covers_all_and_shards_evenly() -> None:
    s = BatchIndexSampler(10, 4, shuffle=False)
    assert [len(b) for b in s] == [4, 4, 2] and len(s) == 3
    seen = sorted(i for b in s for i in b)
    assert seen == list(range(10))
    # training shards: equal length per rank, union covers everything
    shards = [
        list(BatchIndexSampler(10, 3, True, seed=1, rank=r, world=3, pad=True)) for r in range(3)
    ]
    assert len({len(sh) for sh in shards}) == 1
    assert set(i for sh in shards for b in sh for i in b) == set(range(10))
    # evaluation shards: disjoint and complete
    ev = [i for r in range(3) for b in BatchIndexSampler(10, 4, False, rank=r, world=3) for i in b]
    assert sorted(ev) == list(range(10))
    # shuffle changes with epoch, same seed same order
    a = BatchIndexSampler(10, 10, True, seed=5)
    first = list(a)[0]
    assert list(BatchIndexSampler(10, 10, True, seed=5))[0] == first
    a.set_epoch(1)
    assert list(a)[0] != first


def test_array_dataset_batch_indexing() -> None:
    ds = ArrayDataset(np.arange(24, dtype=np.float32).reshape(4, 3, 2), np.arange(4))
    x, y = ds[[2, 0]]
    assert x.shape == (2, 3, 2) and y.tolist() == [2, 0]


_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(
    # configs/radar holds simulator/processing settings, tested in tests/radar
    "path",
    sorted(p for p in _CONFIGS.rglob("*.yaml") if "radar" not in p.relative_to(_CONFIGS).parts),
)
def test_shipped_configs_are_valid(path: Path) -> None:
    from harlab.data.sources import get_source
    from harlab.models.registry import get_model_spec

    cfg = load_config(path)
    get_source(cfg.data.dataset)
    get_model_spec(cfg.model.name)
