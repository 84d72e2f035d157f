"""Named sources read one recording at a time: for each, the out-of-core windows (cache on,
``stream``) equal the in-memory ones (``data.cache: false``, ``load``) on tiny fixtures in
the real formats, and ``stream`` reads no recording before it is asked for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from harlab.data.prepare import load_windowed
from harlab.data.sources import custom, dsads, get_source, hapt, opportunity, pamap2, usc_had
from harlab.errors import DataError
from harlab.radar import dataset as frames_mod
from tests.data.test_dsads import _write as write_dsads
from tests.data.test_hapt import _signal, _write_raw
from tests.data.test_opportunity import GESTURE_CODES, NAMES
from tests.data.test_opportunity import _table as opportunity_table
from tests.data.test_out_of_core import _assert_same, _both, _cfg, _write_folder
from tests.data.test_pamap2 import _table as pamap2_table
from tests.data.test_pamap2 import _write as write_table

WINDOW = {"length": 16, "step": 8, "unit": "samples", "label_policy": "majority",
          "min_purity": 0.6}
FRAMES = {"length": 1, "step": 1, "unit": "frames"}


def _split(test: str) -> dict:
    return {"kind": "subject", "test_subjects": [test], "val_fraction": 0.5, "seed": 1}


def _usc_had(root: Path) -> tuple[Path, dict, dict]:
    rng = np.random.default_rng(0)
    for subject in (1, 2, 3):
        for act in (1, 8, 11):
            for trial in (1, 2):
                d = root / f"Subject{subject}"
                d.mkdir(parents=True, exist_ok=True)
                n = 30 + 7 * act + trial
                scipy.io.savemat(d / f"a{act}t{trial}.mat", {
                    "subject": str(subject), "activity_number": str(act), "trial": str(trial),
                    "age": "27", "sensor_readings": rng.normal(size=(n, 6))})
    return root, WINDOW, _split("2")


def _pamap2(root: Path) -> tuple[Path, dict, dict]:
    base = root / "PAMAP2_Dataset"
    for subj in (101, 102, 105):
        labels = [0] * 20 + [1] * 60 + [0] * 10 + [4] * (subj - 50) + [24] * 50
        write_table(base / "Protocol" / f"subject{subj}.dat", pamap2_table(220, labels, subj))
    write_table(base / "Optional" / "subject101.dat", pamap2_table(120, [0] * 20 + [9] * 100))
    return base, WINDOW, _split("102")


def _dsads(root: Path) -> tuple[Path, dict, dict]:
    return write_dsads(root, acts=(1, 4, 19), subjs=(1, 2, 8), n_seg=2), WINDOW, _split("8")


def _opportunity(root: Path) -> tuple[Path, dict, dict]:
    if NAMES is None or not NAMES.is_file():
        pytest.skip("official column_names.txt absent")
    gestures = [0] * 10 + sum(([c] * 9 for c in GESTURE_CODES), [])
    for i, subj in enumerate(("S1", "S2", "S3")):
        for sess in ("ADL1", "ADL4", "Drill"):
            table = opportunity_table(80 + 3 * i, gestures, [1, 2, 0, 4, 5])
            table[5 + i, 7] = np.nan  # a wireless drop, interpolated and counted
            write_table(root / "dataset" / f"{subj}-{sess}.dat", table)
    return root, WINDOW, _split("S2")


def _hapt(root: Path) -> tuple[Path, dict, dict]:
    exps = {(e, u): _signal(60 + e, e) for e, u in [(1, 1), (2, 1), (3, 2), (4, 3), (5, 3)]}
    labels = [(1, 1, 5, 3, 30), (1, 1, 7, 31, 40), (2, 1, 1, 1, 50), (3, 2, 12, 12, 60),
              (4, 3, 5, 1, 40), (5, 3, 4, 20, 64)]
    return _write_raw(root, exps, labels), WINDOW, _split("2")


def _radar_frames(root: Path) -> tuple[Path, dict, dict]:
    rng = np.random.default_rng(1)
    rows = []
    root.mkdir()
    for i, (act, person) in enumerate([("walk", "p1"), ("sit", "p1"), ("walk", "p2"),
                                       ("fall", "p3"), ("sit", "p3"), ("walk", "p2")]):
        np.save(root / f"r{i}.npy", rng.uniform(size=(1 + i % 3, 5, 4)).astype(np.float32))
        rows.append({"file": f"r{i}.npy", "activity": act, "person": person,
                     "repetition": str(i % 2)})
    (root / "labels.csv").write_text("file,activity,person,repetition\n" + "".join(
        f"{r['file']},{r['activity']},{r['person']},{r['repetition']}\n" for r in rows))
    (root / "dataset.json").write_text('{"frame_s": 2.0, "row0": "-v_max"}')
    return root, FRAMES, _split("p2")


FIXTURES: dict[str, Callable[[Path], tuple[Path, dict, dict]]] = {
    "usc_had": _usc_had, "pamap2": _pamap2, "dsads": _dsads, "opportunity": _opportunity,
    "hapt": _hapt, "radar_frames": _radar_frames,
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_stream_gives_the_in_memory_windows(name, tmp_path, monkeypatch):
    path, window, split = FIXTURES[name](tmp_path / name)
    assert get_source(name).streams
    cfg = _cfg(name, path, window, split)
    memory, streamed, again = _both(cfg, tmp_path, monkeypatch)
    assert len(memory.recordings) >= 3 and memory.windows.y.size > 0
    _assert_same(memory, streamed, cfg)
    _assert_same(memory, again, cfg)
    assert memory.official_split == streamed.official_split
    assert [r.meta for r in memory.recordings] == [r.meta for r in streamed.recordings]


def test_stream_counts_and_classes_match_load(tmp_path):
    """What a stream knows only once exhausted (PAMAP2's classes seen, counts of filled
    values, HAPT's official split) is what ``load`` gives."""
    path, *_ = _pamap2(tmp_path / "p")
    options = {"sessions": "both", "drop_transient": False, "heart_rate": True}
    rs = pamap2.load(path, **options)
    s = pamap2.stream(path, **options)
    assert not s.classes  # known once every file is read
    recs = list(s.recordings)
    assert s.classes == rs.classes
    official = {*pamap2.PROTOCOL_ACTIVITIES, *pamap2.OPTIONAL_ACTIVITIES}
    assert sorted(s.classes) == sorted({0} | official)
    assert s.dropped == rs.dropped and s.dropped["interpolated_values"] > 0
    assert len(recs) == 4 and s.info == rs.info
    path, *_ = _hapt(tmp_path / "h")
    assert hapt.stream(path).official_split == {"1": "train", "2": "test", "3": "train"}


def test_collect_maps_provisional_label_codes(tmp_path):
    """A stream whose recordings carry per-file label codes (``custom``'s string labels)
    collects into the set ``load`` reads with the dataset's ids."""
    root = _write_folder(tmp_path / "csv")
    whole, collected = custom.load(root), custom.stream(root).collect()
    assert collected.classes == whole.classes == {0: "run", 1: "sit", 2: "walk"}
    assert collected.dropped == whole.dropped and len(collected.recordings) == 6
    for a, b in zip(whole.recordings, collected.recordings, strict=True):
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.data, b.data)


