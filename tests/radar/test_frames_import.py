"""harlab radar frames-from-images: your spectrograms + a label table -> a frame folder."""

from __future__ import annotations

import json
import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from harlab.cli.main import app
from harlab.data.sources import get_source
from harlab.errors import DataError
from harlab.radar.frames_import import import_frames


def _spectrograms(src, size=(128, 128), db=False):
    """4 PNG + 2 npy spectrograms of 2 persons x 2 activities (+ an unlisted file)."""
    src.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, (act, person, rep) in enumerate([("walk", "a", 1), ("walk", "a", 2), ("sit", "a", 1),
                                            ("sit", "b", 1), ("walk", "b", 1), ("sit", "b", 2)]):
        if i < 4:
            name = f"img/{i}.png"
            (src / "img").mkdir(exist_ok=True)
            mpimg.imsave(src / name, np.round(rng.uniform(0, 1, size) * 255) / 255, cmap="gray",
                         vmin=0, vmax=1)
        else:
            name = f"{i}.npy"
            values = rng.uniform(-60, 0, size) if db else rng.uniform(0, 1, size)
            np.save(src / name, values.astype(np.float32))
        rows.append({"file": name, "activity": act, "person": person, "repetition": rep})
    np.save(src / "stray.npy", np.zeros(size))
    pd.DataFrame(rows).to_csv(src.parent / "table.csv", index=False)
    return src, src.parent / "table.csv"


def test_cli_imports_a_folder_that_trains_as_is(tmp_path):
    src, table = _spectrograms(tmp_path / "spec")
    out = tmp_path / "frames"
    res = CliRunner().invoke(app, ["radar", "frames-from-images", str(src), "--labels",
                                   str(table), "--out", str(out), "--frame-s", "5",
                                   "--classes", "walk,sit"])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert "6 frames of 128x128" in said and "1 file(s)" in said
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["frame_shape"] == [128, 128] and meta["frame_s"] == 5.0
    assert meta["classes"] == ["walk", "sit"] and meta["dropped"]["files_not_in_table"] == 1
    labels = pd.read_csv(out / "labels.csv")
    assert list(labels["source_file"])[:2] == ["img/0.png", "img/1.png"]
    assert list(labels["repetition"]) == [1, 2, 1, 1, 1, 2]
    rs = get_source("radar_frames").load(out)
    assert rs.classes == {0: "walk", 1: "sit"} and rs.info["frame_s"] == 5.0
    assert rs.recordings[0].data.shape == (128, 128)
    assert np.allclose(rs.recordings[0].data.T, mpimg.imread(src / "img/0.png")[..., 0],
                       atol=1 / 255)
    again = CliRunner().invoke(app, ["radar", "frames-from-images", str(src), "--labels",
                                     str(table), "--out", str(out)])
    assert again.exit_code != 0 and "refusing to overwrite" in str(again.exception)


