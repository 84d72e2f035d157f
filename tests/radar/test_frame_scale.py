"""Frame scaling (data.frame_scale): level frames in the folder, the stored [0, 1] frames
unchanged, a dB ceiling fitted on the training part only, kept in the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harlab.config import DataConfig, SplitConfig, WindowConfig, load_config
from harlab.data.normalize import Normalizer, fit_db_scale
from harlab.data.prepare import prepare
from harlab.data.sources import get_source
from harlab.errors import ConfigError, DataError
from harlab.radar.dataset import (
    VERSION,
    frame_files,
    frame_unit,
    read_metadata,
    write_frames_dataset,
)
from harlab.radar.processing import (
    ProcessingConfig,
    db_scale,
    frames,
    level_frames,
    process,
    resize_frames,
)
from harlab.radar.types import RadarParams, RawRadar

P = RadarParams()
CFG = ProcessingConfig(frame_height=20, frame_width=30)
WINDOW = WindowConfig(length=1, step=1, unit="frames")


def raw(activity: str, person: str, v: float, gain: float = 1.0, seed: int = 0) -> RawRadar:
    """A point target at 4 m moving at ``v`` m/s plus noise, all scaled by ``gain``."""
    n = int(3.0 * P.prf_hz)
    t = np.arange(n) / P.prf_hz
    rng = np.random.default_rng(seed)
    data = 0.05 * (rng.standard_normal((n, 90)) + 1j * rng.standard_normal((n, 90)))
    data[:, 48] += np.exp(-4j * np.pi * (4.0 - v * t) / P.wavelength_m)
    return RawRadar((gain * data).astype(np.complex64), P, activity, person, f"fake:{seed}", {})


def old_frames(r: RawRadar) -> np.ndarray:
    """The frames as harlab made them before level frames existed (format 1), written out:
    each frame dB-normalised to its own maximum over 40 dB, flipped, resized, clipped."""
    spec = process(r, CFG)
    n_cols = int(round(CFG.frame_s / spec.column_s))
    hop = (CFG.frame_s - CFG.frame_overlap_s) / spec.column_s
    n_time = spec.magnitude.shape[1]
    k = int(np.floor((n_time - n_cols) / hop + 1e-9)) + 1
    starts = [s for s in np.round(np.arange(k) * hop).astype(int) if s + n_cols <= n_time]
    out = []
    for s in starts:
        r = CFG.dynamic_range_db
        unit = db_scale(spec.magnitude[:, s:s + n_cols], r) / r + 1
        out.append(unit[::-1])
    return np.clip(resize_frames(np.stack(out), 20, 30), 0, 1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale") / "ds"
    # p3 (the test person below) 20 dB louder, p2 10 dB
    gains = {"p1": 1.0, "p2": 10 ** 0.5, "p3": 10.0}
    raws = [raw(a, p, v, gains[p], seed=i) for i, (a, p, v) in enumerate(
        [("walk", "p1", 1.0), ("box", "p1", 0.3), ("walk", "p2", 1.2), ("box", "p2", -0.4),
         ("walk", "p3", 0.9), ("box", "p3", 0.2)])]
    write_frames_dataset(raws, out, CFG, progress=False)
    return out, raws


def test_stored_frames_are_todays_and_levels_are_absolute(folder, tmp_path):
    out, raws = folder
    meta = read_metadata(out)
    assert meta["version"] == VERSION == 2 and meta["levels"]["column"] == "level_file"
    table, stored = frame_files(out)
    _, levels = frame_files(out, levels=True)
    for r, (unit, _), (level, _) in zip(raws, stored, levels, strict=True):
        assert np.allclose(unit, old_frames(r), atol=1e-6)  # stored: as before
        assert unit.shape == level.shape and level.min() < 0  # dB, not [0, 1]
    # ten times the amplitude: the same [0, 1] frames, levels exactly 20 dB higher
    loud = raw("walk", "p1", 1.0, gain=10.0, seed=0)  # raws[0] is p1's walk at gain 1
    assert np.allclose(frames(process(loud, CFG)), frames(process(raws[0], CFG)), atol=1e-5)
    shift = level_frames(process(loud, CFG)) - level_frames(process(raws[0], CFG))
    assert np.allclose(shift, 20.0, atol=1e-3)


def test_stored_scale_reads_the_stored_frames(folder):
    out, _ = folder
    rs = get_source("radar_frames").load(out)
    _, stored = frame_files(out)
    first = next(iter(stored))[0]
    assert np.array_equal(rs.recordings[0].data, first[0].T)
    assert rs.recordings[0].units[0] == frame_unit(CFG.dynamic_range_db) == "norm_db60"
    levels = get_source("radar_frames").load(out, levels=True)
    assert levels.recordings[0].units[0] == "db"


def _data_cfg(path, **kw) -> DataConfig:
    split = SplitConfig(kind="subject", test_subjects=["p3"], val_fraction=0.3, seed=0)
    return DataConfig(dataset="radar_frames", path=str(path), window=WINDOW, split=split,
                      cache=False, **{"normalize": False, **kw})


def test_train_scale_is_fitted_on_the_training_part_only(folder):
    out, _ = folder
    data = prepare(_data_cfg(out, frame_scale="train", frame_ceiling_percentile=95.0,
                             frame_range_db=40.0))
    x = np.asarray(data.windowed.windows.x)
    train = x[data.index["train"]]
    want = np.percentile(train, 95.0)
    assert data.db_scale is not None and abs(data.db_scale.ceiling_db - want) <= 0.011
    # the fit would differ with the validation or test frames in it
    assert data.index["val"].size and data.index["test"].size
    for part in ("val", "test"):
        other = np.percentile(np.concatenate([train, x[data.index[part]]]), 95.0)
        assert abs(other - want) > 0.5
    scaled = data.x["test"][:]
    expect = np.clip((x[data.index["test"]] - (data.db_scale.ceiling_db - 40.0)) / 40.0, 0, 1)
    assert np.allclose(scaled, expect, atol=1e-5) and 0 < scaled.mean() < 1
    # with z-scoring as well: one bounded normaliser that applies the scale, then the z-score
    both = prepare(_data_cfg(out, frame_scale="train", frame_ceiling_percentile=95.0,
                             frame_range_db=40.0, normalize=True))
    z = Normalizer.fit(np.clip((train - (data.db_scale.ceiling_db - 40.0)) / 40.0, 0, 1))
    assert np.allclose(both.x["test"][:], z.apply(expect), atol=1e-4)


def test_train_scale_leaks_nothing_when_test_frames_are_louder(tmp_path):
    """A hand-made folder whose test person is 60 dB louder: the ceiling ignores them."""
    root = tmp_path / "loud"
    (root / "levels").mkdir(parents=True)
    rng = np.random.default_rng(1)
    rows = []
    for person in ["a", "b", "c", "d"]:
        for act in ("walk", "box"):
            name = f"{person}_{act}.npy"
            level = rng.uniform(-80, -20, (3, 6, 8)).astype(np.float32)
            level += 60.0 if person == "d" else 0.0
            unit = np.clip((level - level.max(axis=(1, 2), keepdims=True)) / 40 + 1, 0, 1)
            np.save(root / name, unit)
            np.save(root / "levels" / name, level)
            rows.append({"file": name, "activity": act, "person": person,
                         "level_file": f"levels/{name}"})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    cfg = DataConfig(dataset="radar_frames", path=str(root), window=WINDOW, normalize=False,
                     cache=False, split=SplitConfig(kind="subject", test_subjects=["d"],
                                                    val_fraction=0.0),
                     frame_scale="train", frame_ceiling_percentile=100.0)
    data = prepare(cfg)
    assert data.db_scale.ceiling_db <= -19.99  # the loudest training value, not person d's
    assert data.db_scale.values == 6 * 3 * 6 * 8


def test_images_without_levels_refuse_train_scale(tmp_path):
    from harlab.radar.frames_import import import_frames

    src = tmp_path / "src"
    src.mkdir()
    rows = []
    for i, person in enumerate(["a", "b"]):
        np.save(src / f"{i}.npy", np.random.default_rng(i).uniform(0, 1, (2, 6, 8)))
        rows.append({"file": f"{i}.npy", "activity": "walk", "person": person})
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    import_frames(src, tmp_path / "t.csv", tmp_path / "frames")
    with pytest.raises(DataError, match=r"frames: stores no absolute levels"):
        get_source("radar_frames").load(tmp_path / "frames", levels=True)
    # dB files with --db-range keep their dB values as the level frames
    for i in range(2):
        np.save(src / f"{i}.npy", np.random.default_rng(i).uniform(-70, 5, (2, 6, 8)))
    import_frames(src, tmp_path / "t.csv", tmp_path / "db", db_range=40.0)
    level = get_source("radar_frames").load(tmp_path / "db", levels=True).recordings[0].data
    assert np.allclose(level, np.load(src / "0.npy")[0].T)
    assert read_metadata(tmp_path / "db")["levels"]["unit"] == "dB as given in the imported files"


def test_older_folder_format_is_refused(folder, tmp_path):
    import shutil

    out, _ = folder
    old = tmp_path / "old"
    shutil.copytree(out, old)
    meta = json.loads((old / "dataset.json").read_text())
    (old / "dataset.json").write_text(json.dumps({**meta, "version": 1}))
    with pytest.raises(DataError, match=r"old/dataset.json: frame folder format version 1, "
                                        r"this harlab reads version 2"):
        get_source("radar_frames").load(old)


def test_train_scale_needs_radar_frames():
    from harlab.data.prepare import load_windowed

    with pytest.raises(ConfigError, match="applies to radar_frames and glasgow, not custom"):
        load_windowed(DataConfig(dataset="custom", path="x", frame_scale="train"))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["frame", "Train", "per-frame", "", "none"]))
def test_bad_frame_scale_names_are_config_errors(name):
    with pytest.raises(ConfigError, match="data.frame_scale must be"):
        load_config(None, [f"data.frame_scale={name}"])


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.floats(max_value=0.0, allow_nan=False), st.floats(min_value=100.001),
                 st.just(float("nan"))))
def test_bad_ceiling_percentiles_are_config_errors(value):
    with pytest.raises(ConfigError, match="data.frame_ceiling_percentile"):
        load_config(None, [f"data.frame_ceiling_percentile={value}"])


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.floats(max_value=0.0, allow_nan=False), st.just(float("inf"))))
def test_bad_ranges_are_config_errors(value):
    with pytest.raises(ConfigError, match="data.frame_range_db"):
        load_config(None, [f"data.frame_range_db={value}"])


def test_cli_bad_frame_scale_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "harlab.cli.main", "train", "configs/mranet/mranet_activity.yaml",
         "--path", str(tmp_path), "--set", "data.frame_scale=peak"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "data.frame_scale" in lines[0] and "Traceback" not in proc.stderr


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-150, 60, allow_nan=False), min_size=1, max_size=400),
       st.floats(0.5, 100.0))
def test_ceiling_is_the_percentile_to_a_hundredth_of_a_db(values, q):
    x = np.asarray(values, np.float32).reshape(-1, 1, 1)
    scale = fit_db_scale([x[: len(x) // 2], x[len(x) // 2:]], q, 30.0)
    lower = np.percentile(x, q, method="inverted_cdf")
    assert lower - 0.011 <= scale.ceiling_db <= lower + 0.011
    assert scale.values == len(values)


def test_bounded_normaliser_round_trips_and_keeps_non_finite():
    scale = fit_db_scale([np.linspace(-60, 0, 100, dtype=np.float32).reshape(10, 5, 2)],
                         90.0, 20.0).normalizer(2)
    x = np.array([[[-100.0, -15.0], [0.0, np.inf]]], np.float32)  # ceiling -6, floor -26
    y = Normalizer.from_dict(json.loads(json.dumps(scale.to_dict()))).apply(x)
    assert y[0, 0, 0] == 0 and y[0, 1, 0] == 1 and 0 < y[0, 0, 1] < 1 and np.isinf(y[0, 1, 1])


def test_level_noise_is_the_frame_noise_in_db():
    """On frames within the dB range, noise on the levels then per-frame normalisation is
    the frame noise of the stored [0, 1] frames (same seed, same SNR definition)."""
    from harlab.radar.processing import to_unit_db
    from harlab.radar.snr_sweep import add_frame_noise, add_level_noise

    level = np.random.default_rng(3).uniform(-60, -25, (20, 8, 8)).astype(np.float32)
    unit = (level - level.max(axis=(1, 2), keepdims=True)) / 40 + 1
    for snr in (0.0, 10.0):
        noisy = add_level_noise(level, snr, seed=4)
        again = to_unit_db(np.sqrt(10 ** (noisy.astype(np.float64) / 10)), 40.0, axis=(1, 2))
        assert np.allclose(again, add_frame_noise(unit, snr, 40.0, seed=4), atol=1e-4)
    assert np.allclose(add_level_noise(level, 200.0, seed=0), level, atol=1e-3)


def test_run_keeps_the_fitted_scale_for_evaluate_export_and_snr_sweep(folder, tmp_path,
                                                                      monkeypatch):
    """A 1-epoch run with frame_scale train: the checkpoint and data.json hold the fitted
    scale; evaluate re-fits the same one; the ONNX export applies it (bounds in its
    metadata); the SNR sweep noises the levels."""
    from harlab.deploy.export import export_run
    from harlab.deploy.predictor import OnnxPredictor
    from harlab.evaluation.snr import run_snr_sweep
    from harlab.tasks.checkpoint import load_run_module
    from harlab.tasks.predict import predict_heads
    from harlab.training import evaluate, train

    out, _ = folder
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    cfg = load_config("configs/mranet/baseline_dcnn3_activity.yaml", [
        f"data.path={out}", "data.frame_scale=train", "data.frame_ceiling_percentile=99.5",
        "data.split.kind=subject", "data.split.test_subjects=[p3]",
        "train.max_epochs=1", "train.precision=32-true", "train.progress=false",
        "train.patience=null", f"output_dir={tmp_path / 'runs'}"])
    run = train(cfg).run_dir
    fitted = json.loads((run / "data.json").read_text())["frame_scale"]
    assert fitted["percentile"] == 99.5 and fitted["range_db"] == 60.0  # the default
    module, _ = load_run_module(run, run / "checkpoints" / "last.ckpt")
    norm = module.hparams["harlab"]["normalization"]
    assert norm["lo"][0] == 0.0 and norm["hi"][0] == 1.0
    assert np.isclose(norm["mean"][0], fitted["ceiling_db"] - 60.0)
    data = prepare(cfg.data)  # what evaluate does: the same scale again
    assert data.db_scale.to_dict() == fitted
    assert evaluate(run)["metrics"]["macro_f1"] >= 0
    onnx_path, json_path, _ = export_run(run)
    assert json.loads(json_path.read_text())["normalization"]["hi"][0] == 1.0
    levels = np.asarray(data.windowed.windows.x[data.index["test"]])
    onnx = OnnxPredictor(onnx_path, json_path).predict_windows(levels)["activity"]
    torch_probs = predict_heads(module, data.x["test"][:])["activity"]
    assert np.allclose(onnx, torch_probs, atol=1e-4)
    sweep = run_snr_sweep(run, [0.0, 30.0], allow_unfinished=True)
    assert sweep["frame_scale"] == fitted and set(sweep["snr"]) == {"0.0", "30.0"}


def _fake_run(where, scale: dict, seed: int, split_seed: int = 0):
    """A finished run directory (config.yaml + metrics.json) with frame scale settings."""
    from harlab.config import dump_yaml, from_dict
    from harlab.runs import mark_run_dir

    run = where / f"seed{seed}"
    run.mkdir(parents=True)
    mark_run_dir(run)
    cfg = from_dict({"name": run.name, "data": {"dataset": "radar_frames", "path": "/d",
                                                 "split": {"seed": split_seed}, **scale},
                     "model": {"name": "dcnn5"}, "train": {"seed": seed}})
    (run / "config.yaml").write_text(dump_yaml(cfg))
    (run / "metrics.json").write_text(json.dumps({"test": {"macro_f1": 0.5 + seed / 10}}))
    return run


def test_compare_pairs_runs_that_differ_only_in_frame_scale(tmp_path):
    from harlab.experiments.compare import collect_runs, compare_runs

    for seed in (0, 1):
        _fake_run(tmp_path / "a", {"frame_scale": "train", "frame_range_db": 60.0}, seed)
        _fake_run(tmp_path / "b", {}, seed)
        _fake_run(tmp_path / "c", {"frame_scale": "train"}, seed, split_seed=1)
    a, b = collect_runs(tmp_path / "a"), collect_runs(tmp_path / "b")
    assert compare_runs(a, b)["pairs"] == 2
    with pytest.raises(ConfigError, match="nothing to pair"):  # another split never pairs
        compare_runs(collect_runs(tmp_path / "c"), b)


def test_glasgow_levels_on_load_match_the_frame_folder(tmp_path):
    """Glasgow .dat files read on load give the same level frames as the folder that
    frames-from-glasgow writes (levels/, level_file)."""
    from harlab.radar.glasgow_import import frames_from_glasgow
    from tests.radar.test_glasgow_import import archive

    src = archive(tmp_path / "G")
    frames_from_glasgow(src, tmp_path / "F", progress=False)
    folder = get_source("radar_frames").load(tmp_path / "F", levels=True)
    on_load = get_source("glasgow").load(src, levels=True)
    a = np.stack([r.data for r in folder.recordings])
    b = np.stack([r.data for r in on_load.recordings])
    assert a.shape == b.shape and np.allclose(a, b, atol=1e-4) and a.min() < 0


def test_a_missing_level_file_is_one_line(folder, tmp_path):
    import shutil

    out, _ = folder
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    next((broken / "levels").iterdir()).unlink()
    with pytest.raises(DataError, match=r"labels.csv: line \d+: level_file 'levels/.*\.npy' is "
                                        r"not a \.npy file in"):
        get_source("radar_frames").load(broken)


def test_zoo_build_refuses_train_scaled_recipes(tmp_path):
    """The zoo predicts on the stored [0, 1] frames, which a train-scaled model does not
    take: building one is refused before any training."""
    from harlab.experiments.zoo_build import build_zoo_model

    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {dataset: radar_frames, frame_scale: train}\n")
    with pytest.raises(ConfigError, match="r.yaml: data.frame_scale train: a zoo model"):
        build_zoo_model(recipe, "x", tmp_path / "out", data_path=str(tmp_path))
    assert not (tmp_path / "out").exists()
