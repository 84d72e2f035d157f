"""Joint trajectories of the five MRA-Net activities, evaluated at every radar pulse.

Everything is vectorised over time: joint angles are time series, forward kinematics
uses stacks of 3x3 rotation matrices (``einsum``), and the only Python loops run over
trajectory segments (legs between turn-arounds, jump cycles), never over pulses.

Frames: the radar sits at ``(0, 0, radar_height)`` and looks along +x; the ground is
``z = 0``. The body frame has x forward, y left, z up with its origin at the pelvis; a
flexion angle alpha of a limb segment turns the downward direction ``(0, 0, -1)`` into
``(sin alpha, 0, -cos alpha)`` (positive = forward). A heading psi points the body's x
axis to ``(cos psi, sin psi, 0)`` in the world; walking towards the radar is psi = pi.

Activities (``shared/reference/radar.md`` section 1.4):

* ``walk``: Boulic--Thalmann walking (valid for relative velocity rv <= 3) back and
  forth between the range limits, with raised-cosine deceleration, a 180 degree turn
  while stepping in place, and re-acceleration at each end;
* ``run``: a parametric running gait (stride 1.3--1.5 Hz, flight phase, arm swing in
  antiphase with the same-side leg) on the same back-and-forth path;
* ``box``: boxing in place facing the radar; alternate punches with minimum-jerk
  extension/retraction, torso twist, knee bounce and sway;
* ``jump_forward``: repeated standing broad jumps (countermovement, propulsion,
  ballistic flight, landing, pause); the jumper turns round before leaving the range;
* ``circle``: running on a circle with inward lean, heading along the tangent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.interpolate import CubicHermiteSpline, PchipInterpolator

from harlab.errors import ConfigError
from harlab.radar.body import BodyDims, PersonSpec

ACTIVITIES: tuple[str, ...] = ("walk", "run", "box", "jump_forward", "circle")
G = 9.81
DEG = np.pi / 180.0
# Range limits of the MRA-Net set-up; the pelvis stays this far inside them so that the
# whole body (+-0.35 m) is inside the gate.
RANGE_LIMITS_M = (1.5, 7.5)
BODY_MARGIN_M = 0.4


@dataclass
class Pose:
    """Body-frame joint angles (degrees) and pelvis offsets (m); arrays of length T.

    Limb angles are ``(2, T)`` arrays, row 0 = left, row 1 = right.
    """

    hip: np.ndarray
    knee: np.ndarray
    ankle: np.ndarray
    shoulder: np.ndarray
    elbow: np.ndarray
    pelvis_offset: np.ndarray  # (T, 3) body frame
    pelvis_pitch: np.ndarray
    pelvis_roll: np.ndarray
    pelvis_yaw: np.ndarray
    thorax_yaw: np.ndarray
    trunk_lean: np.ndarray


@dataclass
class Motion:
    """World joint positions ``(T, 17, 3)`` plus what generated them."""

    joints: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers
def _rx(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1),
                     np.stack([z, s, c], -1)], -2)


def _ry(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1),
                     np.stack([-s, z, c], -1)], -2)


def _rz(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1),
                     np.stack([z, z, o], -1)], -2)


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched 3x3 matrix product (T, 3, 3) x (T, 3, 3) without einsum's slow path."""
    return (a[:, :, :, None] * b[:, None, :, :]).sum(2)


