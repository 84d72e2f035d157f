"""Out-of-core windows: cache written recording by recording, windows read on demand,
normalisation in one pass; the same splits, drops, windows and statistics as in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harlab.config import from_dict
from harlab.data import cache as cache_mod
from harlab.data.datamodule import ArrayDataset
from harlab.data.normalize import NormalizedRows, Normalizer
from harlab.data.prepare import load_windowed, prepare
from harlab.data.sources import hapt
from harlab.data.store import NpyAppender, NpyRows
from harlab.errors import ConfigError, DataError
from harlab.paths import shared_data_dir


def _write_folder(root: Path, integer_file: bool = False) -> Path:
    """Three subjects' CSVs with string labels (one file lacks a class, windows with ties,
    a NaN row, a short recording), optionally a fourth file of integer labels."""
    rng = np.random.default_rng(3)
    root.mkdir()
    names = {"s1": ["walk", "sit", "run"], "s2": ["sit", "walk"], "s3": ["run", "walk", "sit"]}
    for subject, acts in names.items():
        for session in (1, 2):
            n = 400 if (subject, session) != ("s3", 2) else 7  # too short for one window
            label = np.repeat(acts, -(-n // len(acts)))[:n].astype(object)
            label[::37] = ""  # unlabelled samples
            df = pd.DataFrame({"timestamp": np.arange(n) / 20.0,
                               "ax": rng.normal(1, 2, n), "ay": rng.normal(-3, 0.5, n),
                               "subject": subject, "session": session, "label": label})
            if session == 1:
                df.loc[50, "ax"] = np.nan  # a malformed row, dropped and counted
            df.to_csv(root / f"{subject}_{session}.csv", index=False, mode="w")
    if integer_file:
        n = 300
        pd.DataFrame({"timestamp": np.arange(n) / 20.0, "ax": rng.normal(size=n),
                      "ay": rng.normal(size=n), "subject": "s4", "session": 1,
                      "label": np.repeat([10, 9], n // 2)}).to_csv(root / "s4.csv", index=False)
    return root


def _cfg(dataset: str, path: Path | None, window: dict, split: dict, **data) -> object:
    return from_dict({"data": {"dataset": dataset, "path": str(path) if path else None,
                               "window": window, "split": split, **data}})


def _both(cfg, tmp_path: Path, monkeypatch) -> tuple:
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    memory = load_windowed(cfg.data, use_cache=False)
    streamed = load_windowed(cfg.data)
    again = load_windowed(cfg.data)  # read back from the entry
    assert not streamed.from_cache and again.from_cache
    return memory, streamed, again


def _assert_same(memory, ooc, cfg, lazy: bool = True) -> None:
    a, b = memory.windows, ooc.windows
    assert isinstance(a.x, np.ndarray) and isinstance(b.x, NpyRows) == lazy
    for name in ("y", "recording", "start"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_allclose(a.purity, b.purity, rtol=1e-6)
    np.testing.assert_array_equal(a.x, np.asarray(b.x))
    assert (a.rate, a.length, a.step) == (b.rate, b.length, b.step)
    assert memory.dropped == ooc.dropped and memory.classes == ooc.classes
    assert [r.subject for r in memory.recordings] == [r.subject for r in ooc.recordings]
    assert [r.n_samples for r in memory.recordings] == [r.n_samples for r in ooc.recordings]
    pm, po = prepare(cfg.data, memory), prepare(cfg.data, ooc)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(pm.index[part], po.index[part])
        np.testing.assert_array_equal(pm.y[part], po.y[part])
    assert pm.excluded == po.excluded and pm.split.description == po.split.description
    assert pm.split.dropped == po.split.dropped
    reference = Normalizer.fit(np.asarray(memory.windows.x)[pm.index["train"]])
    np.testing.assert_allclose(po.normalizer.mean, reference.mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(po.normalizer.std, reference.std, rtol=1e-6)
    for part in ("train", "test"):
        idx = np.arange(0, len(po.x[part]), 7)
        np.testing.assert_allclose(po.x[part][idx], pm.x[part][idx], rtol=1e-5, atol=1e-5)


SPLIT = {"kind": "subject", "test_subjects": ["s2"], "val_fraction": 0.5, "seed": 1}
WINDOW = {"length": 16, "step": 4, "unit": "samples", "label_policy": "majority",
          "min_purity": 0.5}  # keeps windows whose two labels tie 8:8


def test_custom_stream_gives_the_in_memory_windows(tmp_path, monkeypatch):
    cfg = _cfg("custom", _write_folder(tmp_path / "csv"), WINDOW, SPLIT)
    memory, streamed, again = _both(cfg, tmp_path, monkeypatch)
    assert memory.classes == {0: "run", 1: "sit", 2: "walk"}
    assert memory.dropped["rows_missing_value"] == 3
    assert memory.dropped["recordings_too_short"] == 1
    assert (memory.windows.purity == 0.5).sum() > 0  # ties: the smallest id wins
    _assert_same(memory, streamed, cfg)
    _assert_same(memory, again, cfg)


def test_mixed_integer_and_string_label_files_fall_back_and_agree(tmp_path, monkeypatch):
    cfg = _cfg("custom", _write_folder(tmp_path / "csv", integer_file=True), WINDOW, SPLIT)
    memory, streamed, again = _both(cfg, tmp_path, monkeypatch)
    assert set(memory.classes.values()) == {"run", "sit", "walk", "9", "10"}
    _assert_same(memory, streamed, cfg, lazy=False)  # cut in memory, then cached
    _assert_same(memory, again, cfg)


def test_classes_option_with_string_labels(tmp_path, monkeypatch):
    classes = {"walk": 1, "run": 7, "sit": 4}
    cfg = _cfg("custom", _write_folder(tmp_path / "csv"), {**WINDOW, "min_purity": 0.9},
               SPLIT, options={"classes": classes})
    memory, streamed, _ = _both(cfg, tmp_path, monkeypatch)
    assert memory.classes == {1: "walk", 4: "sit", 7: "run"}
    assert memory.dropped["windows_mixed"] > 0
    _assert_same(memory, streamed, cfg)


def test_npy_rows_index_like_an_array(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 3, 2)).astype(np.float32)
    app = NpyAppender(tmp_path / "x.npy", np.float32, (3, 2))
    for chunk in np.array_split(x, 5):
        app.append(chunk)
    app.close()
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), x)  # a valid .npy
    rows = NpyRows(tmp_path / "x.npy")
    assert rows.shape == x.shape and len(rows) == 40 and rows.ndim == 3
    mask = np.arange(40) % 3 == 0
    for key in (5, -1, slice(None), slice(3, 9), slice(1, 30, 4), [7, 2, 2, 39, 3, 4],
                np.array([], int), mask, np.array([[1, 2], [3, 0]])):
        np.testing.assert_array_equal(rows[key], x[key], err_msg=str(key))
    with pytest.raises(IndexError):
        rows[40]
    with pytest.raises(IndexError):
        rows[[0, 41]]
    with pytest.raises(ValueError, match="rows of shape"):
        NpyAppender(tmp_path / "y.npy", np.float32, (3, 2)).append(np.zeros((1, 2, 2)))


def test_normalizer_fit_in_chunks_matches_one_fit() -> None:
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(500, 32, 4)) * [1, 1e3, 1e-3, 0] + [5, -2e4, 1, 7]).astype(np.float32)
    whole = Normalizer.fit(x)
    chunked = Normalizer.fit_chunks(np.array_split(x, 13))
    np.testing.assert_allclose(chunked.mean, whole.mean, rtol=1e-6)
    np.testing.assert_allclose(chunked.std, whole.std, rtol=1e-6)
    assert chunked.std[3] == 1.0  # constant channel


def test_normalized_rows_feed_the_dataset_batch_by_batch(tmp_path):
    x = np.random.default_rng(2).normal(size=(30, 4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    norm = Normalizer(np.array([1, 2, 3], np.float32), np.array([2, 2, 4], np.float32))
    index = np.array([2, 3, 5, 8, 13, 21, 29])
    lazy = NormalizedRows(NpyRows(tmp_path / "x.npy"), index, norm)
    eager = norm.apply(x[index])
    assert lazy.shape == eager.shape and len(lazy) == 7
    np.testing.assert_array_equal(np.asarray(lazy), eager)
    np.testing.assert_array_equal(lazy[3], eager[3])
    y = np.arange(7)
    xb, yb = ArrayDataset(lazy, y)[[6, 0, 3]]
    ref_x, ref_y = ArrayDataset(eager, y)[[6, 0, 3]]
    np.testing.assert_array_equal(xb.numpy(), ref_x.numpy())
    np.testing.assert_array_equal(yb.numpy(), ref_y.numpy())


def test_entry_is_hashed_once_per_process_until_a_file_changes(tmp_path, monkeypatch):
    arrays = {"x": np.ones((4, 2, 1), np.float32), "y": np.arange(4), "recording":
              np.zeros(4, np.int64), "start": np.arange(4), "purity": np.ones(4, np.float32)}
    cache_mod.save_entry(tmp_path, "k", arrays, {"name": "t"})
    hashed = []
    real = cache_mod._sha256
    monkeypatch.setattr(cache_mod, "_sha256", lambda p: hashed.append(p.name) or real(p))
    assert cache_mod.load_entry(tmp_path, "k") is not None
    assert len(hashed) == 5
    assert cache_mod.load_entry(tmp_path, "k") is not None
    assert len(hashed) == 5  # verified already in this process
    y = tmp_path / "k" / "y.npy"
    new = tmp_path / "y.npy"
    new.write_bytes(y.read_bytes()[:-8] + np.int64(9).tobytes())  # same size, new contents
    new.replace(y)  # a new file (inode) under the old name
    assert cache_mod.load_entry(tmp_path, "k") is None  # hashed again, and refused
    assert len(hashed) > 5


SHARED = shared_data_dir()


def _hapt_installed() -> bool:
    try:
        return hapt.packaged_pickle().is_file()
    except DataError:
        return False


@pytest.mark.realdata
@pytest.mark.skipif(SHARED is None or not (SHARED / "usc_had").is_dir(),
                    reason="shared USC-HAD data are absent")
@pytest.mark.parametrize("window, split, options", [
    ({"length": 2.0, "step": 1.0, "unit": "seconds"},
     {"kind": "subject", "folds": 5, "fold": 0, "val_fraction": 0.2, "seed": 0}, None),
    ({"length": 1.28, "step": 0.64, "unit": "seconds", "target_rate": 50.0},
     {"kind": "session", "test_sessions": ["t5"], "val_fraction": 0.25, "seed": 2},
     {"subjects": [3, 5, 14]}),  # Subject14/a3t2 and Subject5/a8t3 have header quirks
])
def test_real_usc_had_out_of_core_equals_in_memory(tmp_path, monkeypatch, window, split,
                                                   options):
    cfg = _cfg("usc_had", None, window, split, options=options or {})
    memory, streamed, _ = _both(cfg, tmp_path, monkeypatch)
    _assert_same(memory, streamed, cfg)  # streamed: windows read lazily from the entry
    assert memory.official_split is streamed.official_split is None
    assert [r.meta for r in memory.recordings] == [r.meta for r in streamed.recordings]
    assert len(memory.recordings) == (840 if options is None else 180)


@pytest.mark.realdata
@pytest.mark.skipif(not _hapt_installed(), reason="the HAPT package is not installed")
def test_real_hapt_out_of_core_equals_in_memory(tmp_path, monkeypatch):
    cfg = _cfg("hapt", None, {"length": 128, "step": 64, "unit": "samples",
                              "label_policy": "majority", "min_purity": 0.8},
               {"kind": "subject", "folds": 5, "fold": 0, "val_fraction": 0.2, "seed": 0},
               labels=[1, 2, 3, 4, 5, 6])
    memory, streamed, _ = _both(cfg, tmp_path, monkeypatch)
    assert memory.dropped == streamed.dropped and memory.dropped.get("windows_mixed")
    _assert_same(memory, streamed, cfg)


def test_stream_errors_leave_no_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "csv"
    root.mkdir()
    t = np.arange(40) / 10.0
    pd.DataFrame({"timestamp": t, "ax": t, "ay": t, "label": 1}).to_csv(root / "a.csv",
                                                                         index=False)
    pd.DataFrame({"timestamp": t, "ax": t, "az": t, "label": 1}).to_csv(root / "b.csv",
                                                                         index=False)
    cfg = _cfg("custom", root, WINDOW, SPLIT)
    with pytest.raises(DataError, match=r"b\.csv has channels \('ax', 'az'\)"):
        load_windowed(cfg.data)
    (root / "b.csv").unlink()
    pd.DataFrame({"timestamp": t / 2, "ax": t, "ay": t, "label": 1}).to_csv(root / "c.csv",
                                                                             index=False)
    with pytest.raises(ConfigError, match=r"different sampling rates \[10.0, 20.0\]"):
        load_windowed(cfg.data)
    assert not list((tmp_path / "cache" / "windows").iterdir())  # temp folders removed
