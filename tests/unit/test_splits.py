"""Split protocols: no subject overlap, determinism, leakage warning, session split."""

from __future__ import annotations

import numpy as np
import pytest

from harlab.config import SplitConfig, WindowConfig
from harlab.data.recording import Recording
from harlab.data.splits import make_split
from harlab.data.windows import make_windows
from harlab.errors import ConfigError


def dataset(n_subjects: int = 10, sessions: int = 2, n: int = 200):
    recs = []
    for s in range(1, n_subjects + 1):
        for k in range(1, sessions + 1):
            data = np.random.default_rng(s * 10 + k).normal(size=(n, 3)).astype(np.float32)
            recs.append(
                Recording(
                    data, np.full(n, 1 + s % 3), 50.0, ["x", "y", "z"], ["g"] * 3, str(s), str(k)
                )
            )
    return recs, make_windows(recs, WindowConfig(length=20, step=10))


def subjects_of(w, recs, idx) -> set[str]:
    return {recs[i].subject for i in w.recording[idx]}


def test_subject_split_disjoint_and_complete() -> None:
    recs, w = dataset()
    seen_test: set[str] = set()
    for fold in range(5):
        sp = make_split(w, recs, SplitConfig(kind="subject", folds=5, fold=fold, seed=1))
        tr, va, te = (subjects_of(w, recs, i) for i in (sp.train, sp.val, sp.test))
        assert not (tr & va) and not (tr & te) and not (va & te)
        assert len(te) == 2 and len(va) >= 1
        assert len(sp.train) + len(sp.val) + len(sp.test) == len(w)
        seen_test |= te
    assert seen_test == {str(s) for s in range(1, 11)}


def test_same_seed_same_split_other_seed_differs() -> None:
    recs, w = dataset()
    a = make_split(w, recs, SplitConfig(kind="subject", seed=3))
    b = make_split(w, recs, SplitConfig(kind="subject", seed=3))
    c = make_split(w, recs, SplitConfig(kind="subject", seed=4))
    np.testing.assert_array_equal(a.test, b.test)
    np.testing.assert_array_equal(a.val, b.val)
    assert not (np.array_equal(a.test, c.test) and np.array_equal(a.val, c.val))


def test_loso_and_explicit_test_subjects() -> None:
    recs, w = dataset(n_subjects=4)
    sp = make_split(w, recs, SplitConfig(kind="subject", folds="loso", fold=2))
    assert len(subjects_of(w, recs, sp.test)) == 1
    sp = make_split(w, recs, SplitConfig(kind="subject", test_subjects=["1", "3"]))
    assert subjects_of(w, recs, sp.test) == {"1", "3"}
    with pytest.raises(ConfigError, match="not in the dataset"):
        make_split(w, recs, SplitConfig(kind="subject", test_subjects=["99"]))
    with pytest.raises(ConfigError, match="only 4 subjects"):
        make_split(w, recs, SplitConfig(kind="subject", folds=5))


def test_random_split_warns_about_overlap() -> None:
    recs, w = dataset()
    sp = make_split(w, recs, SplitConfig(kind="random", test_fraction=0.3, seed=10))
    assert sp.warnings and "LEAKAGE" in sp.warnings[0]
    assert abs(len(sp.test) - 0.3 * len(w)) <= 1
    assert not set(sp.train) & set(sp.test)
    w2 = make_windows(recs, WindowConfig(length=20, step=20))
    assert not make_split(w2, recs, SplitConfig(kind="random")).warnings


def test_session_split() -> None:
    recs, w = dataset(n_subjects=3, sessions=2)
    sp = make_split(w, recs, SplitConfig(kind="session", val_fraction=0.25))
    sess = np.array([r.session for r in recs])[w.recording]
    assert set(sess[sp.test]) == {"2"} and set(sess[sp.train]) == {"1"}
    # every subject appears in train and test (identification needs it)
    assert subjects_of(w, recs, sp.train) == subjects_of(w, recs, sp.test) == {"1", "2", "3"}
    # validation windows lie after the cut, training windows end before it
    cut = int(200 * 0.75)
    assert (w.start[sp.val] >= cut).all() and (w.start[sp.train] + 20 <= cut).all()
    assert sp.dropped > 0
    recs1, w1 = dataset(n_subjects=3, sessions=1)
    with pytest.raises(ConfigError, match="two sessions"):
        make_split(w1, recs1, SplitConfig(kind="session"))


def test_given_split() -> None:
    recs, w = dataset(n_subjects=6)
    official = {str(s): ("test" if s in (2, 5) else "train") for s in range(1, 7)}
    sp = make_split(w, recs, SplitConfig(kind="given"), official)
    assert subjects_of(w, recs, sp.test) == {"2", "5"}
    with pytest.raises(ConfigError, match="no official split"):
        make_split(w, recs, SplitConfig(kind="given"), None)


def test_bad_split_config() -> None:
    with pytest.raises(ConfigError):
        SplitConfig(kind="stratified")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SplitConfig(folds=1)


