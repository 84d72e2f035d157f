"""Multi-frame decisions: pools of consecutive frames of one recording."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from harlab.errors import DataError
from harlab.evaluation.decisions import decision_curve, pool_frames


def _naive_pools(probs, truth, rec, pos, k):
    """Reference: a loop over every frame (test only), for the vectorised version."""
    out, lab = [], []
    for r in sorted(set(rec)):
        m = np.flatnonzero(rec == r)
        m = m[np.argsort(pos[m], kind="stable")]
        for i in range(len(m) - k + 1):
            run = m[i:i + k]
            if pos[run[-1]] - pos[run[0]] == k - 1:
                out.append(probs[run].mean(0))
                lab.append(truth[run[0]])
    return np.array(out).reshape(-1, probs.shape[1]), np.array(lab, int)


def test_pools_slide_within_each_recording_and_never_across() -> None:
    # recording "a": 4 frames, "b": 2 frames; rows arrive shuffled
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.4, 0.6],  # a, positions 0-3
                      [0.1, 0.9], [0.3, 0.7]])  # b, positions 0-1
    truth = np.array([0, 0, 0, 0, 1, 1])
    rec = np.array(["a"] * 4 + ["b"] * 2)
    pos = np.array([0, 1, 2, 3, 0, 1])
    perm = np.array([5, 2, 0, 4, 3, 1])
    p3 = pool_frames(probs[perm], truth[perm], rec[perm], pos[perm], 3)
    assert np.allclose(p3["scores"], [[(0.9 + 0.8 + 0.2) / 3, (0.1 + 0.2 + 0.8) / 3],
                                      [(0.8 + 0.2 + 0.4) / 3, (0.2 + 0.8 + 0.6) / 3]])
    assert p3["truth"].tolist() == [0, 0]
    assert p3["recordings"] == 1 and p3["too_short"] == 1  # "b" has only 2 frames
    whole = pool_frames(probs[perm], truth[perm], rec[perm], pos[perm], "recording")
    assert np.allclose(whole["scores"], [[0.575, 0.425], [0.2, 0.8]])
    assert whole["truth"].tolist() == [0, 1] and whole["recordings"] == 2
    one = pool_frames(probs, truth, rec, pos, 1)
    assert len(one["truth"]) == 6 and np.allclose(np.sort(one["scores"][:, 0]),
                                                  np.sort(probs[:, 0]))


def test_a_gap_in_positions_breaks_a_pool() -> None:
    probs = np.full((4, 2), 0.5)
    pos = np.array([0, 1, 3, 4])  # frame 2 is missing (e.g. in another split)
    p = pool_frames(probs, np.zeros(4, int), np.array(["r"] * 4), pos, 2)
    assert len(p["truth"]) == 2  # (0,1) and (3,4), not (1,3)
    p = pool_frames(probs, np.zeros(4, int), np.array(["r"] * 4), pos, 3)
    assert len(p["truth"]) == 0 and p["too_short"] == 1


def test_mixed_label_recordings_are_left_out_and_counted() -> None:
    probs = np.full((5, 3), 1 / 3)
    truth = np.array([0, 1, 2, 2, 2])
    rec = np.array(["x", "x", "y", "y", "y"])
    p = pool_frames(probs, truth, rec, np.array([0, 1, 0, 1, 2]), "recording")
    assert p["mixed_labels"] == 1 and p["truth"].tolist() == [2]


def test_log_rule_lets_one_confident_wrong_frame_decide() -> None:
    probs = np.array([[0.7, 0.3], [0.7, 0.3], [0.7, 0.3], [0.001, 0.999]])
    args = (np.zeros(4, int), np.array(["r"] * 4), np.arange(4), "recording")
    assert pool_frames(probs, *args)["scores"].argmax(1).tolist() == [0]
    assert pool_frames(probs, *args, rule="log")["scores"].argmax(1).tolist() == [1]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 6))
def test_vectorised_pools_match_a_plain_loop(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n_rec = int(rng.integers(1, 6))
    lens = rng.integers(1, 9, n_rec)
    rec = np.repeat(np.array([f"r{i}" for i in range(n_rec)]), lens)
    pos = np.concatenate([np.sort(rng.choice(12, n, replace=False)) for n in lens])
    truth = np.repeat(rng.integers(0, 3, n_rec), lens)
    probs = rng.dirichlet(np.ones(3), len(rec))
    perm = rng.permutation(len(rec))
    got = pool_frames(probs[perm], truth[perm], rec[perm], pos[perm], k)
    want, lab = _naive_pools(probs, truth, rec, pos, k)
    assert np.allclose(got["scores"], want) and got["truth"].tolist() == lab.tolist()


def test_curve_at_one_frame_is_the_per_frame_score_and_longer_spans_are_timed() -> None:
    rng = np.random.default_rng(0)
    rec = np.repeat([f"r{i}" for i in range(12)], 10)
    truth = np.repeat(np.arange(12) % 3, 10)
    pos = np.tile(np.arange(10), 12)
    # noisy frames, right on average: pooling must help
    probs = rng.dirichlet(np.ones(3), len(rec)) + 0.5 * np.eye(3)[truth]
    probs /= probs.sum(1, keepdims=True)
    curve = decision_curve(probs, truth, rec, pos, (1, 4, "recording"), ["a", "b", "c"],
                           frame_s=1.0, hop_s=0.64)
    assert [e["frames"] for e in curve] == [1, 4, "recording"]
    assert curve[0]["macro_f1"] == pytest.approx(f1_score(truth, probs.argmax(1),
                                                          average="macro"))
    assert [e["decisions"] for e in curve] == [120, 12 * 7, 12]
    assert [e["seconds"] for e in curve] == pytest.approx([1.0, 2.92, 1.0 + 9 * 0.64])
    assert curve[2]["macro_f1"] == 1.0 and curve[0]["macro_f1"] < 1.0
    untimed = decision_curve(probs, truth, rec, pos, (20,), ["a", "b", "c"])
    assert untimed[0]["seconds"] is None and untimed[0]["macro_f1"] is None
    assert untimed[0]["too_short"] == 12 and untimed[0]["decisions"] == 0


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"probs": np.ones(4)}, "must be (frames, classes >= 2)"),
    ({"truth": np.zeros(3, int)}, "truth has 3 entries for 4 frames"),
    ({"k": 0}, "k must be a positive number"),
    ({"k": "all"}, "k must be a positive number"),
    ({"rule": "max"}, "rule must be one of mean, log"),
])
def test_bad_arguments_are_clear_errors(kwargs: dict, msg: str) -> None:
    args = {"probs": np.full((4, 2), 0.5), "truth": np.zeros(4, int),
            "recording": np.array(["r"] * 4), "position": np.arange(4), "k": 2} | kwargs
    with pytest.raises(DataError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        pool_frames(**args)


def test_segments_split_a_recording_at_label_changes_and_step_marks_neighbours() -> None:
    from harlab.evaluation.decisions import segment_ids

    # one wearable session: windows start every 50 samples; labels a a b b a, rows shuffled
    rec = np.array(["s1"] * 5 + ["s2"] * 2)
    start = np.array([0, 50, 100, 150, 200, 0, 50])
    truth = np.array([0, 0, 1, 1, 0, 2, 2])
    perm = np.array([3, 6, 0, 4, 1, 5, 2])
    seg = segment_ids(rec[perm], truth[perm], start[perm])
    back = dict(zip(perm.tolist(), seg.tolist(), strict=True))
    assert back[0] == back[1] != back[2] == back[3] != back[4] and back[5] == back[6]
    assert len(set(seg)) == 4  # the second "a" stretch is its own segment
    probs = np.eye(3)[truth][perm]
    whole = pool_frames(probs, truth[perm], seg, start[perm], "segment")
    assert sorted(whole["truth"].tolist()) == [0, 0, 1, 2] and whole["mixed_labels"] == 0
    two = pool_frames(probs, truth[perm], seg, start[perm], 2, step=50)
    assert len(two["truth"]) == 3  # (0,50) (100,150) in s1, (0,50) in s2
    assert len(pool_frames(probs, truth[perm], seg, start[perm], 2)["truth"]) == 0  # step 1


def test_single_window_recordings_are_said_not_plotted(tmp_path) -> None:
    """Pre-cut windows (one per recording): the report says why, decisions.png is not made."""
    from harlab.evaluation.decisions import plot_window_decisions, single_window_reason

    reason = single_window_reason(np.array(["r1", "r2", "r3"]), "test")
    assert reason is not None and "3 recordings is a single window" in reason
    assert single_window_reason(np.array(["r1", "r1", "r2"]), "test") is None
    # a curve of one point (every span collapsed onto the window itself) is not drawn
    one = {"activity": [{"frames": 1, "seconds": 3.0, "macro_f1": 0.7},
                        {"frames": 2, "seconds": 3.5, "macro_f1": None},
                        {"frames": "segment", "seconds": 3.0, "macro_f1": 0.7}]}
    assert plot_window_decisions(one, tmp_path / "d.png", "t") is None
    assert not (tmp_path / "d.png").exists()
    two = {"activity": [{"frames": 1, "seconds": 3.0, "macro_f1": 0.7},
                        {"frames": 2, "seconds": 3.5, "macro_f1": 0.75}]}
    assert plot_window_decisions(two, tmp_path / "d.png", "t") == tmp_path / "d.png"
