"""Streaming prediction: CSV lines in, one JSON line per window out.

Samples arrive as CSV lines (from stdin or a growing file followed like ``tail -F``), as
bytes or text; bytes are decoded as UTF-8 line by line, so a line that is not UTF-8 is
counted (``not_utf8``) and dropped without losing the lines before or after it. A line is
parsed into floats and appended to a pending list -- the only per-sample Python work. When
enough samples for the next window have arrived, the pending block is checked with numpy
and normalised in float32 with the model's statistics, written into a fixed-size numpy ring
buffer, and the due window(s) are cut from it and predicted in one call. A timestamp jump
of more than ``max_gap`` sample periods (or backwards) resets the buffer, as does nothing
else; rows with a NaN (``nan_rows``), an infinite value or one that overflows float32 once
normalised (``not_finite_rows``), unparseable lines and wrong column counts are skipped, and
a window whose model output is not finite is dropped (``windows_output_not_finite``): no
label ever comes with a NaN probability. Every such event is counted and reported on stderr
without stopping the stream; the final statistics (counts, per-window latency p50/p95) are
one JSON line on stderr.

The column layout comes from a header line naming the columns (a time column among
``TIME_COLUMNS`` is optional), or without a header from the first line: as many columns as
the model has channels (no timestamps) or one more (a leading timestamp in seconds). A
headerless stream read as channels only whose first column rises by about one sample
period per line is refused: it is a timestamp with a channel missing.

With ``smooth`` = k, every line also carries the decision over the last k windows (mean
class probability; ``label_smoothed``, ``probability_smoothed``, ... and
``smoothed_windows``), restarted after every buffer reset.

The model is either a run directory (PyTorch, :class:`TorchWindowModel`) or an exported
``.onnx`` file (:class:`harlab.deploy.predictor.OnnxPredictor`); both provide the same
``predict_windows`` / ``normalize`` / ``channels`` / ``rate`` / ``window_length`` /
``heads`` interface.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from harlab.deploy.predictor import (
    PredictorError,
    check_hop,
    check_smooth,
    finite_outputs,
    finite_rows,
    head_columns,
    smoothed_columns,
    top_labels,
)
from harlab.errors import ConfigError, DataError

TIME_COLUMNS = ("timestamp", "time", "t", "time_s")
MESSAGE_LIMIT = 20
MAX_GAP_LIMIT = 1e6  # sample periods; --max-gap above it would switch gap detection off
MAX_POLL = 60.0  # seconds between looks at a followed file


class WindowModel(Protocol):
    channels: list[str]
    rate: float
    window_length: int
    window_step: int
    heads: list[str]
    classes: dict[str, list[str]]

    def predict_windows(self, x: np.ndarray, normalized: bool = False) -> dict[str, np.ndarray]:
        ...

    def normalize(self, x: np.ndarray) -> np.ndarray:
        ...


class TorchWindowModel:
    """A run directory's checkpoint behind the light predictor's interface."""

    def __init__(self, run_dir: str | Path, checkpoint: str = "best",
                 allow_unfinished: bool = False) -> None:
        from harlab.config import run_config, uses_bf16
        from harlab.data.normalize import Normalizer
        from harlab.deploy.export import checkpoint_path
        from harlab.runs import check_run_dir
        from harlab.tasks.checkpoint import load_run_module
        from harlab.tasks.predict import head_classes

        run = check_run_dir(run_dir)
        self.module, unfinished = load_run_module(run, checkpoint_path(run, checkpoint),
                                                  allow_unfinished)
        if unfinished:
            logging.getLogger("harlab").warning(unfinished)
        meta = self.module.hparams["harlab"]
        self.channels = [str(c) for c in meta["channels"]]
        self.rate = float(meta["rate"])
        self.window_length = int(meta["window_length"])
        self.window_step = int(meta["window_step"])
        self.normalizer = Normalizer.from_dict(meta["normalization"])
        self.classes = head_classes(self.module)
        self.heads = list(self.classes)
        cfg = run_config(run / "config.yaml")
        self._bf16 = uses_bf16(cfg.train.precision)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Raw samples (..., C) z-scored in float32 (overflow gives inf, not a warning)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self.normalizer.apply(np.asarray(x, np.float32))

    def predict_windows(self, x: np.ndarray, normalized: bool = False) -> dict[str, np.ndarray]:
        """Class probabilities per head for raw windows ``x`` (N, T, C)."""
        from harlab.tasks.predict import predict_heads

        x = np.asarray(x, np.float32)
        probs = predict_heads(self.module, x if normalized else self.normalizer.apply(x),
                              bf16=self._bf16)
        return {h: probs[h] for h in self.heads}


def load_window_model(path: str | Path, checkpoint: str = "best",
                      allow_unfinished: bool = False) -> Any:
    """An ``.onnx`` file (light predictor, metadata JSON next to it) or a run directory
    (complete, or any with ``allow_unfinished``)."""
    p = Path(path)
    if p.is_dir():
        return TorchWindowModel(p, checkpoint, allow_unfinished)
    if p.suffix == ".onnx":
        from harlab.deploy.predictor import OnnxPredictor, PredictorError

        meta = p.with_suffix(".json")
        try:
            return OnnxPredictor(p, meta if meta.is_file() else None)
        except PredictorError as exc:
            raise DataError(str(exc)) from None
    raise DataError(f"{p}: neither a run directory nor an .onnx file")


def check_max_gap(max_gap: float) -> float:
    """``--max-gap``: a finite number of sample periods in (1, MAX_GAP_LIMIT]."""
    if not (isinstance(max_gap, int | float) and math.isfinite(max_gap)
            and 1 < max_gap <= MAX_GAP_LIMIT):
        raise ConfigError(f"--max-gap must be a number of sample periods > 1 and <= "
                          f"{MAX_GAP_LIMIT:g}, got {max_gap}")
    return float(max_gap)


def check_seconds(value: float | None, option: str, zero_ok: bool, high: float = math.inf
                  ) -> None:
    """None, or a finite number of seconds > 0 (>= 0 with ``zero_ok``) and <= ``high``."""
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok) or value > high:
        rel = ">= 0" if zero_ok else "> 0"
        top = f" and <= {high:g}" if math.isfinite(high) else ""
        raise ConfigError(f"{option} must be a finite number of seconds {rel}{top}, got {value}")


class StreamProcessor:
    """Turn CSV sample lines into per-window predictions (see the module docstring)."""

    def __init__(
        self, model: WindowModel, hop: int | None = None, max_gap: float = 3.0,
        emit: Callable[[dict[str, Any]], None] | None = None,
        warn: Callable[[str], None] | None = None, smooth: int | None = None,
    ) -> None:
        self.model = model
        try:
            self.smooth = check_smooth(smooth)
        except ValueError as exc:  # PredictorError
            raise ConfigError(str(exc)) from None
        # the last smooth-1 windows' probabilities per head (since the last buffer reset)
        self._hist: dict[str, np.ndarray] = {}
        self.length = int(model.window_length)
        try:
            self.hop = check_hop(hop, model.window_step, model.rate)
        except PredictorError as exc:
            raise ConfigError(str(exc)) from None
        self.max_gap = check_max_gap(max_gap)
        self.period = 1.0 / float(model.rate)
        self.channels = list(model.channels)
        self.emit = emit or (lambda rec: None)
        self.warn = warn or (lambda msg: None)
        c = len(self.channels)
        self._buf = np.zeros((self.length, c), np.float32)  # ring buffer of samples
        self._buf_t = np.zeros(self.length, np.float64)  # and of their times
        self._pos = 0  # next write index in the ring
        self._count = 0  # samples since the last reset
        self._pending: list[list[float]] = []
        self._pending_lines: list[int] = []  # their line numbers, for messages
        self._cols: list[int] | None = None  # column index of (time?, channels...)
        self._time_col: bool = False
        self._ncols = 0
        self._check_clock = False  # headerless, channels only: is column 0 a timestamp?
        self._samples = 0  # accepted samples since the start (clock without timestamps)
        self._lineno = 0
        self.counts: Counter[str] = Counter()
        self.windows = 0
        self.latencies: list[float] = []
        self._t_due = 0.0

    # --- messages -------------------------------------------------------------------------

    def _event(self, kind: str, msg: str, n: int = 1) -> None:
        before = self.counts[kind]
        self.counts[kind] += n
        if before < MESSAGE_LIMIT:
            self.warn(f"line {self._lineno}: {msg}")
        elif before == MESSAGE_LIMIT:
            self.warn(f"further '{kind}' messages suppressed (counted in the summary)")

    # --- parsing ----------------------------------------------------------------------------

    def _layout(self, parts: list[str]) -> bool:
        """Decide the column layout from the first line; False if the line is not data."""
        c = len(self.channels)
        try:
            [float(p) for p in parts]
        except ValueError:  # a header naming the columns
            names = [p.strip().lower() for p in parts]
            missing = [ch for ch in self.channels if ch.lower() not in names]
            if missing:
                raise DataError(
                    f"stream header {parts} lacks channel(s) {', '.join(missing)}; the model "
                    f"needs {', '.join(self.channels)}"
                ) from None
            tcol = next((names.index(t) for t in TIME_COLUMNS if t in names), None)
            self._time_col = tcol is not None
            chans = [names.index(ch.lower()) for ch in self.channels]
            self._cols = ([tcol] if tcol is not None else []) + chans
            self._ncols = len(parts)
            return False
        if len(parts) in (c, c + 1):
            self._time_col = len(parts) == c + 1
            self._check_clock = not self._time_col
            self._cols = list(range(len(parts)))
            self._ncols = len(parts)
            return True
        self._event("wrong_columns", f"{len(parts)} columns; expected {c} channels "
                    f"({', '.join(self.channels)}), optionally after a timestamp, or a header")
        return False

    def feed_line(self, line: str | bytes) -> None:
        """Parse one CSV line (bytes are decoded as UTF-8); predict when a window is due."""
        self._lineno += 1
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._event("not_utf8", f"not UTF-8 text (byte 0x{line[exc.start]:02x} at "
                            f"column {exc.start + 1}); line dropped")
                return
        line = line.strip()
        if not line or line.startswith("#"):
            return
        parts = line.split(",")
        if self._cols is None and not self._layout(parts):
            return
        if len(parts) != self._ncols:
            self._event("wrong_columns", f"{len(parts)} columns, expected {self._ncols}")
            return
        try:
            row = [float(parts[i]) for i in self._cols]  # type: ignore[union-attr]
        except ValueError:
            self._event("unparseable", f"not numbers: {line[:80]!r}")
            return
        self._pending.append(row)
        self._pending_lines.append(self._lineno)
        if self._count + len(self._pending) >= self._next_end():
            self._t_due = time.perf_counter()
            self.flush()

    def feed(self, lines: Iterable[str | bytes]) -> None:
        for line in lines:
            self.feed_line(line)

    def _next_end(self) -> int:
        """Sample count (since reset) at which the next window completes."""
        if self._count < self.length:
            return self.length
        return self._count + self.hop - (self._count - self.length) % self.hop

    # --- blocks ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Check the pending rows (NaN, overflow, gaps) with numpy and push them into the ring."""
        if not self._pending:
            return
        block = np.asarray(self._pending, dtype=np.float64)
        lines = self._pending_lines
        self._pending, self._pending_lines = [], []
        if self._time_col:
            t, vals = block[:, 0], block[:, 1:]
        else:
            t = (self._samples + np.arange(len(block))) * self.period
            vals = block
        if self._check_clock:
            self._check_clock = False
            self._refuse_clock_column(vals[:, 0])
        with np.errstate(over="ignore", invalid="ignore"):  # overflow -> inf, skipped below
            z = np.asarray(self.model.normalize(vals.astype(np.float32)), np.float32)
        nan = np.isnan(block).any(axis=1)
        bad = nan | ~finite_rows(block) | ~finite_rows(z)
        if bad.any():
            self._skip_rows(lines, nan, bad)
            t, z = t[~bad], z[~bad]
        if not len(z):
            return
        if not self._time_col:
            self._samples += len(z)
            self._push(z, t)
            return
        prev = self._buf_t[(self._pos - 1) % self.length] if self._count else t[0] - self.period
        with np.errstate(over="ignore", invalid="ignore"):  # huge timestamps: an inf gap
            dt = np.diff(np.concatenate([[prev], t]))
        cuts = np.flatnonzero((dt > self.max_gap * self.period) | (dt <= 0))
        lo = 0
        for j in cuts:  # rare: one iteration per gap
            self._push(z[lo:j], t[lo:j])
            kind = "time_not_increasing" if dt[j] <= 0 else "gaps"
            self._event(kind, f"timestamp jumps by {dt[j]:+.3f} s at t={t[j]:.3f} "
                        f"(> {self.max_gap:g} sample periods); window buffer reset")
            self._reset()
            lo = int(j)
        self._push(z[lo:], t[lo:])

    def _skip_rows(self, lines: list[int], nan: np.ndarray, bad: np.ndarray) -> None:
        """Count (and report) the rows of a block skipped for NaN or non-finite values."""
        for kind, rows, what in (("nan_rows", nan, "NaN"),
                                 ("not_finite_rows", bad & ~nan,
                                  "infinite or overflowing (once normalised) values")):
            n = int(rows.sum())
            if not n:
                continue
            self.counts[kind] += n
            if self.counts[kind] <= MESSAGE_LIMIT:
                first = lines[int(np.flatnonzero(rows)[0])]
                self.warn(f"line {first}: row with {what} skipped"
                          + (f" ({n} such rows up to line {lines[-1]})" if n > 1 else ""))

    def _refuse_clock_column(self, first: np.ndarray) -> None:
        """Headerless lines of as many columns as channels whose first column rises by about
        one sample period per line (or by a constant step) are a timestamp plus one channel
        too few, not channels: refuse them rather than predict from shifted channels."""
        with np.errstate(over="ignore", invalid="ignore"):
            d = np.diff(first[np.isfinite(first)])
        if len(d) < 2 or not np.isfinite(d).all() or not (d > 0).all():
            return
        step = float(np.median(d))
        if abs(step - self.period) <= 0.25 * self.period or np.ptp(d) <= 0.01 * step:
            c = len(self.channels)
            raise DataError(
                f"stream lines have {c} columns and no header, read as the model's {c} "
                f"channels ({', '.join(self.channels)}), but the first column rises steadily "
                f"(by {step:.4g} per line) like a timestamp: a channel is missing? Start the "
                "stream with a header line naming the columns"
            )

    def _reset(self) -> None:
        self._count = 0
        self._pos = 0
        self._hist = {}  # a gap also restarts the smoothed decision

    def _push(self, vals: np.ndarray, t: np.ndarray) -> None:
        k, length = len(vals), self.length
        if k == 0:
            return
        have = min(self._count, length - 1)
        idx = (self._pos - have + np.arange(have)) % length
        ext = np.concatenate([self._buf[idx], vals.astype(np.float32)])
        ext_t = np.concatenate([self._buf_t[idx], t])
        base = self._count - have  # sample count of ext[0]
        ends = np.arange(self._count + 1, self._count + k + 1)
        ends = ends[(ends >= length) & ((ends - length) % self.hop == 0)]
        keep = min(k, length)
        widx = (self._pos + np.arange(k - keep, k)) % length
        self._buf[widx] = vals[k - keep :]
        self._buf_t[widx] = t[k - keep :]
        self._pos = int((self._pos + k) % length)
        self._count += k
        if len(ends):
            starts = ends - length - base
            win = np.lib.stride_tricks.sliding_window_view(ext, length, axis=0)[starts]
            self._predict(win.transpose(0, 2, 1), ext_t[starts], ext_t[starts + length - 1])

    def _predict(self, x: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        probs = {h: p for h, p in self.model.predict_windows(x, normalized=True).items()
                 if h in self.model.heads}
        done = time.perf_counter()
        ok = finite_outputs(probs)
        if not ok.all():
            n = int((~ok).sum())
            self._event("windows_output_not_finite",
                        f"{n} window(s) with non-finite model output dropped", n)
            x, start, end = x[ok], start[ok], end[ok]
            probs = {h: p[ok] for h, p in probs.items()}
            if not len(x):
                return
        labels, prob = top_labels(probs, self.model.classes)
        cols: dict[str, list[Any]] = {"time": np.round(end, 4).tolist(),
                                      "start": np.round(start, 4).tolist(),
                                      **head_columns(labels, prob)}
        if self.smooth:  # the last smooth-1 windows before this batch continue the mean
            ext = {h: np.concatenate([self._hist[h], probs[h]]) if h in self._hist
                   else probs[h] for h in self.model.heads}
            cols |= {key: vals[-len(x):] for key, vals in
                     smoothed_columns(ext, self.model.classes, self.smooth).items()}
            self._hist = {h: p[max(0, len(p) - self.smooth + 1):] for h, p in ext.items()}
        keys = list(cols)
        for vals in zip(*cols.values(), strict=True):
            self.emit(dict(zip(keys, vals, strict=True)))
        self.windows += len(x)
        self.latencies += [(done - self._t_due) * 1e3] * len(x)

    def finish(self) -> dict[str, Any]:
        """End of stream: check the leftover rows (too few for a window) and summarise."""
        self.flush()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """Counts of every skipped/reset event and per-window latency statistics (ms)."""
        lat = np.asarray(self.latencies)
        stats = (
            {"p50": round(float(np.percentile(lat, 50)), 3),
             "p95": round(float(np.percentile(lat, 95)), 3),
             "max": round(float(lat.max()), 3)}
            if lat.size else {}
        )
        return {
            "summary": True, "windows": self.windows, "lines": self._lineno,
            "hop": self.hop, "window_length": self.length,
            "counts": {k: int(v) for k, v in sorted(self.counts.items())},
            "buffer_resets": int(self.counts["gaps"] + self.counts["time_not_increasing"]),
            "latency_ms": stats,
        }


def _file_state(path: Path, fh: Any) -> str:
    """``same``, ``shrunk`` (truncated in place), ``replaced`` (a new file under the name,
    e.g. log rotation by rename) or ``missing`` (between a rename and the new file)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    own = os.fstat(fh.fileno())
    if (st.st_ino, st.st_dev) != (own.st_ino, own.st_dev):
        return "replaced"
    return "shrunk" if st.st_size < fh.tell() else "same"


def follow_lines(
    path: str | Path, poll: float = 0.2, max_idle: float | None = None,
    warn: Callable[[str], None] | None = None,
) -> Iterator[bytes]:
    """Lines (bytes) of a growing file, like ``tail -F`` from its start; stops after
    ``max_idle`` s without new data.

    A partial last line is held back until its newline arrives (or the stream stops). A
    file that shrinks (truncated in place) is read again from its start; a file replaced
    under the same name (log rotation: renamed away, a new one created) is read to its end,
    then the new file is followed from its start, as ``tail -F`` does.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: " + ("a folder, not a file to follow" if p.is_dir() else
                                     "file to follow not found"))
    check_seconds(poll, "--poll", zero_ok=False, high=MAX_POLL)
    check_seconds(max_idle, "--max-idle", zero_ok=True)
    note = warn or (lambda msg: None)
    fh = p.open("rb")
    try:
        rest = b""
        idle_since = time.monotonic()
        while True:
            chunk = fh.read()
            if chunk:
                idle_since = time.monotonic()
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                yield from lines
                continue
            state = _file_state(p, fh)
            if state == "shrunk":
                note(f"{p} was truncated; reading it from the start")
                fh.seek(0)
                rest = b""
                continue
            if state == "replaced":
                try:
                    new = p.open("rb")
                except FileNotFoundError:  # gone again: wait for the next one
                    time.sleep(poll)
                    continue
                note(f"{p} was replaced (rotated); following the new file from its start")
                last = rest + fh.read()  # what reached the old file last
                yield from last.removesuffix(b"\n").split(b"\n") if last else ()
                fh.close()
                fh, rest = new, b""
                continue
            if max_idle is not None and time.monotonic() - idle_since >= max_idle:
                if rest:
                    yield rest
                return
            time.sleep(poll)
    finally:
        fh.close()


def run_stream(
    model: WindowModel, lines: Iterable[str | bytes], hop: int | None = None,
    max_gap: float = 3.0,
    out: Callable[[str], None] | None = None, err: Callable[[str], None] | None = None,
    smooth: int | None = None,
) -> dict[str, Any]:
    """Process ``lines``, writing JSON lines to ``out``; returns (and writes to ``err``) stats."""
    def emit(rec: dict[str, Any]) -> None:
        if out is not None:
            out(json.dumps(rec, allow_nan=False))  # NaN never reaches the output

    proc = StreamProcessor(model, hop=hop, max_gap=max_gap, emit=emit, warn=err, smooth=smooth)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the stream with the summary
        proc.feed(lines)
    summary = proc.finish()
    if err is not None:
        err(json.dumps(summary))
    return summary


__all__ = ["StreamProcessor", "TorchWindowModel", "check_max_gap", "check_seconds",
           "follow_lines", "load_window_model", "run_stream"]
