"""The pretrained models shipped in the package: cards, checksums, recipes, predict."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harlab.config import load_config
from harlab.deploy.predictor import OnnxPredictor
from harlab.deploy.zoo import (
    STANDARD_GRAVITY,
    ZOO_DIR,
    card_problems,
    check_frame_range,
    load_card,
    load_frames,
    model_file,
    parse_units,
    sha256_file,
    unit_factors,
    zoo_names,
)
from harlab.errors import ConfigError, DataError
from harlab.radar.dataset import frame_unit
from harlab.radar.processing import ProcessingConfig

ROOT = Path(__file__).resolve().parents[2]
HARLAB = [sys.executable, "-m", "harlab.cli.main"]
SHIPPED = zoo_names()
HAPT6 = "danhar-hapt6"
IMU = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]


def run_cli(args: list[str], code: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(HARLAB + args, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == code, f"{args}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


def imu_csv(path: Path, seconds: float, rate: float, acc_scale: float = 1.0,
            gyro_scale: float = 1.0, drop: str | None = None) -> Path:
    """A bring-your-own recording: walking-like acc (g) and gyro (rad/s), scaled to units."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    acc = np.stack([1.0 + 0.3 * np.sin(2 * np.pi * 1.8 * t), 0.2 * np.sin(2 * np.pi * 0.9 * t),
                    0.1 * np.cos(2 * np.pi * 1.8 * t)], 1) + 0.02 * rng.standard_normal((len(t), 3))
    gyro = 0.5 * np.stack([np.sin(2 * np.pi * 0.9 * t), np.cos(2 * np.pi * 1.8 * t),
                           np.sin(2 * np.pi * 1.8 * t)], 1)
    df = pd.DataFrame(np.hstack([acc * acc_scale, gyro * gyro_scale]), columns=IMU)
    df.insert(0, "timestamp", np.round(t, 5))
    if drop:
        df = df.drop(columns=drop)
    df.to_csv(path, index=False)
    return path