READERS = {  # the function each source reads one recording's file(s) with, and its module
    "usc_had": (usc_had, "read_mat", 1),
    "pamap2": (pamap2, "read_table", 1),
    "dsads": (dsads, "_read_group", 1),
    "opportunity": (opportunity, "read_table", 1),
    "hapt": (hapt, "read_numeric_rows", 2),  # acc and gyro (labels.txt is read up front)
    "radar_frames": (frames_mod, "read_npy", 1),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_stream_reads_one_recording_at_a_time(name, tmp_path, monkeypatch):
    path, *_ = FIXTURES[name](tmp_path / name)
    module, reader, per_recording = READERS[name]
    calls: list[object] = []
    real = getattr(module, reader)
    monkeypatch.setattr(module, reader, lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    s = get_source(name).stream(path)
    before = len(calls)
    assert before == (1 if name == "hapt" else 0)
    first = next(s.recordings)
    assert len(calls) - before == per_recording and first.n_samples > 0
    rest = list(s.recordings)
    assert len(calls) - before > 2 * per_recording and rest


def test_stream_errors_surface_while_windowing_and_leave_no_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    path, window, split = _usc_had(tmp_path / "u")
    (path / "Subject3" / "a8t2.mat").write_bytes(b"not a MATLAB file")
    with pytest.raises(DataError, match=r"Subject3/a8t2\.mat"):
        load_windowed(_cfg("usc_had", path, window, split).data)
    assert not list((tmp_path / "cache" / "windows").iterdir())