def test_db_values_are_normalised_over_the_given_range(tmp_path):
    src, table = _spectrograms(tmp_path / "spec", db=True)
    with pytest.raises(DataError, match=r"4.npy: values must lie in \[0, 1\].*--db-range"):
        import_frames(src, table, tmp_path / "a")
    assert not (tmp_path / "a").exists()
    pngs = pd.read_csv(table).iloc[:4]  # PNGs hold [0, 1]; the dB arrays alone:
    pd.read_csv(table).iloc[4:].to_csv(tmp_path / "db.csv", index=False)
    s = import_frames(src, tmp_path / "db.csv", tmp_path / "b", db_range=40.0)
    assert s["dynamic_range_db"] == 40.0 and len(pngs) == 4
    raw = np.load(src / "4.npy")
    got = np.load(tmp_path / "b" / "00000.npy")[0]
    assert np.allclose(got, np.clip((raw - raw.max()) / 40 + 1, 0, 1), atol=1e-6)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda t, s: t.assign(file=["img/0.png", "nope.npy", *t["file"][2:]]),
     "nope.npy: listed on label table line 3 but missing"),
    (lambda t, s: t.drop(columns=["person"]), "missing column"),
    (lambda t, s: t.assign(activity=["", *t["activity"][1:]]), "line 2: empty 'activity'"),
    (lambda t, s: np.save(s / "5.npy", np.zeros((64, 128))) or t,
     "5.npy: frames are 64x128 .* but img/0.png has 128x128"),
])
def test_import_errors_name_the_file(tmp_path, edit, match):
    src, table = _spectrograms(tmp_path / "spec")
    edit(pd.read_csv(table), src).to_csv(table, index=False)
    with pytest.raises(DataError, match=match):
        import_frames(src, table, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_error_is_one_line_exit_2(tmp_path):
    src, table = _spectrograms(tmp_path / "spec")
    res = subprocess.run([sys.executable, "-m", "harlab.cli.main", "radar", "frames-from-images",
                          str(src), "--labels", str(table), "--out", str(tmp_path / "o"),
                          "--row0", "down"], capture_output=True, text=True)
    assert res.returncode == 2 and "--row0 must be one of" in res.stderr + res.stdout
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_shipped_config_trains_on_imported_frames_and_snr_sweep_scores_them(tmp_path):
    """The user's path end to end: import 48x40 spectrograms, train the shipped MRA-Net
    config unchanged (one window per frame), then score it under frame noise."""
    import os

    rng = np.random.default_rng(0)
    src = tmp_path / "spec"
    src.mkdir()
    rows = []
    for p in ("a", "b", "c"):
        for act, level in (("walk", 0.8), ("sit", 0.2)):
            for rep in range(4):
                name = f"{p}_{act}_{rep}.npy"
                np.save(src / name, np.clip(rng.normal(level, 0.1, (48, 40)), 0, 1))
                rows.append({"file": name, "activity": act, "person": p, "repetition": rep})
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    import_frames(src, tmp_path / "t.csv", tmp_path / "frames", db_range=40.0)
    meta = json.loads((tmp_path / "frames" / "dataset.json").read_text())
    assert meta["dynamic_range_db"] == 40.0
    env = {**os.environ, "HARLAB_CACHE": str(tmp_path / "cache")}
    cli = [sys.executable, "-m", "harlab.cli.main"]
    res = subprocess.run([*cli, "train", "configs/mranet/mranet_activity.yaml", "--path",
                          str(tmp_path / "frames"), "--epochs", "1", "--out",
                          str(tmp_path / "r"), "--no-progress",
                          "--set", "model.options.channels=[4,8]",
                          "--set", "data.split.kind=session",
                          "--set", "data.split.val_fraction=0.3", "--set", "train.batch_size=8"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    (run,) = [p for p in (tmp_path / "r").iterdir() if p.is_dir()]
    data = json.loads((run / "data.json").read_text())
    assert data["window_length"] == 40 and "whole training recordings" in data["split"]
    res = subprocess.run([*cli, "radar", "snr-sweep", str(run), "--snrs", "0,20",
                          "--out", str(tmp_path / "snr.json")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads((tmp_path / "snr.json").read_text())
    assert set(got["snr"]) == {"0.0", "20.0"} and got["frames"] == 3  # last session each
    assert all(0 <= r["activity_macro_f1"] <= 1 for r in got["snr"].values())
    assert got["warnings"] == []
    shift = [sys.executable, "benchmarks/radar_shift_test.py", str(run), "--time", "2",
             "--doppler", "1,3"]
    res = subprocess.run(shift, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    (moved,) = json.loads(res.stdout)
    assert set(moved["time"]) == {"2", "-2"} and list(moved["doppler_loss"]) == ["activity"]
    assert set(moved["doppler_loss"]["activity"]) == {"1", "3"}
    assert moved["frame_size"] == [40, 48] and moved["frames"] == 3
    # a run that is not complete: refused in one line, scored with --allow-unfinished
    from harlab.runs import set_run_state

    set_run_state(run, "failed", error="test: stopped")
    sweep = [*cli, "radar", "snr-sweep", str(run), "--snrs", "0"]
    res = subprocess.run(sweep, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 2 and "is a failed run" in res.stderr and "Traceback" not in (
        res.stderr)
    res = subprocess.run([*sweep, "--allow-unfinished"], capture_output=True, text=True,
                         env=env, timeout=600)
    assert res.returncode == 0 and "WARNING" in res.stdout, res.stderr[-2000:]
    res = subprocess.run(shift, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 2 and "is a failed run" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
