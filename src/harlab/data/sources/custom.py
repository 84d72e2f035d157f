"""Bring your own data: recordings from CSV or Parquet files.

Schema
------
``path`` is one file (``.csv``, ``.csv.gz``, ``.tsv``, ``.parquet``, ``.pq``) or a folder
of such files (read in sorted name order, not recursively). Each row is one sample;
CSV files need a header row. Columns (names configurable, see options):

================  ========  ==============================================================
column            required  meaning
================  ========  ==============================================================
``subject``       no        subject id (text or integer). Absent: the file name without
                            its extension, so one file per subject also works.
``session``       no        session / recording id within a subject; default ``"1"``.
``timestamp``     no [1]_   sample time in **seconds** (any origin), or ISO 8601
                            date-times such as ``2024-05-01 12:00:00.020``.
channel columns   yes       sensor values, one column per channel. Default: every other
                            column whose non-empty cells are mostly (>= 50 %) numbers;
                            other columns and columns with an empty header (a saved
                            index) are ignored with a warning. Or ``channels=[...]``.
``label``         no        activity per sample: integers (``-1`` = unlabelled) or strings.
                            Empty cells are unlabelled (-1). Absent: every sample is -1.
================  ========  ==============================================================

.. [1] ``timestamp`` or the ``rate`` option is required.

Rows are grouped into one recording per (subject, session), in order of first appearance,
and sorted by timestamp within it (file order without timestamps). The rate is the
``rate`` option, else inferred from the timestamp steps. A step longer than 2 sample
periods is a gap: the recording is split there into sessions ``"<session>-1"``,
``"<session>-2"``, ... and ``dropped["gaps"]`` counts the splits. A step shorter than
``(1 - tolerance)`` periods (duplicates, jitter) is an error, and so is a ``rate`` that
disagrees with the timestamps (usually timestamps not in seconds).

String labels become ids 0..K-1 in sorted name order (over all files of a folder) and the
names are kept as classes; integer labels keep their values (class names default to the
number). ``classes`` overrides names: ``{id: name}``, or ``{name: id}`` for string labels.

Malformed rows are dropped, counted in ``RecordingSet.dropped`` and reported with a
warning on the ``harlab`` logger: ``rows_non_numeric`` (a channel cell is not a number),
``rows_missing_value`` (an empty, NaN or infinite channel cell, or one beyond float32's
range), ``rows_missing_timestamp``, ``rows_missing_id`` (empty subject/session cell). A
file whose rows are all dropped, a file that cannot be parsed (e.g. a CSV row with more
fields than the header) and inconsistent channels across files raise :class:`DataError`.

Options: ``rate`` (Hz), ``channels`` (list), ``units`` (one string, a list, or a dict
channel -> unit; default ``"unknown"``), ``label_column``, ``subject_column``,
``session_column``, ``timestamp_column``, ``classes`` (mapping), ``tolerance``
(fraction of a period, default 0.25).
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import numbers
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harlab.data.recording import (
    UNLABELLED,
    NotStreamable,
    Recording,
    RecordingSet,
    RecordingStream,
)
from harlab.data.sources.common import check_options, file_entry
from harlab.errors import ConfigError, DataError

NAME = "custom"
log = logging.getLogger("harlab")

INFO: dict[str, Any] = {
    "summary": "your own CSV/Parquet recordings (see the schema in harlab.data.sources.custom)",
    "subjects": None,
    "classes": None,
    "channels": None,
    "rate": None,
    "citation": "",
    "licence": "yours",
    "obtain": "it is your own data: pass your CSV/Parquet files or folder with --path",
}
_DEFAULT_COLUMNS = {
    "subject_column": "subject",
    "session_column": "session",
    "timestamp_column": "timestamp",
    "label_column": "label",
}
_OPTIONS = (*_DEFAULT_COLUMNS, "rate", "channels", "units", "classes", "tolerance")
_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq")


@dataclass
class _Segment:
    """One recording before labels are encoded (raw labels: int64 or object strings)."""

    data: np.ndarray
    labels: np.ndarray
    subject: str
    session: str
    rate: float
    channels: tuple[str, ...]
    units: tuple[str, ...]
    meta: dict = field(default_factory=dict)


def _check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    check_options(NAME, options, _OPTIONS)
    opts = {**_DEFAULT_COLUMNS, "tolerance": 0.25, **options}
    if opts.get("rate") is not None:
        rate = opts["rate"]
        if not isinstance(rate, numbers.Real) or not (rate > 0 and np.isfinite(rate)):
            raise ConfigError(f"{NAME}: rate must be a positive number of Hz, got {rate!r}")
    if not (isinstance(opts["tolerance"], numbers.Real) and 0 < opts["tolerance"] < 1):
        raise ConfigError(f"{NAME}: tolerance must be in (0, 1), got {opts['tolerance']!r}")
    if opts.get("channels") is not None:
        if isinstance(opts["channels"], str) or not opts["channels"]:
            raise ConfigError(f"{NAME}: channels must be a non-empty list of column names")
        opts["channels"] = [str(c) for c in opts["channels"]]
    if opts.get("classes") is not None and not isinstance(opts["classes"], Mapping):
        raise ConfigError(f"{NAME}: classes must be a mapping id -> name (or name -> id)")
    return opts


def _stem(path: Path) -> str:
    name = path.name
    for suf in _SUFFIXES:
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return path.stem


def read_table(path: str | Path, **options: Any) -> pd.DataFrame:
    """Read one CSV/Parquet file as a DataFrame with stripped column names.

    Checks that the columns named explicitly in ``options`` (``channels``, ``*_column``)
    exist; every read or parse failure becomes a DataError naming the file.
    """
    opts = _check_options(options)
    path = Path(path).expanduser()
    name = path.name.lower()
    if not path.is_file():
        raise DataError(f"{path}: " + ("a folder, not a file" if path.is_dir() else
                                        "file not found"))
    sep = "\t" if name.endswith(".tsv") else ","
    try:
        if name.endswith((".parquet", ".pq")):
            df = pd.read_parquet(path)
        elif name.endswith((".csv", ".csv.gz", ".tsv")):
            with warnings.catch_warnings():  # pandas only warns when it drops extra fields
                warnings.simplefilter("error", pd.errors.ParserWarning)
                df = pd.read_csv(
                    path, sep=sep, index_col=False, skipinitialspace=True, low_memory=False
                )
        else:
            raise DataError(f"{path}: unsupported file type (use {', '.join(_SUFFIXES)})")
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except (pd.errors.ParserWarning, pd.errors.ParserError) as e:
        detail = _long_row(path, sep) or f": cannot parse file ({str(e).strip()[:200]})"
        raise DataError(f"{path}{detail}") from None
    except Exception as e:  # pandas/pyarrow raise many types for malformed files
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{path}: cannot parse file ({msg})") from None
    df.columns = [str(c).strip() for c in df.columns]
    dup = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dup:
        raise DataError(f"{path}: duplicate column names {dup}")
    if df.empty:
        raise DataError(f"{path}: no data rows")
    wanted = list(opts.get("channels") or [])
    wanted += [opts[k] for k in _DEFAULT_COLUMNS if k in options]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; columns are {list(df.columns)}")
    return df


def _long_row(path: Path, sep: str) -> str | None:
    """Error path only: name the first CSV row with more fields than the header."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        rows = csv.reader(fh, delimiter=sep)
        width = len(next(rows, []))
        for row in rows:
            if len(row) > width:
                return f", line {rows.line_num}: {len(row)} fields but the header has {width}"
    return None