def _apply(rot: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Rotate points (T, K, 3) by rotation stacks (T, 3, 3)."""
    r = rot[:, None, :, :]
    return r[..., 0] * pts[..., 0:1] + r[..., 1] * pts[..., 1:2] + r[..., 2] * pts[..., 2:3]


def _seg(alpha_deg: np.ndarray, length: float) -> np.ndarray:
    """Sagittal segment vector of ``length`` at flexion ``alpha`` (..., 3)."""
    a = alpha_deg * DEG
    return np.stack([length * np.sin(a), np.zeros_like(a), -length * np.cos(a)], -1)


def periodic_pchip(xs: list[float], ys: list[float]) -> PchipInterpolator:
    """Monotone cubic through control points replicated at x-1 and x+1 (period 1)."""
    x = np.concatenate([np.asarray(xs) - 1, xs, np.asarray(xs) + 1])
    y = np.tile(np.asarray(ys, dtype=float), 3)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    keep = np.concatenate([[True], np.diff(x) > 1e-9])
    return PchipInterpolator(x[keep], y[keep])


def _min_jerk(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return s * s * s * (10 - 15 * s + 6 * s * s)


def _smoothstep(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * s)


def forward_kinematics(dims: BodyDims, pose: Pose) -> np.ndarray:
    """Body-frame joint positions ``(T, 17, 3)`` (order ``body.JOINTS``) from a pose."""
    t_len = pose.pelvis_offset.shape[0]
    sides = np.array([1.0, -1.0])  # left = +y, right = -y
    # legs, (2, T, 3)
    hip_pt = np.zeros((2, t_len, 3))
    hip_pt[:, :, 1] = sides[:, None] * dims.hip_half
    knee = hip_pt + _seg(pose.hip, dims.upper_leg)
    shank = pose.hip - pose.knee
    ankle = knee + _seg(shank, dims.lower_leg)
    toe = ankle + _seg(shank + 90.0 + pose.ankle, dims.foot)
    # arms
    sh_pt = np.zeros((2, t_len, 3))
    sh_pt[:, :, 1] = sides[:, None] * dims.shoulder_half
    sh_pt[:, :, 2] = dims.torso
    elbow = sh_pt + _seg(pose.shoulder, dims.upper_arm)
    hand = elbow + _seg(pose.shoulder + pose.elbow, dims.lower_arm)
    neck = np.zeros((t_len, 3))
    neck[:, 2] = dims.torso
    head = neck.copy()
    head[:, 2] += dims.head

    upper = np.stack([neck, head, sh_pt[0], elbow[0], hand[0], sh_pt[1], elbow[1], hand[1]], 1)
    lower = np.stack([hip_pt[0], knee[0], ankle[0], toe[0], hip_pt[1], knee[1], ankle[1],
                      toe[1]], 1)
    r_up = _mm(_rz(pose.thorax_yaw * DEG), _ry((pose.pelvis_pitch + pose.trunk_lean) * DEG))
    r_low = _mm(_rz(pose.pelvis_yaw * DEG), _rx(pose.pelvis_roll * DEG))
    upper = _apply(r_up, upper)
    lower = _apply(r_low, lower)
    out = np.concatenate([np.zeros((t_len, 1, 3)), upper, lower], 1)
    return out + pose.pelvis_offset[:, None, :]


def place(
    body: np.ndarray, position: np.ndarray, heading: np.ndarray, roll: np.ndarray | None = None
) -> np.ndarray:
    """World joints: rotate body-frame joints by heading (and roll) and move to position."""
    rot = _rz(heading)
    if roll is not None:
        rot = _mm(rot, _rx(roll))
    return position[:, None, :] + _apply(rot, body)


def _pelvis_height(dims: BodyDims) -> float:
    """Standing pelvis height: leg length plus ankle height (0.039 H)."""
    return dims.leg_length + 0.039 * dims.height


# ------------------------------------------------------------------- back and forth
def back_and_forth(
    t: np.ndarray,
    speed: float,
    start: float,
    direction: int,
    limits: tuple[float, float],
    ramp_s: float,
    turn_s: float,
    turn_sign: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Range ``x(t)``, speed gain ``g(t)`` in [0, 1] and heading for a back-and-forth path.

    Starts at ``start`` moving at ``speed`` (``direction`` -1 = towards the radar), slows
    with a raised-cosine over ``ramp_s`` at each limit, turns 180 degrees in ``turn_s``
    while stationary, and re-accelerates. Loops over path segments, not samples.
    """
    lo, hi = limits
    ramp_d = speed * ramp_s / 2
    if hi - lo < 2 * ramp_d:
        raise ConfigError(
            f"range span {lo:.2f}-{hi:.2f} m is too short to speed up to {speed:.2f} m/s and stop"
        )
    x = np.empty_like(t)
    g = np.empty_like(t)
    psi = np.empty_like(t)
    t_now, x_now, d = 0.0, float(start), int(direction)
    first = True
    t_end = float(t[-1]) if t.size else 0.0
    while t_now <= t_end:
        # segments of this leg: [accel], cruise, decel, turn
        end = lo if d < 0 else hi
        dist = abs(end - x_now) - ramp_d - (0.0 if first else ramp_d)
        cruise = max(dist, 0.0) / speed
        heading = np.pi if d < 0 else 0.0
        segs = [] if first else [("acc", ramp_s)]
        segs += [("cruise", cruise), ("dec", ramp_s), ("turn", turn_s)]
        for kind, dur in segs:
            m = (t >= t_now) & (t < t_now + dur)
            tau = t[m] - t_now
            if kind == "acc":
                g[m] = 0.5 - 0.5 * np.cos(np.pi * tau / dur)
                x[m] = x_now + d * speed * (tau / 2 - dur / (2 * np.pi) * np.sin(np.pi * tau / dur))
                x_next = x_now + d * ramp_d
                psi[m] = heading
            elif kind == "cruise":
                g[m] = 1.0
                x[m] = x_now + d * speed * tau
                x_next = x_now + d * speed * dur
                psi[m] = heading
            elif kind == "dec":
                g[m] = 0.5 + 0.5 * np.cos(np.pi * tau / dur)
                x[m] = x_now + d * speed * (tau / 2 + dur / (2 * np.pi) * np.sin(np.pi * tau / dur))
                x_next = x_now + d * ramp_d
                psi[m] = heading
            else:
                g[m] = 0.0
                x[m] = x_now
                x_next = x_now
                psi[m] = heading + turn_sign * np.pi * _smoothstep(tau / dur)
            t_now += dur
            x_now = x_next
        d = -d
        first = False
    return x, g, psi


# ------------------------------------------------------------------------- walking
def boulic_curves(rv: float) -> dict[str, Any]:
    """Boulic--Thalmann joint curves for relative velocity ``rv`` (radar.md section 1.2)."""
    if not (0 < rv <= 3):
        raise ConfigError(
            f"walking relative velocity rv = V/Ht = {rv:.2f} is outside the Boulic model's "
            "validity (0 < rv <= 3); lower the walking speed"
        )
    dc = 1.346 / np.sqrt(rv)
    dsm = (0.752 * dc - 0.143) / dc
    k = (rv - 1.3) / 1.7
    if rv < 0.5:
        hip = ([-0.1, 0.5, 0.9], [50 * rv, -30 * rv, 50 * rv])
        knee = ([0.17, 0.4, 0.75, 1.0], [3, 3, 140 * rv, 3])
        ankle = ([0, 0.08, 0.5, dsm, 0.85], [-3, -30 * rv - 3, 22 * rv - 3, -34 * rv - 3, -3])
        elbow = ([0.05, 0.5, 0.9], [6 * rv + 3, 34 * rv + 3, 10 * rv + 3])
    elif rv < 1.3:
        s = (rv - 0.5) / 0.8
        hip = ([-0.1, 0.5, 0.9], [25, -15, 25])
        knee = ([0.17, 0.4, 0.75, 1.0], [3, 3, 70, 3])
        ankle = ([0, 0.08, 0.5, dsm, 0.85], [-3, -18, 8, -20, -3])
        elbow = ([0.05, 0.01 * s + 0.5, 0.9], [8 * s + 6, 24 * s + 20, 9 * s + 8])
    else:
        hip = ([0.2 * k - 0.1, 0.5, 0.9], [5 * k + 25, -15, 6 * k + 25])
        knee = ([-0.05 * k + 0.17, 0.4, -0.05 * k + 0.75, -0.03 * k + 1],
                [22 * k + 3, 3, -5 * k + 70, 3 * k + 3])
        ankle = ([0, 0.08, -0.1 * k + 0.5, dsm, 0.85],
                 [5 * k - 3, 4 * k - 18, -3 * k + 8, -8 * k - 20, 5 * k - 3])
        elbow = ([0.05, 0.04 * k + 0.51, -0.1 * k + 0.9], [-6 * k + 14, 26 * k + 44, -6 * k + 17])
    thorax = ([0.1, 0.4, 0.6, 0.9], [4 * rv / 3, -4.5 * rv / 3, -4 * rv / 3, 4.5 * rv / 3])
    return {
        "hip": periodic_pchip(*hip),
        "knee": periodic_pchip(*knee),
        "ankle": periodic_pchip(*ankle),
        "elbow": periodic_pchip(*elbow),
        "thorax": periodic_pchip(*thorax),
        "dsm": dsm,
        "dc": dc,
    }


def _boulic_pose(u: np.ndarray, rv: float, p: PersonSpec, gain: np.ndarray) -> Pose:
    """Boulic pose at gait phase ``u`` (cycles, right limb), amplitudes scaled by ``gain``."""
    cur = boulic_curves(rv)
    dsm = cur["dsm"]
    # limb phases: row 0 left (half a cycle later, plus the person's phase asymmetry)
    ph = np.stack([(u + 0.5 + p.asym_phase) % 1.0, u % 1.0])
    amp = np.array([1.0 + p.asymmetry / 2, 1.0 - p.asymmetry / 2])[:, None] * gain
    a_s = 9.88 * rv * p.arm_swing
    shoulder = 3 - a_s / 2 - a_s * np.cos(2 * np.pi * ph)
    ur = u % 1.0
    if rv < 0.5:
        a_l, a_a, a1 = -0.128 * rv**2 + 0.128 * rv, -0.084 * rv**2 + 0.084 * rv, -8 * rv**2 + 8 * rv
    else:
        a_l, a_a, a1 = -0.032, -0.021, 2.0
    a_v = 0.015 * rv * p.bounce
    off = np.stack([
        a_a * np.sin(2 * np.pi * (2 * ur + 2 * (0.625 - dsm))),
        a_l * np.sin(2 * np.pi * (ur - 0.1)),
        -a_v + a_v * np.sin(2 * np.pi * (2 * ur - 0.35)),
    ], -1) * gain[:, None]
    a2 = 1.66 * rv
    roll = np.select(
        [ur < 0.15, ur < 0.5, ur < 0.65],
        [-a2 + a2 * np.cos(2 * np.pi * 10 * ur / 3),
         -a2 - a2 * np.cos(2 * np.pi * 10 * (ur - 0.15) / 7),
         a2 - a2 * np.cos(2 * np.pi * 10 * (ur - 0.5) / 3)],
        a2 + a2 * np.cos(2 * np.pi * 10 * (ur - 0.65) / 7),
    )
    return Pose(
        hip=amp * cur["hip"](ph),
        knee=amp * cur["knee"](ph) + 3 * (1 - gain),
        ankle=amp * cur["ankle"](ph),
        shoulder=amp * shoulder,
        elbow=cur["elbow"](ph) * (0.5 + 0.5 * amp) + p.elbow_bias_deg,
        pelvis_offset=off,
        pelvis_pitch=gain * (-a1 + a1 * np.sin(2 * np.pi * (2 * ur - 0.1))),
        pelvis_roll=gain * roll,
        pelvis_yaw=gain * (-4 * rv * np.cos(2 * np.pi * ur)),
        thorax_yaw=gain * cur["thorax"](ur),
        trunk_lean=np.full_like(u, p.trunk_lean_deg),
    )


# ------------------------------------------------------------------------- running
_RUN_KNEE = periodic_pchip([0.0, 0.15, 0.35, 0.7, 0.95], [20, 40, 15, 110, 25])
_RUN_ANKLE = periodic_pchip([0.0, 0.15, 0.4, 0.7], [0, 15, -25, 0])


def _running_pose(u: np.ndarray, p: PersonSpec, gain: np.ndarray) -> Pose:
    """Parametric running pose at stride phase ``u`` (0 = right foot strike)."""
    ph = np.stack([(u + 0.5 + p.asym_phase) % 1.0, u % 1.0])
    amp = np.array([1.0 + p.asymmetry / 2, 1.0 - p.asymmetry / 2])[:, None] * gain
    swing = np.cos(2 * np.pi * (ph - 0.9))
    ur = u % 1.0
    off = np.stack([
        0.02 * np.sin(4 * np.pi * (ur - 0.2)),
        -0.02 * np.sin(2 * np.pi * (ur - 0.1)),
        (0.04 * np.cos(4 * np.pi * (ur - 0.45)) - 0.02) * p.bounce,
    ], -1) * gain[:, None]
    return Pose(
        hip=amp * (15 + 30 * swing),
        knee=amp * _RUN_KNEE(ph) + 5 * (1 - gain),
        ankle=amp * _RUN_ANKLE(ph),
        shoulder=-amp * 35 * p.arm_swing * swing,
        elbow=90 + 10 * amp * np.sin(2 * np.pi * (ph - 0.9)) + p.elbow_bias_deg,
        pelvis_offset=off,
        pelvis_pitch=np.zeros_like(u),
        pelvis_roll=gain * 3 * np.sin(2 * np.pi * ur),
        pelvis_yaw=gain * -8 * np.cos(2 * np.pi * ur),
        thorax_yaw=gain * 6 * np.cos(2 * np.pi * ur),
        trunk_lean=p.trunk_lean_deg + 4 * gain,
    )


# ----------------------------------------------------------------------- activities
def _limits(margin: float = BODY_MARGIN_M) -> tuple[float, float]:
    return RANGE_LIMITS_M[0] + margin, RANGE_LIMITS_M[1] - margin


def _check_start(start: float, lo: float, hi: float, what: str) -> float:
    if not (np.isfinite(start) and lo <= start <= hi):
        raise ConfigError(
            f"{what} start range {start!r} m is outside the radar's {RANGE_LIMITS_M[0]}-"
            f"{RANGE_LIMITS_M[1]} m range (allowed {lo:.2f}-{hi:.2f} m for the pelvis)"
        )
    return float(start)


def _direction(opt: str | None, rng: np.random.Generator) -> int:
    if opt is None:
        return -1 if rng.random() < 0.5 else 1
    if opt not in ("towards", "away"):
        raise ConfigError(f"direction must be 'towards' or 'away', got {opt!r}")
    return -1 if opt == "towards" else 1


def _path_motion(
    p: PersonSpec, t: np.ndarray, rng: np.random.Generator, opts: dict[str, Any], run: bool
) -> Motion:
    dims = p.dims
    lo, hi = _limits()
    if run:
        speed, f_stride = p.run_speed_ms, p.run_stride_hz
        ramp, turn = 0.7, 1.0
    else:
        speed = p.walk_speed_ms
        boulic_curves(p.walk_rv)  # validates rv before anything else
        f_stride = p.walk_stride_hz
        ramp, turn = 1.0, float(rng.uniform(0.8, 1.5))
    d = _direction(opts.get("direction"), rng)
    ramp_d = speed * ramp / 2
    if opts.get("start_range_m") is not None:
        start = _check_start(opts["start_range_m"], lo, hi, "walk/run")
        if d < 0 and start - lo < ramp_d:
            d = 1
        elif d > 0 and hi - start < ramp_d:
            d = -1
    else:
        start = float(rng.uniform(lo + ramp_d, hi - ramp_d))
    turn_sign = 1.0 if rng.random() < 0.5 else -1.0
    x, g, psi = back_and_forth(t, speed, start, d, (lo, hi), ramp, turn, turn_sign)
    phase0 = float(rng.random())
    u = phase0 + f_stride * t
    gmin = 0.25
    gain = gmin + (1 - gmin) * g
    pose = _running_pose(u, p, gain) if run else _boulic_pose(u, p.walk_rv, p, gain)
    pos = np.zeros((t.size, 3))
    pos[:, 0] = x
    pos[:, 1] = float(rng.uniform(-0.15, 0.15))
    pos[:, 2] = _pelvis_height(dims)
    joints = place(forward_kinematics(dims, pose), pos, psi)
    meta = {
        "speed_ms": speed,
        "stride_hz": f_stride,
        "cadence_steps_per_min": 120 * f_stride,
        "start_range_m": start,
        "direction": "towards" if d < 0 else "away",
    }
    if not run:
        meta["boulic_rv"] = p.walk_rv
    return Motion(joints, meta)


def _box_motion(
    p: PersonSpec, t: np.ndarray, rng: np.random.Generator, opts: dict[str, Any]
) -> Motion:
    dims = p.dims
    lo, hi = 2.0, 5.0
    if opts.get("start_range_m") is not None:
        r0 = _check_start(opts["start_range_m"], *_limits(), "box")
    else:
        r0 = float(rng.uniform(lo, hi))
    n = t.size
    rate = p.punch_rate_hz
    t_ext = p.punch_time_s
    t_ret = t_ext * float(rng.uniform(1.1, 1.5))
    # punch onsets, alternating arms; intervals jitter +-20 %
    n_ev = int(np.ceil((t[-1] + 1) * rate)) + 2
    onsets = np.cumsum(1.0 / rate * rng.uniform(0.8, 1.2, n_ev)) - float(rng.uniform(0, 1 / rate))
    first = int(rng.integers(0, 2))
    prof = np.zeros((2, n))
    for side in (0, 1):
        ev = onsets[(np.arange(n_ev) + first) % 2 == side]
        k = np.searchsorted(ev, t, side="right") - 1
        tau = np.where(k >= 0, t - ev[np.maximum(k, 0)], np.inf)
        prof[side] = np.where(
            tau < t_ext, _min_jerk(tau / t_ext), 1 - _min_jerk((tau - t_ext) / t_ret)
        )
    # the person's guard and bounce rhythm, varied a little per recording
    guard_sh = p.guard_shoulder_deg + float(rng.uniform(-2, 2))
    guard_el = p.guard_elbow_deg + float(rng.uniform(-3, 3))
    punch_sh, punch_el = float(rng.uniform(80, 90)), float(rng.uniform(0, 15))
    f_b = p.box_bounce_hz * float(rng.uniform(0.95, 1.05))
    bounce = np.sin(2 * np.pi * (f_b * t + rng.random()))
    knee = 18 + 6 * bounce
    sway = 0.05 * np.sin(2 * np.pi * (float(rng.uniform(0.3, 0.6)) * t + rng.random()))
    off = np.stack([sway, np.zeros(n), -0.03 - 0.02 * bounce], -1)
    pose = Pose(
        hip=np.stack([knee / 2, knee / 2]),
        knee=np.stack([knee, knee]),
        ankle=np.stack([knee / 2, knee / 2]),
        shoulder=guard_sh + prof * (punch_sh - guard_sh) * p.arm_swing ** 0.25,
        elbow=guard_el + p.elbow_bias_deg / 2 + prof * (punch_el - guard_el - p.elbow_bias_deg / 2),
        pelvis_offset=off,
        pelvis_pitch=np.zeros(n),
        pelvis_roll=np.zeros(n),
        pelvis_yaw=5 * (prof[1] - prof[0]),
        thorax_yaw=18 * (prof[1] - prof[0]),
        trunk_lean=np.full(n, p.trunk_lean_deg + 8.0),
    )
    pos = np.zeros((n, 3))
    pos[:, 0] = r0
    pos[:, 1] = float(rng.uniform(-0.15, 0.15))
    pos[:, 2] = _pelvis_height(dims)
    joints = place(forward_kinematics(dims, pose), pos, np.full(n, np.pi))
    meta = {"speed_ms": 0.0, "punch_rate_hz": rate, "punch_time_s": t_ext,
            "start_range_m": r0, "direction": "none"}
    return Motion(joints, meta)


# jump phases (knot values): stand, bottom of countermovement, take-off, mid-flight,
# touch-down, landing bottom, stand.  Angles in degrees.
_JUMP_ANGLES = {
    "hip": [5, 80, -5, 45, 30, 70, 5],
    "knee": [5, 95, 0, 60, 25, 85, 5],
    "ankle": [0, 20, -35, -10, -15, 15, 0],
    "shoulder": [0, -30, 80, 70, 50, 20, 0],
    "elbow": [15, 20, 10, 30, 20, 30, 15],
    "lean": [5, 40, 10, 20, 20, 35, 5],
}


@dataclass
class _JumpKnots:
    """Knots of a jump sequence, one list per quantity: time, along-range x, dx/dt, pelvis
    z offset, dz/dt, heading and the joint angles of ``_JUMP_ANGLES``."""

    t: list[float] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    dx: list[float] = field(default_factory=list)
    z: list[float] = field(default_factory=list)
    dz: list[float] = field(default_factory=list)
    psi: list[float] = field(default_factory=list)
    ang: list[list[float]] = field(default_factory=list)

    def add(
        self, t: float, x: float, dx: float, z: float, dz: float, psi: float, ang: list[float]
    ) -> None:
        """Append one knot."""
        self.t.append(t)
        self.x.append(x)
        self.dx.append(dx)
        self.z.append(z)
        self.dz.append(dz)
        self.psi.append(psi)
        self.ang.append(ang)


def _jump_phases(
    p: PersonSpec, rng: np.random.Generator
) -> tuple[list[float], list[float], list[float], list[float], list[float]]:
    """One jump's seven knots relative to its start and direction: times, along-range
    offsets, their velocities, pelvis z offsets and theirs (``xs[-1]`` is the reach). The
    person's crouch and pause durations vary +-10-20 % from jump to jump."""
    vx, vz = p.jump_vx_ms, p.jump_vz_ms
    t_cm = p.jump_crouch_s * float(rng.uniform(0.9, 1.1))
    t_p = float(rng.uniform(0.2, 0.3))
    t_f = 2 * vz / G
    t_l = float(rng.uniform(0.2, 0.3))
    t_pa = p.jump_pause_s * float(rng.uniform(0.8, 1.2))
    x_p = vx * t_p / 2
    reach = x_p + vx * t_f + vx * t_l / 2
    z_to = 0.08
    times = [0, t_cm, t_cm + t_p, t_cm + t_p + t_f / 2, t_cm + t_p + t_f,
             t_cm + t_p + t_f + t_l, t_cm + t_p + t_f + t_l + t_pa]
    xs = [0, 0, x_p, x_p + vx * t_f / 2, x_p + vx * t_f, reach, reach]
    dxs = [0, 0, vx, vx, vx, 0, 0]
    zs = [0, -0.22, z_to, z_to + vz * vz / (2 * G), z_to, -0.18, 0]
    dzs = [0, 0, vz, 0, -vz, 0, 0]
    return times, xs, dxs, zs, dzs


def _jump_knots(
    p: PersonSpec, t: np.ndarray, rng: np.random.Generator, d: int, x: float, lo: float,
    hi: float,
) -> tuple[_JumpKnots, int]:
    """Knots of jumps from range ``x`` in direction ``d`` until past the end of ``t``,
    turning round on the spot where the next jump would leave ``[lo, hi]``; returns the
    knots and the number of jumps."""
    knots = _JumpKnots()
    stand = [v[0] for v in _JUMP_ANGLES.values()]
    now = 0.0
    psi = np.pi if d < 0 else 0.0
    t_end = float(t[-1]) + 1.0
    n_jumps = 0
    while now < t_end:
        times, xs, dxs, zs, dzs = _jump_phases(p, rng)
        reach = xs[-1]
        if (d < 0 and x - reach < lo) or (d > 0 and x + reach > hi):
            # turn round on the spot (1 s), then jump the other way
            t_turn = float(rng.uniform(0.9, 1.3))
            for frac in (0.0, 0.5, 1.0):
                knots.add(now + frac * t_turn, x, 0.0, 0.0, 0.0, psi + np.pi * frac, stand)
            now += t_turn + 1e-3
            psi += np.pi
            d = -d
            continue
        for i in range(7):
            if i == 0 and knots.t and abs(knots.t[-1] - now) < 1e-9:
                continue
            knots.add(now + times[i], x + d * xs[i], d * dxs[i], zs[i], dzs[i], psi,
                      [v[i] for v in _JUMP_ANGLES.values()])
        now += times[-1] + 1e-3
        x += d * reach
        n_jumps += 1
    return knots, n_jumps


def _jump_pose(p: PersonSpec, ang: np.ndarray) -> Pose:
    """The pose from interpolated jump angles ``ang`` (T, 6): legs and arms scaled by the
    person's asymmetry, arm swing, elbow bias and trunk lean; the pelvis stays level."""
    n = ang.shape[0]
    asym = np.array([1.0 + p.asymmetry / 2, 1.0 - p.asymmetry / 2])[:, None]
    return Pose(
        hip=asym * ang[:, 0],
        knee=asym * ang[:, 1],
        ankle=asym * ang[:, 2],
        shoulder=asym * ang[:, 3] * p.arm_swing ** 0.5,
        elbow=np.stack([ang[:, 4], ang[:, 4]]) + p.elbow_bias_deg,
        pelvis_offset=np.zeros((n, 3)),
        pelvis_pitch=np.zeros(n),
        pelvis_roll=np.zeros(n),
        pelvis_yaw=np.zeros(n),
        thorax_yaw=np.zeros(n),
        trunk_lean=ang[:, 5] + p.trunk_lean_deg,
    )


def _jump_motion(
    p: PersonSpec, t: np.ndarray, rng: np.random.Generator, opts: dict[str, Any]
) -> Motion:
    dims = p.dims
    lo, hi = _limits()
    d = _direction(opts.get("direction", "towards"), rng)
    first_dir = "towards" if d < 0 else "away"
    if opts.get("start_range_m") is not None:
        x = _check_start(opts["start_range_m"], lo, hi, "jump")
    else:
        x = float(rng.uniform(hi - 1.5, hi)) if d < 0 else float(rng.uniform(lo, lo + 1.5))
    knots, n_jumps = _jump_knots(p, t, rng, d, x, lo, hi)
    kt_a = np.asarray(knots.t)
    xw = CubicHermiteSpline(kt_a, knots.x, knots.dx)(t)
    zw = CubicHermiteSpline(kt_a, knots.z, knots.dz)(t)
    heading = PchipInterpolator(kt_a, knots.psi)(t)
    ang = PchipInterpolator(kt_a, np.asarray(knots.ang), axis=0)(t)  # (T, 6)
    n = t.size
    pose = _jump_pose(p, ang)
    pos = np.stack([xw, np.full(n, float(rng.uniform(-0.15, 0.15))),
                    _pelvis_height(dims) + zw], -1)
    joints = place(forward_kinematics(dims, pose), pos, heading)
    meta = {"speed_ms": p.jump_vx_ms, "jump_vz_ms": p.jump_vz_ms, "start_range_m": x,
            "direction": first_dir, "n_jumps": n_jumps}
    return Motion(joints, meta)


def _circle_motion(
    p: PersonSpec, t: np.ndarray, rng: np.random.Generator, opts: dict[str, Any]
) -> Motion:
    dims = p.dims
    lo, hi = _limits()
    rho = p.circle_radius_m
    speed = p.circle_speed_ms
    if opts.get("start_range_m") is not None:
        centre = _check_start(opts["start_range_m"], lo, hi, "circle centre")
    else:
        centre = float(rng.uniform(4.0, 5.0))
    if centre - rho < lo or centre + rho > hi:
        raise ConfigError(
            f"circle of radius {rho:.2f} m around {centre:.2f} m leaves the radar's range "
            f"{RANGE_LIMITS_M[0]}-{RANGE_LIMITS_M[1]} m"
        )
    cw = -1.0 if rng.random() < 0.5 else 1.0  # +1 = counter-clockwise seen from above
    theta = float(rng.uniform(0, 2 * np.pi)) + cw * speed / rho * t
    f_stride = p.run_stride_hz
    pose = _running_pose(float(rng.random()) + f_stride * t, p, np.ones_like(t))
    pos = np.stack([centre + rho * np.cos(theta), rho * np.sin(theta),
                    np.full_like(t, _pelvis_height(dims))], -1)
    lean = np.arctan(speed**2 / (G * rho))
    joints = place(forward_kinematics(dims, pose), pos, theta + cw * np.pi / 2,
                   np.full_like(t, -cw * lean))
    meta = {"speed_ms": speed, "stride_hz": f_stride, "cadence_steps_per_min": 120 * f_stride,
            "start_range_m": centre, "circle_radius_m": rho,
            "direction": "ccw" if cw > 0 else "cw", "lean_deg": float(lean / DEG)}
    return Motion(joints, meta)


def check_activity(activity: str) -> str:
    if activity not in ACTIVITIES:
        from harlab.errors import unknown_name

        raise unknown_name("activity", activity, ACTIVITIES)
    return activity


def generate_motion(
    person: PersonSpec,
    activity: str,
    t: np.ndarray,
    rng: np.random.Generator,
    start_range_m: float | None = None,
    direction: str | None = None,
) -> Motion:
    """World joint trajectories ``(T, 17, 3)`` of ``person`` doing ``activity`` at times t."""
    check_activity(activity)
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ConfigError("times must be a 1-D increasing array with at least 2 samples")
    opts: dict[str, Any] = {"start_range_m": start_range_m}
    if direction is not None:
        opts["direction"] = direction
    if activity == "walk":
        return _path_motion(person, t, rng, opts, run=False)
    if activity == "run":
        return _path_motion(person, t, rng, opts, run=True)
    if activity == "box":
        return _box_motion(person, t, rng, opts)
    if activity == "jump_forward":
        return _jump_motion(person, t, rng, opts)
    return _circle_motion(person, t, rng, opts)

