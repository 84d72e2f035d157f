"""Streaming prediction: ring buffer windows, gaps/NaN/bad lines, both backends, CLI."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harlab.deploy.predictor import OnnxPredictor
from harlab.deploy.streaming import StreamProcessor, follow_lines, load_window_model, run_stream
from harlab.errors import ConfigError, DataError
from tests.deploy.conftest import CHANNELS, RATE, synthetic_recording


class _Echo:
    """A stand-in model whose 'probability' encodes the window, to check windowing exactly."""

    channels = CHANNELS
    rate = RATE
    window_length = 8
    window_step = 4
    heads = ["activity", "identity"]
    classes = {"activity": ["a", "b"], "identity": ["p0", "p1", "p2"]}

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def normalize(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float32)  # the identity: seen windows are the raw samples

    def predict_windows(self, x: np.ndarray, normalized: bool = False) -> dict[str, np.ndarray]:
        self.seen += list(x)
        n = len(x)
        return {"activity": np.tile([0.25, 0.75], (n, 1)),
                "identity": np.tile([0.1, 0.2, 0.7], (n, 1))}


def _lines(values: np.ndarray, t0: float = 0.0, header: bool = True) -> list[str]:
    t = t0 + np.arange(len(values)) / RATE
    out = ["timestamp," + ",".join(CHANNELS)] if header else []
    rows = [",".join(f"{v:.5f}" for v in row) for row in values]
    return out + [f"{ti:.4f},{r}" for ti, r in zip(t, rows, strict=True)]


def _run(model: object, lines: list[str], hop: int | None = None) -> tuple[list[dict], dict]:
    recs: list[dict] = []
    msgs: list[str] = []
    proc = StreamProcessor(model, hop=hop, emit=recs.append, warn=msgs.append)
    proc.feed(lines)
    summary = proc.finish()
    summary["messages"] = msgs
    return recs, summary


def test_windows_match_offline_windowing_exactly() -> None:
    model = _Echo()
    x = np.arange(30 * 3, dtype=np.float32).reshape(30, 3)
    recs, summary = _run(model, _lines(x), hop=3)
    starts = range(0, 30 - 8 + 1, 3)
    assert len(recs) == len(starts) == summary["windows"]
    for w, s in zip(model.seen, starts, strict=True):
        assert np.array_equal(w, x[s : s + 8])
    assert recs[0] == {"time": round(7 / RATE, 4), "start": 0.0, "label": "b",
                       "probability": 0.75, "identity": "p2", "identity_probability": 0.7}
    assert summary["counts"] == {} and len(summary["latency_ms"]) == 3


class _Ramp(_Echo):
    """P(b) grows with the window's mean of the first channel, so windows differ."""

    def predict_windows(self, x: np.ndarray, normalized: bool = False) -> dict[str, np.ndarray]:
        q = 1 / (1 + np.exp(-(x[:, :, 0].mean(1) - 15) / 5))
        return {"activity": np.stack([1 - q, q], 1),
                "identity": np.tile([0.1, 0.2, 0.7], (len(x), 1))}


@pytest.mark.parametrize("chunk", [7, 1000])
def test_smoothed_decision_over_the_last_k_windows_restarts_after_a_gap(chunk: int) -> None:
    model = _Ramp()
    x = np.repeat(np.arange(30, dtype=np.float32)[:, None], 3, axis=1)
    lines = _lines(x) + _lines(x, t0=10.0, header=False)  # a gap: buffer reset
    recs: list[dict] = []
    proc = StreamProcessor(model, hop=2, emit=recs.append, smooth=3)
    for i in range(0, len(lines), chunk):  # fed in pieces: the history spans the batches
        proc.feed(lines[i:i + chunk])
    proc.finish()
    q = np.array([r["probability"] if r["label"] == "b" else 1 - r["probability"]
                  for r in recs])
    half = len(recs) // 2
    want = np.concatenate([[q[max(0, i - 2):i + 1].mean() for i in range(half)]] * 2)
    got = np.array([r["probability_smoothed"] if r["label_smoothed"] == "b"
                    else 1 - r["probability_smoothed"] for r in recs])
    assert np.allclose(got, want, atol=1e-4)
    assert [r["smoothed_windows"] for r in recs][half - 1:half + 3] == [3, 1, 2, 3]
    assert {r["identity_smoothed"] for r in recs} == {"p2"}
    assert recs[0]["label_smoothed"] == recs[0]["label"]  # one window: its own decision
    with pytest.raises(ConfigError, match="--smooth must be a number of windows >= 1"):
        StreamProcessor(model, smooth=0)


def test_gaps_nans_and_bad_lines_are_counted_without_stopping() -> None:
    model = _Echo()
    x = np.ones((20, 3), np.float32)
    lines = _lines(x)
    lines[5] = lines[5].rsplit(",", 1)[0]  # wrong column count
    lines[6] = "0.1,abc,1,1"  # not numbers
    lines[9] = lines[9].rsplit(",", 1)[0] + ",nan"  # NaN
    lines += _lines(x, t0=10.0, header=False)  # 10 s later: a gap -> reset
    recs, summary = _run(model, lines, hop=4)
    assert summary["counts"] == {"gaps": 1, "nan_rows": 1, "unparseable": 1,
                                 "wrong_columns": 1}
    assert summary["buffer_resets"] == 1
    # before the gap: 17 good samples -> windows ending at 8, 12, 16; after: 20 samples -> 4
    assert len(recs) == 3 + 4
    assert recs[3]["start"] == 10.0  # no window straddles the gap
    assert any("window buffer reset" in m for m in summary["messages"])
    assert any("NaN" in m for m in summary["messages"])


