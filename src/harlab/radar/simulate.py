"""Person-specific radar simulation: raw pulsed-UWB or FMCW data of the five MRA-Net activities.

Pipeline of one recording (``simulate_recording``): draw the recording's jitter of the
person's style (+-4 % by default), generate joint trajectories at every pulse
(:mod:`harlab.radar.kinematics`), turn them into 16 ellipsoid scatterers with aspect-dependent
RCS (:mod:`harlab.radar.body`), and synthesise raw complex baseband samples
``(n_pulses, n_fast)`` that the real-data chain processes exactly like recorded data.

Signal models (``shared/reference/radar.md`` section 1.5), radar at ``(0, 0, 1 m)``:

* ``pulsed`` (PulsON-like UWB): ``s[n, m] = sum_i A_i g(r_m - R_i) exp(-j 4 pi R_i / lambda)``
  with ``A_i = sqrt(sigma_i) / R_i^2``, range bins ``r_m = range_start_m + m range_bin_m`` up
  to ``range_stop_m`` and a Gaussian pulse envelope ``g`` of range width
  ``sigma_r = c sigma_p / 2``, ``sigma_p = sqrt(ln 10) / (pi B)`` (-10 dB power bandwidth B).
  Each scatterer only touches the few bins within +-3.5 sigma_r (sparse accumulation).
* ``fmcw``: beat ``x[n, k] = sum_i A_i exp(j 2 pi (f_c tau_i + S tau_i t_k - S tau_i^2 / 2))``,
  ``tau_i = 2 R_i / c``, slope ``S = B / sweep_s``, ``t_k = k sweep_s / samples_per_sweep``;
  an FFT over k peaks at range bin ``R / (c / 2B)``.

Slow time is sampled at the PRF with no anti-alias filter, so limbs faster than
``v_max = lambda PRF / 4`` wrap in Doppler exactly as in a real radar.

Add-ons: static clutter (a few fixed point reflectors plus direct Tx/Rx coupling at the
near edge, clutter-to-signal ratio 10--20 dB), an optional ground bounce (image
scatterers below the floor, reflection coefficient 0.3--0.6, one-bounce path
``(R_direct + R_image) / 2``), and complex white Gaussian noise.

Conditions of real data (``configs/radar/simulate_realistic.yaml``, processed without MTI by
``configs/radar/processing_realistic.yaml``): ``range_offset_m`` moves every motion that far
away from the radar, ``limb_gain_db`` scales the RCS of arms, legs and feet
(``LIMB_SCATTERERS``) relative to head, torso, shoulders and hips, and ``clutter_db`` sets
the range the clutter-to-signal ratio is drawn from (e.g. 30-40 dB: the 0-Hz line then
holds every frame's maximum, as in real spectrograms without clutter suppression).

**SNR definition**: ``snr_db = 10 log10(P_s / P_n)`` where ``P_s`` is the mean power of the
target return (person only, no clutter, no noise) over all samples of the recording, i.e.
all pulses x all fast-time samples of the range window (the gated band), and ``P_n`` is the
noise power per complex sample ``E|n|^2``. ``snr_db=None`` means no noise.

**Default dataset** (``SimulationConfig()``): the six subjects of MRA-Net Table 2 x five
activities. MRA-Net's Table 3 counts *spectrogram frames* (1 s frames, 0.36 s overlap, i.e.
hop 0.64 s; 7498 in total), not recordings. The default processing chain
(:mod:`harlab.radar.processing`) loses 0.7 s per recording (0.5 s MTI transient, one 0.2 s
STFT window), so a recording of ``D`` seconds gives ``floor((D - 0.7 - 1) / 0.64) + 1``
frames; with the default ``D = 11.5 s`` that is 16 frames, and each (subject, activity)
cell gets ``round(count / 16)`` recordings (``TABLE3_FRAMES``,
``paper_recordings_per_cell``), e.g. 340 walk frames of subject 1 -> 21 recordings -> 336
frames; 469 recordings, 7504 frames in total (paper: 7498).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harlab.errors import ConfigError
from harlab.hardware import process_pool, reuse_freed_memory
from harlab.radar.body import (
    SCATTERER_NAMES,
    PersonSpec,
    check_body,
    ellipsoid_rcs,
    scatterer_geometry,
    spread_styles,
)
from harlab.radar.kinematics import ACTIVITIES, Motion, check_activity, generate_motion
from harlab.radar.types import SPEED_OF_LIGHT, RadarParams, RawRadar, check_keys, field_names

__all__ = [
    "ACTIVITIES",
    "DEFAULT_PERSONS",
    "PersonSpec",
    "SimulationConfig",
    "TABLE3_FRAMES",
    "frames_per_recording",
    "joint_positions",
    "paper_recordings_per_cell",
    "scatterers",
    "simulate_dataset",
    "simulate_recording",
]

# MRA-Net Table 2: (name, height m, weight kg, gender). Styles: one Latin-hypercube draw
# over the six (PersonSpec.spread) with DEFAULT_STYLE_SEED.
_TABLE2 = (
    ("sub1", 1.73, 73.0, "male"),
    ("sub2", 1.78, 71.0, "male"),
    ("sub3", 1.72, 75.0, "male"),
    ("sub4", 1.66, 66.0, "female"),
    ("sub5", 1.88, 92.0, "male"),
    ("sub6", 1.69, 52.0, "female"),
)
DEFAULT_STYLE_SEED = 2018
# The settings a simulated frame folder was made with (written beside dataset.json), so that
# `harlab reproduce mranet` can re-simulate its test recordings at other SNRs.
SIM_FILE = "harlab_simulation.json"
DEFAULT_PERSONS: list[PersonSpec] = PersonSpec.spread(_TABLE2, seed=DEFAULT_STYLE_SEED)

# MRA-Net Table 3: spectrogram frames (1 s, hop 0.64 s) per subject and activity.
TABLE3_FRAMES: dict[str, dict[str, int]] = {
    "sub1": {"walk": 340, "run": 338, "jump_forward": 166, "circle": 396, "box": 266},
    "sub2": {"walk": 388, "run": 282, "jump_forward": 160, "circle": 356, "box": 197},
    "sub3": {"walk": 233, "run": 237, "jump_forward": 220, "circle": 430, "box": 158},
    "sub4": {"walk": 208, "run": 211, "jump_forward": 100, "circle": 242, "box": 141},
    "sub5": {"walk": 256, "run": 175, "jump_forward": 190, "circle": 320, "box": 145},
    "sub6": {"walk": 177, "run": 414, "jump_forward": 197, "circle": 316, "box": 239},
}
FRAME_S = 1.0
FRAME_HOP_S = 0.64
# Seconds the default processing chain loses per recording: the MTI start-up transient
# (0.5 s) and one STFT window (0.2 s).
PROCESSING_LOSS_S = 0.7
DEFAULT_DURATION_S = 11.5
RADAR_HEIGHT_M = 1.0
SIM_OPTIONS = ("start_range_m", "direction", "clutter", "ground_bounce", "jitter",
               "range_stop_m", "radar_height_m", "range_offset_m", "limb_gain_db",
               "clutter_db")
# Scatterers whose returns ``limb_gain_db`` scales (arms, legs, feet); head, torso,
# shoulders and hips keep their RCS.
LIMB_SCATTERERS: tuple[str, ...] = tuple(
    n for n in SCATTERER_NAMES if any(k in n for k in ("arm", "leg", "foot")))
DEFAULT_CLUTTER_DB = (10.0, 20.0)


def frames_per_recording(duration_s: float, frame_s: float = FRAME_S,
                         hop_s: float = FRAME_HOP_S, lost_s: float = PROCESSING_LOSS_S) -> int:
    """Frames (``frame_s`` long, hop ``hop_s``) of a ``duration_s`` recording after the chain
    has lost ``lost_s`` seconds."""
    usable = duration_s - lost_s
    if usable < frame_s:
        return 0
    return int(math.floor((usable - frame_s) / hop_s + 1e-9)) + 1


def paper_recordings_per_cell(duration_s: float = DEFAULT_DURATION_S) -> dict[str, dict[str, int]]:
    """Recordings per (subject, activity) whose frame counts approximate MRA-Net Table 3."""
    per = frames_per_recording(duration_s)
    if per < 1:
        raise ConfigError(f"recordings of {duration_s} s are shorter than one {FRAME_S} s frame")
    return {p: {a: max(1, round(n / per)) for a, n in cells.items()}
            for p, cells in TABLE3_FRAMES.items()}


def pulse_sigma_range_m(radar: RadarParams) -> float:
    """Range standard deviation of the Gaussian pulse envelope: c sigma_p / 2."""
    sigma_p = math.sqrt(math.log(10.0)) / (math.pi * radar.bandwidth_hz)
    return SPEED_OF_LIGHT * sigma_p / 2


# ------------------------------------------------------------------ ground truth
def _streams(seed: int) -> list[np.random.SeedSequence]:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.SeedSequence(int(seed)).spawn(3)


def _motion(
    person: PersonSpec,
    activity: str,
    t: np.ndarray,
    seed: int,
    jitter: float = 0.04,
    start_range_m: float | None = None,
    direction: str | None = None,
    range_offset_m: float = 0.0,
) -> tuple[PersonSpec, dict[str, float], Motion, np.random.Generator]:
    """Jittered person, jitter values, motion and the signal-stage generator for ``seed``;
    ``range_offset_m`` moves the whole motion that much further from the radar."""
    check_activity(activity)
    s_jit, s_mot, s_sig = _streams(seed)
    p, jit = person.jittered(np.random.default_rng(s_jit), jitter)
    motion = generate_motion(p, activity, t, np.random.default_rng(s_mot),
                             start_range_m=start_range_m, direction=direction)
    if range_offset_m:
        motion.joints[..., 0] += float(range_offset_m)
        motion.meta["range_offset_m"] = float(range_offset_m)
    return p, jit, motion, np.random.default_rng(s_sig)


def joint_positions(
    person: PersonSpec, activity: str, t: np.ndarray, seed: int, **opts: Any
) -> np.ndarray:
    """World joint positions ``(T, 17, 3)`` (order ``body.JOINTS``); same as the simulator's.

    With ``t = arange(n) / prf`` and the same ``seed`` / options these are exactly the
    trajectories behind ``simulate_recording``.
    """
    _, _, motion, _ = _motion(person, activity, np.asarray(t, float), seed, **_motion_opts(opts))
    return motion.joints


def _motion_opts(opts: dict[str, Any]) -> dict[str, Any]:
    return {k: opts[k] for k in ("jitter", "start_range_m", "direction", "range_offset_m")
            if k in opts}


def _scatter(
    joints: np.ndarray, person: PersonSpec, radar_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scatterer centres (T, 16, 3), ranges (T, 16) and RCS (T, 16) seen from radar_pos."""
    centre, axis, a, c = scatterer_geometry(joints, person.dims)
    los = radar_pos - centre
    rng_m = np.sqrt((los * los).sum(-1))
    cos_t = (los * axis).sum(-1) / rng_m
    return centre, rng_m, ellipsoid_rcs(a, c, cos_t)


