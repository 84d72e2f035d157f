"""Reader for the University of Glasgow "Radar signatures of human activities" ``.dat`` files.

Dataset: F. Fioranelli et al., doi 10.5525/gla.researchdata.848 (Ancortek SDR-KIT 580AD
FMCW radar, 5.8 GHz, 400 MHz bandwidth, 1 ms chirps, 128 samples per chirp).

File format (ASCII, one value per line)::

    line 1  carrier frequency f_c [Hz]
    line 2  sweep (chirp) duration [ms]
    line 3  samples per sweep (NTS)
    line 4  bandwidth [Hz]
    line 5+ complex samples written MATLAB-style ``a+bi`` / ``a-bi``, chirp-major
            (NTS consecutive samples belong to one chirp)

The result is a :class:`~harlab.radar.types.RawRadar` with ``data`` of shape
``(n_chirps, NTS)``, ``waveform="fmcw"`` and PRF ``1 / sweep``. File names
``KPxxAyyRz.dat`` give the activity ``K`` (1-6), person ``Pxx``, the activity code ``Ayy``
and repetition ``Rz`` (written ``R1`` or ``R01``; case and blanks inside the name are
ignored; a name without ``K`` takes the activity from ``Ayy``). Where ``K`` and ``Ayy``
disagree (a few files do), the data sheet makes ``K`` the label; :attr:`GlasgowName.agree`
says so and ``meta['codes_agree']`` carries it. Activity codes follow the dataset's README
/ ``label.json``: 1 / A01 walking, 2 sitting down, 3 standing up, 4 picking up an object,
5 drinking, 6 falling (one public Python loader swaps 4/5; this mapping was checked
against the dataset's own files). Person numbers restart in each campaign folder, so
:mod:`harlab.radar.glasgow_import` qualifies them with the campaign.

Parsing is vectorised (numpy's C text parser after one regular-expression validation
pass over the whole text); every malformed file raises one :class:`DataError` naming the
file and line.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harlab.errors import DataError
from harlab.radar.types import SPEED_OF_LIGHT, RadarParams, RawRadar

ACTIVITIES: dict[str, str] = {
    "A01": "walking",
    "A02": "sitting",
    "A03": "standing",
    "A04": "picking_up_item",
    "A05": "drinking",
    "A06": "falling",
}
HEADER_LINES = 4
_NAME = re.compile(r"^(?P<prefix>\d*)P(?P<person>\d+)A(?P<activity>\d+)R(?P<rep>\d+)$", re.I)
_BLANKS = re.compile(r"\s+")
_NUM = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
# One sample per line: real, real+imag i, or imag i (MATLAB writes i; j is accepted too).
_SAMPLE = rf"[ \t]*(?:[+-]?{_NUM}(?:[ \t]*[+-][ \t]*{_NUM}[ij])?|[+-]?{_NUM}[ij])[ \t]*\r?"
_BAD_LINE = re.compile(rf"^(?!{_SAMPLE}$).*$", re.M)


@dataclass(frozen=True)
class GlasgowName:
    """What a ``KPxxAyyRz`` file name encodes."""

    person: str  # "P37"
    activity_code: str  # "A01", from Ayy
    repetition: int
    prefix: str  # K ("" when the name has none)

    @property
    def label_code(self) -> str:
        """The code of the label: K's (``"A0K"``) when the name has K, else Ayy."""
        return f"A{int(self.prefix):02d}" if self.prefix else self.activity_code

    @property
    def activity(self) -> str:
        return ACTIVITIES[self.label_code]

    @property
    def agree(self) -> bool:
        """K and Ayy name the same activity (True when the name has no K)."""
        return self.label_code == self.activity_code


def parse_name(name: str | Path) -> GlasgowName:
    """Parse ``KPxxAyyRz[.dat]`` (K optional, any case, blanks ignored); unknown activity
    codes, a K other than 1-6 or other names are DataErrors."""
    stem = _BLANKS.sub("", Path(name).name)
    if stem.lower().endswith(".dat"):
        stem = stem[:-4]
    m = _NAME.match(stem)
    if m is None:
        raise DataError(
            f"{name}: file name does not follow the Glasgow pattern KPxxAyyRz.dat "
            "(activity, person, activity code, repetition)"
        )
    code = f"A{int(m['activity']):02d}"
    if code not in ACTIVITIES:
        raise DataError(f"{name}: unknown activity code {code} (known: {', '.join(ACTIVITIES)})")
    if m["prefix"] and not (len(m["prefix"]) == 1 and 1 <= int(m["prefix"]) <= len(ACTIVITIES)):
        raise DataError(f"{name}: the leading activity digit K must be 1-{len(ACTIVITIES)}, "
                        f"got {m['prefix']!r}")
    return GlasgowName(
        person=f"P{int(m['person']):02d}",
        activity_code=code,
        repetition=int(m["rep"]),
        prefix=m["prefix"],
    )


