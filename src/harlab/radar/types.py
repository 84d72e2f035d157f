"""Shared radar data types: the contract between simulator, file loaders and processing.

Layout: ``RawRadar.data`` is complex64 with shape ``(n_pulses, n_fast)`` -- slow time
(pulse / chirp index) first, fast time (range sample / ADC sample) second, C-contiguous.
That is the order in which pulsed scans and FMCW chirps are recorded, so file readers
need no transpose, and slow-time filters run along axis 0.

``waveform`` says how to get a range-time matrix from ``data``:

* ``"pulsed"``: fast-time samples are already range bins; bin k lies at
  ``range_start_m + k * range_bin_m`` (UWB impulse radar such as PulsON, baseband/analytic).
* ``"fmcw"``: fast-time samples are de-chirped beat samples, ``samples_per_sweep`` per
  chirp of duration ``sweep_s``; an FFT over fast time gives range bins of ``c / (2 B)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from harlab.errors import DataError, unknown_name

SPEED_OF_LIGHT = 299_792_458.0

Waveform = Literal["pulsed", "fmcw"]


def field_names(cls: type) -> tuple[str, ...]:
    """Field names of a dataclass (the keys its ``from_dict`` accepts)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def check_keys(kind: str, given: Iterable[Any], allowed: tuple[str, ...]) -> None:
    """The standard one-line 'unknown <kind>' ConfigError for the first key not allowed."""
    for key in given:
        if key not in allowed:
            raise unknown_name(kind, str(key), allowed)


@dataclass(frozen=True)
class RadarParams:
    """What the radar is: carrier, bandwidth, pulse repetition frequency and waveform."""

    carrier_hz: float = 4.0e9
    bandwidth_hz: float = 1.8e9
    prf_hz: float = 290.0
    waveform: Waveform = "pulsed"
    range_start_m: float = 0.0
    range_bin_m: float = SPEED_OF_LIGHT / (2 * 1.8e9)
    sweep_s: float | None = None
    samples_per_sweep: int | None = None

    def __post_init__(self) -> None:
        for name in ("carrier_hz", "bandwidth_hz", "prf_hz", "range_bin_m"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise DataError(f"radar parameter {name} must be a positive number, got {v!r}")
        if not (np.isfinite(self.range_start_m) and self.range_start_m >= 0):
            raise DataError("radar parameter range_start_m (range of the first fast-time bin) "
                            f"must be a number >= 0 m, got {self.range_start_m!r}")
        if self.waveform not in ("pulsed", "fmcw"):
            raise DataError(f"radar waveform must be 'pulsed' or 'fmcw', got {self.waveform!r}")
        if self.waveform == "fmcw" and (
            self.sweep_s is None
            or self.samples_per_sweep is None
            or self.sweep_s <= 0
            or self.samples_per_sweep <= 0
        ):
            raise DataError("an FMCW radar needs a positive sweep_s and samples_per_sweep")
        if self.waveform == "fmcw" and self.sweep_s * self.prf_hz > 1 + 1e-9:
            raise DataError(
                f"an FMCW sweep of {self.sweep_s * 1e3:g} ms does not fit between chirps at "
                f"PRF {self.prf_hz:g} Hz (at most {1e3 / self.prf_hz:g} ms)")

    @property
    def wavelength_m(self) -> float:
        return SPEED_OF_LIGHT / self.carrier_hz

    @property
    def range_resolution_m(self) -> float:
        """Nominal range resolution c / (2 B)."""
        return SPEED_OF_LIGHT / (2 * self.bandwidth_hz)

    @property
    def v_max_ms(self) -> float:
        """Largest unambiguous radial speed, lambda * PRF / 4 (beyond it Doppler wraps)."""
        return self.wavelength_m * self.prf_hz / 4


@dataclass
class RawRadar:
    """One radar recording: complex samples ``(n_pulses, n_fast)`` plus labels and metadata.

    ``activity`` / ``person`` are the labels (None when unknown); ``meta`` carries what
    produced the recording (simulation parameters and seed, or the source file and its
    header) so that every processed frame can be traced back.
    """

    data: np.ndarray
    params: RadarParams
    activity: str | None = None
    person: str | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.data, np.ndarray) or self.data.ndim != 2:
            raise DataError(
                f"{self.source or 'radar recording'}: data must be a 2-D (pulses, fast time) "
                f"array, got {getattr(self.data, 'shape', type(self.data).__name__)}"
            )
        if self.data.shape[0] < 2 or self.data.shape[1] < 1:
            raise DataError(f"{self.source or 'radar recording'}: empty data {self.data.shape}")
        if not np.iscomplexobj(self.data):
            self.data = self.data.astype(np.complex64)

    @property
    def n_pulses(self) -> int:
        return int(self.data.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_pulses / self.params.prf_hz
