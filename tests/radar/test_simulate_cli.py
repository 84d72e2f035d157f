"""``harlab simulate radar``: --config YAML, the radar/add-on flags, errors, recorded settings."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from harlab.cli.main import app
from harlab.errors import ConfigError, DataError
from harlab.radar.dataset import read_frames_dataset
from harlab.radar.options import simulation_config
from harlab.radar.simulate import DEFAULT_PERSONS, SIM_FILE, SimulationConfig

FAST = ["--quick", "--duration", "2.5", "--workers", "1", "--no-progress"]


def write_config(tmp_path, **changes) -> str:
    """A small SimulationConfig YAML: persons a (own run speed / arm swing) and b, FMCW."""
    data = {
        "style_seed": 7,
        "persons": [
            {"name": "a", "height_m": 1.75, "weight_kg": 70, "run_speed_ms": 3.1,
             "arm_swing": 1.2},
            {"name": "b", "height_m": 1.62, "weight_kg": 58, "gender": "female"},
        ],
        "activities": ["walk", "box"],
        "recordings_per_cell": 3,
        "duration_s": 6.0,
        "snr_db": 25.0,
        "radar": {"prf_hz": 400.0, "waveform": "fmcw"},
        "ground_bounce": True,
        "seed": 3,
    }
    data.update(changes)
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(*args: str):
    return CliRunner().invoke(app, ["simulate", "radar", *args])


def recorded(out) -> tuple[dict, dict, pd.DataFrame]:
    sim = json.loads((out / SIM_FILE).read_text())
    meta = json.loads((out / "dataset.json").read_text())
    return sim, meta, pd.read_csv(out / "labels.csv")


def test_config_yaml_sets_persons_radar_and_add_ons(tmp_path) -> None:
    cfg = write_config(tmp_path)
    out = tmp_path / "sim"
    res = run("--out", str(out), "--config", cfg, "--persons", "a", *FAST)
    assert res.exit_code == 0, res.output
    assert "fmcw, PRF 400 Hz" in res.output and "ground bounce on" in res.output
    sim, meta, table = recorded(out)
    # the YAML's radar, add-ons, seed and SNR; --quick / --duration / --persons on top
    assert sim["radar"]["prf_hz"] == 400.0 and sim["radar"]["waveform"] == "fmcw"
    assert sim["radar"]["sweep_s"] == pytest.approx(1 / 400)  # FMCW gaps filled
    assert sim["radar"]["samples_per_sweep"] == 256 and sim["radar"]["range_start_m"] == 0.0
    assert sim["ground_bounce"] is True and sim["clutter"] is True
    assert sim["seed"] == 3 and sim["snr_db"] == 25.0
    assert sim["duration_s"] == 2.5 and sim["recordings_per_cell"] == 1
    assert sim["activities"] == ["walk", "box"]
    assert [p["name"] for p in sim["persons"]] == ["a"]
    assert sim["persons"][0]["run_speed_ms"] == 3.1 and sim["persons"][0]["arm_swing"] == 1.2
    # dataset.json / labels.csv agree: the radar every recording was made with, the bounce
    assert meta["radar"]["prf_hz"] == 400.0 and meta["radar"]["waveform"] == "fmcw"
    assert set(table["person"]) == {"a"} and set(table["activity"]) == {"walk", "box"}
    assert table["ground_bounce_coeff"].between(0.3, 0.6).all()
    assert table["snr_db"].eq(25.0).all()
    frames, _ = read_frames_dataset(out)
    assert frames.shape[1:] == (100, 150) and len(frames) == 4  # 2 frames per 2.5 s
    # the recorded settings are a SimulationConfig that gives the same recordings
    again = SimulationConfig.from_dict(sim)
    used = simulation_config(Path(cfg), "a", quick=True, duration=2.5)
    assert again == used and again.tasks()[0][:6] == used.tasks()[0][:6]


def test_flags_override_the_config(tmp_path) -> None:
    cfg = write_config(tmp_path, activities=["box"])
    out = tmp_path / "sim"
    res = run(
        "--out", str(out), "--config", cfg, "--prf", "250", "--waveform", "pulsed",
        "--no-ground-bounce", "--no-clutter", "--seed", "5", "--snr", "30",
        "--jitter", "0.1", *FAST,
    )
    assert res.exit_code == 0, res.output
    assert "jitter ±10% per recording" in res.output
    sim, meta, table = recorded(out)
    assert sim["jitter"] == 0.1
    assert sim["radar"]["prf_hz"] == 250.0 and sim["radar"]["waveform"] == "pulsed"
    # leaving FMCW drops its sweep and range offset: the pulsed defaults apply
    assert sim["radar"]["sweep_s"] is None and sim["radar"]["samples_per_sweep"] is None
    assert sim["radar"]["range_start_m"] == 1.0
    assert sim["ground_bounce"] is False and sim["clutter"] is False
    assert sim["seed"] == 5 and sim["snr_db"] == 30.0
    assert meta["radar"]["prf_hz"] == 250.0 and meta["radar"]["waveform"] == "pulsed"
    # --quick without --persons: the config's first two persons
    assert set(table["person"]) == {"a", "b"} and set(table["activity"]) == {"box"}
    assert table["ground_bounce_coeff"].isna().all()
    assert table["clutter_to_signal_db"].isna().all()


def test_without_config_the_defaults_stay() -> None:
    assert simulation_config() == SimulationConfig()
    assert simulation_config(jitter=0.0).jitter == 0.0
    quick = simulation_config(quick=True)
    assert quick.persons == DEFAULT_PERSONS[:2] and quick.seed == 0
    assert quick.recordings_per_cell == 1 and quick.duration_s == 3.5
    assert quick.radar == SimulationConfig().radar
    fmcw = simulation_config(prf=500.0, waveform="FMCW", ground_bounce=True, clutter=False)
    assert fmcw.radar.waveform == "fmcw" and fmcw.radar.prf_hz == 500.0
    assert fmcw.radar.sweep_s == pytest.approx(1 / 500) and fmcw.radar.samples_per_sweep == 256
    assert fmcw.radar.range_start_m == 0.0 and fmcw.ground_bounce and not fmcw.clutter
    # a new --duration re-sizes the Table-3 counts (frames per cell stay near the paper's);
    # explicit counts are kept
    from harlab.radar.simulate import frames_per_recording, paper_recordings_per_cell

    long = simulation_config(duration=23.5)
    assert long.recordings_per_cell == paper_recordings_per_cell(23.5)
    frames = {k: n * frames_per_recording(23.5) for k, n in long.counts().items()}
    base = {k: n * frames_per_recording(11.5) for k, n in SimulationConfig().counts().items()}
    assert all(abs(frames[k] - base[k]) <= frames_per_recording(23.5) for k in base)
    assert simulation_config(duration=23.5, recordings=3).recordings_per_cell == 3
    # only --prf changes: the rest of the radar is the default's
    assert simulation_config(prf=300.0).radar == dataclasses.replace(
        SimulationConfig().radar, prf_hz=300.0
    )


def test_config_fmcw_values_are_kept(tmp_path) -> None:
    radar = {"waveform": "fmcw", "bandwidth_hz": 4.0e8, "sweep_s": 1e-3,
             "samples_per_sweep": 128, "range_start_m": 0.5}
    cfg = Path(write_config(tmp_path, radar=radar))
    sim = simulation_config(cfg, prf=800.0, waveform="fmcw")
    assert sim.radar.prf_hz == 800.0 and sim.radar.sweep_s == 1e-3
    assert sim.radar.samples_per_sweep == 128 and sim.radar.range_start_m == 0.5
    # samples per sweep from the bandwidth: the processed half reaches range_stop_m
    cfg = Path(write_config(tmp_path, radar={"waveform": "fmcw", "bandwidth_hz": 4.0e8},
                            range_stop_m=12.0))
    sim = simulation_config(cfg)
    n = sim.radar.samples_per_sweep
    assert n / 2 * sim.radar.range_resolution_m >= 12.0 > n / 4 * sim.radar.range_resolution_m
    assert math.log2(n).is_integer()


@pytest.mark.parametrize(
    ("args", "yaml_text", "error", "message"),
    [
        (["--persons", "sub1"], None, ConfigError, "unknown person 'sub1'"),
        (["--persons", "a,c"], None, ConfigError, "unknown person 'c'"),
        (["--waveform", "cw"], None, ConfigError, "unknown waveform 'cw'"),
        ([], "radar: {waveform: cw}\n", DataError, "waveform must be 'pulsed' or 'fmcw'"),
        ([], "persons: [\n", ConfigError, "invalid YAML"),
        ([], "- 1\n", ConfigError, "top level must be a mapping"),
        ([], "sed: 1\n", ConfigError, "unknown simulation key 'sed'"),
        ([], "radar: {prf_hz: [1, 2]}\n", ConfigError, "invalid simulation config"),
        (["--prf", "400"], "radar: 5\n", ConfigError, "radar must be a mapping"),
        (["--prf", "-5"], None, DataError, "prf_hz must be a positive number"),
        (["--recordings", "0"], None, ConfigError, "--recordings must be >= 1"),
        (["--activities", "swim"], None, ConfigError, "unknown activity"),
        (["--snr", "loud"], None, ConfigError, "--snr must be a number of dB, LOW,HIGH or none"),
        (["--snr", "1,2,3"], None, ConfigError, "--snr must be a number of dB"),
        (["--snr", "nan"], None, ConfigError, "--snr must be a number of dB"),
        (["--snr", "30,20"], None, ConfigError, "snr_db range low > high"),
        (["--jitter", "0.5"], None, ConfigError, "jitter must be in [0, 0.5)"),
        (["--jitter", "-0.01"], None, ConfigError, "jitter must be in [0, 0.5)"),
        (["--jitter", "nan"], None, ConfigError, "jitter must be"),
        ([], b"seed: 1\n# caf\xe9\n", ConfigError, "sim.yaml: not UTF-8 text (byte 13 is 0xe9)"),
    ],
)
def test_bad_settings_give_one_clear_error(tmp_path, args, yaml_text, error, message) -> None:
    cfg = write_config(tmp_path)
    if isinstance(yaml_text, bytes):
        (tmp_path / "sim.yaml").write_bytes(yaml_text)
    elif yaml_text is not None:
        (tmp_path / "sim.yaml").write_text(yaml_text)
    out = tmp_path / "sim"
    res = run("--out", str(out), "--config", cfg, "--no-progress", *args)
    assert isinstance(res.exception, error), res.output
    assert message in str(res.exception)
    assert not out.exists()


def test_snr_option_number_range_or_no_noise(tmp_path) -> None:
    assert simulation_config(snr="12.5").snr_db == 12.5
    assert simulation_config(snr="-5").snr_db == -5.0
    assert simulation_config(snr="10,20").snr_db == (10.0, 20.0)
    assert simulation_config(snr="-3:4").snr_db == (-3.0, 4.0)
    assert simulation_config(snr="None").snr_db is None
    assert simulation_config().snr_db == SimulationConfig().snr_db  # not given: the default
    out = tmp_path / "sim"
    res = run("--out", str(out), "--snr", "none", "--activities", "box", *FAST)
    assert res.exit_code == 0, res.output
    assert "no noise" in res.output
    sim, _, table = recorded(out)
    assert sim["snr_db"] is None and table["snr_db"].isna().all()
    assert SimulationConfig.from_dict(sim).snr_db is None  # the record reproduces it


def test_missing_config_file(tmp_path) -> None:
    res = run("--out", str(tmp_path / "sim"), "--config", str(tmp_path / "nope.yaml"))
    assert isinstance(res.exception, ConfigError)
    assert "config file not found" in str(res.exception)


def test_existing_out_is_refused_before_simulating(tmp_path) -> None:
    empty, file = tmp_path / "empty", tmp_path / "file.txt"
    empty.mkdir()
    file.write_text("mine")
    for out in (empty, file):
        res = run("--out", str(out), *FAST)
        assert isinstance(res.exception, DataError), res.output
        assert str(res.exception) == f"--out {out}: exists; give a folder that does not exist yet"
        assert "simulat" not in res.output  # refused before the settings line and the work
    assert list(empty.iterdir()) == [] and file.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file.txt"]
