"""Radar processing chain on synthetic point targets with known range and radial speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import get_window

from harlab.errors import ConfigError, DataError
from harlab.radar.processing import (
    PAPER_V_MAX_MS,
    ProcessingConfig,
    crop_velocity,
    doppler_stft,
    frame_times,
    frames,
    mti_filter,
    plot_range_time,
    plot_spectrogram,
    process,
    range_gate,
    range_time_matrix,
    stft_params,
    to_unit_db,
    velocity_limit,
)
from harlab.radar.types import SPEED_OF_LIGHT, RadarParams, RawRadar

PULSED = RadarParams()  # 4 GHz, 290 Hz, 8.3 cm bins from 0 m
N_BINS = 100  # 0 .. 8.2 m


def pulsed_targets(targets, duration_s=4.0, params=PULSED, noise=0.0, seed=0, real_rf=False):
    """Pulsed baseband returns ``a exp(-j 4 pi R / lambda)`` of point targets.

    ``targets``: (range at t=0 in m, radial speed in m/s, + = approaching, amplitude). Each
    target stays in the range bin of its start range (so fast ones can be tested without
    leaving the window) while its phase follows the motion exactly.
    """
    n = int(round(duration_s * params.prf_hz))
    t = np.arange(n) / params.prf_hz
    data = np.zeros((n, N_BINS), dtype=np.complex128)
    for r0, v, a in targets:
        k = int(round((r0 - params.range_start_m) / params.range_bin_m))
        data[:, k] += a * np.exp(-4j * np.pi * (r0 - v * t) / params.wavelength_m)
    if noise:
        rng = np.random.default_rng(seed)
        data += noise * (rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape))
    if real_rf:  # a real "RF" scan: a 16-sample pulse on a carrier along fast time
        m = np.arange(N_BINS)
        real = np.zeros((n, N_BINS))
        for r0, v, a in targets:
            k = int(round(r0 / params.range_bin_m))
            env = np.exp(-0.5 * ((m - k) / 3.0) ** 2)
            phase = -4 * np.pi * (r0 - v * t) / params.wavelength_m
            real += a * env[None, :] * np.cos(2 * np.pi * 0.2 * m[None, :] + phase[:, None])
        return RawRadar(real.astype(np.float32), params)
    return RawRadar(data.astype(np.complex64), params)


def peak_velocity(spec) -> float:
    return float(spec.velocity_ms[np.argmax(spec.magnitude.mean(axis=1))])


@pytest.mark.parametrize("combine", ["coherent", "incoherent"])
@pytest.mark.parametrize("v", [2.0, -1.5, 4.0])
def test_point_target_peak_at_its_speed(v, combine):
    raw = pulsed_targets([(4.0, v, 1.0)], noise=0.05)
    spec = process(raw, ProcessingConfig(combine=combine))
    # Doppler resolution: nfft 256 over PRF 290 Hz -> 0.042 m/s per bin
    assert peak_velocity(spec) == pytest.approx(v, abs=0.05)


def test_faster_than_vmax_wraps():
    v_max = PULSED.v_max_ms
    assert v_max == pytest.approx(0.074948 * 290 / 4, rel=1e-4)
    v = 7.0
    spec = process(pulsed_targets([(4.0, v, 1.0)]))
    assert peak_velocity(spec) == pytest.approx(v - 2 * v_max, abs=0.05)
    assert spec.velocity_ms.min() >= -v_max and spec.velocity_ms.max() <= v_max


def test_mti_removes_static_target_keeps_moving_one():
    raw = pulsed_targets([(3.0, 0.0, 1.0), (5.0, 1.2, 1.0)])
    x, rng = range_time_matrix(raw)
    k_static = int(round(3.0 / PULSED.range_bin_m))
    k_moving = int(round(5.0 / PULSED.range_bin_m))
    for method in ("butterworth", "two_pulse", "mean"):
        cfg = ProcessingConfig(mti=method)
        y, dropped = mti_filter(x, PULSED.prf_hz, cfg)
        n = y.shape[1]
        before_s = np.sqrt(np.mean(np.abs(x[k_static, -n:]) ** 2))
        after_s = np.sqrt(np.mean(np.abs(y[k_static]) ** 2))
        suppression = 20 * np.log10(before_s / max(after_s, 1e-30))
        assert suppression >= 30, (method, suppression)
        kept = np.sqrt(np.mean(np.abs(y[k_moving]) ** 2)) / np.sqrt(
            np.mean(np.abs(x[k_moving]) ** 2)
        )
        assert kept > 0.5, (method, kept)  # the 1.2 m/s target (32 Hz) passes
    # Butterworth drops its transient (0.5 / cutoff s by default), the canceller one pulse
    assert mti_filter(x, PULSED.prf_hz, ProcessingConfig())[1] == round(0.5 * PULSED.prf_hz)
    assert mti_filter(x, PULSED.prf_hz, ProcessingConfig(mti="two_pulse"))[1] == 1
    # without MTI the static target dominates the spectrogram at 0 m/s
    spec = process(raw, ProcessingConfig(mti="none"))
    assert abs(peak_velocity(spec)) < 0.05
    assert peak_velocity(process(raw)) == pytest.approx(1.2, abs=0.05)


def test_butterworth_mti_suppresses_clutter_under_strong_clutter():
    # clutter 40 dB above the mover: after MTI the mover is the spectrogram peak
    raw = pulsed_targets([(3.0, 0.0, 100.0), (5.0, -0.8, 1.0)], noise=0.01)
    assert peak_velocity(process(raw)) == pytest.approx(-0.8, abs=0.05)


def test_range_gate_keeps_only_chosen_ranges():
    raw = pulsed_targets([(1.0, 2.0, 1.0), (4.0, -1.0, 1.0), (7.9, 3.0, 1.0)])
    x, rng = range_time_matrix(raw)
    g, r = range_gate(x, rng, 1.5, 7.5)
    assert r.min() >= 1.5 and r.max() <= 7.5
    assert g.shape == (r.size, x.shape[1])
    spec = process(raw)
    mag = spec.magnitude.mean(axis=1)
    v = spec.velocity_ms
    at = lambda s: mag[np.argmin(np.abs(v - s))]  # noqa: E731
    assert peak_velocity(spec) == pytest.approx(-1.0, abs=0.05)
    # the targets at 1.0 m and 7.9 m (outside 1.5-7.5 m) are gone: only the window sidelobes
    assert at(2.0) < 1e-3 * at(-1.0) and at(3.0) < 1e-3 * at(-1.0)
    # a gate around 1 m keeps only that target
    near = process(raw, ProcessingConfig(range_min_m=0.5, range_max_m=1.5))
    assert peak_velocity(near) == pytest.approx(2.0, abs=0.05)
    with pytest.raises(DataError, match="no range bin"):
        process(raw, ProcessingConfig(range_min_m=20.0, range_max_m=30.0))


def test_stft_column_matches_hand_fft_of_windowed_segment():
    cfg = ProcessingConfig(hop=3, nfft=128, window="hamming", window_s=0.1)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 400)) + 1j * rng.standard_normal((2, 400))).astype(np.complex64)
    mag, f_d, t = doppler_stft(x, PULSED.prf_hz, cfg)
    n_win, win = stft_params(PULSED.prf_hz, cfg)
    assert n_win == 29 and np.allclose(win, get_window("hamming", 29))
    assert mag.shape == (128, (400 - n_win) // 3 + 1)  # full windows only, hop 3
    # two-sided and centred: -PRF/2 .. PRF/2 - PRF/nfft
    assert np.allclose(f_d, np.fft.fftshift(np.fft.fftfreq(128, 1 / PULSED.prf_hz)))
    col = 7
    seg = x.sum(axis=0)[col * 3 : col * 3 + n_win] * win  # no detrending
    hand = np.abs(np.fft.fftshift(np.fft.fft(seg, 128))) / win.sum()
    assert np.allclose(mag[:, col], hand, rtol=1e-4, atol=1e-6)
    assert t[col] == pytest.approx((col * 3 + n_win / 2) / PULSED.prf_hz)
    # incoherent: sum of the per-bin magnitudes
    inc, _, _ = doppler_stft(
        x, PULSED.prf_hz, ProcessingConfig(**{**cfg.to_dict(), "combine": "incoherent"})
    )
    per_bin = [
        np.abs(np.fft.fftshift(np.fft.fft(x[b, col * 3 : col * 3 + n_win] * win, 128)))
        for b in range(2)
    ]
    assert np.allclose(inc[:, col], np.sum(per_bin, axis=0) / win.sum(), rtol=1e-4, atol=1e-6)


def test_frame_count_shape_and_range():
    cfg = ProcessingConfig()
    duration = 6.0
    spec = process(pulsed_targets([(4.0, 1.0, 1.0)], duration_s=duration, noise=0.1), cfg)
    # pulses: 1740; MTI drops 145 (0.5 s); STFT window 58, hop 2 -> (1595-58)//2+1 = 769
    assert spec.magnitude.shape[1] == (1740 - 145 - 58) // 2 + 1
    assert spec.time_s[0] == pytest.approx((145 + 29) / 290)
    st = frames(spec)
    # 145 columns per 1 s frame, hop 0.64 s = 92.8 columns: floor((769-145)/92.8)+1 = 7
    assert st.shape == (7, 100, 150) and st.dtype == np.float32
    assert st.min() >= 0 and st.max() <= 1
    assert np.allclose(np.diff(frame_times(spec)), 0.64, atol=spec.column_s + 1e-9)
    # per-frame normalisation: each frame reaches (almost) 1 after bilinear resizing
    assert np.all(st.reshape(7, -1).max(axis=1) > 0.95)
    # image order: the approaching target (+1 m/s) lies in the upper half (row 0 = +v_max)
    row = np.argmax(st.mean(axis=(0, 2)))
    assert row == pytest.approx((1 - 1.0 / PAPER_V_MAX_MS) / 2 * 100, abs=2)
    # too short for one frame -> empty stack, not an error
    short = process(pulsed_targets([(4.0, 1.0, 1.0)], duration_s=1.5), cfg)
    assert frames(short).shape == (0, 100, 150)
    rec = frames(spec, ProcessingConfig(normalize="recording", frame_height=64, frame_width=32))
    assert rec.shape == (7, 64, 32)


def test_db_normalisation_floor():
    mag = np.array([[1.0, 0.1, 0.001, 0.0]])
    unit = to_unit_db(mag, 40.0)
    assert np.allclose(unit, [[1.0, 0.5, 0.0, 0.0]])
    assert np.all(to_unit_db(np.zeros((3, 4)), 40.0) == 0)  # silence is floor, not maximum
    per_frame = to_unit_db(np.array([[[2.0, 0.2]], [[0.5, 0.05]]]), 20.0, axis=(1, 2))
    assert np.allclose(per_frame, [[[1.0, 0.0]], [[1.0, 0.0]]])


def test_crop_velocity_limits():
    f = np.fft.fftshift(np.fft.fftfreq(256, 1 / 290))
    mag = np.ones((256, 3))
    cropped, v = crop_velocity(mag, f, PULSED.wavelength_m, 5.14)
    assert np.all(np.abs(v) <= 5.14) and v.size == cropped.shape[0] < 256
    assert np.all(np.diff(v) > 0)
    with pytest.raises(ConfigError, match="exceeds"):
        process(pulsed_targets([(4.0, 1.0, 1.0)]), ProcessingConfig(v_max_ms=9.0))


def test_default_velocity_axis_is_the_papers():
    """MRA-Net Sect. 4.1: +-5.14 m/s by default, not the radar's +-5.44 m/s."""
    spec = process(pulsed_targets([(4.0, 1.0, 1.0)]))
    step = 290 / 256 * PULSED.wavelength_m / 2  # one Doppler bin in m/s
    assert PULSED.v_max_ms == pytest.approx(5.43, abs=0.01)
    assert spec.velocity_ms.max() <= 5.14 and spec.velocity_ms.max() > 5.14 - step
    assert spec.velocity_ms.min() >= -5.14 and spec.velocity_ms.min() < -5.14 + step
    full = process(pulsed_targets([(4.0, 1.0, 1.0)]), ProcessingConfig(v_max_ms=None))
    assert full.velocity_ms.max() > 5.3
    # a radar whose unambiguous limit is below the paper's crops at its own limit
    slow = RadarParams(prf_hz=250.0)
    assert velocity_limit(ProcessingConfig(), slow) == pytest.approx(slow.v_max_ms)
    assert velocity_limit(ProcessingConfig(v_max_ms=3.0), slow) == 3.0
    with pytest.raises(ConfigError, match="v_max_ms"):
        ProcessingConfig(v_max_ms="full")


