"""The weak source: target bouts spliced into a background activity, positions recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harlab.data.sources import get_source
from harlab.errors import ConfigError, DataError

RATE = 10.0
CODES = {"walk": 0.0, "up": 100.0, "jump": 200.0}


def write_base(path: Path, subjects: tuple[str, ...] = ("a", "b", "c")) -> Path:
    """custom-format CSV: per subject walk 600, up 300, walk 500, jump 200 (c: no jump).

    acc_x encodes the activity, acc_y the sample's index within the subject and acc_z
    the subject, so every spliced sample can be traced back to its source.
    """
    frames = []
    for si, s in enumerate(subjects):
        plan = [("walk", 600), ("up", 300), ("walk", 500), ("jump", 200)]
        if s == "c":
            plan = plan[:3]
        labels = np.concatenate([[name] * n for name, n in plan])
        n = labels.size
        frames.append(pd.DataFrame({
            "subject": s, "session": "1", "timestamp": np.arange(n) / RATE,
            "acc_x": [CODES[v] for v in labels], "acc_y": np.arange(n, dtype=float),
            "acc_z": float(si), "label": labels,
        }))
    pd.concat(frames).to_csv(path, index=False)
    return path


def opts(csv: Path, **kw: object) -> dict:
    base = {
        "base": "custom", "base_path": str(csv), "base_options": {"rate": RATE},
        "background": "walk", "targets": ["jump", "up"], "length": 400, "segments": [1, 3],
        "segment_seconds": [2, 8], "n_per_class": 5, "crossfade_seconds": 0, "seed": 3,
    }
    base.update(kw)
    return base


@pytest.fixture()
def csv(tmp_path: Path) -> Path:
    return write_base(tmp_path / "base.csv")


def test_segments_labels_counts_subjects_exact(csv: Path) -> None:
    rs = get_source("weak").load(None, **opts(csv))
    names = {v: k for k, v in rs.classes.items()}
    assert set(names) == {"jump", "up"}
    # a and b: 2 classes x 5, c: only up (no jump bout: 5 windows skipped and counted)
    assert len(rs.recordings) == 25
    assert rs.dropped["weak_windows_without_target_bout"] == 5
    assert sorted({r.subject for r in rs.recordings}) == ["a", "b", "c"]
    per_class = pd.Series([(r.subject, r.meta["weak_target"]) for r in rs.recordings])
    assert per_class.value_counts().eq(5).all()
    subj_code = {"a": 0.0, "b": 1.0, "c": 2.0}
    for r in rs.recordings:
        target = r.meta["weak_target"]
        name = rs.classes[target]
        assert r.data.shape == (400, 3) and r.n_samples == 400
        assert np.all(r.labels == target)
        segs = r.meta["weak_segments"]
        assert 1 <= len(segs) <= 3
        mask = np.zeros(400, bool)
        for s, e in segs:
            assert 20 <= e - s <= 80 and not mask[s:e].any()  # lengths, no overlap
            mask[s:e] = True
            idx = r.data[s:e, 1]
            assert np.all(np.diff(idx) == 1)  # one contiguous bout of the source
        # exactly the target's samples inside, background outside
        np.testing.assert_array_equal(r.data[:, 0] == CODES[name], mask)
        assert np.all(r.data[~mask, 0] == CODES["walk"])
        assert np.all(r.data[:, 2] == subj_code[r.subject])  # same subject throughout
        assert sorted(s for s, _ in segs) == [s for s, _ in segs]


def test_deterministic_by_seed(csv: Path) -> None:
    a = get_source("weak").load(None, **opts(csv))
    b = get_source("weak").load(None, **opts(csv))
    c = get_source("weak").load(None, **opts(csv, seed=4))
    assert [r.meta for r in a.recordings] == [r.meta for r in b.recordings]
    assert all(np.array_equal(x.data, y.data) for x, y in zip(a.recordings, b.recordings,
                                                              strict=True))
    assert [r.meta["weak_segments"] for r in a.recordings] != [
        r.meta["weak_segments"] for r in c.recordings]


def test_crossfade_blends_edges_only(csv: Path) -> None:
    rs = get_source("weak").load(None, **opts(csv, crossfade_seconds=0.5, segments=1,
                                              segment_seconds=[4, 6]))
    r = rs.recordings[0]
    (s, e), code = r.meta["weak_segments"][0], CODES[rs.classes[r.meta["weak_target"]]]
    x = r.data[:, 0]
    assert 0 < x[s] < code and 0 < x[e - 1] < code  # blended with the background
    assert np.all(x[s + 5 : e - 5] == code)
    assert np.all(x[:s] == 0) and np.all(x[e:] == 0)


def test_channel_subset_and_resampling(csv: Path) -> None:
    rs = get_source("weak").load(None, **opts(csv, channels=["acc_x"], rate=5.0, length=200,
                                              segment_seconds=[4, 8]))
    assert rs.channels == ("acc_x",) and rs.rates == {5.0}
    assert all(20 <= e - s <= 40 for r in rs.recordings for s, e in r.meta["weak_segments"])


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"segment_seconds": [2, 50]}, "longer than the window"),
        ({"segments": [4, 6], "segment_seconds": [2, 8]}, "do not fit"),
        ({"background": "swim"}, "unknown background class 'swim'"),
        ({"targets": ["up", "fly"]}, "unknown target class 'fly'"),
        ({"targets": ["walk", "up"]}, "also a target"),
        ({"base": None}, "'base'"),
        ({"base": "weak"}, "itself"),
        ({"n_per_class": 0}, "n_per_class"),
        ({"segments": [3, 1]}, "segments"),
        ({"colour": 1}, "colour"),
        ({"channels": ["acc_q"]}, "acc_q"),
    ],
)
def test_impossible_requests_are_config_errors(csv: Path, kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        get_source("weak").load(None, **opts(csv, **kw))


def test_no_background_anywhere_is_a_data_error(csv: Path) -> None:
    with pytest.raises(DataError, match="no window could be built"):
        get_source("weak").load(None, **opts(csv, length=1200, segment_seconds=[2, 8]))


def test_meta_survives_windowing_cache_and_subject_split(
    csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harlab.config import from_dict
    from harlab.data.prepare import prepare

    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    cfg = from_dict({"data": {
        "dataset": "weak", "options": opts(csv),
        "window": {"length": 400, "step": 400},
        "split": {"kind": "subject", "test_subjects": ["c"], "val_fraction": 0.3},
    }})
    fresh = prepare(cfg.data)
    cached = prepare(cfg.data)
    assert cached.windowed.from_cache and not fresh.windowed.from_cache
    for d in (fresh, cached):
        assert set(d.subjects("test")) == {"c"}
        assert "c" not in set(d.subjects("train")) | set(d.subjects("val"))
        assert sum(v.size for v in d.y.values()) == 25
        metas = [r.meta["weak_segments"] for r in d.windowed.recordings]
        assert metas == [r.meta["weak_segments"] for r in fresh.windowed.recordings]
