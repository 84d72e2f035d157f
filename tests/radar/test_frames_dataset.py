"""Radar frame datasets: writer, reader errors, the radar_frames source and the CLI."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from harlab.config import DataConfig, SplitConfig, WindowConfig
from harlab.data.prepare import prepare
from harlab.data.sources import get_source
from harlab.errors import ConfigError, DataError
from harlab.radar.dataset import read_frames_dataset, read_metadata, write_frames_dataset
from harlab.radar.processing import ProcessingConfig
from harlab.radar.types import RadarParams, RawRadar

P = RadarParams()


def fake_raw(activity: str, person: str, v: float, duration_s: float = 3.0, seed: int = 0):
    """A point target at 4 m moving at v m/s plus noise (labels and metadata attached)."""
    n = int(duration_s * P.prf_hz)
    t = np.arange(n) / P.prf_hz
    rng = np.random.default_rng(seed)
    data = 0.05 * (rng.standard_normal((n, 90)) + 1j * rng.standard_normal((n, 90)))
    data[:, 48] += np.exp(-4j * np.pi * (4.0 - v * t) / P.wavelength_m)
    meta = {"speed_ms": v, "style": {"gain": 1.5}, "tags": [1, 2]}
    return RawRadar(data.astype(np.complex64), P, activity, person, f"fake:{seed}", meta)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("frames") / "ds"
    raws = [
        fake_raw(act, person, v, seed=i)
        for i, (act, person, v) in enumerate(
            [
                ("walk", "p1", 1.0),
                ("walk", "p2", 1.2),
                ("box", "p1", 0.3),
                ("box", "p2", -0.4),
                ("walk", "p10", 0.9),
                ("box", "p10", 0.2),
            ]
        )
    ]
    raws.append(fake_raw("walk", "p1", 1.0, duration_s=1.2, seed=99))  # too short
    summary = write_frames_dataset(raws, out, ProcessingConfig(), progress=False, figures=True)
    return out, summary


def test_write_and_read_back(dataset):
    out, summary = dataset
    # 3 s: 870 pulses - 145 (MTI) = 725 -> (725 - 58) // 2 + 1 = 334 columns
    # -> floor((334 - 145) / 92.8) + 1 = 3 frames per recording
    assert summary["n_recordings"] == 6 and summary["n_frames"] == 18
    assert summary["dropped"]["recordings_too_short"] == 1
    assert summary["counts"] == {
        "box": {"p1": 3, "p2": 3, "p10": 3},
        "walk": {"p1": 3, "p2": 3, "p10": 3},
    }
    meta = read_metadata(out)
    assert meta["processing"] == ProcessingConfig().to_dict() and meta["persons"][-1] == "p10"
    assert meta["radar"]["prf_hz"] == 290.0 and meta["frame_shape"] == [100, 150]
    frames, table = read_frames_dataset(out)
    assert frames.shape == (18, 100, 150) and frames.dtype == np.float32
    assert frames.min() >= 0 and frames.max() <= 1
    assert list(table["frame"][:4]) == [0, 1, 2, 0]
    assert {
        "file",
        "activity",
        "person",
        "recording",
        "session",
        "speed_ms",
        "style.gain",
        "tags",
    } <= set(table.columns)
    assert table["tags"][0] == "[1, 2]" and table["style.gain"][0] == "1.5"
    # the walk frames of p1 show the +1 m/s target: row (1 - 1/v_max) / 2 * 100 of image order
    walk = frames[(table["activity"] == "walk") & (table["person"] == "p1")]
    assert np.argmax(walk.mean(axis=(0, 2))) == pytest.approx((1 - 1 / 5.14) * 50, abs=2)
    figs = {p.name for p in (out / "figures").iterdir()}
    assert {"spectrogram_walk.png", "range_time_box.png", "frames_walk.png"} <= figs


def test_refuses_to_overwrite(dataset, tmp_path):
    out, _ = dataset
    with pytest.raises(DataError, match="refusing to overwrite"):
        write_frames_dataset([fake_raw("walk", "p1", 1.0)], out, progress=False)
    # an empty existing folder is fine; a failure leaves nothing behind
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no recording was long enough"):
        write_frames_dataset([fake_raw("walk", "p1", 1.0, duration_s=1.0)], empty, progress=False)
    assert list(tmp_path.iterdir()) == [empty] and not any(empty.iterdir())


def test_extra_files_are_in_the_folder_when_it_appears(tmp_path):
    out = tmp_path / "ds"
    write_frames_dataset([fake_raw("walk", "p1", 1.0)], out, progress=False,
                         extra_files={"settings.json": '{"seed": 3}\n'})
    assert (out / "settings.json").read_text() == '{"seed": 3}\n'
    for bad in ("../x.json", "sub/x.json", "dataset.json"):
        target = tmp_path / "bad"
        with pytest.raises(ValueError, match="plain file name"):
            write_frames_dataset([fake_raw("walk", "p1", 1.0)], target, progress=False,
                                 extra_files={bad: "{}"})
        assert not target.exists() and not (tmp_path / "x.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no partial folder left


def test_metadata_named_like_a_column_does_not_replace_it(tmp_path):
    """A Glasgow recording's metadata holds its source ``file``; the folder stays readable."""
    raw = fake_raw("walk", "p1", 1.0)
    raw.meta.update(file="/data/1P36A01R01.dat", activity="other", session="s7")
    write_frames_dataset([raw], tmp_path / "ds", progress=False)
    stack, table = read_frames_dataset(tmp_path / "ds")
    assert set(table["file"]) == {"00000_walk_p1.npy"} and len(stack) == len(table) > 0
    assert set(table["activity"]) == {"walk"} and set(table["session"]) == {"s7"}


