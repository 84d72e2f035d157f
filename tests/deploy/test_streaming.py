"""Streaming prediction: ring buffer windows, gaps/NaN/bad lines, both backends, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


# --- reliability: bad values, bad bytes, bad layouts, bad options, rotation ----------------


class _Linear(_Echo):
    """A model with a real z-score (tiny std, so 3e38 overflows float32 once normalised) and
    a softmax over +-(sum of the window); huge finite sums give inf logits, hence NaN."""

    mean = np.zeros(3, np.float32)
    std = np.full(3, 1e-3, np.float32)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        from harlab.deploy.predictor import normalize

        return normalize(x, self.mean, self.std)

    def predict_windows(self, x: np.ndarray, normalized: bool = False) -> dict[str, np.ndarray]:
        assert normalized  # the stream normalises once per sample
        self.seen += list(x)
        with np.errstate(over="ignore", invalid="ignore"):
            s = x.sum(axis=(1, 2), dtype=np.float32)
            e = np.exp(np.stack([s, -s], 1) - np.stack([s, -s], 1).max(1, keepdims=True))
            p = e / e.sum(1, keepdims=True)
        return {"activity": p, "identity": np.tile([0.1, 0.2, 0.7], (len(x), 1))}


def _strict_json(line: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the JSON output: {line}")

    return json.loads(line, parse_constant=refuse)


def test_inf_and_overflowing_rows_are_skipped_never_a_nan_probability() -> None:
    x = np.ones((40, 3), np.float32) * 0.001
    lines = _lines(x)
    lines[4] = "0.06,inf,1,1"  # infinite
    lines[6] = "0.1,1,3e38,1"  # finite in float32, overflows once normalised (std 1e-3)
    lines[8] = "0.14,1,1,1e308"  # overflows float32 itself
    lines[10] = "0.18,nan,1,1"
    out: list[str] = []
    msgs: list[str] = []
    summary = run_stream(_Linear(), lines, hop=4, out=out.append, err=msgs.append)
    assert summary["counts"] == {"not_finite_rows": 3, "nan_rows": 1}
    records = [_strict_json(line) for line in out]
    assert len(records) == summary["windows"] == (36 - 8) // 4 + 1
    assert all(0 <= r["probability"] <= 1 for r in records)
    assert any(m.startswith("line 5: row with infinite") and "3 such rows up to line 9" in m
               for m in msgs)
    assert any(m.startswith("line 11: row with NaN") for m in msgs)


def test_a_stream_of_only_bad_rows_gives_counts_and_no_window() -> None:
    lines = ["timestamp," + ",".join(CHANNELS)] + [f"{i / RATE},nan,1,1" for i in range(20)]
    recs, summary = _run(_Echo(), lines + ["0.5,inf,1,1"], hop=4)
    assert recs == [] and summary["counts"] == {"nan_rows": 20, "not_finite_rows": 1}


def test_windows_with_non_finite_model_output_are_dropped_and_counted() -> None:
    x = np.ones((24, 3), np.float32) * 0.001
    x[12:] = 3e35  # finite once normalised (3e38), but the window sum overflows: NaN
    out: list[str] = []
    msgs: list[str] = []
    summary = run_stream(_Linear(), _lines(x), hop=4, out=out.append, err=msgs.append)
    assert summary["counts"] == {"windows_output_not_finite": 3}  # ending at 16, 20, 24
    assert summary["windows"] == len(out) == 2  # the windows ending at samples 8 and 12
    assert [_strict_json(line)["start"] for line in out] == [0.0, 0.08]
    assert any("window(s) with non-finite model output dropped" in m for m in msgs)


def test_lines_that_are_not_utf8_are_counted_and_dropped() -> None:
    x = np.arange(20 * 3, dtype=np.float32).reshape(20, 3)
    lines = [line.encode() for line in _lines(x)]
    lines[3] = b"0.04,\xff\xfe,1,1"
    lines[15] = lines[15] + b"\xc3"  # a truncated multi-byte character at the end
    msgs: list[str] = []
    recs: list[dict] = []
    proc = StreamProcessor(_Echo(), hop=4, emit=recs.append, warn=msgs.append)
    proc.feed(lines)
    summary = proc.finish()
    assert summary["counts"] == {"not_utf8": 2}
    assert msgs[:2] == ["line 4: not UTF-8 text (byte 0xff at column 6); line dropped",
                        f"line 16: not UTF-8 text (byte 0xc3 at column {len(lines[15])}); "
                        "line dropped"]
    assert len(recs) == (18 - 8) // 4 + 1  # the 18 good samples still give windows


def test_a_headerless_timestamp_with_a_channel_missing_is_refused() -> None:
    t = np.arange(40) / RATE
    rng = np.random.default_rng(0)
    two = [f"{ti:.4f},{a:.4f},{b:.4f}" for ti, (a, b) in zip(t, rng.standard_normal((40, 2)),
                                                               strict=True)]
    with pytest.raises(DataError, match="like a timestamp: a channel is missing"):
        _run(_Echo(), two, hop=4)
    ms = [f"{1000 * ti:.0f},{a:.4f},{b:.4f}" for ti, (a, b) in   # timestamps in ms
          zip(t, rng.standard_normal((40, 2)), strict=True)]
    with pytest.raises(DataError, match="a channel is missing"):
        _run(_Echo(), ms, hop=4)
    # three real channels without timestamps are still read as channels
    three = [",".join(f"{v:.4f}" for v in row) for row in rng.standard_normal((40, 3))]
    recs, summary = _run(_Echo(), three, hop=4)
    assert len(recs) == (40 - 8) // 4 + 1 and summary["counts"] == {}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hop": 0}, r"--step/--hop must be a whole number of samples from 1 to 4320000"),
    ({"hop": 10**20}, r"from 1 to 4320000 \(one day at 50 Hz\), got 100000000000000000000"),
    ({"hop": -3}, "got -3"),
    ({"max_gap": float("nan")}, "--max-gap must be a number of sample periods > 1"),
    ({"max_gap": float("inf")}, "--max-gap must be"),
    ({"max_gap": 1.0}, "--max-gap must be"),
])
def test_stream_options_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StreamProcessor(_Echo(), **kwargs)


def test_follow_options_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "live.csv"
    path.write_text("")
    for kwargs, message in (({"poll": 0.0}, "--poll must be a finite number of seconds > 0"),
                            ({"poll": float("nan")}, "--poll"), ({"poll": 1e9}, "<= 60"),
                            ({"max_idle": float("nan")}, "--max-idle must be a finite"),
                            ({"max_idle": -1.0}, "--max-idle")):
        with pytest.raises(ConfigError, match=message):
            next(follow_lines(path, **kwargs))


def test_follow_a_file_replaced_by_rotation_and_a_truncated_one(tmp_path: Path) -> None:
    path = tmp_path / "live.csv"
    x = np.arange(60 * 3, dtype=np.float32).reshape(60, 3)
    lines = _lines(x)  # header + 60 rows with continuing timestamps
    path.write_text("\n".join(lines[:21]) + "\n" + lines[21][:4])  # partial last line
    notes: list[str] = []

    def writer() -> None:
        time.sleep(0.25)
        path.rename(tmp_path / "live.csv.1")  # logrotate: rename away ...
        with (tmp_path / "live.csv.1").open("a") as fh:  # (the writer still had it open)
            fh.write(lines[21][4:] + "\n")
        time.sleep(0.1)
        path.write_text("\n".join(lines[22:41]) + "\n")  # ... and a new file
        time.sleep(0.25)
        with path.open("r+") as fh:  # truncated in place, then new rows
            fh.truncate(0)
        time.sleep(0.3)  # (a truncation followed at once by as much data cannot be seen)
        path.write_text("\n".join(lines[41:]) + "\n")

    th = threading.Thread(target=writer)
    th.start()
    model = _Echo()
    out: list[str] = []
    summary = run_stream(model, follow_lines(path, poll=0.02, max_idle=1.5, warn=notes.append),
                         hop=4, out=out.append)
    th.join()
    assert any("was replaced (rotated)" in n for n in notes)
    assert any("was truncated" in n for n in notes)
    # the old file was read to its end (its last line completed after the rename) and
    # every row was read exactly once: the windows are those of the 60 rows in one piece
    assert summary["counts"] == {}
    assert summary["windows"] == len(out) == (60 - 8) // 4 + 1
    assert np.array_equal(model.seen[-1], x[52:60])  # the last rows came from the new file


_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["3e38", "-3e38", "1e308", "1e999", "inf", "-inf", "nan", "", " 1 "]),
    st.integers(-10**30, 10**30).map(str),
)
_ROW = st.lists(_NUMBER, min_size=0, max_size=6).map(",".join)
_ROW4 = st.lists(_NUMBER, min_size=4, max_size=4).map(",".join)  # the header's column count
_LINE = st.one_of(
    _ROW4, _ROW, _ROW.map(str.encode), st.binary(max_size=40), st.text(max_size=40),
    st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")),
)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.lists(_LINE, max_size=60), st.sampled_from([1, 3, 8]),
       st.integers(0, 30))
def test_any_stream_lines_give_valid_json_or_a_counted_drop(
    header: bool, garbage: list[str | bytes], hop: int, n_good: int
) -> None:
    """Whatever arrives: every output line is strict JSON with finite probabilities, the
    summary counts add up, and the only exception is a one-line DataError (a first line
    that is neither a header naming the channels nor data)."""
    lines: list[str | bytes] = (["timestamp," + ",".join(CHANNELS)] if header else [])
    t = np.arange(30) / RATE
    good = [f"{ti:.4f},0.001,0.002,0.003" for ti in t[:n_good]]
    lines += [v for pair in zip(good + [""] * len(garbage), garbage + [""] * n_good,
                                strict=False) for v in pair]
    out: list[str] = []
    err: list[str] = []
    try:
        summary = run_stream(_Linear(), lines, hop=hop, out=out.append, err=err.append)
    except DataError as exc:
        assert "\n" not in str(exc) and not header
        return
    records = [_strict_json(line) for line in out]
    assert summary["windows"] == len(records)
    assert summary["lines"] == len(lines)
    for r in records:
        assert 0 <= r["probability"] <= 1 and 0 <= r["identity_probability"] <= 1
    _strict_json(err[-1])  # the summary line


def _cli(args: list[str], data: bytes, strict: bool = False) -> subprocess.CompletedProcess:
    """``harlab predict ARGS`` with ``data`` on stdin, under a UTF-8 locale; ``strict``: the
    text streams refuse undecodable bytes (as under a strict UTF-8 locale) instead of
    escaping them."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    if strict:
        env["PYTHONIOENCODING"] = "utf-8:strict"
    return subprocess.run([sys.executable, "-m", "harlab.cli.main", "predict", *args],
                          input=data, capture_output=True, timeout=300, env=env)