def _numeric(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float values, mask of cells that are present but not numbers)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.to_numpy(np.float64, na_value=np.nan), np.zeros(len(col), bool)
    present = col.notna().to_numpy() & (col.astype(str).str.strip() != "").to_numpy()
    num = pd.to_numeric(col, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    return num, present & np.isnan(num)


def _auto_channels(df: pd.DataFrame, reserved: set[str], where: Path) -> list[str]:
    chans, ignored = [], []
    for c in df.columns:
        if c in reserved:
            continue
        if c.startswith("Unnamed: "):  # pandas' name for an empty header (a saved index)
            ignored.append(c)
            continue
        num, bad = _numeric(df[c])
        n_num = int(np.count_nonzero(~np.isnan(num)))
        (chans if n_num and n_num >= int(bad.sum()) else ignored).append(c)
    if not chans:  # one error line, not a warning about the same columns before it
        raise DataError(f"{where}: no numeric channel columns found in {list(df.columns)}")
    if ignored:
        log.warning("%s: ignoring non-numeric column(s) %s", where, ignored)
    return chans


def _timestamps(col: pd.Series) -> np.ndarray:
    """Seconds as float (NaN where missing); ISO date-times become seconds since 1970."""
    num, bad = _numeric(col)
    if bad.sum() > np.count_nonzero(~np.isnan(num)):
        dt = pd.to_datetime(col, errors="coerce", format="ISO8601")
        if dt.notna().any():
            origin = pd.Timestamp("1970-01-01", tz=dt.dt.tz)
            return (dt - origin).dt.total_seconds().to_numpy(np.float64, na_value=np.nan)
    return num


def _distinct(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, stripped text of each distinct value + a trailing ""); code -1 = missing.

    Work on distinct values, not rows: ``text[codes]`` maps back (missing -> "").
    """
    codes, uniques = pd.factorize(col)
    text = [str(int(x)) if isinstance(x, float) and x.is_integer() else str(x) for x in uniques]
    return codes, np.array([t.strip() for t in text] + [""], dtype=object)


def _ids(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(id strings, mask of missing ids); integral numbers print without '.0'."""
    codes, text = _distinct(col)
    out = text[codes]
    return out, out == ""


def _raw_labels(col: pd.Series, where: Path) -> np.ndarray:
    """Integer labels (int64, -1 unlabelled) if all present cells are integers, else strings."""
    codes, text = _distinct(col)
    empty = (text == "") | (text == "-1")
    num = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    present = num[~empty]
    if np.all(np.isfinite(present) & (present == np.round(present))):
        out = np.where(empty, UNLABELLED, np.nan_to_num(num)).astype(np.int64)[codes]
        neg = np.flatnonzero(out < UNLABELLED)
        if neg.size:
            raise DataError(
                f"{where}: row {neg[0] + 1}: label {out[neg[0]]} is negative (use -1 or an "
                "empty cell for unlabelled samples)"
            )
        return out
    text[empty] = None
    return text[codes]


def _units(opts: dict, channels: list[str]) -> tuple[str, ...]:
    units = opts.get("units")
    if units is None or isinstance(units, str):
        return tuple([units or "unknown"] * len(channels))
    if isinstance(units, Mapping):
        return tuple(str(units.get(c, "unknown")) for c in channels)
    units = [str(u) for u in units]
    if len(units) != len(channels):
        raise ConfigError(f"{NAME}: {len(units)} units given for {len(channels)} channels")
    return tuple(units)


def _parse(df: pd.DataFrame, path: Path, opts: dict) -> tuple[list[_Segment], Counter]:
    """Turn one table into recordings-to-be (labels still raw) and drop counts."""
    cols = {k: opts[k] for k in _DEFAULT_COLUMNS if opts[k] in df.columns}
    channels = opts.get("channels") or _auto_channels(df, set(cols.values()), path)
    n = len(df)
    values, non_numeric = np.empty((n, len(channels))), np.zeros(n, bool)
    for j, c in enumerate(channels):
        values[:, j], bad = _numeric(df[c])
        non_numeric |= bad
    # beyond float32's range is infinite once stored in a Recording: dropped as non-finite
    in_range = np.abs(values) <= np.finfo(np.float32).max
    missing_value = ~non_numeric & ~in_range.all(axis=1)
    ts = _timestamps(df[cols["timestamp_column"]]) if "timestamp_column" in cols else None
    missing_ts = np.zeros(n, bool) if ts is None else ~np.isfinite(ts)
    ok = ~(non_numeric | missing_value)
    drops = Counter(
        {
            "rows_non_numeric": int(non_numeric.sum()),
            "rows_missing_value": int(missing_value.sum()),
            "rows_missing_timestamp": int((ok & missing_ts).sum()),
        }
    )
    ok &= ~missing_ts
    ids = []
    for key, default in (("subject_column", _stem(path)), ("session_column", "1")):
        if key in cols:
            v, miss = _ids(df[cols[key]])
            drops["rows_missing_id"] += int((ok & miss).sum())
            ok &= ~miss
        else:
            v = np.full(n, default, dtype=object)
        ids.append(v)
    if "label_column" in cols:
        labels = _raw_labels(df[cols["label_column"]], path)
    else:
        labels = np.full(n, UNLABELLED, dtype=np.int64)
    drops = Counter({k: v for k, v in drops.items() if v})
    if not ok.any():
        raise DataError(f"{path}: all {n} rows were dropped as malformed ({dict(drops)})")

    rows = np.flatnonzero(ok)
    subj_codes, subj_names = pd.factorize(ids[0][rows])
    sess_codes, sess_names = pd.factorize(ids[1][rows])
    group = subj_codes.astype(np.int64) * (len(sess_names) + 1) + sess_codes
    first_seen = pd.factorize(group)[0]  # recordings in order of first appearance
    order = np.lexsort((ts[rows] if ts is not None else rows, first_seen))
    rows, first_seen = rows[order], first_seen[order]
    new_group = np.r_[True, first_seen[1:] != first_seen[:-1]]
    rate, gap = _rate_and_gaps(path, ts[rows] if ts is not None else None, new_group, rows, opts)
    drops["gaps"] += int(gap.sum())
    starts = np.flatnonzero(new_group | gap)
    ends = np.r_[starts[1:], len(rows)]
    n_parts = np.add.reduceat((new_group | gap).astype(int), np.flatnonzero(new_group))
    units = _units(opts, channels)
    segments, part, gi = [], 0, -1
    for s, e in zip(starts, ends, strict=True):  # one iteration per recording
        if new_group[s]:
            gi, part = gi + 1, 0
        part += 1
        r = rows[s:e]
        session = str(ids[1][r[0]])
        if n_parts[gi] > 1:
            session = f"{session}-{part}"
        meta: dict[str, Any] = {"file": str(path)}
        if ts is not None:
            meta["start_time"] = float(ts[r[0]])
        subject = str(ids[0][r[0]])
        segments.append(
            _Segment(values[r], labels[r], subject, session, rate, tuple(channels), units, meta)
        )
    return segments, Counter({k: v for k, v in drops.items() if v})


def _rate_and_gaps(
    path: Path, ts: np.ndarray | None, new_group: np.ndarray, rows: np.ndarray, opts: dict
) -> tuple[float, np.ndarray]:
    """Sampling rate and a mask of rows that start after a gap (> 2 periods)."""
    rate, tol = opts.get("rate"), float(opts["tolerance"])
    no_gap = np.zeros(len(new_group), bool)
    if ts is None:
        if rate is None:
            raise DataError(
                f"{path}: no '{opts['timestamp_column']}' column and no rate option: give "
                "one of them so the sampling rate is known"
            )
        return float(rate), no_gap
    step = np.diff(ts, prepend=np.nan)
    step[new_group] = np.nan
    within = ~np.isnan(step)
    if not within.any():
        if rate is None:
            raise DataError(f"{path}: cannot infer the rate from single-sample recordings")
        return float(rate), no_gap
    median = float(np.median(step[within]))
    period = median if rate is None else 1.0 / rate
    if rate is not None and abs(median - period) > tol * period:
        raise DataError(
            f"{path}: timestamps step {median:g} s but rate={rate:g} Hz implies "
            f"{period:g} s; timestamps must be in seconds"
        )
    if period <= 0:
        raise DataError(f"{path}: most timestamps repeat; cannot infer the rate")
    short = np.flatnonzero(within & (step < (1 - tol) * period))
    if short.size:
        raise DataError(
            f"{path}: irregular timestamps: {short.size} step(s) shorter than "
            f"{(1 - tol) * period:g} s for a period of {period:g} s (first at row "
            f"{rows[short[0]] + 1}); sort out duplicates, resample, or raise tolerance="
        )
    if rate is None:  # mean of the regular steps: robust to ms-rounded timestamps
        rate = float(f"{1.0 / step[within & (step <= (1 + tol) * period)].mean():.6g}")
    return float(rate), within & (step > 2 * period * (1 + 1e-6))


def _class_option(classes: Mapping | None, string_labels: bool) -> dict[Any, Any] | None:
    """Normalise ``classes`` to name -> id (string labels) or id -> name (integer labels)."""
    if classes is None:
        return None
    items = list(classes.items())
    name_first = all(isinstance(k, str) and not k.lstrip("-").isdigit() for k, _ in items)
    try:
        if string_labels:
            pairs = (
                [(str(k), int(v)) for k, v in items]
                if name_first
                else [(str(v), int(k)) for k, v in items]
            )
            return dict(pairs)  # a name mapped to -1 marks unlabelled samples
        pairs = (
            [(int(v), str(k)) for k, v in items]
            if name_first
            else [(int(k), str(v)) for k, v in items]
        )
    except (TypeError, ValueError):
        raise ConfigError(f"{NAME}: classes must map integer ids to names") from None
    return {k: v for k, v in pairs if k != UNLABELLED}


def _encode(segments: list[_Segment], opts: dict, where: str) -> tuple[list, dict[int, str]]:
    """Integer label arrays for all segments plus the class table (shared across files)."""
    string_mode = any(s.labels.dtype == object for s in segments)
    option = _class_option(opts.get("classes"), string_mode)
    if string_mode:
        raw = [
            s.labels
            if s.labels.dtype == object
            else np.where(s.labels == UNLABELLED, None, s.labels.astype(str)).astype(object)
            for s in segments
        ]
        seen = sorted(set(pd.unique(np.concatenate(raw))) - {None})
        mapping = option if option is not None else {k: i for i, k in enumerate(seen)}
        unknown = [k for k in seen if k not in mapping]
        if unknown:
            raise DataError(f"{where}: labels {unknown[:10]} are not in the classes option")
        out = []
        for r in raw:  # look-up per distinct label, then index by code
            codes, uniques = pd.factorize(r)
            lut = np.array([mapping[u] for u in uniques] + [UNLABELLED], dtype=np.int64)
            out.append(lut[codes])
        named = sorted((i, name) for name, i in mapping.items() if i != UNLABELLED)
        return out, dict(named)
    out = [s.labels for s in segments]
    seen = sorted(set(np.unique(np.concatenate(out)).tolist()) - {UNLABELLED})
    if option is None:
        return out, {i: str(i) for i in seen}
    unknown = [i for i in seen if i not in option]
    if unknown:
        raise DataError(f"{where}: labels {unknown[:10]} are not in the classes option")
    return out, dict(sorted(option.items()))


def _recordings(segments: list[_Segment], labels: list[np.ndarray]) -> list[Recording]:
    return [
        Recording(
            data=s.data,
            labels=lab,
            rate=s.rate,
            channels=s.channels,
            units=s.units,
            subject=s.subject,
            session=s.session,
            meta=s.meta,
        )
        for s, lab in zip(segments, labels, strict=True)
    ]


def _warn(path: Path, drops: Counter) -> None:
    rows = {k: v for k, v in drops.items() if k.startswith("rows_")}
    if rows:
        log.warning("%s: dropped %d malformed row(s): %s", path, sum(rows.values()), rows)
    if drops.get("gaps"):
        log.warning("%s: split recordings at %d timestamp gap(s)", path, drops["gaps"])


def recording_from_file(path: str | Path, **options: Any) -> list[Recording]:
    """Recordings of one file (labels encoded from this file alone; see module docstring)."""
    return recordings_and_drops(path, **options)[0]


def recordings_and_drops(
    path: str | Path, **options: Any
) -> tuple[list[Recording], dict[str, int]]:
    """:func:`recording_from_file` and its drop counts (``rows_*``, ``gaps``), for callers
    that report them (``harlab predict``)."""
    opts = _check_options(options)
    path = Path(path).expanduser()
    segments, drops = _parse(read_table(path, **options), path, opts)
    _warn(path, drops)
    labels, _ = _encode(segments, opts, str(path))
    return _recordings(segments, labels), dict(drops)


def _files(path: str | Path | None) -> tuple[Path, list[Path]]:
    if path is None:
        raise DataError(
            "custom: give path= a CSV/Parquet file or a folder of them (see the schema in "
            "harlab.data.sources.custom)"
        )
    root = Path(path).expanduser()
    if root.is_dir():
        files = sorted(
            p for p in root.iterdir() if p.is_file() and p.name.lower().endswith(_SUFFIXES)
        )
        if not files:
            raise DataError(f"{root}: no {', '.join(_SUFFIXES)} files in this folder")
        return root, files
    if not root.exists():
        raise DataError(f"{root}: file or folder not found")
    return root, [root]


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load your own CSV/Parquet data (one file or a folder) as a RecordingSet."""
    opts = _check_options(options)
    root, files = _files(path)
    segments: list[_Segment] = []
    dropped: Counter = Counter()
    for f in files:
        segs, drops = _parse(read_table(f, **options), f, opts)
        _warn(f, drops)
        segments += segs
        dropped += drops
    labels, classes = _encode(segments, opts, str(root))
    return RecordingSet(
        name=NAME,
        recordings=_recordings(segments, labels),
        classes=classes,
        official_split=None,
        dropped=dict(dropped),
        info={"source": str(root), "files": [str(f) for f in files]},
    )


def stream(path: str | Path | None = None, **options: Any) -> RecordingStream:
    """The recordings of ``load``, read one file at a time (see :class:`RecordingStream`).

    Integer labels keep their values. String labels get provisional codes per file in
    sorted name order (or their ids from the ``classes`` option) and ``label_maps`` turns
    them into the ids ``load`` gives once all files are read. A folder mixing files of
    integer and string labels raises :class:`NotStreamable` when it is found (``load``
    orders those labels over all files at once).
    """
    opts = _check_options(options)
    root, files = _files(path)
    out = RecordingStream(NAME, iter(()))
    out.recordings = _stream_files(root, files, options, opts, out)
    return out


def _file_kind(segments: list[_Segment]) -> str | None:
    """'string' or 'integer' labels; None for a file of only unlabelled samples."""
    if any(s.labels.dtype == object for s in segments):
        return "string"
    if all((s.labels == UNLABELLED).all() for s in segments):
        return None
    return "integer"


def _stream_files(root: Path, files: list[Path], options: dict[str, Any], opts: dict,
                  out: RecordingStream) -> Iterator[Recording]:
    dropped: Counter = Counter()
    kinds: set[str] = set()
    names: list[np.ndarray] = []  # string mode: the sorted names of each recording's codes
    ints: set[int] = set()
    for f in files:
        segments, drops = _parse(read_table(f, **options), f, opts)
        _warn(f, drops)
        dropped += drops
        kind = _file_kind(segments)
        kinds |= {kind} if kind else set()
        if len(kinds) > 1:
            raise NotStreamable(f"{root}: files of integer and of string labels")
        for seg in segments:
            if kind == "string":
                labels, local = _local_codes(seg.labels, opts, str(root))
                names.append(local)
            else:
                labels = seg.labels
                ints |= set(np.unique(labels).tolist()) - {UNLABELLED}
                names.append(np.zeros(0, object))
            yield _recordings([seg], [labels])[0]
    out.dropped = dict(dropped)
    out.classes, out.label_maps = _stream_classes(kinds, names, ints, opts, str(root))


def _local_codes(raw: np.ndarray, opts: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    """String labels of one recording as codes 0..k-1 in the order of their final ids, and
    the label of each code (the ``classes`` option's id, or the name when ids come later)."""
    option = _class_option(opts.get("classes"), True)
    codes, uniques = pd.factorize(raw)  # None (unlabelled) -> -1
    if option is None:
        order = np.array(sorted(uniques.tolist()), dtype=object)
        lut = np.searchsorted(order, np.asarray(uniques, dtype=object)).astype(np.int64)
        return np.where(codes < 0, UNLABELLED, lut[codes] if lut.size else codes), order
    unknown = sorted({u for u in uniques.tolist() if u not in option})
    if unknown:
        raise DataError(f"{where}: labels {unknown[:10]} are not in the classes option")
    ids = np.array([option[u] for u in uniques.tolist()], dtype=np.int64)
    final = np.where(codes < 0, UNLABELLED, ids[codes] if ids.size else codes)
    used = np.unique(final[final != UNLABELLED])
    local = np.searchsorted(used, final)
    return np.where(final == UNLABELLED, UNLABELLED, local), used.astype(object)


def _stream_classes(kinds: set[str], names: list[np.ndarray], ints: set[int], opts: dict,
                    where: str) -> tuple[dict[int, str], list[np.ndarray] | None]:
    """The class table and per-recording label maps once every file has been read."""
    if "string" not in kinds:  # integer labels (or none): as _encode gives them
        option = _class_option(opts.get("classes"), False)
        seen = sorted(ints)
        if option is None:
            return {i: str(i) for i in seen}, None
        unknown = [i for i in seen if i not in option]
        if unknown:
            raise DataError(f"{where}: labels {unknown[:10]} are not in the classes option")
        return dict(sorted(option.items())), None
    option = _class_option(opts.get("classes"), True)
    if option is not None:  # provisional codes index the option's ids
        maps = [np.asarray(n, dtype=np.int64) for n in names]
        named = sorted((i, name) for name, i in option.items() if i != UNLABELLED)
        return dict(named), maps
    seen = sorted(set().union(*[set(n.tolist()) for n in names]))
    index = {name: i for i, name in enumerate(seen)}
    maps = [np.array([index[x] for x in n.tolist()], np.int64) for n in names]
    return dict(enumerate(seen)), maps


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the input files (name, size, mtime) and the options for caching."""
    _check_options(options)
    _, files = _files(path)
    entries = [file_entry(f) for f in files]
    opts = json.loads(json.dumps(options, default=str, sort_keys=True))
    return {"source": NAME, "files": entries, "options": opts}