def test_no_timestamp_column_uses_the_sample_clock() -> None:
    model = _Echo()
    lines = [",".join("1" for _ in CHANNELS)] * 12
    recs, summary = _run(model, lines, hop=4)
    assert [r["time"] for r in recs] == [round(7 / RATE, 4), round(11 / RATE, 4)]


def test_header_without_the_model_channels_is_an_error() -> None:
    with pytest.raises(DataError, match="lacks channel"):
        _run(_Echo(), ["timestamp,acc_x,acc_y,gyro_z", "0,1,2,3"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.,-naNe \t", max_size=30), max_size=40))
def test_arbitrary_lines_never_stop_the_stream(garbage: list[str]) -> None:
    recs, summary = _run(_Echo(), ["timestamp," + ",".join(CHANNELS), *garbage])
    assert summary["lines"] == len(garbage) + 1
    assert summary["windows"] == len(recs)


@pytest.mark.slow
def test_onnx_and_torch_backends_agree_with_offline(
    tiny_run: Path, exported: tuple[Path, Path]
) -> None:
    df = synthetic_recording(8, seed=5)
    x = df[CHANNELS].to_numpy(np.float32)
    onnx_model = load_window_model(exported[0])
    assert isinstance(onnx_model, OnnxPredictor)
    torch_model = load_window_model(tiny_run)
    offline = onnx_model.predict_recording(x, RATE, CHANNELS, hop=16).rows()
    a, _ = _run(onnx_model, _lines(x), hop=16)
    b, _ = _run(torch_model, _lines(x), hop=16)
    assert [r["label"] for r in a] == [r["label"] for r in b] == [r["label"] for r in offline]
    assert np.allclose([r["probability"] for r in a], [r["probability"] for r in b], atol=2e-4)
    assert [r["start"] for r in a] == pytest.approx([r["start_s"] for r in offline])


def test_follow_a_growing_file(tmp_path: Path) -> None:
    path = tmp_path / "live.csv"
    x = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    lines = _lines(x)
    path.write_text("\n".join(lines[:10]) + "\n" + lines[10][:5])  # a partial last line

    def writer() -> None:
        time.sleep(0.2)
        with path.open("a") as fh:
            fh.write(lines[10][5:] + "\n")
            for line in lines[11:]:
                fh.write(line + "\n")
                fh.flush()

    th = threading.Thread(target=writer)
    th.start()
    model = _Echo()
    out: list[str] = []
    summary = run_stream(model, follow_lines(path, poll=0.02, max_idle=0.6), hop=4,
                         out=out.append)
    th.join()
    assert summary["counts"] == {}
    assert len(out) == (40 - 8) // 4 + 1
    assert np.array_equal(model.seen[-1], x[32:40])


@pytest.mark.slow
def test_cli_stream_from_stdin_with_an_onnx_model(exported: tuple[Path, Path]) -> None:
    from typer.testing import CliRunner

    from harlab.cli.main import app

    x = synthetic_recording(4, seed=2)[CHANNELS].to_numpy(np.float32)
    text = "\n".join(_lines(x) + ["1,2", "99.0,1,1,1"]) + "\n"
    res = CliRunner().invoke(app, ["predict", str(exported[0]), "--stream", "--hop", "16"],
                             input=text)
    assert res.exit_code == 0, res.output
    records = [json.loads(line) for line in res.stdout.strip().splitlines()]
    windows = [r for r in records if "label" in r]
    assert len(windows) == (len(x) - 32) // 16 + 1
    summary = json.loads(res.stderr.strip().splitlines()[-1])
    assert summary["counts"] == {"gaps": 1, "wrong_columns": 1}
    assert summary["windows"] == len(windows) and "p95" in summary["latency_ms"]
    res = CliRunner().invoke(app, ["predict", str(exported[0]), "--stream", "--hop", "16",
                                   "--smooth", "2"], input=text)
    assert res.exit_code == 0, res.output
    smoothed = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert [r["label"] for r in smoothed] == [r["label"] for r in windows]
    assert [r["smoothed_windows"] for r in smoothed][:3] == [1, 2, 2]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40), st.integers(1, 6),
       st.lists(st.integers(0, 39), max_size=4))
def test_moving_mean_matches_a_plain_loop(vals: list[float], k: int, cuts: list[int]) -> None:
    from harlab.deploy.predictor import smooth_probabilities

    p = np.stack([np.asarray(vals), 1 - np.asarray(vals)], 1)
    groups = np.zeros(len(p), int)
    for c in cuts:
        groups[c:] += 1  # contiguous groups
    got, count = smooth_probabilities(p, k, groups)
    for i in range(len(p)):
        lo = max(i - k + 1, int(np.flatnonzero(groups == groups[i])[0]))
        assert count[i] == i + 1 - lo
        assert np.allclose(got[i], p[lo:i + 1].mean(0))