def test_fmcw_range_fft_and_doppler():
    fmcw = RadarParams(
        carrier_hz=5.8e9,
        bandwidth_hz=400e6,
        prf_hz=1000.0,
        waveform="fmcw",
        sweep_s=1e-3,
        samples_per_sweep=128,
    )
    n_chirps, n = 2000, 128
    t_slow = np.arange(n_chirps) / fmcw.prf_hz
    t_fast = np.arange(n) * fmcw.sweep_s / n
    slope = fmcw.bandwidth_hz / fmcw.sweep_s
    r0, v = 4.5, 1.5  # approaching
    rr = r0 - v * t_slow
    tau = 2 * rr[:, None] / SPEED_OF_LIGHT
    beat = np.exp(2j * np.pi * (fmcw.carrier_hz * tau + slope * tau * t_fast[None, :]))
    raw = RawRadar(beat.astype(np.complex64), fmcw)
    x, rng = range_time_matrix(raw)
    assert x.shape == (64, n_chirps)  # positive-range half
    assert rng[1] - rng[0] == pytest.approx(SPEED_OF_LIGHT / (2 * 400e6))
    k = np.argmax(np.abs(x[:, 0]))
    assert rng[k] == pytest.approx(r0, abs=0.375 / 2 + 1e-9)
    spec = process(raw, ProcessingConfig(range_min_m=1.0, range_max_m=10.0))
    assert peak_velocity(spec) == pytest.approx(v, abs=0.1)  # beat phase sign handled