@pytest.mark.slow
@pytest.mark.parametrize("strict", [True, False])
def test_cli_non_utf8_stdin_and_followed_file(
    exported: tuple[Path, Path], tmp_path: Path, strict: bool
) -> None:
    x = synthetic_recording(4, seed=2)[CHANNELS].to_numpy(np.float32)
    lines = [line.encode() for line in _lines(x)]
    lines[100] = b"2.0,\xff\xfe,0.1,0.2"  # one line that is not UTF-8
    data = b"\n".join(lines) + b"\n"
    want = (len(x) - 1 - 32) // 16 + 1  # one sample fewer
    res = _cli([str(exported[0]), "--stream", "--hop", "16"], data, strict)
    err = res.stderr.decode()
    assert res.returncode == 0 and "Traceback" not in err, err
    assert len(res.stdout.decode().strip().splitlines()) == want
    assert "line 101: not UTF-8 text (byte 0xff at column 5); line dropped" in err
    assert json.loads(err.strip().splitlines()[-1])["counts"] == {"not_utf8": 1}
    path = tmp_path / "live.csv"
    path.write_bytes(data)
    res = _cli([str(exported[0]), "--follow", str(path), "--max-idle", "0.5", "--hop", "16"],
               b"", strict)
    assert res.returncode == 0 and "Traceback" not in res.stderr.decode(), res.stderr
    assert len(res.stdout.decode().strip().splitlines()) == want


