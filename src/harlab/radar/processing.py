"""Radar processing chain: raw samples -> range-time map -> micro-Doppler spectrogram -> frames.

The same code runs on simulated and real recordings (:class:`~harlab.radar.types.RawRadar`):

1. :func:`range_time_matrix` -- complex ``X[range, pulse]``: pulsed data as is (Hilbert
   transform along fast time for real RF scans), FMCW: FFT over each chirp's fast-time
   samples, positive-range half kept.
2. :func:`mti_filter` -- clutter suppression along slow time per range bin: 4th-order
   Butterworth high-pass with a cut-off in Hz (default; its start-up transient is
   discarded), two-pulse canceller, mean subtraction, or none.
3. :func:`range_gate` -- keep the bins between ``range_min_m`` and ``range_max_m``, or
   (``range_select: energy``) :func:`energy_gate` -- inside those limits, the contiguous
   band of bins around the one with the most slow-time energy after clutter suppression
   (where the person is), down to ``range_energy_db`` below that bin.
4. :func:`doppler_stft` -- two-sided STFT along slow time (no detrending), range bins
   combined coherently (sum, then one STFT) or incoherently (sum of ``|STFT|`` per bin).
5. :func:`crop_velocity` -- Doppler to radial velocity ``v = f_D * lambda / 2`` (positive =
   approaching the radar), cropped to ``+-v_max`` (default the paper's 5.14 m/s); with
   ``zero_doppler_notch_ms`` > 0, :func:`notch_zero_doppler` zeroes the rows with
   ``|v|`` up to that speed (the static-clutter line of data without MTI).
6. :func:`to_unit_db` -- ``20 log10(|S| / max)`` clipped to ``-dynamic_range_db`` and mapped to
   [0, 1].
7. :func:`frames` -- 1 s frames with 0.36 s overlap, each resized to 100 (Doppler) x 150
   (time), stacked ``(n, 100, 150)`` float32 in [0, 1]. Row 0 of a frame is ``+v_max``
   (image order: approaching at the top), column 0 the earliest time.
   :func:`level_frames` cuts the same frames at their absolute level (dB, not normalised).

Defaults follow the MRA-Net mapping in ``shared/reference/radar.md`` (PRF 290 Hz, 0.2 s Hann
window = the paper's CPI, hop 2 pulses, nfft 256, gate 1.5--7.5 m, crop to the paper's
+-5.14 m/s, MRA-Net Sect. 4.1; the radar's own unambiguous limit is 5.43 m/s at 4 GHz,
290 Hz). Every step is vectorised over pulses, range bins and frames.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harlab.errors import ConfigError, DataError
from harlab.fileio import save_png
from harlab.radar.types import RadarParams, RawRadar, check_keys, field_names

MtiMethod = Literal["butterworth", "two_pulse", "mean", "none"]
RangeSelect = Literal["fixed", "energy"]
Combine = Literal["coherent", "incoherent"]
Normalize = Literal["frame", "recording"]

# MRA-Net Sect. 4.1: "the radial velocity ranges of all activities are between -5.14 m/s and
# 5.14 m/s"; the frames' Doppler axis spans exactly that.
PAPER_V_MAX_MS = 5.14
_MTI = ("butterworth", "two_pulse", "mean", "none")
# Level frames (the frames' absolute dB, harlab.radar.dataset) stop this many dB below the
# recording's maximum: far below any display range, and finite where rows are zeroed.
LEVEL_RANGE_DB = 100.0
# Incoherent combination computes one STFT per range bin; bins are processed in chunks
# so that no intermediate complex array grows beyond this many bytes.
_CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ProcessingConfig:
    """All settings of the chain (see the module docstring for the order of the steps).

    ``hilbert``: ``None`` = automatic (apply the Hilbert transform to pulsed data whose
    imaginary part is exactly zero, i.e. real RF scans). ``velocity_sign``: ``None`` =
    automatic (+1 for pulsed baseband data ``exp(-j 4 pi R / lambda)``, -1 for FMCW beat
    signals ``exp(+j 2 pi f_c tau)``) so that approaching targets get positive velocity.
    ``transient_s``: slow-time seconds dropped after the MTI filter (``None`` = half a period
    of the cut-off, ``0.5 / mti_cutoff_hz``, for the Butterworth filter, else 0).
    ``v_max_ms``: crop limit in m/s (a number above the radar's unambiguous
    ``lambda * PRF / 4`` is a ConfigError); ``None`` = the radar's limit; ``"paper"``
    (default) = MRA-Net's :data:`PAPER_V_MAX_MS`, or the radar's limit where that is lower
    (see :func:`velocity_limit`).
    ``range_select``: ``"fixed"`` keeps every bin between ``range_min_m`` and
    ``range_max_m``; ``"energy"`` searches those limits for where the person is (see
    :func:`energy_gate`, ``range_energy_db`` wide).
    ``normalize``: dB-normalise each frame to its own maximum (``"frame"``) or every frame to
    the maximum of the whole recording (``"recording"``).
    ``zero_doppler_notch_ms``: zero the spectrogram rows with ``|v| <=`` this many m/s before
    dB scaling (0 = keep them), so that a static-clutter line does not set every frame's
    maximum.
    """

    mti: MtiMethod = "butterworth"
    mti_cutoff_hz: float = 1.0
    mti_order: int = 4
    transient_s: float | None = None
    range_min_m: float = 1.5
    range_max_m: float = 7.5
    range_select: RangeSelect = "fixed"
    range_energy_db: float = 10.0
    range_window: str | None = None
    hilbert: bool | None = None
    velocity_sign: int | None = None
    combine: Combine = "coherent"
    window: str = "hann"
    window_s: float = 0.2
    hop: int = 2
    nfft: int = 256
    v_max_ms: float | Literal["paper"] | None = "paper"
    dynamic_range_db: float = 60.0
    normalize: Normalize = "frame"
    zero_doppler_notch_ms: float = 0.0
    frame_s: float = 1.0
    frame_overlap_s: float = 0.36
    frame_height: int = 100
    frame_width: int = 150

    def __post_init__(self) -> None:
        def bad(msg: str) -> ConfigError:
            return ConfigError(f"radar processing: {msg}")

        for name, allowed in (("mti", _MTI), ("combine", ("coherent", "incoherent")),
                              ("normalize", ("frame", "recording")),
                              ("range_select", ("fixed", "energy"))):
            if getattr(self, name) not in allowed:
                raise bad(f"{name} must be one of {', '.join(allowed)}, "
                          f"got {getattr(self, name)!r}")
        positive = ("mti_cutoff_hz", "window_s", "dynamic_range_db", "frame_s",
                    "range_energy_db")
        for name in positive:
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise bad(f"{name} must be a positive number, got {v!r}")
        for name in ("mti_order", "hop", "nfft", "frame_height", "frame_width"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(f"{name} must be a positive integer, got {v!r}")
        if not (0 <= self.range_min_m < self.range_max_m):
            raise bad(
                f"need 0 <= range_min_m < range_max_m, got {self.range_min_m}, {self.range_max_m}"
            )
        if not (0 <= self.frame_overlap_s < self.frame_s):
            raise bad(f"frame_overlap_s must be in [0, frame_s), got {self.frame_overlap_s}")
        notch = self.zero_doppler_notch_ms
        if isinstance(notch, bool) or not isinstance(notch, int | float) or not (
                math.isfinite(notch) and notch >= 0):
            raise bad(f"zero_doppler_notch_ms must be a number >= 0, got {notch!r}")
        if self.transient_s is not None and not self.transient_s >= 0:
            raise bad(f"transient_s must be >= 0, got {self.transient_s}")
        v = self.v_max_ms
        if v is not None and v != "paper" and (
            isinstance(v, bool) or not isinstance(v, int | float) or not v > 0
        ):
            raise bad(f"v_max_ms must be a positive number, 'paper' or null, got {v!r}")
        if self.velocity_sign not in (None, 1, -1):
            raise bad(f"velocity_sign must be 1, -1 or null, got {self.velocity_sign!r}")
        _window(self.window, 8)
        if self.range_window is not None:
            _window(self.range_window, 8)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> ProcessingConfig:
        """Build from a mapping; unknown keys are a ConfigError with a suggestion."""
        values = dict(values or {})
        check_keys("radar processing option", values, field_names(cls))
        try:
            return cls(**values)
        except TypeError as exc:  # pragma: no cover - guarded by the key check above
            raise ConfigError(f"radar processing: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> ProcessingConfig:
        """Read a YAML mapping of options (e.g. ``configs/radar/processing_default.yaml``)."""
        from harlab.config import load_yaml  # lazy: harlab.config pulls in scikit-learn

        return cls.from_dict(load_yaml(path))


@dataclass
class RangeTimeMap:
    """Slow-time x range magnitude after clutter suppression, in dB (maximum = 0 dB)."""

    db: np.ndarray  # (n_range, n_pulses) float32
    range_m: np.ndarray  # (n_range,)
    time_s: np.ndarray  # (n_pulses,)
    gate_m: tuple[float, float]


@dataclass
class Spectrogram:
    """Micro-Doppler spectrogram of one recording.

    ``magnitude`` is the linear ``|STFT|`` combined over the range gate, shape
    ``(n_velocity, n_time)`` float32 with ``velocity_ms`` ascending (positive =
    approaching); ``time_s`` are the window centres in seconds from the recording start.
    """

    magnitude: np.ndarray
    velocity_ms: np.ndarray
    time_s: np.ndarray
    range_time: RangeTimeMap
    params: RadarParams
    cfg: ProcessingConfig
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def db(self) -> np.ndarray:
        """dB relative to the recording's maximum, clipped to ``-dynamic_range_db``."""
        return db_scale(self.magnitude, self.cfg.dynamic_range_db)

    @property
    def unit(self) -> np.ndarray:
        """The spectrogram mapped to [0, 1] (0 = floor, 1 = maximum of the recording)."""
        return to_unit_db(self.magnitude, self.cfg.dynamic_range_db)

    @property
    def column_s(self) -> float:
        return self.cfg.hop / self.params.prf_hz


