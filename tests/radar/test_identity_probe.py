"""Do simulated radar frames carry person identity? The probe as an acceptance test.

MRA-Net identifies persons from single 1 s frames (95.9 % F1 on real radar). A simulator
whose persons differ too little next to the per-recording jitter makes that task
impossible, whatever the network. These tests simulate a small dataset of the six default
persons and check with linear probes (``harlab.evaluation.probe``) that identity is well
above chance, and that the same test detects persons that differ in body only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harlab.data.splits import frame_split
from harlab.errors import DataError
from harlab.evaluation.probe import frame_probe, invariant_features, pooled_pixels
from harlab.radar.body import PersonSpec
from harlab.radar.processing import frames, process
from harlab.radar.simulate import DEFAULT_PERSONS, SimulationConfig, simulate_dataset

ACTS = ("walk", "run", "box", "jump_forward", "circle")


def _frames(persons: list[PersonSpec], recordings: int = 8, duration: float = 6.5):
    """Frames of ``recordings`` recordings per person x activity. With 4, the test fold held
    one recording per cell and a per-activity score moved by up to 10 points between
    dataset seeds; 8 keep the weakest activities (walk, run) above the bound for seeds
    11-13 and 21-22, measured with and without the stride-band truncation of the jitter."""
    cfg = SimulationConfig(
        persons=persons, activities=ACTS, duration_s=duration, seed=11,
        recordings_per_cell=recordings,
    )
    xs, act, per, rec = [], [], [], []
    for i, raw in enumerate(simulate_dataset(cfg, workers=2, progress=False)):
        f = frames(process(raw))
        xs.append(f.transpose(0, 2, 1))
        act += [ACTS.index(raw.activity)] * len(f)
        per += [[p.name for p in persons].index(raw.person)] * len(f)
        rec += [i] * len(f)
    return np.concatenate(xs), np.array(act), np.array(per), np.array(rec)


def _probe(x, act, per, rec) -> dict:
    """The probe on fold 0 of 4 of reproduce mranet's recording-grouped folds."""
    sp = frame_split(act, per, rec.astype(str), 4, fold=0, seed=0, val_fraction=0.2)
    train, te = np.sort(np.concatenate([sp.train, sp.val])), sp.test
    return frame_probe(x, act, per, train, te, list(ACTS), components=60,
                       features=("invariant",))


@pytest.fixture(scope="module")
def default_probe():
    """The probe on the six default persons, simulated and scored once for the module."""
    return _probe(*_frames(list(DEFAULT_PERSONS)))


def test_default_persons_are_identifiable_from_single_frames(default_probe) -> None:
    res = default_probe
    chance = res["chance_identity_macro_f1"]
    inv = res["invariant"]
    assert inv["activity_macro_f1"] >= 75
    assert inv["identity_macro_f1"] >= 2 * chance, inv
    within = inv["identity_macro_f1_within_activity"]
    assert set(within) == set(ACTS)
    assert np.mean(list(within.values())) >= 2.5 * chance, within
    assert min(within.values()) >= 1.25 * chance, within


def test_persons_with_one_style_are_not_identifiable(default_probe) -> None:
    """Same bodies, one shared motion style: the probe falls towards chance, so the
    acceptance test above measures the between-person style differences."""
    base = PersonSpec(name="x", height_m=1.75, weight_kg=70)
    same = [dataclasses.replace(base, name=p.name, height_m=p.height_m, weight_kg=p.weight_kg,
                                gender=p.gender) for p in DEFAULT_PERSONS]
    x, act, per, rec = _frames(same)
    res = _probe(x, act, per, rec)
    ref = default_probe
    assert res["invariant"]["identity_macro_f1"] < ref["invariant"]["identity_macro_f1"] - 10


def test_probe_features_and_errors() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((4, 150, 100)).astype(np.float32)
    assert pooled_pixels(x).shape == (4, 75 * 50)
    f = invariant_features(x)
    assert f.shape == (4, 100 + 50 + 10 * 15)
    # walking away is the mirror image of walking towards: the folded profile is the same
    g = invariant_features(x[:, :, ::-1])
    np.testing.assert_allclose(f[:, 100:150], g[:, 100:150], rtol=1e-5)
    # a shift in time leaves the modulation magnitudes of a periodic pattern unchanged
    t = np.arange(150) / 150
    wave = np.sin(2 * np.pi * 3 * t)[None, :, None] * np.ones((1, 1, 100))
    a = invariant_features(wave.astype(np.float32))
    b = invariant_features(np.roll(wave, 17, axis=1).astype(np.float32))
    np.testing.assert_allclose(a[:, 150:], b[:, 150:], atol=1e-4)
    with pytest.raises(DataError, match="too small"):
        invariant_features(x[:, :20, :])
    with pytest.raises(DataError, match="unknown probe features"):
        frame_probe(x, np.zeros(4, int), np.arange(4) % 2, np.arange(2), np.arange(2, 4),
                    ["a"], features=("fft",))
    with pytest.raises(DataError, match="at least 2 persons"):
        frame_probe(x, np.zeros(4, int), np.zeros(4, int), np.arange(2), np.arange(2, 4), ["a"])
