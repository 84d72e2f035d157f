"""The light ONNX predictor: same predictions as ``harlab predict``, no torch needed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harlab.deploy.predictor import OnnxPredictor, PredictorError
from tests.deploy.conftest import CHANNELS, RATE, synthetic_recording

pytestmark = pytest.mark.slow  # needs the tiny trained run

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    df = synthetic_recording(30, seed=11)
    df.insert(0, "subject", "new")
    path = tmp_path_factory.mktemp("rec") / "rec.csv"
    df.drop(columns="label").to_csv(path, index=False)
    return path


@pytest.mark.parametrize("hop", [None, 5])
def test_same_predictions_as_harlab_predict(
    tiny_run: Path, exported: tuple[Path, Path], recording: Path, hop: int | None
) -> None:
    from harlab.deploy.predict import predict_file

    rows, _ = predict_file(tiny_run, recording, step=hop)
    pred = OnnxPredictor(*exported)
    df = np.genfromtxt(recording, delimiter=",", names=True, dtype=None, encoding=None)
    data = np.stack([df[c] for c in ["acc_z", "acc_x", "acc_y"]], axis=1)  # other order
    res = pred.predict_recording(data, RATE, ["acc_z", "acc_x", "acc_y"], hop=hop)
    light = res.rows()
    assert len(light) == len(rows) > 10
    assert [r["label"] for r in light] == [r["label"] for r in rows]
    assert np.allclose([r["probability"] for r in light], [r["probability"] for r in rows],
                       atol=2e-4)
    assert [r["start_s"] for r in light] == [r["start_s"] for r in rows]
    assert [r["end_s"] for r in light] == [r["end_s"] for r in rows]
    # the decision over the last 3 windows agrees too, torch and ONNX
    rows3, _ = predict_file(tiny_run, recording, step=hop, smooth=3)
    light3 = res.rows(smooth=3)
    assert [r["label_smoothed"] for r in light3] == [r["label_smoothed"] for r in rows3]
    assert np.allclose([r["probability_smoothed"] for r in light3],
                       [r["probability_smoothed"] for r in rows3], atol=2e-4)
    assert [r["smoothed_windows"] for r in rows3][:4] == [1, 2, 3, 3]
    # 2 classes: the smoothed top probability is the mean of the last 3 windows' P(class)
    p_b = np.array([r["probability"] if r["label"] == "b" else 1 - r["probability"]
                    for r in rows])
    want = np.array([p_b[max(0, i - 2):i + 1].mean() for i in range(len(p_b))])
    got = np.array([r["probability_smoothed"] if r["label_smoothed"] == "b"
                    else 1 - r["probability_smoothed"] for r in rows3])
    assert np.allclose(got, want, atol=2e-4)
    one, _ = predict_file(tiny_run, recording, step=hop, smooth=1)
    assert [r["label_smoothed"] for r in one] == [r["label"] for r in rows]


def test_metadata_embedded_in_onnx_is_enough(exported: tuple[Path, Path]) -> None:
    a, b = OnnxPredictor(exported[0]), OnnxPredictor(*exported)
    x = np.random.default_rng(0).standard_normal((4, 32, 3)).astype(np.float32)
    assert a.channels == CHANNELS and a.window_length == 32 and a.window_step == 16
    assert np.array_equal(a.predict_windows(x)["activity"], b.predict_windows(x)["activity"])
    p = a.predict_windows(x)["activity"]
    assert p.shape == (4, 2) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_nan_windows_are_dropped_and_counted(exported: tuple[Path, Path]) -> None:
    pred = OnnxPredictor(*exported)
    data = np.random.default_rng(1).standard_normal((32 + 16 * 4, 3)).astype(np.float32)
    data[40] = np.nan  # inside windows starting at 16 and 32
    res = pred.predict_recording(data, RATE, CHANNELS)
    assert res.dropped == {"windows_nan": 2}
    assert res.start_s.tolist() == pytest.approx([0.0, 48 / RATE, 64 / RATE])
    # smoothing does not bridge the dropped windows: it restarts after the gap
    assert [r["smoothed_windows"] for r in res.rows(smooth=4)] == [1, 1, 2]
    with pytest.raises(PredictorError, match="--smooth must be a number of windows >= 1"):
        res.rows(smooth=0)


def test_clear_errors(exported: tuple[Path, Path], tmp_path: Path) -> None:
    onnx_path, json_path = exported
    pred = OnnxPredictor(onnx_path, json_path)
    data = np.zeros((100, 3), np.float32)
    with pytest.raises(PredictorError, match="lacks channel.*acc_z"):
        pred.predict_recording(data, RATE, ["acc_x", "acc_y", "gyro_z"])
    with pytest.raises(PredictorError, match="sampling rate 100 Hz differs"):
        pred.predict_recording(data, 100, CHANNELS)
    with pytest.raises(PredictorError, match="shorter than one window"):
        pred.predict_recording(data[:10], RATE, CHANNELS)
    with pytest.raises(PredictorError, match=r"shape \(N, 32, 3\)"):
        pred.predict_windows(np.zeros((2, 30, 3)))
    with pytest.raises(PredictorError, match="not found"):
        OnnxPredictor(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(PredictorError, match="not a loadable ONNX model"):
        OnnxPredictor(bad)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(PredictorError, match="not harlab export metadata"):
        OnnxPredictor(onnx_path, meta)


def test_imports_and_runs_without_torch_pandas_or_harlab_training(
    exported: tuple[Path, Path],
) -> None:
    """A subprocess in which torch, lightning, pandas and the rest of harlab cannot load."""
    code = textwrap.dedent(f"""
        import importlib.abc, json, sys
        BLOCKED = ("torch", "lightning", "pytorch_lightning", "torchmetrics", "pandas",
                   "sklearn", "scipy", "matplotlib", "typer", "rich", "yaml")
        ALLOWED_HARLAB = ("harlab", "harlab.deploy", "harlab.deploy.predictor")

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                top = name.split(".")[0]
                if top in BLOCKED or (top == "harlab" and name not in ALLOWED_HARLAB):
                    raise ImportError(f"blocked import: {{name}}")
                return None

        sys.meta_path.insert(0, Block())
        import numpy as np
        from harlab.deploy import OnnxPredictor
        pred = OnnxPredictor({str(exported[0])!r}, {str(exported[1])!r})
        data = np.random.default_rng(0).standard_normal((200, 3)).astype(np.float32)
        res = pred.predict_recording(data, 50.0, ["acc_x", "acc_y", "acc_z"])
        bad = [m for m in sys.modules if m.split(".")[0] in BLOCKED]
        print(json.dumps({{"windows": len(res.rows()), "loaded": bad}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"windows": (200 - 32) // 16 + 1, "loaded": []}


def test_cli_predict_with_an_onnx_model(
    tiny_run: Path, exported: tuple[Path, Path], recording: Path
) -> None:
    from typer.testing import CliRunner

    from harlab.cli.main import app

    runner = CliRunner()
    a = runner.invoke(app, ["predict", str(exported[0]), "--input", str(recording)])
    b = runner.invoke(app, ["predict", str(tiny_run), "--input", str(recording)])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    rows_a = [json.loads(line) for line in a.stdout.strip().splitlines()]
    rows_b = [json.loads(line) for line in b.stdout.strip().splitlines()]
    assert [r["label"] for r in rows_a] == [r["label"] for r in rows_b]
    assert [(r["subject"], r["start_s"]) for r in rows_a] == [
        (r["subject"], r["start_s"]) for r in rows_b
    ]


def test_inf_and_overflowing_windows_are_dropped_and_counted(exported: tuple[Path, Path]) -> None:
    pred = OnnxPredictor(*exported)
    data = np.random.default_rng(1).standard_normal((32 + 16 * 4, 3)).astype(np.float32)
    data[40, 1] = 3e38  # finite, but overflows float32 once divided by its std (< 1)
    data[70, 0] = np.inf
    res = pred.predict_recording(data, RATE, CHANNELS)
    assert res.dropped == {"windows_not_finite": 2, "windows_nan": 2}
    assert res.start_s.tolist() == [0.0]
    assert np.isfinite(res.probabilities["activity"]).all()


def test_tampered_metadata_is_refused(exported: tuple[Path, Path], tmp_path: Path) -> None:
    meta = json.loads(exported[1].read_text())
    for key, value, message in (
        ("window_length", 10**12, "differs from the model's input"),
        ("normalization", {"mean": [0.0], "std": [1.0]}, "mean has 1 values for 3 channels"),
        ("rate", "fast", "rate must be a finite number"),
    ):
        bad = tmp_path / f"{key}.json"
        bad.write_text(json.dumps({**meta, key: value}))
        with pytest.raises(PredictorError, match=f"bad harlab metadata: .*{message}"):
            OnnxPredictor(exported[0], bad)


def test_recording_files_with_inf_and_overflow_never_give_nan(
    tiny_run: Path, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    from harlab.deploy.predict import predict_file, predict_file_onnx
    from harlab.errors import ConfigError, DataError

    df = synthetic_recording(6, seed=3).drop(columns="label")
    df.loc[40, "acc_y"] = 3e38  # overflows once normalised: windows 16 and 32 (hop 16)
    path = tmp_path / "rec.csv"
    df.to_csv(path, index=False)
    torch_rows, torch_info = predict_file(tiny_run, path)
    onnx_rows, onnx_info = predict_file_onnx(exported[0], path)
    assert torch_info["dropped"] == onnx_info["dropped"] == {"windows_not_finite": 2}
    assert [r["start_s"] for r in torch_rows] == [r["start_s"] for r in onnx_rows]
    assert len(torch_rows) == (300 - 32) // 16 + 1 - 2
    for r in torch_rows + onnx_rows:
        assert 0 <= r["probability"] <= 1
    df[CHANNELS] = 1e308  # beyond float32 everywhere: every row dropped, and it says so
    huge = tmp_path / "huge.csv"
    df.to_csv(huge, index=False)
    for fn, model in ((predict_file, tiny_run), (predict_file_onnx, exported[0])):
        with pytest.raises(DataError, match=r"all 300 rows were dropped as malformed "
                                            r"\({'rows_missing_value': 300}\)"):
            fn(model, huge)
        with pytest.raises(ConfigError, match="--step/--hop must be a whole number"):
            fn(model, tmp_path / "rec.csv", step=10**20)