@pytest.mark.slow
def test_cli_bad_streams_and_options_are_one_line_errors(exported: tuple[Path, Path]) -> None:
    model = str(exported[0])
    two = "\n".join(f"{i / RATE:.3f},{i % 7},{i % 5}" for i in range(40)).encode()
    inf = ("timestamp,acc_x,acc_y,acc_z\n" + "\n".join(
        f"{i / RATE:.3f},{'inf' if i == 3 else 0.1},{3e38 if i == 5 else 0.2},0.3"
        for i in range(40))).encode()
    for args, data, message in (
        ([model, "--stream"], two, "like a timestamp: a channel is missing?"),
        ([model, "--stream", "--hop", "0"], inf, "--step/--hop must be a whole number"),
        ([model, "--stream", "--step", "100000000000000000000"], inf, "from 1 to 4320000"),
        ([model, "--stream", "--step", "8", "--hop", "16"], inf, "--step 8 and --hop 16 differ"),
        ([model, "--stream", "--max-gap", "nan"], inf, "--max-gap must be a number"),
        ([model, "--follow", "x.csv", "--poll", "inf"], b"", "--poll must be a finite number"),
        ([model, "--input", "x.csv", "--rate", "nan"], b"", "--rate must be a finite number"),
    ):
        res = _cli(args, data)
        err = res.stderr.decode().strip()
        assert res.returncode == 2 and message in err, (args, err)
        assert len(err.splitlines()) == 1 and res.stdout == b"", (args, err)
    res = _cli([model, "--stream"], inf)  # inf and overflow: rows skipped, never NaN
    assert res.returncode == 0, res.stderr
    records = [_strict_json(line) for line in res.stdout.decode().splitlines()]
    assert len(records) == 1 and 0 <= records[0]["probability"] <= 1
    assert json.loads(res.stderr.decode().strip().splitlines()[-1])["counts"] == {
        "not_finite_rows": 2}