def _framed(n_persons: int = 3, n_recordings: int = 4, n_frames: int = 5) -> list[Recording]:
    """Pre-cut frames (one window each) from several source recordings, as radar_frames gives."""
    out = []
    for p in range(n_persons):
        for r in range(n_recordings):
            for f in range(n_frames):
                out.append(
                    Recording(
                        data=np.zeros((10, 2), np.float32),
                        labels=np.full(10, r % 2),
                        rate=10.0,
                        channels=("a", "b"),
                        units=("", ""),
                        subject=f"p{p}",
                        session=f"rec{r}",
                        meta={"frame": f},
                    )
                )
    return out


def test_recording_split_keeps_source_recordings_whole() -> None:
    recs = _framed()
    w = make_windows(recs, WindowConfig(length=10, step=10))
    sp = make_split(w, recs, SplitConfig(kind="recording", test_fraction=0.25, val_fraction=0.2))
    key = np.array([f"{r.subject}/{r.session}" for r in recs])[w.recording]
    parts = [set(key[sp.train]), set(key[sp.val]), set(key[sp.test])]
    assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(sp.train) + len(sp.val) + len(sp.test) == len(w)
    assert len(parts[2]) == 3  # 25 % of 12 source recordings
    assert not sp.warnings
    again = make_split(w, recs, SplitConfig(kind="recording", test_fraction=0.25))
    assert np.array_equal(again.test, sp.test)


def test_random_split_of_frames_warns_and_recording_split_needs_groups() -> None:
    recs = _framed()
    w = make_windows(recs, WindowConfig(length=10, step=10))
    sp = make_split(w, recs, SplitConfig(kind="random"))
    assert any("split.kind=recording" in m for m in sp.warnings)
    few = _framed(n_persons=1, n_recordings=2)
    wf = make_windows(few, WindowConfig(length=10, step=10))
    with pytest.raises(ConfigError, match="at least 3 source recordings"):
        make_split(wf, few, SplitConfig(kind="recording"))


def _parts(sp) -> list[np.ndarray]:
    return [sp.train, sp.val, sp.test]


def test_stratified_recording_folds_keep_groups_whole_and_cover_every_window_once() -> None:
    recs = _framed(n_persons=3, n_recordings=8, n_frames=3)
    w = make_windows(recs, WindowConfig(length=10, step=10))
    key = np.array([f"{r.subject}/{r.session}" for r in recs])[w.recording]
    tests = []
    for fold in range(4):
        cfg = SplitConfig(kind="recording", stratify=True, folds=4, fold=fold, seed=3,
                          val_fraction=0.25)
        sp = make_split(w, recs, cfg)
        owner = {}
        for i, part in enumerate(_parts(sp)):
            for k in np.unique(key[part]):
                assert owner.setdefault(k, i) == i  # a recording lies in one part only
        assert len(sp.val) and "stratified 4-fold" in sp.description
        assert "inner fold (1/4)" in sp.description
        # stratified by activity x person: every person's both activities are tested
        cells = {(recs[j].subject, int(w.y[i])) for i, j in zip(sp.test, w.recording[sp.test],
                                                                 strict=True)}
        assert len(cells) == 6
        assert sp.subjects["test"] == ["p0", "p1", "p2"]
        tests.append(sp.test)
    every = np.sort(np.concatenate(tests))
    assert np.array_equal(every, np.arange(len(w)))  # the folds partition the windows
    again = make_split(w, recs, SplitConfig(kind="recording", stratify=True, folds=4, fold=2,
                                            seed=3, val_fraction=0.25))
    assert np.array_equal(again.test, tests[2])  # the same seed gives the same folds


def test_recording_split_groups_by_a_meta_field_or_by_window() -> None:
    recs = _framed(n_persons=2, n_recordings=3, n_frames=6)
    w = make_windows(recs, WindowConfig(length=10, step=10))
    frame = np.array([r.meta["frame"] for r in recs])[w.recording]
    sp = make_split(w, recs, SplitConfig(kind="recording", group_by="frame",
                                         test_fraction=0.34, val_fraction=0.25))
    seen = [set(frame[p].tolist()) for p in _parts(sp)]
    assert not (seen[0] & seen[2]) and not (seen[1] & seen[2]) and not (seen[0] & seen[1])
    assert "test frame" in sp.description
    paper = make_split(w, recs, SplitConfig(kind="recording", group_by="window", stratify=True,
                                            folds=3, val_fraction=0.25))
    assert any(m.startswith("LEAKAGE") for m in paper.warnings)
    assert "single windows" in paper.description
    with pytest.raises(ConfigError, match="group_by='repetition': 36 of 36 recordings have no "
                       "such field .their fields: frame."):
        make_split(w, recs, SplitConfig(kind="recording", group_by="repetition"))
    with pytest.raises(ConfigError, match="too few for 5 folds with an inner validation"):
        make_split(w, recs, SplitConfig(kind="recording", stratify=True, folds=5))
    # one frame per recording, 5 recordings per activity x person cell: the groups suffice,
    # but no cell has 5 training windows for the inner 1/5 validation fold
    one = _framed(n_persons=2, n_recordings=10, n_frames=1)
    w1 = make_windows(one, WindowConfig(length=10, step=10))
    with pytest.raises(ConfigError, match="every activity x person cell has too few windows "
                       ".*for 3 folds and an inner validation split of 1/5"):
        make_split(w1, one, SplitConfig(kind="recording", stratify=True, folds=3,
                                        val_fraction=0.2))
    with pytest.raises(ConfigError, match="split.fold must be in 0..2"):
        make_split(w, recs, SplitConfig(kind="recording", group_by="window", stratify=True,
                                        folds=3, fold=3))


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "subject", "stratify": True}, "only apply to split.kind=recording"),
    ({"kind": "random", "group_by": "frame"}, "only apply to split.kind=recording"),
    ({"kind": "recording", "group_by": ""}, "must be a meta field name"),
    ({"kind": "recording", "stratify": "yes"}, "must be true or false"),
    ({"kind": "recording", "stratify": True, "folds": "loso"}, "needs an integer split.folds"),
])
def test_recording_split_options_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SplitConfig(**kwargs)


