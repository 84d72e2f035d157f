"""Person-specific body model: 17-joint skeleton, 16 ellipsoid scatterers and their RCS.

Segment lengths are fractions of the body height (Boulic--Thalmann / Chen, see
``shared/reference/radar.md`` section 1.2); ellipsoid radii are Chen's values for a
1.75 m, 70 kg person, scaled by height and by a build factor
``sqrt((W / H) / (70 / 1.75))`` (clipped to 0.8--1.3), so heavier persons of equal
height have thicker segments and a larger radar cross-section.

Joint order (``JOINTS``) is fixed; everything downstream indexes it by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc

from harlab.errors import ConfigError

JOINTS: tuple[str, ...] = (
    "base",
    "neck",
    "head",
    "l_shoulder",
    "l_elbow",
    "l_hand",
    "r_shoulder",
    "r_elbow",
    "r_hand",
    "l_hip",
    "l_knee",
    "l_ankle",
    "l_toe",
    "r_hip",
    "r_knee",
    "r_ankle",
    "r_toe",
)
J = {name: i for i, name in enumerate(JOINTS)}

# Segment lengths as a fraction of height (Boulic / Chen).
FRACTIONS = {
    "head": 0.130,
    "shoulder_half": 0.259 / 2,
    "torso": 0.288,
    "hip_half": 0.191 / 2,
    "upper_leg": 0.245,
    "lower_leg": 0.246,
    "foot": 0.143,
    "upper_arm": 0.188,
    "lower_arm": 0.152,
}

# (name, joint A, joint B, centre rule, radius a=b for a 1.75 m / 70 kg person).
# The ellipsoid's long axis (semi-axis c = |A - B| / 2) runs from A to B; the centre is
# the segment midpoint.
SCATTERERS: tuple[tuple[str, str, str, float], ...] = (
    ("head", "neck", "head", 0.10),
    ("torso", "base", "neck", 0.15),
    ("l_shoulder", "neck", "l_shoulder", 0.06),
    ("r_shoulder", "neck", "r_shoulder", 0.06),
    ("l_upper_arm", "l_shoulder", "l_elbow", 0.06),
    ("r_upper_arm", "r_shoulder", "r_elbow", 0.06),
    ("l_lower_arm", "l_elbow", "l_hand", 0.05),
    ("r_lower_arm", "r_elbow", "r_hand", 0.05),
    ("l_hip", "base", "l_hip", 0.07),
    ("r_hip", "base", "r_hip", 0.07),
    ("l_upper_leg", "l_hip", "l_knee", 0.07),
    ("r_upper_leg", "r_hip", "r_knee", 0.07),
    ("l_lower_leg", "l_knee", "l_ankle", 0.06),
    ("r_lower_leg", "r_knee", "r_ankle", 0.06),
    ("l_foot", "l_ankle", "l_toe", 0.05),
    ("r_foot", "r_ankle", "r_toe", 0.05),
)
SCATTERER_NAMES: tuple[str, ...] = tuple(s[0] for s in SCATTERERS)
_SA = np.array([J[s[1]] for s in SCATTERERS])
_SB = np.array([J[s[2]] for s in SCATTERERS])
_RADIUS = np.array([s[3] for s in SCATTERERS])

HEIGHT_RANGE_M = (1.0, 2.3)
WEIGHT_RANGE_KG = (25.0, 200.0)


def check_body(height_m: float, weight_kg: float, who: str = "person") -> None:
    """Raise ConfigError for a height or weight outside what the body model represents."""
    if not all(isinstance(v, int | float | np.number) and not isinstance(v, bool)
               for v in (height_m, weight_kg)):
        raise ConfigError(f"{who}: height_m and weight_kg must be numbers, got {height_m!r}, "
                          f"{weight_kg!r}")
    lo, hi = HEIGHT_RANGE_M
    if not (np.isfinite(height_m) and lo <= height_m <= hi):
        raise ConfigError(f"{who}: height {height_m!r} m outside the body model's {lo}-{hi} m")
    lo, hi = WEIGHT_RANGE_KG
    if not (np.isfinite(weight_kg) and lo <= weight_kg <= hi):
        raise ConfigError(f"{who}: weight {weight_kg!r} kg outside the body model's {lo}-{hi} kg")


@dataclass(frozen=True)
class BodyDims:
    """Segment lengths (m) of one person and the ellipsoid radius scale."""

    height: float
    head: float
    shoulder_half: float
    torso: float
    hip_half: float
    upper_leg: float
    lower_leg: float
    foot: float
    upper_arm: float
    lower_arm: float
    radius_scale: float

    @classmethod
    def from_body(cls, height_m: float, weight_kg: float) -> BodyDims:
        check_body(height_m, weight_kg)
        build = float(np.clip(np.sqrt((weight_kg / height_m) / (70.0 / 1.75)), 0.8, 1.3))
        lengths = {k: v * height_m for k, v in FRACTIONS.items()}
        return cls(height=height_m, radius_scale=build * height_m / 1.75, **lengths)

    @property
    def leg_length(self) -> float:
        """Hip-to-ankle length Ht (Boulic's normaliser for speed)."""
        return self.upper_leg + self.lower_leg


def scatterer_geometry(
    joints: np.ndarray, dims: BodyDims
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ellipsoid centres ``(T, 16, 3)``, unit long axes ``(T, 16, 3)``, radii a ``(16,)``, c.

    ``c`` (half segment length) is taken from the mean segment length over time, so that
    numerical jitter of a joint does not modulate the RCS.
    """
    a_pts = joints[:, _SA]
    b_pts = joints[:, _SB]
    seg = b_pts - a_pts
    length = np.linalg.norm(seg, axis=-1)
    axis = seg / np.maximum(length, 1e-9)[..., None]
    centre = 0.5 * (a_pts + b_pts)
    c = np.maximum(0.5 * length.mean(axis=0), 1e-3)
    a = _RADIUS * dims.radius_scale
    return centre, axis, a, c


def ellipsoid_rcs(a: np.ndarray, c: np.ndarray, cos_theta: np.ndarray) -> np.ndarray:
    """High-frequency RCS of a prolate/oblate spheroid (a = b) seen at aspect angle theta.

    ``sigma = pi a^4 c^2 / (a^2 sin^2 theta + c^2 cos^2 theta)^2`` (Chen's ellipsoid
    formula with a = b); broadside gives ``pi c^2``, end-on ``pi a^4 / c^2``.
    """
    cos2 = cos_theta * cos_theta
    sin2 = 1.0 - cos2
    a2 = a * a
    c2 = c * c
    return np.pi * a2 * a2 * c2 / (a2 * sin2 + c2 * cos2) ** 2


# Style fields of PersonSpec: (low, high) of the drawn value. The ranges span typical
# adult differences rather than one population mean: preferred walking speed about
# 1.0-1.4 m/s (Froude scaling V = sqrt(Fr g Ht), so taller persons walk faster at equal
# Fr), cadence +-5 % around the Boulic speed-cadence relation, arm swing from stiff to
# loose (x0.5-1.5), left/right asymmetry up to 15 %, and personal habits of boxing and
# jumping (guard posture, bounce rhythm, crouch and pause durations). Per-recording
# jitter (a few per cent) varies each value around the person's own. Arm swing, elbow
# carry and asymmetry are wider than shared/reference/radar.md section 1.6 suggests
# (0.7-1.3, +-10 deg, +-5-10 %): with the narrower ranges and independent draws, a linear
# probe found little identity in 1 s frames (benchmarks/radar_identity_probe.py measures it).
STYLE_RANGES: dict[str, tuple[float, float]] = {
    "walk_froude": (0.12, 0.24),
    "cadence_scale": (0.95, 1.05),
    "arm_swing": (0.5, 1.5),
    "elbow_bias_deg": (-15.0, 15.0),
    "asymmetry": (-0.15, 0.15),
    "asym_phase": (-0.03, 0.03),
    "trunk_lean_deg": (0.0, 10.0),
    "bounce": (0.6, 1.4),
    "run_speed_ms": (2.6, 3.8),
    "run_stride_hz": (1.33, 1.47),
    "punch_rate_hz": (1.5, 3.0),
    "punch_time_s": (0.12, 0.18),
    "guard_shoulder_deg": (25.0, 40.0),
    "guard_elbow_deg": (115.0, 135.0),
    "box_bounce_hz": (1.5, 2.5),
    "jump_vx_ms": (1.5, 2.3),
    "jump_vz_ms": (1.5, 2.2),
    "jump_crouch_s": (0.3, 0.5),
    "jump_pause_s": (0.2, 0.5),
    "circle_radius_m": (1.0, 1.5),
    "circle_speed_ms": (2.0, 2.8),
}
# What the kinematic models can represent (a style given by hand, e.g. in a YAML person,
# must lie here; draws use the narrower STYLE_RANGES). Walking Froude numbers above ~0.5
# are running (the walk-run transition), and Boulic's curves need rv = V/Ht <= 3; the
# running, boxing, jumping and circling models are fits to adult motion, so speeds and
# rates are bounded at what people reach (sprint-level running, 4 m/s circling, a 3.5 m/s
# take-off). Derived limits (stride length, circling lean, punch duty) are in
# ``PersonSpec.__post_init__``.
STYLE_LIMITS: dict[str, tuple[float, float]] = {
    "walk_froude": (0.02, 0.5),
    "cadence_scale": (0.7, 1.3),
    "arm_swing": (0.0, 3.0),
    "elbow_bias_deg": (-45.0, 45.0),
    "asymmetry": (-0.5, 0.5),
    "asym_phase": (-0.15, 0.15),
    "trunk_lean_deg": (-10.0, 30.0),
    "bounce": (0.0, 3.0),
    "run_speed_ms": (1.8, 6.0),
    "run_stride_hz": (1.0, 1.8),
    "punch_rate_hz": (0.5, 5.0),
    "punch_time_s": (0.05, 0.5),
    "guard_shoulder_deg": (0.0, 90.0),
    "guard_elbow_deg": (60.0, 160.0),
    "box_bounce_hz": (0.5, 4.0),
    "jump_vx_ms": (0.3, 3.5),
    "jump_vz_ms": (0.5, 3.5),
    "jump_crouch_s": (0.15, 1.0),
    "jump_pause_s": (0.05, 2.0),
    "circle_radius_m": (0.75, 2.5),
    "circle_speed_ms": (1.0, 4.5),
}
#: running stride length (speed / stride frequency) in body heights: from a shuffling jog to
#: beyond sprint strides (about 2.6 heights), with room for a drawn style on a 1 m child
RUN_STRIDE_HEIGHTS = (0.6, 3.2)
#: realistic stride (gait-cycle) frequencies, Hz (shared/reference/radar.md section 5: walking
#: 0.75-1.0, running 1.3-1.5). Drawn persons lie inside them, and the per-recording jitter of
#: a person inside them is truncated so that every recording stays inside (circling is
#: running, so it shares the running band). Hand-set persons outside are left as given.
GAIT_STRIDE_HZ: dict[str, tuple[float, float]] = {"walk": (0.75, 1.0), "run": (1.3, 1.5)}
#: largest centripetal acceleration of circling, in g (a 45 degree lean)
MAX_CIRCLE_G = 1.0
#: largest fraction of one arm's punch period spent punching (extension + return, which is
#: up to 2.5 x the extension, must fit in the shortest jittered period 0.8 x 2 / rate)
MAX_PUNCH_DUTY = 0.64
_ADDITIVE = {"elbow_bias_deg", "asymmetry", "asym_phase", "trunk_lean_deg"}
# rates, speeds, durations and gains: the fields whose range lies above zero
_POSITIVE = tuple(k for k, (lo, _) in STYLE_RANGES.items() if lo > 0)


def _inner(band: tuple[float, float]) -> tuple[float, float]:
    """``band`` narrowed by 1e-9 relative, so a value moved to its edge is not rounded out."""
    return band[0] * (1 + 1e-9), band[1] * (1 - 1e-9)


def latin_hypercube_styles(n: int, seed: int = 0) -> list[dict[str, float]]:
    """``n`` style dicts from one Latin-hypercube draw over ``STYLE_RANGES``.

    Independent uniform draws for a handful of persons often give two of them nearly the
    same speed or cadence; a Latin hypercube (``scipy.stats.qmc``) puts the n persons in n
    different strata of every style range, so a small group spans the ranges the way a
    recruited subject pool would. Deterministic for ``seed``.
    """
    if n < 1:
        raise ConfigError("a style draw needs at least one person")
    u = qmc.LatinHypercube(d=len(STYLE_RANGES), rng=np.random.default_rng(seed)).random(n)
    lo = np.array([r[0] for r in STYLE_RANGES.values()])
    hi = np.array([r[1] for r in STYLE_RANGES.values()])
    return [dict(zip(STYLE_RANGES, map(float, row), strict=True)) for row in lo + u * (hi - lo)]


def spread_styles(bodies: Sequence[tuple[str, float, float]], seed: int = 0
                  ) -> list[dict[str, float]]:
    """Styles for bodies ``(name, height_m, weight_kg)``: one :func:`latin_hypercube_styles`
    draw, each style moved into ``GAIT_STRIDE_HZ`` on its body
    (:meth:`PersonSpec.into_gait_bands`; a bad body is refused under its own name). What
    ``PersonSpec.spread`` and a YAML person list without seeds both use."""
    styles = latin_hypercube_styles(len(bodies), seed)
    return [PersonSpec(name, h, w, **st).into_gait_bands().style()
            for (name, h, w), st in zip(bodies, styles, strict=True)]


@dataclass(frozen=True)
class PersonSpec:
    """One simulated subject: body (height, weight, gender) and a personal motion style.

    Style fields (see ``STYLE_RANGES``): ``walk_froude`` sets the preferred walking speed
    ``V = sqrt(Fr g Ht)`` (Boulic relative velocity ``rv = V / Ht``), ``cadence_scale``
    scales the stride frequency, ``arm_swing`` the shoulder swing amplitude,
    ``elbow_bias_deg`` the resting elbow flexion, ``asymmetry`` / ``asym_phase`` the
    left-vs-right amplitude and phase offset, ``bounce`` the vertical pelvis excursion of
    walking and running, plus running speed and stride frequency, punch rate and extension
    time, boxing guard posture and knee-bounce rate, jump take-off velocities, crouch and
    pause durations, circle radius and speed.
    """

    name: str
    height_m: float
    weight_kg: float
    gender: str = "unknown"
    walk_froude: float = 0.17
    cadence_scale: float = 1.0
    arm_swing: float = 1.0
    elbow_bias_deg: float = 0.0
    asymmetry: float = 0.0
    asym_phase: float = 0.0
    trunk_lean_deg: float = 3.0
    bounce: float = 1.0
    run_speed_ms: float = 3.2
    run_stride_hz: float = 1.4
    punch_rate_hz: float = 2.2
    punch_time_s: float = 0.15
    guard_shoulder_deg: float = 32.0
    guard_elbow_deg: float = 125.0
    box_bounce_hz: float = 2.0
    jump_vx_ms: float = 1.9
    jump_vz_ms: float = 1.8
    jump_crouch_s: float = 0.4
    jump_pause_s: float = 0.35
    circle_radius_m: float = 1.25
    circle_speed_ms: float = 2.4

    def __post_init__(self) -> None:
        check_body(self.height_m, self.weight_kg, who=f"person {self.name!r}")
        for f in dataclasses.fields(self):
            if f.name in STYLE_RANGES:
                v = getattr(self, f.name)
                if not np.isfinite(v):
                    raise ConfigError(f"person {self.name!r}: {f.name} must be finite, got {v}")
        for f in _POSITIVE:
            if getattr(self, f) <= 0:
                raise ConfigError(f"person {self.name!r}: {f} must be positive")
        self.check_limits()

    def check_limits(self) -> None:
        """ConfigError where a style leaves what the kinematic models represent.

        Applied to every spec, so a per-recording jitter that pushes a hand-set style past
        a limit is also refused (drawn styles sit well inside the limits).
        """
        who = f"person {self.name!r}"
        for f, (lo, hi) in STYLE_LIMITS.items():
            v = float(getattr(self, f))
            if not lo <= v <= hi:
                raise ConfigError(f"{who}: {f} = {v:g} is outside the model's validity "
                                  f"{lo:g}-{hi:g} (drawn styles use {STYLE_RANGES[f][0]:g}-"
                                  f"{STYLE_RANGES[f][1]:g})")
        stride = self.run_speed_ms / self.run_stride_hz / self.height_m
        lo, hi = RUN_STRIDE_HEIGHTS
        if not lo <= stride <= hi:
            raise ConfigError(
                f"{who}: running at {self.run_speed_ms:g} m/s with {self.run_stride_hz:g} "
                f"strides/s gives a stride of {stride:.2f} body heights, outside {lo}-{hi}; "
                "change run_speed_ms or run_stride_hz")
        lateral = self.circle_speed_ms**2 / self.circle_radius_m / 9.81
        if lateral > MAX_CIRCLE_G:
            raise ConfigError(
                f"{who}: circling at {self.circle_speed_ms:g} m/s on a {self.circle_radius_m:g}"
                f" m radius needs {lateral:.2f} g of centripetal acceleration (more than "
                f"{MAX_CIRCLE_G:g} g, a 45 degree lean); slow down or widen the circle")
        duty = self.punch_time_s * self.punch_rate_hz
        if duty > MAX_PUNCH_DUTY:
            raise ConfigError(
                f"{who}: punches of {self.punch_time_s:g} s at {self.punch_rate_hz:g} per "
                f"second do not fit between punches (punch_time_s x punch_rate_hz = "
                f"{duty:.2f} > {MAX_PUNCH_DUTY}); lower one of them")

    @classmethod
    def from_seed(
        cls, name: str, height_m: float, weight_kg: float, gender: str = "unknown", seed: int = 0
    ) -> PersonSpec:
        """Draw a motion style uniformly from ``STYLE_RANGES`` with ``seed``."""
        rng = np.random.default_rng(seed)
        style = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in STYLE_RANGES.items()}
        return cls(name=name, height_m=height_m, weight_kg=weight_kg, gender=gender,
                   **style).into_gait_bands()

    @classmethod
    def spread(
        cls, bodies: Sequence[tuple[str, float, float, str]], seed: int = 0
    ) -> list[PersonSpec]:
        """Persons ``(name, height_m, weight_kg, gender)`` with the styles of one
        :func:`latin_hypercube_styles` draw (each person in its own stratum of every range).
        """
        names = [b[0] for b in bodies]
        if len(set(names)) != len(names):
            raise ConfigError(f"person names must be unique, got {names}")
        styles = spread_styles([(name, h, w) for name, h, w, _ in bodies], seed)
        return [cls(name=name, height_m=h, weight_kg=w, gender=g, **style)
                for (name, h, w, g), style in zip(bodies, styles, strict=True)]

    @property
    def dims(self) -> BodyDims:
        return BodyDims.from_body(self.height_m, self.weight_kg)

    @property
    def walk_speed_ms(self) -> float:
        return float(np.sqrt(self.walk_froude * 9.81 * self.dims.leg_length))

    @property
    def walk_rv(self) -> float:
        """Boulic relative velocity V / Ht (model valid for 0 < rv <= 3)."""
        return self.walk_speed_ms / self.dims.leg_length

    @property
    def walk_stride_hz(self) -> float:
        """Walking stride (gait-cycle) frequency: Boulic's ``sqrt(rv) / 1.346`` x cadence."""
        return float(np.sqrt(self.walk_rv) / 1.346 * self.cadence_scale)

    def _gait_strides(self) -> tuple[tuple[str, float, tuple[float, float]], ...]:
        """``(field, stride frequency, band)`` for walking and running; each frequency is
        proportional to its field, so scaling the field scales the frequency."""
        return (("cadence_scale", self.walk_stride_hz, GAIT_STRIDE_HZ["walk"]),
                ("run_stride_hz", self.run_stride_hz, GAIT_STRIDE_HZ["run"]))

    def in_gait_bands(self) -> bool:
        """Whether walking and running stride frequencies lie in ``GAIT_STRIDE_HZ``."""
        return all(lo <= f <= hi for _, f, (lo, hi) in self._gait_strides())

    def into_gait_bands(self) -> PersonSpec:
        """This person with ``cadence_scale`` and ``run_stride_hz`` moved to the nearest
        value inside ``GAIT_STRIDE_HZ`` (a drawn style on a very tall or short body can
        otherwise walk outside the realistic band); unchanged when already inside."""
        changes = {}
        for k, f, band in self._gait_strides():
            lo, hi = _inner(band)
            if not lo <= f <= hi:
                changes[k] = getattr(self, k) * min(max(f, lo), hi) / f
        return dataclasses.replace(self, **changes) if changes else self

    def style(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in STYLE_RANGES}

    def jittered(self, rng: np.random.Generator, frac: float) -> tuple[PersonSpec, dict[str, Any]]:
        """A per-recording variant: style fields x (1 + U(-frac, frac)), body size +-frac/4.

        For a person inside ``GAIT_STRIDE_HZ`` the jitter of ``cadence_scale`` and
        ``run_stride_hz`` is drawn from the part of ``(-frac, frac)`` that keeps the
        recording's walking and running stride frequencies inside the bands (the same
        random number, mapped linearly onto that part, so the other fields draw as before).
        Returns the new spec and the applied factors / offsets (for the metadata).
        """
        if not (np.isfinite(frac) and 0 <= frac < 0.5):
            raise ConfigError(f"jitter must be in [0, 0.5), got {frac!r}")
        changes: dict[str, Any] = {}
        jit: dict[str, float] = {}
        for k, (lo, hi) in STYLE_RANGES.items():
            u = float(rng.uniform(-frac, frac))
            if k in _ADDITIVE:
                changes[k] = getattr(self, k) + u * (hi - lo)
            else:
                changes[k] = getattr(self, k) * (1 + u)
            jit[k] = u
        for k in ("height_m", "weight_kg"):
            u = float(rng.uniform(-frac / 4, frac / 4))
            changes[k] = getattr(self, k) * (1 + u)
            jit[k] = u
        if frac > 0 and self.in_gait_bands():
            # stride frequencies with every other field's jitter applied (walking's also
            # depends on the Froude number and the body), before their own
            rest = dataclasses.replace(self, **{**changes, "cadence_scale": self.cadence_scale,
                                                "run_stride_hz": self.run_stride_hz})
            for k, f0, band in rest._gait_strides():
                lo, hi = _inner(band)
                a = max(-frac, lo / f0 - 1)
                b = min(frac, hi / f0 - 1)
                if a < b and (a > -frac or b < frac):
                    u = a + (jit[k] + frac) / (2 * frac) * (b - a)
                    changes[k] = getattr(self, k) * (1 + u)
                    jit[k] = u
        return dataclasses.replace(self, **changes), jit