def scatterers(
    person: PersonSpec,
    activity: str,
    t: np.ndarray,
    seed: int,
    radar_height_m: float = RADAR_HEIGHT_M,
    **opts: Any,
) -> dict[str, Any]:
    """Ground truth of the 16 scatterers: centres, velocities, ranges, radial speeds, RCS.

    ``radial_velocity_ms`` is ``-dR/dt`` (positive = approaching the radar, i.e. positive
    Doppler ``f_D = 2 v_r / lambda``). Same trajectories as ``simulate_recording`` for the
    same seed and options.
    """
    t = np.asarray(t, float)
    p, jit, motion, _ = _motion(person, activity, t, seed, **_motion_opts(opts))
    radar_pos = np.array([0.0, 0.0, radar_height_m])
    centre, rng_m, rcs = _scatter(motion.joints, p, radar_pos)
    return {
        "names": SCATTERER_NAMES,
        "t": t,
        "centres": centre,
        "velocities": np.gradient(centre, t, axis=0),
        "ranges_m": rng_m,
        "radial_velocity_ms": -np.gradient(rng_m, t, axis=0),
        "rcs_m2": rcs,
        "joints": motion.joints,
        "meta": motion.meta,
        "person": p,
        "jitter": jit,
    }


# ------------------------------------------------------------------ signal models
def _pulsed(
    rng_m: np.ndarray, amp: np.ndarray, radar: RadarParams, n_fast: int
) -> np.ndarray:
    """Sparse accumulation of Gaussian pulses: (T, S) ranges/amplitudes -> (T, n_fast).

    Each scatterer touches only ``n_taps`` bins around its range; the loop runs over
    scatterers and taps (row indices are unique within one update, so ``+=`` is exact).
    """
    t_len, n_s = rng_m.shape
    dr = radar.range_bin_m
    sig_r = pulse_sigma_range_m(radar)
    half = 3.5 * sig_r / dr
    n_taps = int(math.ceil(2 * half)) + 1
    width = n_fast + 2 * n_taps  # padded so that taps outside the window need no masks
    out = np.zeros((t_len, width), np.complex64)
    flat = out.reshape(-1)
    rows = np.arange(t_len) * width + n_taps
    scale = np.float32(dr / sig_r)
    k4pi = 4 * np.pi / radar.wavelength_m
    for i in range(n_s):
        rb = ((rng_m[:, i] - radar.range_start_m) / dr)
        k0 = np.floor(rb - half).astype(np.int64) + 1
        np.clip(k0, -n_taps, n_fast, out=k0)
        frac = (k0 - rb).astype(np.float32)
        val = (amp[:, i] * np.exp(-1j * k4pi * rng_m[:, i])).astype(np.complex64)
        base = rows + k0
        for j in range(n_taps):
            w = np.exp(np.float32(-0.5) * ((frac + np.float32(j)) * scale) ** 2)
            flat[base + j] += val * w
    return np.ascontiguousarray(out[:, n_taps:n_taps + n_fast])