def _header_value(path: Path, lines: list[str], i: int, what: str) -> float:
    if i >= len(lines):
        raise DataError(
            f"{path}: header ends at line {len(lines)}; line {i + 1} should hold {what}"
        )
    text = lines[i].strip()
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}: line {i + 1} should hold {what}, got {text[:40]!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise DataError(f"{path}: line {i + 1}: {what} must be positive, got {text[:40]!r}")
    return value


def _loadtxt(text: str) -> np.ndarray | None:
    """numpy's C parser on MATLAB-style samples; None when it rejects the text."""
    try:
        v = np.loadtxt(
            io.StringIO(text.replace("i", "j")), dtype=np.complex128, comments=None, ndmin=2
        )
    except ValueError:
        return None
    return v[:, 0] if v.shape[1] == 1 else None


def _parse_samples(body: str, path: Path) -> np.ndarray:
    """Vectorised parse of the sample lines; DataError naming the first bad line.

    Fast path: numpy's C parser. If it fails, or skipped blank lines (fewer values than
    lines), one regular-expression pass locates the first malformed line. Lines that are
    valid but carry blanks around the sign (``1.5 - 0.25i``) are parsed after removing
    the blanks.
    """
    n_lines = body.count("\n") + 1
    values = _loadtxt(body)
    if values is not None and values.size == n_lines:
        return values
    bad = _BAD_LINE.search(body)
    if bad is not None:
        line = HEADER_LINES + 1 + body.count("\n", 0, bad.start())
        shown = bad.group(0).strip()[:40]
        what = "an empty line" if not shown else f"{shown!r} is not a complex number"
        raise DataError(f"{path}: line {line}: {what} (expected one sample like 1.5-0.25i)")
    values = _loadtxt(re.sub(r"[ \t]+", "", body))
    if values is None or values.size != n_lines:  # pragma: no cover - regex-validated input
        raise DataError(f"{path}: cannot parse the complex samples after line {HEADER_LINES}")
    return values


def parse_dat(text: str, path: str | Path = "<text>") -> RawRadar:
    """Parse the text of one ``.dat`` file (see the module docstring) into a RawRadar."""
    path = Path(path)
    if not text.strip():
        raise DataError(f"{path}: empty file (expected a 4-line header and complex samples)")
    head = text.split("\n", HEADER_LINES)
    body = head[HEADER_LINES] if len(head) > HEADER_LINES else ""
    head = head[:HEADER_LINES]
    fc = _header_value(path, head, 0, "the carrier frequency in Hz")
    sweep_ms = _header_value(path, head, 1, "the sweep time in ms")
    nts_f = _header_value(path, head, 2, "the number of samples per sweep")
    bandwidth = _header_value(path, head, 3, "the bandwidth in Hz")
    if nts_f != int(nts_f):
        raise DataError(f"{path}: line 3: samples per sweep must be an integer, got {nts_f}")
    nts = int(nts_f)
    if fc < 1e6 or bandwidth < 1e3:
        raise DataError(
            f"{path}: header f_c={fc:g} Hz, bandwidth={bandwidth:g} Hz does not look like an "
            "FMCW radar in Hz (lines 1 and 4)"
        )

    body = body.rstrip()  # trailing blank lines / final newline
    if not body:
        raise DataError(f"{path}: no samples after the 4-line header")
    values = _parse_samples(body, path)
    n = values.size
    if not np.all(np.isfinite(values)):
        first = int(np.flatnonzero(~np.isfinite(values))[0])
        raise DataError(f"{path}: line {HEADER_LINES + 1 + first}: sample is not finite")
    if n % nts:
        raise DataError(
            f"{path}: {n} samples are not a whole number of sweeps of {nts} samples "
            f"({n // nts} full sweeps and {n % nts} trailing samples); the file is truncated "
            "or the header's samples-per-sweep (line 3) is wrong"
        )
    n_chirps = n // nts
    if n_chirps < 2:
        raise DataError(f"{path}: only {n_chirps} sweep(s) of {nts} samples; need at least 2")
    sweep_s = sweep_ms / 1000.0
    params = RadarParams(
        carrier_hz=fc,
        bandwidth_hz=bandwidth,
        prf_hz=1.0 / sweep_s,
        waveform="fmcw",
        range_start_m=0.0,
        range_bin_m=SPEED_OF_LIGHT / (2 * bandwidth),
        sweep_s=sweep_s,
        samples_per_sweep=nts,
    )
    data = values.astype(np.complex64).reshape(n_chirps, nts)
    meta: dict = {
        "file": str(path),
        "header": {
            "fc_hz": fc,
            "sweep_ms": sweep_ms,
            "samples_per_sweep": nts,
            "bandwidth_hz": bandwidth,
        },
    }
    activity = person = None
    try:
        name = parse_name(path)
    except DataError:
        name = None
    if name is not None:
        activity, person = name.activity, name.person
        meta.update(
            activity_code=name.activity_code, repetition=name.repetition, prefix=name.prefix,
            codes_agree=name.agree,
        )
    meta["location"] = path.parent.name
    return RawRadar(data, params, activity=activity, person=person, source=str(path), meta=meta)


def read_bytes(path: str | Path) -> bytes:
    """The bytes of one file; DataError naming it when it cannot be read."""
    p = Path(path)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise DataError(f"{p}: cannot read ({exc.strerror or exc})") from None


def parse_bytes(raw_bytes: bytes, path: str | Path) -> RawRadar:
    """Parse the bytes of one ``.dat`` file (ASCII text, see :func:`parse_dat`)."""
    p = Path(path)
    try:
        text = raw_bytes.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{p}: not an ASCII text .dat file (byte {exc.start} is not ASCII)"
        ) from None
    return parse_dat(text, p)


def read_dat(path: str | Path) -> RawRadar:
    """Read one Glasgow ``.dat`` file (labels from its name when it follows the pattern)."""
    return parse_bytes(read_bytes(path), path)


def find_dat_files(root: str | Path) -> list[Path]:
    """All ``*.dat`` files under ``root`` (recursively, sorted); DataError when none."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: Glasgow radar folder not found")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == ".dat")
    if not files:
        raise DataError(f"{root}: no .dat files found (Glasgow radar dataset)")
    return files


def iter_dir(root: str | Path) -> Iterator[RawRadar]:
    """Read every ``.dat`` file under ``root`` whose name follows ``KPxxAyyRz``.

    Files with other names are an error (their labels would be unknown).
    """
    for p in find_dat_files(root):
        parse_name(p)
        yield read_dat(p)