def test_hilbert_for_real_rf_scans():
    raw = pulsed_targets([(4.0, 1.5, 1.0)], real_rf=True)
    assert not np.any(raw.data.imag)
    spec = process(raw)
    assert peak_velocity(spec) == pytest.approx(1.5, abs=0.05)
    # without the Hilbert transform a real signal has a mirror image at -v of equal height
    spec_no = process(raw, ProcessingConfig(hilbert=False))
    m = spec_no.magnitude.mean(axis=1)
    v = spec_no.velocity_ms
    assert m[np.argmin(np.abs(v + 1.5))] == pytest.approx(m[np.argmin(np.abs(v - 1.5))], rel=0.05)


def test_config_validation_and_yaml(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'nfft'"):
        ProcessingConfig.from_dict({"nfftt": 128})
    with pytest.raises(ConfigError, match="mti"):
        ProcessingConfig(mti="three")
    with pytest.raises(ConfigError, match="window"):
        ProcessingConfig(window="no-such-window")
    with pytest.raises(ConfigError, match="frame_overlap_s"):
        ProcessingConfig(frame_overlap_s=1.0)
    with pytest.raises(ConfigError, match="nfft"):
        process(pulsed_targets([(4.0, 1.0, 1.0)]), ProcessingConfig(nfft=32))
    p = tmp_path / "p.yaml"
    p.write_text("combine: incoherent\nwindow_s: 0.25\n")
    cfg = ProcessingConfig.from_yaml(p)
    assert cfg.combine == "incoherent" and cfg.window_s == 0.25
    assert ProcessingConfig.from_dict(cfg.to_dict()) == cfg
    # the shipped YAML spells out exactly the defaults
    shipped = Path(__file__).resolve().parents[2] / "configs" / "radar" / "processing_default.yaml"
    assert ProcessingConfig.from_yaml(shipped) == ProcessingConfig()
    with pytest.raises(DataError, match="fewer than one STFT window|too few"):
        process(pulsed_targets([(4.0, 1.0, 1.0)], duration_s=0.6))
    bad = pulsed_targets([(4.0, 1.0, 1.0)])
    bad.data[5, 3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        process(bad)


def test_plots_written(tmp_path):
    spec = process(pulsed_targets([(4.0, 1.0, 1.0)], noise=0.1))
    a = plot_spectrogram(spec, tmp_path / "s.png")
    b = plot_range_time(spec, tmp_path / "rt.png")
    for p in (a, b):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_zero_doppler_notch_removes_the_clutter_line_without_mti():
    # a static reflector 30 dB above a 1.2 m/s target, no MTI; the 0.2 s Hann window's main
    # lobe is 20 Hz (0.75 m/s) wide, so the notch spans +-0.4 m/s
    raw = pulsed_targets([(3.0, 0.0, 31.6), (5.0, 1.2, 1.0)])
    plain = process(raw, ProcessingConfig(mti="none"))
    notched = process(raw, ProcessingConfig(mti="none", zero_doppler_notch_ms=0.4))
    assert abs(peak_velocity(plain)) < 0.05
    assert peak_velocity(notched) == pytest.approx(1.2, abs=0.05)
    zero = np.abs(notched.velocity_ms) <= 0.4
    assert zero.sum() >= 3 and not notched.magnitude[zero].any()
    assert np.array_equal(notched.magnitude[~zero], plain.magnitude[~zero])
    # the frames then span the target's own 40 dB instead of the clutter's
    assert (frames(notched) > 0).mean() > (frames(plain) > 0).mean()
    assert np.array_equal(process(raw, ProcessingConfig(mti="none",
                                                        zero_doppler_notch_ms=0)).magnitude,
                          plain.magnitude)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "wide", True])
def test_zero_doppler_notch_must_be_a_non_negative_number(bad):
    with pytest.raises(ConfigError, match="zero_doppler_notch_ms must be a number >= 0"):
        ProcessingConfig(zero_doppler_notch_ms=bad)