def _own_dataset(tmp_path, files: dict[str, np.ndarray], rows=None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, arr in files.items():
        if name.endswith(".png"):
            mpimg.imsave(tmp_path / name, arr, cmap="gray", vmin=0, vmax=1)
        else:
            np.save(tmp_path / name, arr)
    rows = rows or [{"file": n, "activity": "a", "person": "x"} for n in files]
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path


def test_own_npy_and_png_frames(tmp_path):
    rng = np.random.default_rng(0)
    img = np.round(rng.uniform(0, 1, (100, 150)) * 255) / 255
    root = _own_dataset(
        tmp_path,
        {
            "one.npy": rng.uniform(0, 1, (100, 150)),
            "pic.png": img,
            "stack.npy": rng.uniform(0, 1, (3, 100, 150)).astype(np.float32),
        },
    )
    frames, table = read_frames_dataset(root)
    assert frames.shape == (5, 100, 150)
    assert np.allclose(frames[1], img, atol=1 / 255)  # grayscale PNG read back
    assert list(table["recording"]) == ["one", "pic", "stack", "stack", "stack"]
    assert list(table["session"]) == list(table["recording"])


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({"a.npy": np.zeros((10, 100, 150, 1))}, "expected one frame"),
        (
            {"a.npy": np.zeros((100, 150)), "b.npy": np.zeros((100, 120))},
            "b.npy: frames are 100x120 but a.npy has 100x150",
        ),
        ({"a.npy": np.full((100, 150), np.nan)}, "NaN"),
        ({"a.npy": np.full((100, 150), -20.0)}, r"values must lie in \[0, 1\]"),
        ({"a.npy": np.zeros((0, 100, 150))}, "holds no frames"),
        ({"a.npy": np.zeros((100, 150), dtype=complex)}, "real numbers"),
    ],
)
def test_reader_errors_on_bad_frames(tmp_path, files, match):
    root = _own_dataset(tmp_path, files)
    with pytest.raises(DataError, match=match):
        read_frames_dataset(root)