def one_window_recordings(repetitions: int = 3):
    """Pre-cut data: 3 subjects x 2 activities x ``repetitions`` sessions, one frame each."""
    recs = []
    for s in range(3):
        for act in (0, 1):
            for rep in range(1, repetitions + 1):
                data = np.random.default_rng(100 * s + 10 * act + rep).normal(size=(8, 2))
                recs.append(Recording(data.astype(np.float32), np.full(8, act), 8.0,
                                      ["a", "b"], ["u"] * 2, f"p{s}", str(rep),
                                      {"frame": 0, "recording": f"p{s}-{act}-{rep}"}))
    return recs, make_windows(recs, WindowConfig(length=1, step=1, unit="frames"))


def test_session_split_of_one_window_recordings_validates_on_whole_recordings() -> None:
    recs, w = one_window_recordings()
    assert len(w) == len(recs) == 18
    sp = make_split(w, recs, SplitConfig(kind="session", test_sessions=["3"], val_fraction=0.2))
    sess = np.array([r.session for r in recs])[w.recording]
    assert set(sess[sp.test]) == {"3"}
    assert len(sp.train) == 6 and len(sp.val) == 6  # one of the two per subject x activity
    assert not set(sp.train) & set(sp.val) and not set(sp.val) & set(sp.test)
    cells = {(recs[i].subject, int(w.y[i])) for i in sp.val}
    assert len(cells) == 6  # every subject x activity is validated and still trained on
    assert {(recs[i].subject, int(w.y[i])) for i in sp.train} == cells
    assert "whole training recordings" in sp.description and sp.dropped == 0
    again = make_split(w, recs, SplitConfig(kind="session", test_sessions=["3"],
                                            val_fraction=0.2))
    assert np.array_equal(again.val, sp.val)
    none = make_split(w, recs, SplitConfig(kind="session", test_sessions=["3"],
                                           val_fraction=0.0))
    assert len(none.val) == 0 and len(none.train) == 12


def test_session_split_names_why_validation_is_impossible() -> None:
    recs, w = one_window_recordings(repetitions=2)  # one training recording per cell
    with pytest.raises(ConfigError, match="no activity x subject has two training"):
        make_split(w, recs, SplitConfig(kind="session", val_fraction=0.2))


def test_session_split_of_long_recordings_keeps_the_validation_tail() -> None:
    recs, w = dataset(n_subjects=3, sessions=3)
    sp = make_split(w, recs, SplitConfig(kind="session", val_fraction=0.25))
    assert "last 25% of each training recording" in sp.description


def test_no_windows_names_the_window_length() -> None:
    recs, _ = dataset(n_subjects=2, sessions=1, n=50)
    w = make_windows(recs, WindowConfig(length=60, step=60))
    with pytest.raises(ConfigError, match="window.length is 60 samples but the longest "
                                          "recording has 50"):
        make_split(w, recs, SplitConfig(kind="subject", folds=2))


def test_window_unit_frames() -> None:
    recs, w = one_window_recordings()
    assert w.length == 8 and w.step == 8 and np.array_equal(w.recording, np.arange(18))
    with pytest.raises(ConfigError, match="frames are 8 columns wide"):
        make_windows(recs, WindowConfig(length=6, step=6))
    with pytest.raises(ConfigError, match="set window.length=1"):
        WindowConfig(length=2, step=1, unit="frames")
    longer = recs[:2] + [Recording(np.zeros((9, 2), np.float32), np.zeros(9), 8.0, ["a", "b"],
                                   ["u"] * 2, "p9", "1")]
    with pytest.raises(ConfigError, match="one length"):
        make_windows(longer, WindowConfig(length=1, step=1, unit="frames"))