def _fmcw(rng_m: np.ndarray, amp: np.ndarray, radar: RadarParams) -> np.ndarray:
    """De-chirped FMCW beat samples (T, samples_per_sweep); loop over scatterers only."""
    assert radar.sweep_s is not None and radar.samples_per_sweep is not None
    n_k = int(radar.samples_per_sweep)
    slope = radar.bandwidth_hz / radar.sweep_s
    t_k = np.arange(n_k) * (radar.sweep_s / n_k)
    out = np.zeros((rng_m.shape[0], n_k), np.complex64)
    for i in range(rng_m.shape[1]):
        tau = 2 * rng_m[:, i] / SPEED_OF_LIGHT
        base = amp[:, i] * np.exp(2j * np.pi * (radar.carrier_hz * tau - slope * tau**2 / 2))
        out += (base[:, None] * np.exp(2j * np.pi * slope * tau[:, None] * t_k)).astype(
            np.complex64
        )
    return out


def _check_snr(snr_db: float | None) -> None:
    if snr_db is not None and not (isinstance(snr_db, int | float) and math.isfinite(snr_db)):
        raise ConfigError(f"snr_db must be a finite number of dB or None, got {snr_db!r}")


def _check_duration(radar: RadarParams, duration_s: float) -> int:
    """Number of pulses in ``duration_s`` seconds; ConfigError unless at least 2."""
    if not (isinstance(duration_s, int | float) and math.isfinite(duration_s) and duration_s > 0):
        raise ConfigError(f"duration_s must be a positive number, got {duration_s!r}")
    n_pulses = int(round(duration_s * radar.prf_hz))
    if n_pulses < 2:
        raise ConfigError(f"{duration_s} s at PRF {radar.prf_hz} Hz gives fewer than 2 pulses")
    return n_pulses