# --------------------------------------------------------------------------- steps


def _window(name: str, n: int) -> np.ndarray:
    from scipy.signal import get_window

    try:
        return get_window(name, n, fftbins=True).astype(np.float64)
    except (ValueError, TypeError):
        raise ConfigError(
            f"radar processing: unknown window {name!r} (use a scipy.signal.get_window name, "
            "e.g. hann, hamming, blackman)"
        ) from None


def _where(raw: RawRadar) -> str:
    return raw.source or "radar recording"


def range_time_matrix(
    raw: RawRadar, cfg: ProcessingConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Complex range-time matrix ``X[range, pulse]`` and the range of each row in metres.

    Pulsed: the fast-time samples are the range bins (Hilbert transform first when they are
    real RF samples). FMCW: FFT of each chirp (optionally windowed), keeping bins
    ``0 .. n/2 - 1`` (positive beat frequencies = positive ranges, ``c / 2B`` apart).
    The slow-time sign is set so that approaching targets have positive Doppler.
    """
    cfg = cfg or ProcessingConfig()
    p = raw.params
    data = raw.data
    if not np.all(np.isfinite(data)):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise DataError(f"{_where(raw)}: {bad} raw samples are NaN or infinite")
    if p.waveform == "pulsed":
        real_rf = cfg.hilbert if cfg.hilbert is not None else not np.any(data.imag)
        if real_rf:
            from scipy.signal import hilbert

            data = hilbert(data.real, axis=1)
        x = data
        rng = p.range_start_m + p.range_bin_m * np.arange(data.shape[1])
        sign = 1
    else:
        n = data.shape[1]
        if n < 2:
            raise DataError(f"{_where(raw)}: an FMCW chirp needs at least 2 samples, got {n}")
        w = _window(cfg.range_window, n) if cfg.range_window else None
        spec = np.fft.fft(data * w if w is not None else data, axis=1)
        x = spec[:, : n // 2]
        rng = p.range_start_m + p.range_resolution_m * np.arange(n // 2)
        sign = -1
    if cfg.velocity_sign is not None:
        sign = cfg.velocity_sign
    x = np.ascontiguousarray(x.T, dtype=np.complex64)
    if sign < 0:
        np.conjugate(x, out=x)
    return x, rng.astype(np.float64)


def mti_filter(
    x: np.ndarray, prf_hz: float, cfg: ProcessingConfig | None = None
) -> tuple[np.ndarray, int]:
    """Suppress static clutter along slow time (last axis); returns ``(y, pulses_dropped)``.

    ``butterworth``: high-pass ``scipy.signal.butter(order, cutoff, 'highpass', fs=PRF,
    output='sos')`` applied causally with ``sosfilt``; the filter state starts in the steady
    state of each bin's static return (its mean over the first ``1 / cutoff`` seconds) and
    the first ``transient_s`` seconds of output are dropped. ``two_pulse``:
    ``y[n] = x[n] - x[n-1]`` (one pulse fewer). ``mean``: subtract each bin's slow-time
    mean. ``none``: unchanged.
    """
    cfg = cfg or ProcessingConfig()
    n = x.shape[-1]
    if cfg.mti == "none":
        y, lost = x, 0
    elif cfg.mti == "mean":
        y, lost = x - x.mean(axis=-1, keepdims=True), 0
    elif cfg.mti == "two_pulse":
        y, lost = np.diff(x, axis=-1), 1
    else:
        from scipy.signal import butter, sosfilt, sosfilt_zi

        if not cfg.mti_cutoff_hz < prf_hz / 2:
            raise ConfigError(
                f"radar processing: mti_cutoff_hz {cfg.mti_cutoff_hz} must be below PRF/2 "
                f"= {prf_hz / 2:g} Hz"
            )
        sos = butter(cfg.mti_order, cfg.mti_cutoff_hz, btype="highpass", fs=prf_hz, output="sos")
        x2 = x.reshape(-1, n)
        # Start the filter in the steady state of the static return, estimated as each bin's
        # mean over the first 1/cutoff seconds: clutter is cancelled from the first pulse and
        # the start-up transient of the moving part stays small (measured on a 1.3 m/s target
        # under 40 dB stronger clutter: -43 dB at the start, -67 dB after 1 s, relative to
        # the target, versus -0.2 / -24 dB when starting from the first pulse).
        k = max(1, min(n, int(round(prf_hz / cfg.mti_cutoff_hz))))
        static = x2[:, :k].mean(axis=1)
        zi = sosfilt_zi(sos)[:, None, :] * static[None, :, None]
        y, _ = sosfilt(sos, x2, axis=-1, zi=zi)
        y = y.reshape(x.shape)
        lost = 0
    transient = cfg.transient_s
    if transient is None:
        transient = 0.5 / cfg.mti_cutoff_hz if cfg.mti == "butterworth" else 0.0
    drop = int(round(transient * prf_hz))
    y = y[..., drop:]
    return np.ascontiguousarray(y, dtype=np.complex64), lost + drop


def range_gate(
    x: np.ndarray, range_m: np.ndarray, r_min: float, r_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``x`` (range first) whose range lies in ``[r_min, r_max]``, and their ranges."""
    keep = (range_m >= r_min) & (range_m <= r_max)
    if not keep.any():
        raise DataError(
            f"range gate {r_min:g}-{r_max:g} m contains no range bin (bins cover "
            f"{range_m[0]:.3g}-{range_m[-1]:.3g} m)"
        )
    return x[keep], range_m[keep]


def energy_gate(
    y: np.ndarray, range_m: np.ndarray, cfg: ProcessingConfig
) -> tuple[float, float]:
    """Where the person is: the range limits of the contiguous band of bins around the bin
    with the most slow-time energy ``sum |y|^2`` (``y`` after clutter suppression, so static
    returns do not count) among the bins between ``range_min_m`` and ``range_max_m``; the
    band holds the neighbours whose energy is within ``range_energy_db`` of that bin's."""
    inside = np.flatnonzero((range_m >= cfg.range_min_m) & (range_m <= cfg.range_max_m))
    if inside.size == 0:
        range_gate(y, range_m, cfg.range_min_m, cfg.range_max_m)  # raises the DataError
    energy = np.einsum("ij,ij->i", y[inside].real, y[inside].real) + np.einsum(
        "ij,ij->i", y[inside].imag, y[inside].imag)
    peak = int(np.argmax(energy))
    strong = energy >= energy[peak] * 10 ** (-cfg.range_energy_db / 10)
    lo = hi = peak
    while lo > 0 and strong[lo - 1]:
        lo -= 1
    while hi < len(strong) - 1 and strong[hi + 1]:
        hi += 1
    return float(range_m[inside[lo]]), float(range_m[inside[hi]])


def stft_params(prf_hz: float, cfg: ProcessingConfig) -> tuple[int, np.ndarray]:
    """Window length in pulses (``round(window_s * PRF)``) and the window samples."""
    n_win = max(2, int(round(cfg.window_s * prf_hz)))
    if n_win > cfg.nfft:
        raise ConfigError(
            f"radar processing: the STFT window has {n_win} pulses ({cfg.window_s} s at "
            f"{prf_hz:g} Hz) but nfft is {cfg.nfft}; use nfft >= {n_win}"
        )
    if cfg.hop > n_win:
        raise ConfigError(
            f"radar processing: hop {cfg.hop} is longer than the STFT window ({n_win} pulses)"
        )
    return n_win, _window(cfg.window, n_win)


def _stft(x: np.ndarray, prf_hz: float, n_win: int, win: np.ndarray, cfg: ProcessingConfig):
    from scipy.signal import stft

    # Two-sided (complex slow-time signal), no detrending, full windows only (no boundary
    # extension or padding), zero-padded to nfft.
    f, t, s = stft(
        x,
        fs=prf_hz,
        window=win,
        nperseg=n_win,
        noverlap=n_win - cfg.hop,
        nfft=cfg.nfft,
        detrend=False,
        return_onesided=False,
        boundary=None,
        padded=False,
        axis=-1,
        scaling="spectrum",
    )
    return np.fft.fftshift(f), t, np.fft.fftshift(s, axes=-2)


def doppler_stft(
    x: np.ndarray, prf_hz: float, cfg: ProcessingConfig | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``|STFT|`` of the gated range-time matrix ``x`` (range, pulse) combined over range.

    ``scipy.signal.stft`` with the configured window (``window_s`` long), hop ``cfg.hop``
    pulses, ``nfft`` points, two-sided and fftshifted (Doppler ``-PRF/2 .. PRF/2``), no
    detrending, and only windows lying fully inside the signal (no padded edge columns).
    Returns ``(magnitude (nfft, n_time), doppler_hz (nfft,), time_s (n_time,))``, time from
    the first pulse of ``x`` to each window centre.
    """
    cfg = cfg or ProcessingConfig()
    n = x.shape[-1]
    n_win, win = stft_params(prf_hz, cfg)
    if n < n_win:
        raise DataError(
            f"{n} pulses after clutter suppression are fewer than one STFT window ({n_win})"
        )
    if cfg.combine == "coherent":
        f, t, s = _stft(x.sum(axis=0), prf_hz, n_win, win, cfg)
        mag = np.abs(s)
    else:
        n_time = (n - n_win) // cfg.hop + 1
        per_chunk = max(1, _CHUNK_BYTES // (8 * cfg.nfft * n_time))
        mag = np.zeros((cfg.nfft, n_time), dtype=np.float32)
        for start in range(0, x.shape[0], per_chunk):  # chunks of range bins, bounded memory
            f, t, s = _stft(x[start : start + per_chunk], prf_hz, n_win, win, cfg)
            mag += np.abs(s).sum(axis=0)
    return mag.astype(np.float32), f.astype(np.float64), t.astype(np.float64)


def crop_velocity(
    mag: np.ndarray, doppler_hz: np.ndarray, wavelength_m: float, v_max_ms: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``mag`` with ``|v| <= v_max`` where ``v = f_D * lambda / 2`` (ascending)."""
    v = doppler_hz * wavelength_m / 2
    keep = np.abs(v) <= v_max_ms * (1 + 1e-9)
    return mag[keep], v[keep]


def notch_zero_doppler(mag: np.ndarray, velocity_ms: np.ndarray, notch_ms: float) -> np.ndarray:
    """``mag`` (velocity, time) with the rows of ``|v| <= notch_ms`` set to 0 (a copy);
    ``notch_ms`` 0 returns ``mag`` unchanged."""
    if notch_ms <= 0:
        return mag
    out = mag.copy()
    out[np.abs(velocity_ms) <= notch_ms] = 0
    return out


def db_scale(mag: np.ndarray, dynamic_range_db: float, axis: Any = None) -> np.ndarray:
    """``20 log10(mag / max)`` clipped below at ``-dynamic_range_db`` (max over ``axis``)."""
    mag = np.asarray(mag, dtype=np.float32)
    peak = mag.max(axis=axis, keepdims=True) if mag.size else np.float32(1)
    tiny = np.finfo(np.float32).tiny
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 20 * np.log10(np.maximum(mag, tiny) / np.maximum(peak, tiny))
    db = np.where(peak > 0, db, -dynamic_range_db)  # an all-zero input sits at the floor
    return np.clip(db, -dynamic_range_db, 0).astype(np.float32)


def to_unit_db(mag: np.ndarray, dynamic_range_db: float, axis: Any = None) -> np.ndarray:
    """dB-normalise (see :func:`db_scale`) and map ``[-dynamic_range_db, 0]`` to [0, 1]."""
    return (db_scale(mag, dynamic_range_db, axis) / dynamic_range_db + 1).astype(np.float32)


def velocity_limit(cfg: ProcessingConfig, params: RadarParams) -> float:
    """The crop limit in m/s that ``cfg.v_max_ms`` means for a radar with ``params``."""
    if cfg.v_max_ms is None:
        return params.v_max_ms
    if cfg.v_max_ms == "paper":
        return min(PAPER_V_MAX_MS, params.v_max_ms)
    return float(cfg.v_max_ms)


def process(raw: RawRadar, cfg: ProcessingConfig | None = None) -> Spectrogram:
    """Run steps 1--5 on one recording: the spectrogram plus the range-time map for plots."""
    cfg = cfg or ProcessingConfig()
    p = raw.params
    v_lim = velocity_limit(cfg, p)
    if v_lim > p.v_max_ms * (1 + 1e-9):
        raise ConfigError(
            f"radar processing: v_max_ms {v_lim} exceeds the radar's unambiguous "
            f"{p.v_max_ms:.3f} m/s (lambda * PRF / 4); set v_max_ms lower, or null for "
            "the radar's own limit"
        )
    x, rng = range_time_matrix(raw, cfg)
    try:
        y, dropped = mti_filter(x, p.prf_hz, cfg)
        t0 = dropped / p.prf_hz
        gate = (cfg.range_min_m, cfg.range_max_m)
        if cfg.range_select == "energy":
            gate = energy_gate(y, rng, cfg)
        gated, _ = range_gate(y, rng, *gate)
        mag, f_d, t = doppler_stft(gated, p.prf_hz, cfg)
    except DataError as exc:
        raise DataError(f"{_where(raw)} ({raw.n_pulses} pulses): {exc}") from None
    mag, v = crop_velocity(mag, f_d, p.wavelength_m, v_lim)
    mag = notch_zero_doppler(mag, v, cfg.zero_doppler_notch_ms)
    rt = RangeTimeMap(
        db=db_scale(np.abs(y), 60.0),
        range_m=rng,
        time_s=t0 + np.arange(y.shape[-1]) / p.prf_hz,
        gate_m=gate,
    )
    return Spectrogram(
        magnitude=mag,
        velocity_ms=v,
        time_s=t + t0,
        range_time=rt,
        params=p,
        cfg=cfg,
        source=raw.source,
        meta={"activity": raw.activity, "person": raw.person, **raw.meta,
              "range_gate_m": [round(gate[0], 4), round(gate[1], 4)]},
    )


def frame_starts(n_time: int, column_s: float, cfg: ProcessingConfig) -> tuple[np.ndarray, int]:
    """Start column of every full frame and the number of columns per frame."""
    n_cols = max(1, int(round(cfg.frame_s / column_s)))
    hop = (cfg.frame_s - cfg.frame_overlap_s) / column_s
    if n_time < n_cols:
        return np.zeros(0, dtype=np.int64), n_cols
    k = int(math.floor((n_time - n_cols) / hop + 1e-9)) + 1
    starts = np.round(np.arange(k) * hop).astype(np.int64)
    return starts[starts + n_cols <= n_time], n_cols


def resize_frames(stack: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a stack ``(n, h, w)`` to ``(n, height, width)`` in one call."""
    from scipy.ndimage import zoom

    n, h, w = stack.shape
    if (h, w) == (height, width) or n == 0:
        return np.ascontiguousarray(stack, dtype=np.float32).reshape(n, height, width)
    out = zoom(stack, (1, height / h, width / w), order=1, mode="nearest", grid_mode=True)
    return out.astype(np.float32)


def frames(spec: Spectrogram, cfg: ProcessingConfig | None = None) -> np.ndarray:
    """Cut the spectrogram into frames: ``(n, frame_height, frame_width)`` float32 in [0, 1].

    Frames last ``frame_s`` and overlap by ``frame_overlap_s`` (start every
    ``frame_s - frame_overlap_s`` seconds, rounded to the nearest column); a partial last
    frame is not produced. Row 0 is ``+v_max`` (image order), column 0 the earliest time.
    """
    cfg = cfg or spec.cfg
    idx = _frame_columns(spec, cfg)
    if idx is None:
        return np.zeros((0, cfg.frame_height, cfg.frame_width), dtype=np.float32)
    stack = np.moveaxis(spec.magnitude[:, idx], 1, 0)  # (n, n_vel, n_cols)
    if cfg.normalize == "frame":
        unit = to_unit_db(stack, cfg.dynamic_range_db, axis=(1, 2))
    else:
        unit = to_unit_db(spec.magnitude, cfg.dynamic_range_db)[:, idx].transpose(1, 0, 2)
    unit = unit[:, ::-1, :]  # image order: +v_max in row 0
    return np.clip(resize_frames(unit, cfg.frame_height, cfg.frame_width), 0.0, 1.0)


def _frame_columns(spec: Spectrogram, cfg: ProcessingConfig) -> np.ndarray | None:
    """Column indices ``(n, n_cols)`` of every full frame, None when there is none."""
    starts, n_cols = frame_starts(spec.magnitude.shape[1], spec.column_s, cfg)
    if starts.size == 0:
        return None
    return starts[:, None] + np.arange(n_cols)[None, :]


def level_frames(spec: Spectrogram, cfg: ProcessingConfig | None = None) -> np.ndarray:
    """The frames of :func:`frames` at their absolute level: ``(n, frame_height,
    frame_width)`` float32 dB re. 1 of the spectrogram magnitude (``20 log10 |S|``), floored
    at :data:`LEVEL_RANGE_DB` below the recording's maximum (so zeroed rows stay finite),
    cut, oriented and resized like :func:`frames` but not normalised."""
    cfg = cfg or spec.cfg
    idx = _frame_columns(spec, cfg)
    if idx is None:
        return np.zeros((0, cfg.frame_height, cfg.frame_width), dtype=np.float32)
    tiny = np.finfo(np.float32).tiny
    db = 20 * np.log10(np.maximum(spec.magnitude.astype(np.float64), tiny))
    db = np.maximum(db, db.max() - LEVEL_RANGE_DB)
    stack = db[:, idx].transpose(1, 0, 2)[:, ::-1, :]  # (n, n_vel, n_cols), +v_max in row 0
    return resize_frames(stack.astype(np.float32), cfg.frame_height, cfg.frame_width)


def frame_times(spec: Spectrogram, cfg: ProcessingConfig | None = None) -> np.ndarray:
    """Start time (s, from the recording start) of each frame :func:`frames` returns."""
    cfg = cfg or spec.cfg
    starts, _ = frame_starts(spec.magnitude.shape[1], spec.column_s, cfg)
    half = spec.column_s / 2
    return (spec.time_s[starts] - half) if starts.size else np.zeros(0)


# --------------------------------------------------------------------------- plots


def _title(spec: Spectrogram, title: str | None) -> str:
    if title is not None:
        return title
    parts = [str(spec.meta.get(k)) for k in ("activity", "person") if spec.meta.get(k)]
    return " / ".join(parts) or Path(spec.source).name or "radar recording"


def plot_spectrogram(spec: Spectrogram, path: str | Path, title: str | None = None) -> Path:
    """Save the spectrogram as PNG: time (s) x radial velocity (m/s), dB colour bar."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.6))
    ax = fig.add_subplot()
    dt = spec.column_s
    dv = float(spec.velocity_ms[1] - spec.velocity_ms[0]) if spec.velocity_ms.size > 1 else 1
    extent = (
        spec.time_s[0] - dt / 2,
        spec.time_s[-1] + dt / 2,
        spec.velocity_ms[0] - dv / 2,
        spec.velocity_ms[-1] + dv / 2,
    )
    im = ax.imshow(
        spec.db,
        origin="lower",
        aspect="auto",
        extent=extent,
        cmap="jet",
        vmin=-spec.cfg.dynamic_range_db,
        vmax=0,
        interpolation="nearest",
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("radial velocity (m/s, + = approaching)")
    ax.set_title(_title(spec, title))
    fig.colorbar(im, ax=ax, label="dB (re. maximum)")
    return save_png(fig, path)


def plot_range_time(spec: Spectrogram, path: str | Path, title: str | None = None) -> Path:
    """Save the range-time map (after clutter suppression) as PNG, with the range gate marked."""
    from matplotlib.figure import Figure

    rt = spec.range_time
    step = max(1, rt.db.shape[1] // 2000)  # at most ~2000 columns in a picture
    fig = Figure(figsize=(8, 3.6))
    ax = fig.add_subplot()
    dr = float(rt.range_m[1] - rt.range_m[0]) if rt.range_m.size > 1 else 1.0
    im = ax.imshow(
        rt.db[:, ::step],
        origin="lower",
        aspect="auto",
        cmap="viridis",
        vmin=-60,
        vmax=0,
        extent=(rt.time_s[0], rt.time_s[-1], rt.range_m[0] - dr / 2, rt.range_m[-1] + dr / 2),
        interpolation="nearest",
    )
    for r in rt.gate_m:
        ax.axhline(r, color="w", ls="--", lw=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("range (m)")
    ax.set_title(_title(spec, title) + " - range-time (after MTI)")
    fig.colorbar(im, ax=ax, label="dB (re. maximum)")
    return save_png(fig, path)


def plot_frames(
    stack: np.ndarray,
    path: str | Path,
    v_max_ms: float,
    frame_s: float = 1.0,
    titles: list[str] | None = None,
) -> Path:
    """Save up to 8 frames (``(n, H, W)`` in [0, 1], row 0 = +v_max) side by side as PNG."""
    from matplotlib.figure import Figure

    n = min(8, len(stack))
    if n == 0:
        raise DataError(f"{path}: no frames to plot")
    fig = Figure(figsize=(2.2 * n + 1, 2.6))
    axes = fig.subplots(1, n, squeeze=False)[0]
    for i, ax in enumerate(axes):
        im = ax.imshow(
            stack[i],
            aspect="auto",
            cmap="jet",
            vmin=0,
            vmax=1,
            extent=(0, frame_s, -v_max_ms, v_max_ms),
        )
        ax.set_xlabel("time (s)")
        if i == 0:
            ax.set_ylabel("velocity (m/s)")
        if titles:
            ax.set_title(titles[i], fontsize=8)
    fig.colorbar(im, ax=list(axes), label="normalised dB")
    return save_png(fig, path)