def test_reader_errors_on_bad_folder(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        read_frames_dataset(tmp_path / "missing")
    tmp_path.joinpath("x").mkdir()
    with pytest.raises(DataError, match="no labels.csv"):
        read_frames_dataset(tmp_path / "x")
    root = _own_dataset(tmp_path / "y", {"a.npy": np.zeros((100, 150))})
    np.save(root / "extra1.npy", np.zeros((100, 150)))
    np.save(root / "extra2.npy", np.zeros((100, 150)))
    with pytest.raises(DataError, match="2 frame file"):
        read_frames_dataset(root)
    root = _own_dataset(
        tmp_path / "z",
        {"a.npy": np.zeros((100, 150))},
        rows=[
            {"file": "a.npy", "activity": "a", "person": "x"},
            {"file": "gone.npy", "activity": "a", "person": "x"},
        ],
    )
    with pytest.raises(DataError, match="line 3: file 'gone.npy' is missing"):
        read_frames_dataset(root)
    root = _own_dataset(
        tmp_path / "w",
        {"a.npy": np.zeros((2, 100, 150))},
        rows=[{"file": "a.npy", "activity": "a", "person": "x", "n_frames": 3}],
    )
    with pytest.raises(DataError, match="n_frames 3 but a.npy holds 2"):
        read_frames_dataset(root)
    root = _own_dataset(
        tmp_path / "v", {"a.npy": np.zeros((100, 150))}, rows=[{"file": "a.npy", "activity": "a"}]
    )
    with pytest.raises(DataError, match="missing column"):
        read_frames_dataset(root)
    colour = np.zeros((100, 150, 3))
    colour[..., 0] = 1
    root = tmp_path / "u"
    root.mkdir()
    mpimg.imsave(root / "c.png", colour)
    pd.DataFrame([{"file": "c.png", "activity": "a", "person": "x"}]).to_csv(
        root / "labels.csv", index=False
    )
    with pytest.raises(DataError, match="colour PNG"):
        read_frames_dataset(root)


def test_radar_frames_source(dataset):
    out, _ = dataset
    src = get_source("radar_frames")
    rs = src.load(out)
    assert len(rs.recordings) == 18
    assert rs.classes == {0: "box", 1: "walk"}
    assert set(rs.subjects) == {"p1", "p2", "p10"}
    rec = rs.recordings[0]
    assert rec.data.shape == (150, 100) and rec.rate == 150.0
    assert rec.channels[0] == "d000" and rec.channels[-1] == "d099"
    assert rec.subject == "p1" and rec.session == "00000" and rec.meta["frame"] == 0
    assert np.all(rec.labels == 1)  # walk
    frames, _ = read_frames_dataset(out)
    assert np.array_equal(rec.data, frames[0].T)
    by_person = src.load(out, label="person")
    assert by_person.classes == {0: "p1", 1: "p2", 2: "p10"}
    fp = src.fingerprint(out)
    assert fp["files"][0]["name"] == "labels.csv" and len(fp["files"]) == 2 + 6
    with pytest.raises(ConfigError, match="Did you mean 'label'"):
        src.load(out, lable="person")
    with pytest.raises(ConfigError, match="label must be"):
        src.load(out, label="both")
    with pytest.raises(DataError, match="no data given"):
        src.load(None)


def test_pipeline_windows_one_frame_each(dataset, tmp_path, monkeypatch):
    out, _ = dataset
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    cfg = DataConfig(
        dataset="radar_frames",
        path=str(out),
        window=WindowConfig(length=150, step=150),
        split=SplitConfig(kind="subject", test_subjects=["p10"], seed=0),
        cache=False,
    )
    data = prepare(cfg)
    total = sum(len(v) for v in data.x.values())
    assert total == 18 and data.x["test"].shape == (6, 150, 100)


def test_decisions_pool_the_frames_of_each_radar_recording(dataset, tmp_path, monkeypatch):
    """Each frame is its own harlab recording, yet one decision covers a radar recording's
    consecutive frames, timed with the hop from dataset.json (1 s frames, 0.36 s overlap)."""
    from harlab.evaluation.decisions import window_decisions

    out, _ = dataset
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    cfg = DataConfig(dataset="radar_frames", path=str(out),
                     window=WindowConfig(length=150, step=150),
                     split=SplitConfig(kind="subject", test_subjects=["p10"], seed=0), cache=False)
    data = prepare(cfg)
    truth = data.labels("activity", "test")
    probs = np.eye(2, dtype=np.float32)[truth]
    probs[::3] = probs[::3, ::-1]  # the first frame of each recording is wrong
    dec = window_decisions(data, {"activity": probs}, {"activity": data.class_names})
    by_span = {e["frames"]: e for e in dec["activity"]}
    assert by_span[1]["decisions"] == 6 and by_span[1]["accuracy"] == pytest.approx(4 / 6)
    assert by_span[2]["decisions"] == 4 and by_span[2]["seconds"] == pytest.approx(1.64)
    whole = by_span["segment"]
    assert whole["decisions"] == 2 and whole["accuracy"] == 1.0  # 2 of 3 frames right
    assert whole["seconds"] == pytest.approx(1 + 2 * 0.64)
    mixed = prepare(DataConfig(dataset="radar_frames", path=str(out),
                               window=WindowConfig(length=150, step=150),
                               split=SplitConfig(kind="random", seed=0), cache=False))
    assert "skipped" in window_decisions(mixed, {"activity": np.zeros((len(mixed.y["test"]), 2))},
                                         {"activity": mixed.class_names})


def test_radar_frames_from_glasgow_dat(tmp_path):
    from tests.radar.test_glasgow import beat_samples, write_dat

    header = ["5800000000", "1", "32", "400000000"]  # 32 samples per chirp keeps it small
    for name, r0, v in (("1P03A01R1", 3.0, 0.8), ("5P04A05R2", 4.0, -0.5)):
        z = beat_samples(n_chirps=2000, nts=32, r0=r0, v=v)
        write_dat(tmp_path / "g" / f"{name}.dat", z, header=header)
    rs = get_source("radar_frames").load(
        glasgow_dir=str(tmp_path / "g"),
        processing={"range_min_m": 1.0, "range_max_m": 6.0, "v_max_ms": 5.14},
    )
    assert rs.classes == {0: "drinking", 1: "walking"}
    assert rs.subjects == ["g/P03", "g/P04"]  # person numbers restart per campaign folder
    # 2 s at 1 kHz: 1500 pulses after MTI -> (1500 - 200) // 2 + 1 = 651 columns of 2 ms
    # -> one 500-column frame each
    assert len(rs.recordings) == 2 and rs.recordings[0].data.shape == (150, 100)
    assert rs.recordings[0].rate == 150.0 and rs.recordings[0].meta["activity"] == "walking"
    with pytest.raises(ConfigError, match="not both"):
        get_source("radar_frames").load(tmp_path, glasgow_dir=str(tmp_path / "g"))


def test_cli_simulate_radar_quick(tmp_path):
    from harlab.cli.main import app

    out = tmp_path / "sim"
    res = CliRunner().invoke(
        app,
        [
            "simulate",
            "radar",
            "--out",
            str(out),
            "--quick",
            "--persons",
            "sub1",
            "--activities",
            "walk,box",
            "--no-progress",
            "--workers",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    frames, table = read_frames_dataset(out)
    meta = json.loads((out / "dataset.json").read_text())
    assert frames.shape[1:] == (100, 150) and len(frames) == meta["n_frames"] > 0
    assert set(table["activity"]) == {"walk", "box"} and set(table["person"]) == {"sub1"}
    assert (out / "figures" / "spectrogram_walk.png").is_file()
    # user errors surface as HarlabError (main() prints them as one line, exit 2)
    again = CliRunner().invoke(app, ["simulate", "radar", "--out", str(out), "--quick"])
    assert isinstance(again.exception, DataError) and "exists" in str(again.exception)
    bad = CliRunner().invoke(
        app, ["simulate", "radar", "--out", str(tmp_path / "x"), "--persons", "sub9"]
    )
    assert isinstance(bad.exception, ConfigError) and "unknown person" in str(bad.exception)


def _repetition_folder(root, size=(128, 128), repetitions=4, meta=None):
    """A user's folder: one 128x128 frame per recording, 3 persons x 2 activities x
    ``repetitions`` repetitions, a ``repetition`` column and no harlab columns."""
    rng = np.random.default_rng(1)
    files, rows = {}, []
    for p in ("p1", "p2", "p3"):
        for act in ("walk", "sit"):
            for rep in range(1, repetitions + 1):
                name = f"{p}_{act}_{rep}.npy"
                files[name] = rng.uniform(0, 1, size).astype(np.float32)
                rows.append({"file": name, "activity": act, "person": p, "repetition": rep})
    _own_dataset(root, files, rows)
    if meta is not None:
        (root / "dataset.json").write_text(json.dumps(meta))
    return root


def test_frames_of_any_size_with_the_frames_window_unit(tmp_path):
    root = _repetition_folder(tmp_path / "f")
    cfg = DataConfig(dataset="radar_frames", path=str(root),
                     window=WindowConfig(length=1, step=1, unit="frames"),
                     split=SplitConfig(kind="recording", seed=0), cache=False)
    data = prepare(cfg)
    assert data.input_shape == (128, 128) and sum(len(v) for v in data.y.values()) == 24
    bad = DataConfig(dataset="radar_frames", path=str(root),
                     window=WindowConfig(length=150, step=150), cache=False)
    with pytest.raises(ConfigError, match="window.length is 150 samples but the frames are "
                                          "128 columns wide"):
        prepare(bad)


def test_recording_split_groups_by_a_labels_column(tmp_path):
    """Extra labels.csv columns reach the recordings' meta: group_by=repetition keeps each
    repetition in one part, stratified over activity x person."""
    root = _repetition_folder(tmp_path / "f", repetitions=6)
    rs = get_source("radar_frames").load(root)
    assert rs.recordings[0].meta["repetition"] == "1"
    cfg = DataConfig(dataset="radar_frames", path=str(root),
                     window=WindowConfig(length=1, step=1, unit="frames"),
                     split=SplitConfig(kind="recording", stratify=True, folds=3, fold=1,
                                       group_by="repetition", val_fraction=0.5), cache=False)
    data = prepare(cfg)
    reps = {part: {data.windowed.recordings[i].meta["repetition"]
                   for i in data.recordings(part)} for part in ("train", "val", "test")}
    assert all(reps[part] for part in reps)
    assert not (reps["train"] & reps["test"]) and not (reps["train"] & reps["val"])
    assert not (reps["val"] & reps["test"])
    assert "repetition" in data.split.description


def test_session_split_with_repetitions_as_sessions(tmp_path):
    """Person identification, one frame per recording, repetitions as sessions: validation
    comes from whole training recordings (was: 'the training part has no windows')."""
    root = _repetition_folder(tmp_path / "f", repetitions=3)
    pd.read_csv(root / "labels.csv").assign(session=lambda t: t["repetition"]).to_csv(
        root / "labels.csv", index=False)
    cfg = DataConfig(dataset="radar_frames", path=str(root), options={"label": "person"},
                     window=WindowConfig(length=1, step=1, unit="frames"),
                     split=SplitConfig(kind="session", val_fraction=0.3), cache=False)
    data = prepare(cfg)
    assert len(data.y["train"]) == 6 and len(data.y["val"]) == 6 and len(data.y["test"]) == 6
    assert set(data.sessions("test")) == {"3"}
    assert "whole training recordings" in data.split.description


def test_dataset_json_orientation_frame_seconds_and_class_order(tmp_path):
    root = _repetition_folder(tmp_path / "f", size=(64, 200), repetitions=1,
                              meta={"frame_s": 5.0, "row0": "-v_max",
                                    "classes": ["walk", "sit"]})
    rs = get_source("radar_frames").load(root)
    frames, _ = read_frames_dataset(root)
    rec = rs.recordings[0]
    assert rec.data.shape == (200, 64) and rec.rate == pytest.approx(40.0)
    assert np.array_equal(rec.data, frames[0][::-1].T)  # row 0 is now +v_max
    assert rs.classes == {0: "walk", 1: "sit"} and rs.info["frame_s"] == 5.0
    assert rec.meta["frame_s"] == 5.0
    plain = _repetition_folder(tmp_path / "g", repetitions=1)
    rs = get_source("radar_frames").load(plain)
    assert rs.info["frame_s"] is None and "frame_s" not in rs.recordings[0].meta
    assert rs.classes == {0: "sit", 1: "walk"}
    (plain / "dataset.json").write_text(json.dumps({"row0": "up"}))
    with pytest.raises(DataError, match="row0 must be one of"):
        get_source("radar_frames").load(plain)
    (plain / "dataset.json").write_text(json.dumps({"frame_s": -1}))
    with pytest.raises(DataError, match="frame_s must be a positive"):
        get_source("radar_frames").load(plain)


def test_frame_noise_is_white_gaussian_in_linear_power_at_the_set_snr():
    from harlab.radar.snr_sweep import add_frame_noise

    flat = np.ones((4, 64, 80), np.float32)  # power 1 everywhere: the noise is all that varies
    for snr in (10.0, 20.0):
        v = add_frame_noise(flat, snr, 40.0, seed=0)
        p = 10.0 ** ((v.astype(np.float64) - 1) * 40 / 10)  # power / the noisy maximum
        p /= p.mean(axis=(1, 2), keepdims=True)  # back to the signal's scale (mean power 1)
        measured = 10 * np.log10(1 / p.var(axis=(1, 2)))
        assert np.allclose(measured, snr, atol=0.3)
    rng = np.random.default_rng(0)
    frames = rng.uniform(0, 1, (3, 50, 40)).astype(np.float32)
    frames[:, 0, 0] = 1.0  # each frame normalised to its maximum
    quiet = add_frame_noise(frames, 60.0, 40.0, seed=1)
    assert quiet.shape == frames.shape and quiet.dtype == np.float32
    strong = frames > 0.5  # above -20 dB: far above 60 dB-below-mean noise
    assert np.abs(quiet - frames)[strong].max() < 0.01
    assert np.array_equal(add_frame_noise(frames, 5.0, 40.0, seed=2),
                          add_frame_noise(frames, 5.0, 40.0, seed=2))
    errs = [np.abs(add_frame_noise(frames, s, 40.0, seed=3) - frames).mean() for s in (30, 10, 0)]
    assert errs[0] < errs[1] < errs[2]
    noisy = add_frame_noise(frames, 0.0, 40.0, seed=3)
    assert noisy.min() >= 0 and noisy.max() <= 1 and np.isfinite(noisy).all()


def test_frame_dynamic_range_from_dataset_json(tmp_path, dataset):
    from harlab.radar.dataset import frame_dynamic_range

    out, _ = dataset
    assert frame_dynamic_range(out) == ProcessingConfig().dynamic_range_db
    root = _repetition_folder(tmp_path / "f", repetitions=1)
    assert frame_dynamic_range(root) is None
    (root / "dataset.json").write_text(json.dumps({"dynamic_range_db": 60}))
    assert frame_dynamic_range(root) == 60.0
    (root / "dataset.json").write_text(json.dumps({"dynamic_range_db": "lots"}))
    with pytest.raises(DataError, match="dynamic_range_db must be a positive"):
        frame_dynamic_range(root)


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e4, allow_nan=False))
def test_frame_unit_names_its_db_range(db):
    from harlab.radar.dataset import frame_unit, unit_dynamic_range

    unit = frame_unit(db)
    assert unit.startswith("norm_db") and unit_dynamic_range(unit) == float(f"{db:g}")
    assert frame_unit(None) == "norm_db" and unit_dynamic_range("norm_db") is None
    assert unit_dynamic_range("norm_dbx") is None and unit_dynamic_range("g") is None


def test_frames_carry_the_folders_db_range_as_their_unit(tmp_path, dataset):
    out, _ = dataset

    def units(folder):
        return set(get_source("radar_frames").load(str(folder)).recordings[0].units)

    assert units(out) == {f"norm_db{ProcessingConfig().dynamic_range_db:g}"}
    assert units(_repetition_folder(tmp_path / "a", repetitions=1)) == {"norm_db"}
    folder = _repetition_folder(tmp_path / "b", repetitions=1, meta={"dynamic_range_db": 50})
    assert units(folder) == {"norm_db50"}