def _range_window(radar: RadarParams, opts: dict[str, Any]) -> tuple[float, float, int]:
    """(start, end) of the range window in metres and fast-time samples per pulse.

    Pulsed: ``radar.range_start_m`` to option ``range_stop_m`` in range bins. FMCW:
    processing keeps the first n/2 beat-frequency bins, so the window is 0 m to
    ``n/2 x range_resolution`` (and range_start_m must be 0)."""
    if radar.waveform == "pulsed":
        r_lo = radar.range_start_m
        r_hi = float(opts.get("range_stop_m", 8.0))
        n_fast = int(math.ceil((r_hi - r_lo) / radar.range_bin_m))
        if n_fast < 1:
            raise ConfigError(f"range window {r_lo}-{r_hi} m is empty")
    else:
        assert radar.samples_per_sweep is not None
        if radar.range_start_m != 0:
            raise ConfigError(
                f"an FMCW radar's range bins start at 0 m (beat frequency 0), so range_start_m "
                f"must be 0, got {radar.range_start_m!r} (processing would shift every range)")
        n_fast = int(radar.samples_per_sweep)
        # processing keeps the first n/2 beat-frequency bins (as for real IF data), so
        # targets and clutter must lie within them
        r_lo, r_hi = 0.0, (n_fast // 2) * radar.range_resolution_m
    return r_lo, r_hi, n_fast


def _check_in_window(activity: str, motion: Motion, r_lo: float, r_hi: float) -> None:
    """ConfigError when the pelvis comes within 0.3 m of either end of the range window."""
    pelvis_r = np.hypot(motion.joints[:, 0, 0], motion.joints[:, 0, 1])
    if pelvis_r.min() < r_lo + 0.3 or pelvis_r.max() > r_hi - 0.3:
        raise ConfigError(
            f"{activity} trajectory ({pelvis_r.min():.2f}-{pelvis_r.max():.2f} m) is outside "
            f"the radar's range window {r_lo:.2f}-{r_hi:.2f} m (needs 0.3 m margin)"
        )


def _target_returns(
    joints: np.ndarray, person: PersonSpec, radar_pos: np.ndarray, rng: np.random.Generator,
    ground_bounce: bool, limb_gain_db: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Ranges and amplitudes ``sqrt(RCS) / R^2`` of the scatterers (T, 16), the limbs'
    (``LIMB_SCATTERERS``) times ``10^(limb_gain_db / 20)``, plus, with ``ground_bounce``,
    their floor images (one-bounce path, reflection coefficient drawn in 0.3-0.6: T x 32
    then); returns (ranges, amplitudes, coefficient or 0)."""
    centre, rng_m, rcs = _scatter(joints, person, radar_pos)
    if limb_gain_db:
        limb = np.isin(SCATTERER_NAMES, LIMB_SCATTERERS)
        rcs = rcs * np.where(limb, 10 ** (limb_gain_db / 10), 1.0)
    amp = np.sqrt(rcs) / rng_m**2
    gamma = 0.0
    if ground_bounce:
        gamma = float(rng.uniform(0.3, 0.6))
        image = centre * np.array([1.0, 1.0, -1.0])
        d_img = np.linalg.norm(image - radar_pos, axis=-1)
        r_gb = 0.5 * (rng_m + d_img)
        rng_m = np.concatenate([rng_m, r_gb], 1)
        amp = np.concatenate([amp, gamma * np.sqrt(rcs) / r_gb**2], 1)
    return rng_m, amp, gamma


def _target_signal(
    rng_m: np.ndarray, amp: np.ndarray, radar: RadarParams, n_fast: int, r_hi: float
) -> np.ndarray:
    """Raw samples of the target alone (pulsed or FMCW); an FMCW target beyond 95 % of
    the maximum range is a ConfigError."""
    if radar.waveform == "pulsed":
        return _pulsed(rng_m, amp, radar, n_fast)
    if rng_m.max() > 0.95 * r_hi:
        raise ConfigError(
            f"target at {rng_m.max():.2f} m is beyond the FMCW radar's maximum range "
            f"{r_hi:.2f} m (samples_per_sweep x c / 2B)"
        )
    return _fmcw(rng_m, amp, radar)


def _add_clutter(
    data: np.ndarray, rng: np.random.Generator, radar: RadarParams, n_fast: int, r_lo: float,
    r_hi: float, p_sig: float, clutter_range_db: tuple[float, float] = DEFAULT_CLUTTER_DB,
) -> float:
    """Add static clutter to ``data`` in place: 3-6 fixed reflectors with direct Tx/Rx
    coupling at the near edge, at a clutter-to-signal ratio drawn uniformly in
    ``clutter_range_db`` (default 10-20 dB; returned)."""
    clutter_db = float(rng.uniform(*clutter_range_db))
    n_c = int(rng.integers(3, 7))
    c_rng = np.concatenate([[r_lo + 0.1], rng.uniform(r_lo + 0.2, r_hi, n_c - 1)])
    c_amp = rng.rayleigh(1.0, n_c)
    c_amp[0] *= 3.0  # direct coupling dominates
    row = (_pulsed(c_rng[None], c_amp[None], radar, n_fast) if radar.waveform == "pulsed"
           else _fmcw(c_rng[None], c_amp[None], radar))
    row *= np.exp(1j * rng.uniform(0, 2 * np.pi)).astype(np.complex64)
    p_row = float(np.mean(np.abs(row) ** 2))
    if p_row > 0:
        data += (row * np.float32(math.sqrt(p_sig * 10 ** (clutter_db / 10) / p_row)))
    return clutter_db


def _add_noise(
    data: np.ndarray, rng: np.random.Generator, p_sig: float, snr_db: float
) -> None:
    """Add complex white Gaussian noise to ``data`` in place at ``snr_db`` below the
    target power ``p_sig`` (module docstring: SNR definition)."""
    n_pulses, n_fast = data.shape
    p_noise = p_sig / 10 ** (snr_db / 10)
    noise = rng.standard_normal((n_pulses, 2 * n_fast), dtype=np.float32)
    noise *= np.float32(math.sqrt(p_noise / 2))
    data += noise.view(np.complex64)


def simulate_recording(
    person: PersonSpec,
    activity: str,
    radar: RadarParams,
    duration_s: float,
    snr_db: float | None,
    seed: int,
    **opts: Any,
) -> RawRadar:
    """Simulate one raw recording of ``person`` doing ``activity`` for ``duration_s`` seconds.

    Options: ``start_range_m`` (pelvis start range; circle: centre; default drawn),
    ``direction`` ('towards' | 'away'; walk/run/jump), ``clutter`` (default True),
    ``ground_bounce`` (default False), ``jitter`` (per-recording style jitter fraction,
    default 0.04), ``range_stop_m`` (end of the pulsed range window, default 8.0 m; the
    window starts at ``radar.range_start_m``), ``radar_height_m`` (default 1.0),
    ``range_offset_m`` (move the whole motion this much further away, default 0),
    ``limb_gain_db`` (RCS of arms, legs and feet relative to the body model's, default 0),
    ``clutter_db`` (clutter-to-signal ratio range in dB, default (10, 20)).
    See the module docstring for the SNR definition.
    """
    check_keys("simulation option", opts, SIM_OPTIONS)
    check_activity(activity)
    _check_snr(snr_db)
    n_pulses = _check_duration(radar, duration_s)
    radar_h = float(opts.get("radar_height_m", RADAR_HEIGHT_M))
    r_lo, r_hi, n_fast = _range_window(radar, opts)
    t = np.arange(n_pulses) / radar.prf_hz
    jitter = float(opts.get("jitter", 0.04))
    p, jit, motion, rng = _motion(person, activity, t, seed, jitter,
                                  opts.get("start_range_m"), opts.get("direction"),
                                  float(opts.get("range_offset_m", 0.0)))
    _check_in_window(activity, motion, r_lo, r_hi)
    radar_pos = np.array([0.0, 0.0, radar_h])
    ground_bounce = opts.get("ground_bounce", False)
    limb_gain_db = float(opts.get("limb_gain_db", 0.0))
    rng_m, amp, gamma = _target_returns(motion.joints, p, radar_pos, rng, ground_bounce,
                                        limb_gain_db)
    data = _target_signal(rng_m, amp, radar, n_fast, r_hi)
    p_sig = float(np.mean(data.real**2 + data.imag**2))
    clutter_db = None
    if opts.get("clutter", True):
        clutter_db = _add_clutter(data, rng, radar, n_fast, r_lo, r_hi, p_sig,
                                  tuple(opts.get("clutter_db", DEFAULT_CLUTTER_DB)))
    if snr_db is not None:
        _add_noise(data, rng, p_sig, snr_db)
    meta: dict[str, Any] = {
        "simulated": True,
        "seed": int(seed),
        "snr_db": None if snr_db is None else float(snr_db),
        "snr_definition": "mean target power over all samples of the range window / noise power",
        "clutter_to_signal_db": clutter_db,
        "ground_bounce_coeff": gamma if ground_bounce else None,
        "limb_gain_db": limb_gain_db,
        "height_m": p.height_m,
        "weight_kg": p.weight_kg,
        "gender": p.gender,
        "nominal_height_m": person.height_m,
        "nominal_weight_kg": person.weight_kg,
        "jitter": jit,
        "jitter_fraction": jitter,
        "style": p.style(),
        "range_window_m": [float(r_lo), float(r_hi)],
        "radar_height_m": radar_h,
        "duration_s": n_pulses / radar.prf_hz,
    }
    meta.update({k: (float(v) if isinstance(v, np.floating) else v)
                 for k, v in motion.meta.items()})
    return RawRadar(
        data=data,
        params=radar,
        activity=activity,
        person=person.name,
        source=f"simulated:{person.name}/{activity}/seed={int(seed)}",
        meta=meta,
    )


# ------------------------------------------------------------------ datasets
Counts = int | dict[str, int] | dict[str, dict[str, int]]


def _default_radar() -> RadarParams:
    return RadarParams(range_start_m=1.0)


def _radar_from_dict(radar: dict[str, Any]) -> RadarParams:
    """RadarParams from a YAML mapping: unknown keys are errors, numbers written as text
    are read, and the range window starts at 1 m (pulsed) or 0 m (FMCW) unless given."""
    check_keys("radar key", radar, field_names(RadarParams))
    # the pulsed default window starts at 1 m; FMCW range bins start at 0 m
    start = 0.0 if radar.get("waveform") == "fmcw" else 1.0
    rd = {"range_start_m": start, **radar}
    for k, v in rd.items():
        if k not in ("waveform", "samples_per_sweep") and isinstance(v, str):
            try:
                rd[k] = float(v)
            except ValueError:
                raise ConfigError(f"radar.{k} must be a number, got {v!r}") from None
    return RadarParams(**rd)


def _person_entries(entries: list[Any] | tuple[Any, ...]) -> list[PersonSpec | dict[str, Any]]:
    """The ``persons`` entries checked (a PersonSpec, or a mapping with name, height_m and
    weight_kg) and the mappings copied, so that reading them never changes the caller's."""
    specs: list[PersonSpec | dict[str, Any]] = []
    for i, spec in enumerate(entries):
        if not isinstance(spec, dict | PersonSpec):
            raise ConfigError(f"persons[{i}] must be a mapping of person fields, "
                              f"got {spec!r}")
        if isinstance(spec, dict):
            missing = [k for k in ("name", "height_m", "weight_kg") if k not in spec]
            if missing:
                raise ConfigError(f"persons[{i}] needs {', '.join(missing)}")
        specs.append(spec if isinstance(spec, PersonSpec) else dict(spec))
    return specs


def _shared_styles(
    specs: list[PersonSpec | dict[str, Any]], style_seed: int
) -> dict[int, dict[str, float]]:
    """Entry index -> drawn style for the mappings without their own ``seed``: they share
    one Latin-hypercube draw (``spread_styles``) seeded by ``style_seed``."""
    unseeded = {i: s for i, s in enumerate(specs) if isinstance(s, dict) and "seed" not in s}
    for i, s in unseeded.items():
        check_body(s["height_m"], s["weight_kg"], who=f"persons[{i}] ({s['name']!r})")
    styles = spread_styles([(s["name"], s["height_m"], s["weight_kg"])
                            for s in unseeded.values()], style_seed) if unseeded else []
    return dict(zip(unseeded, styles, strict=True))


def _person_from_entry(
    i: int, spec: dict[str, Any], spread: dict[int, dict[str, float]]
) -> PersonSpec:
    """The PersonSpec of mapping entry ``i``: its own seeded style (``from_seed``) or its
    share of the common draw, overridden by the style fields it gives."""
    if "seed" in spec:
        seed = spec.pop("seed")
        base = {k: spec.pop(k) for k in ("name", "height_m", "weight_kg", "gender")
                if k in spec}
        try:
            p = PersonSpec.from_seed(seed=seed, **base)
        except TypeError as exc:
            raise ConfigError(f"persons[{i}]: {exc}") from None
        spec = {**dataclasses.asdict(p), **spec}
    elif i in spread:
        spec = {**spread[i], **spec}
    check_keys(f"persons[{i}] key", spec, field_names(PersonSpec))
    try:
        return PersonSpec(**spec)
    except TypeError as exc:
        raise ConfigError(f"persons[{i}]: {exc}") from None


def _persons_from_list(entries: list[Any] | tuple[Any, ...], style_seed: int) -> list[PersonSpec]:
    """The ``persons`` of a simulation YAML: PersonSpecs kept, mappings built (see
    :meth:`SimulationConfig.from_dict`)."""
    specs = _person_entries(entries)
    # the entries without their own seed share one Latin-hypercube style draw
    spread = _shared_styles(specs, style_seed)
    return [spec if isinstance(spec, PersonSpec) else _person_from_entry(i, spec, spread)
            for i, spec in enumerate(specs)]


@dataclass
class SimulationConfig:
    """What to simulate: persons x activities x recordings, radar, SNR, seed, add-ons.

    ``recordings_per_cell`` is an int (every cell), ``{activity: n}``, or
    ``{person: {activity: n}}``; the default follows MRA-Net Table 3 (module docstring).
    ``snr_db`` is a fixed value, a ``(low, high)`` range drawn uniformly per recording,
    or None (no noise).
    """

    persons: list[PersonSpec] = field(default_factory=lambda: list(DEFAULT_PERSONS))
    activities: tuple[str, ...] = ACTIVITIES
    recordings_per_cell: Counts = field(default_factory=paper_recordings_per_cell)
    duration_s: float = DEFAULT_DURATION_S
    snr_db: float | tuple[float, float] | None = (20.0, 35.0)
    radar: RadarParams = field(default_factory=_default_radar)
    seed: int = 0
    ground_bounce: bool = False
    clutter: bool = True
    jitter: float = 0.04
    range_stop_m: float = 8.0
    range_offset_m: float = 0.0
    limb_gain_db: float = 0.0
    clutter_db: tuple[float, float] = DEFAULT_CLUTTER_DB

    def __post_init__(self) -> None:
        self.activities = tuple(check_activity(a) for a in self.activities)
        if not self.persons:
            raise ConfigError("simulation needs at least one person")
        names = [p.name for p in self.persons]
        if len(set(names)) != len(names):
            raise ConfigError(f"person names must be unique, got {names}")
        if isinstance(self.snr_db, list | tuple):
            if len(self.snr_db) != 2:
                raise ConfigError(f"snr_db range must be (low, high), got {self.snr_db!r}")
            lo, hi = self.snr_db
            _check_snr(lo)
            _check_snr(hi)
            if lo > hi:
                raise ConfigError(f"snr_db range low > high: {self.snr_db!r}")
            self.snr_db = (float(lo), float(hi))
        else:
            _check_snr(self.snr_db)
        self._check_realism()
        for name in ("duration_s", "jitter", "range_stop_m"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ConfigError(f"{name} must be a number, got {v!r}")
        if not self.duration_s > 0:
            raise ConfigError(f"duration_s must be positive, got {self.duration_s!r}")
        if not 0 <= self.jitter < 0.5:
            raise ConfigError(f"jitter must be in [0, 0.5), got {self.jitter!r}")
        if not isinstance(self.radar, RadarParams):
            raise ConfigError(f"radar must be a mapping of radar parameters, got {self.radar!r}")
        _streams(self.seed)  # validates the seed
        self.counts()  # validates recordings_per_cell

    def _check_realism(self) -> None:
        """Validate ``range_offset_m`` (>= 0), ``limb_gain_db`` (a number) and ``clutter_db``
        (a (low, high) pair of finite dB)."""
        for name in ("range_offset_m", "limb_gain_db"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ConfigError(f"{name} must be a number, got {v!r}")
        if self.range_offset_m < 0:
            raise ConfigError(f"range_offset_m must be >= 0, got {self.range_offset_m!r}")
        c = self.clutter_db
        ok = (isinstance(c, list | tuple) and len(c) == 2
              and all(not isinstance(v, bool) and isinstance(v, int | float)
                      and math.isfinite(v) for v in c) and c[0] <= c[1])
        if not ok:
            raise ConfigError(f"clutter_db must be a (low, high) range of dB with low <= high, "
                              f"got {c!r}")
        self.clutter_db = (float(c[0]), float(c[1]))

    def count(self, person: str, activity: str) -> int:
        return self.counts()[(person, activity)]

    def counts(self) -> dict[tuple[str, str], int]:
        """Recordings per (person name, activity)."""
        rpc = self.recordings_per_cell
        out: dict[tuple[str, str], int] = {}
        for p in self.persons:
            for a in self.activities:
                if isinstance(rpc, int):
                    n = rpc
                elif p.name in rpc and isinstance(rpc[p.name], dict):
                    n = rpc[p.name].get(a)  # type: ignore[union-attr]
                elif a in rpc and not isinstance(rpc[a], dict):
                    n = rpc[a]
                else:
                    n = None
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise ConfigError(
                        f"recordings_per_cell has no valid count for person {p.name!r}, "
                        f"activity {a!r} (got {n!r})"
                    )
                out[(p.name, a)] = n
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimulationConfig:
        """Build from a plain dict (YAML); unknown keys are errors.

        A person entry with ``seed`` draws its own style uniformly (``from_seed``); the
        entries without one share a Latin-hypercube draw (``PersonSpec.spread``) seeded by
        the top-level ``style_seed`` (default ``DEFAULT_STYLE_SEED``). Style fields given
        in an entry override the drawn ones.
        """
        d = dict(d)
        check_keys("simulation key", d, (*field_names(cls), "style_seed"))
        style_seed = d.pop("style_seed", DEFAULT_STYLE_SEED)
        if isinstance(style_seed, bool) or not isinstance(style_seed, int):
            raise ConfigError(f"style_seed must be an integer, got {style_seed!r}")
        if "radar" in d and isinstance(d["radar"], dict):
            d["radar"] = _radar_from_dict(d["radar"])
        for key in ("persons", "activities"):
            if key in d and not isinstance(d[key], list | tuple):
                raise ConfigError(f"{key} must be a list, got {d[key]!r}")
        if "persons" in d:
            d["persons"] = _persons_from_list(d["persons"], style_seed)
        if "activities" in d:
            d["activities"] = tuple(d["activities"])
        if isinstance(d.get("snr_db"), list):
            d["snr_db"] = tuple(d["snr_db"])
        if d.get("recordings_per_cell") == "paper":
            d["recordings_per_cell"] = paper_recordings_per_cell(
                float(d.get("duration_s", DEFAULT_DURATION_S))
            )
        return cls(**d)

    def to_json(self) -> str:
        """The settings as JSON text that :meth:`from_dict` reads back to an equal config."""
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_yaml(cls, path: str | Path) -> SimulationConfig:
        from harlab.config import load_yaml  # lazy: harlab.config pulls in scikit-learn

        return cls.from_dict(load_yaml(path))

    def tasks(self) -> list[tuple[Any, ...]]:
        """One argument tuple per recording, with seeds from SeedSequence((seed, i, j, rep))."""
        counts = self.counts()
        out = []
        for i, p in enumerate(self.persons):
            for j, a in enumerate(self.activities):
                for rep in range(counts[(p.name, a)]):
                    rng = np.random.default_rng(np.random.SeedSequence([self.seed, i, j, rep]))
                    rec_seed = int(rng.integers(0, 2**62))
                    if isinstance(self.snr_db, tuple):
                        snr: float | None = float(rng.uniform(*self.snr_db))
                    else:
                        snr = self.snr_db
                    opts = {"clutter": self.clutter, "ground_bounce": self.ground_bounce,
                            "jitter": self.jitter, "range_stop_m": self.range_stop_m,
                            "range_offset_m": self.range_offset_m,
                            "limb_gain_db": self.limb_gain_db, "clutter_db": self.clutter_db}
                    out.append((p, a, self.radar, self.duration_s, snr, rec_seed, opts, rep))
        return out


def _run_task(task: tuple[Any, ...]) -> RawRadar:
    p, a, radar, dur, snr, seed, opts, rep = task
    raw = simulate_recording(p, a, radar, dur, snr, seed, **opts)
    raw.meta["repetition"] = rep
    return raw


def simulate_dataset(
    cfg: SimulationConfig, workers: int = 1, progress: bool = True
) -> Iterator[RawRadar]:
    """Yield every recording of ``cfg`` in (person, activity, repetition) order.

    Deterministic for ``cfg.seed`` whatever ``workers`` is: each recording's seed and SNR
    come from ``SeedSequence((cfg.seed, person index, activity index, repetition))``.
    ``workers > 1`` runs recordings in a process pool (order preserved). This process and
    the workers keep freed memory for reuse (:func:`harlab.hardware.reuse_freed_memory`:
    1.1-1.5x faster simulation here).
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    reuse_freed_memory()
    tasks = cfg.tasks()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("simulating radar", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   disable=not progress, transient=True)
    with bar:
        job = bar.add_task("sim", total=len(tasks))
        if workers == 1:
            for task in tasks:
                yield _run_task(task)
                bar.advance(job)
        else:
            with process_pool(workers) as ex:
                for raw in ex.map(_run_task, tasks, chunksize=2):
                    yield raw
                    bar.advance(job)