def rows(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_the_four_models_are_shipped() -> None:
    assert {HAPT6, "danhar-hapt12", "danhar-usc-had", "mranet-radar-sim"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_card_schema_checksums_and_classes(name: str) -> None:
    card = load_card(name)
    assert card_problems(card) == [] and card["name"] == name
    assert math.isfinite(card["score"]["mean"]) and 0 < card["score"]["mean"] <= 1
    assert len(card["score"]["per_fold"]) == card["score"]["folds"] >= 3
    for kind in ("fp32", "int8"):
        path = model_file(card, int8=kind == "int8")  # checks the sha256
        assert sha256_file(path) == card["files"][kind]["sha256"]
        assert path.stat().st_size == card["files"][kind]["bytes"] < 5_000_000
        model = OnnxPredictor(path)  # the ONNX's own metadata: the card's classes and input
        assert model.classes == card["classes"]
        inp = card["input"]
        assert (model.channels, model.units, model.rate, model.window_length) == (
            inp["channels"], inp["units"], inp["rate"], inp["window_length"])
        for ver in card["verification"][kind].values():
            assert ver["argmax_agreement"] >= (0.999 if kind == "fp32" else 0.9)


@pytest.mark.parametrize("name", SHIPPED)
def test_recipe_resolves(name: str) -> None:
    card = load_card(name)
    recipe = card["recipe"]
    cfg = load_config(ROOT / recipe["config"])
    assert cfg.data.dataset == card["dataset"]["name"]
    assert cfg.model.name == card["model"]["name"]
    assert recipe["train"].startswith(f"harlab train {recipe['config']}")
    assert recipe["cv"].startswith(f"harlab cv {recipe['config']}")
    assert cfg.data.split.folds == card["score"]["folds"]


def test_total_size_is_small() -> None:
    total = sum(p.stat().st_size for p in ZOO_DIR.rglob("*") if p.is_file())
    assert total < 15_000_000


def test_damaged_model_is_refused(tmp_path: Path) -> None:
    shutil.copytree(ZOO_DIR / HAPT6, tmp_path / HAPT6)
    card = load_card(HAPT6, tmp_path)
    with (tmp_path / HAPT6 / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(DataError, match="differs from the card"):
        model_file(card, root=tmp_path)
    with pytest.raises(ConfigError, match="no pretrained model 'nope'"):
        load_card("nope", tmp_path)


def test_units() -> None:
    assert parse_units("acc=m/s^2,gyro=deg/s", IMU) == {
        **dict.fromkeys(IMU[:3], "m/s^2"), **dict.fromkeys(IMU[3:], "deg/s")}
    assert parse_units("gyro_z=dps", IMU) == {"gyro_z": "deg/s"}
    f = unit_factors(parse_units("acc=m/s2,gyro=deg/s", IMU), IMU, ["g"] * 3 + ["rad/s"] * 3)
    assert np.allclose(f, [1 / STANDARD_GRAVITY] * 3 + [math.pi / 180] * 3)
    f = unit_factors(parse_units("gyro=rad/s", IMU), IMU, ["g"] * 3 + ["dps"] * 3)
    assert np.allclose(f[3:], 180 / math.pi)
    with pytest.raises(ConfigError, match="unknown unit 'furlong'"):
        parse_units("acc=furlong", IMU)
    with pytest.raises(ConfigError, match="names none of the model's channels"):
        parse_units("mag=g", IMU)
    with pytest.raises(ConfigError, match="cannot be converted"):
        unit_factors(parse_units("gyro=g", IMU), IMU, ["g"] * 3 + ["rad/s"] * 3)


def test_frames_contract(tmp_path: Path) -> None:
    np.save(tmp_path / "ok.npy", np.zeros((3, 100, 150), np.float32))
    assert load_frames(tmp_path / "ok.npy", (150, 100)).shape == (3, 150, 100)
    np.save(tmp_path / "bad.npy", np.zeros((3, 150, 100), np.float32))
    with pytest.raises(DataError, match=r"needs \(frames, 100 Doppler bins, 150 time"):
        load_frames(tmp_path / "bad.npy", (150, 100))


def test_frames_outside_unit_range_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "db.npy", np.full((2, 100, 150), -35.0, np.float32))  # level frames
    with pytest.raises(DataError, match=r"values from -35 to -35; the model takes dB-norm"):
        load_frames(tmp_path / "db.npy", (150, 100))


def test_frames_made_over_another_db_range_are_refused(tmp_path: Path) -> None:
    stack = tmp_path / "rec.npy"
    np.save(stack, np.zeros((1, 100, 150), np.float32))
    check_frame_range(stack, ["norm_db60"])  # no dataset.json: nothing to check against
    (tmp_path / "dataset.json").write_text(json.dumps({"dynamic_range_db": 60}))
    check_frame_range(stack, ["norm_db60"])
    check_frame_range(stack, ["norm_db"])  # a model that records no range checks nothing
    (tmp_path / "dataset.json").write_text(json.dumps({"processing": {"dynamic_range_db": 40}}))
    with pytest.raises(DataError, match=r"span 40 dB .*trained on frames spanning 60 dB"):
        check_frame_range(stack, ["norm_db60"])


@pytest.mark.parametrize("name", [n for n in SHIPPED if load_card(n)["input"]["kind"]
                                  == "radar_frames"])
def test_radar_card_names_its_db_range(tmp_path: Path, name: str) -> None:
    inp = load_card(name)["input"]
    db = inp["dynamic_range_db"]
    assert db == ProcessingConfig().dynamic_range_db == 60.0  # the chain's default today
    assert set(inp["units"]) == {frame_unit(db)}
    frames = tmp_path / "frames"  # a folder made over 40 dB: refused, one line, exit 2
    frames.mkdir()
    np.save(frames / "rec.npy", np.zeros((2, *inp["frame_shape"]), np.float32))
    (frames / "dataset.json").write_text(json.dumps({"dynamic_range_db": 40.0}))
    proc = run_cli(["predict", "--pretrained", name, str(frames / "rec.npy")], code=2)
    assert "span 40 dB" in proc.stderr and "Traceback" not in proc.stderr


def test_zoo_list_and_show() -> None:
    out = subprocess.run([*HARLAB, "zoo", "list"], capture_output=True, text=True, timeout=300,
                         cwd=ROOT, env={**os.environ, "COLUMNS": "80"}, check=True).stdout
    assert all(name in out for name in SHIPPED)
    assert "…" not in out and max(map(len, out.splitlines())) <= 80  # whole cells at 80 cols
    score = load_card(HAPT6)["score"]
    assert f"{score['mean']:.3f} ± {score['std']:.3f}" in out
    show = run_cli(["zoo", "show", HAPT6]).stdout
    assert "licence: CC BY 4.0" in show and "harlab train configs/zoo/danhar_hapt6.yaml" in show
    card = json.loads(run_cli(["zoo", "show", HAPT6, "--json"]).stdout)
    assert card == load_card(HAPT6)
    proc = run_cli(["zoo", "show", "nope"], code=2)
    assert "no pretrained model 'nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_predict_pretrained_same_labels_in_any_units(tmp_path: Path) -> None:
    g = imu_csv(tmp_path / "g.csv", 20, 50.0)
    si = imu_csv(tmp_path / "si.csv", 20, 50.0, STANDARD_GRAVITY, 180 / math.pi)
    a = rows(run_cli(["predict", "--pretrained", HAPT6, str(g)]))
    b = rows(run_cli(["predict", "--pretrained", HAPT6, str(si),
                      "--units", "acc=m/s^2,gyro=deg/s"]))
    assert len(a) == len(b) == (20 * 50 - 128) // 64 + 1
    assert [r["label"] for r in a] == [r["label"] for r in b]
    assert np.allclose([r["probability"] for r in a], [r["probability"] for r in b], atol=2e-3)
    card = load_card(HAPT6)
    assert {r["label"] for r in a} <= set(card["classes"]["activity"])
    i8 = rows(run_cli(["predict", "--pretrained", HAPT6, str(g), "--int8"]))
    assert len(i8) == len(a)
    # another rate is resampled on request
    fast = imu_csv(tmp_path / "fast.csv", 20, 100.0)
    c = rows(run_cli(["predict", "--pretrained", HAPT6, str(fast), "--resample"]))
    assert len(c) == len(a)


@pytest.mark.parametrize(("args", "message"), [
    (["--units", "acc=furlong"], "unknown unit 'furlong'"),
    (["--units", "gyro=g"], "cannot be converted"),
    (["--stream"], "not --stream"),
])
def test_predict_pretrained_refusals(tmp_path: Path, args: list[str], message: str) -> None:
    g = imu_csv(tmp_path / "g.csv", 10, 50.0)
    proc = run_cli(["predict", "--pretrained", HAPT6, str(g), *args], code=2)
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_predict_pretrained_refuses_input_it_cannot_honour(tmp_path: Path) -> None:
    cases = [
        (imu_csv(tmp_path / "nogyro.csv", 10, 50.0, drop="gyro_z"), "gyro_z"),
        (imu_csv(tmp_path / "fast.csv", 10, 100.0), "100 Hz differs from the model's 50 Hz"),
        (imu_csv(tmp_path / "short.csv", 1, 50.0), "shorter than one window"),
    ]
    for path, message in cases:
        proc = run_cli(["predict", "--pretrained", HAPT6, str(path)], code=2)
        err = " ".join(proc.stderr.split())
        assert message in err and str(path.name) in err and "Traceback" not in err
        assert len(proc.stderr.strip().splitlines()) <= 2  # one (soft-wrapped) line


@pytest.mark.parametrize("name", [n for n in SHIPPED if load_card(n)["input"]["kind"]
                                  == "radar_frames"])
def test_radar_model_labels_frames(tmp_path: Path, name: str) -> None:
    card = load_card(name)
    bins, t = card["input"]["frame_shape"]
    frames = np.random.default_rng(0).random((4, bins, t)).astype(np.float32)
    np.save(tmp_path / "rec.npy", frames)
    out = rows(run_cli(["predict", "--pretrained", name, str(tmp_path / "rec.npy")]))
    assert [r["frame"] for r in out] == [0, 1, 2, 3]
    assert {r["label"] for r in out} <= set(card["classes"]["activity"])
    assert {r["identity"] for r in out} <= set(card["classes"]["identity"])


def test_package_data_rules_cover_every_shipped_file() -> None:
    import fnmatch
    import tomllib

    rules = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["harlab"]
    package = ROOT / "src" / "harlab"
    files = [p.relative_to(package).as_posix() for p in ZOO_DIR.rglob("*") if p.is_file()]
    assert files and all(any(fnmatch.fnmatch(f, r) for r in rules) for f in files), files


def test_predict_needs_a_run_or_a_pretrained_model(tmp_path: Path) -> None:
    proc = run_cli(["predict", "--input", "x.csv"], code=2)
    assert "give RUN_DIR (a run directory or an .onnx file) or --pretrained NAME" in proc.stderr
    g = imu_csv(tmp_path / "g.csv", 10, 50.0)
    proc = run_cli(["predict", "--pretrained", HAPT6, str(g), "--input", str(g)], code=2)
    assert "give the recording once" in proc.stderr
    proc = run_cli(["predict", "--units", "acc=g", "--input", str(g)], code=2)
    assert "--units and --int8 apply to --pretrained NAME only" in proc.stderr
