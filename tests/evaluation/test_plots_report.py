"""Plots write valid PNGs; reports contain the right numbers; write_json round-trips."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from rich.console import Console

from harlab.evaluation.metrics import compute_metrics, summarize_runs
from harlab.evaluation.plots import plot_confusion_matrix, plot_per_group, plot_training_curves
from harlab.evaluation.report import metrics_markdown, rich_metrics_table, seeds_markdown
from harlab.fileio import write_json

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = ["walk", "sit", "lie"]


@pytest.fixture
def metrics() -> dict:
    yt = np.array([0, 0, 1, 1, 2, 2])
    yp = np.array([0, 0, 1, 1, 1, 1])
    return compute_metrics(yt, yp, NAMES, groups={"subject": np.array([10, 10, 10, 2, 2, 2])})


def _assert_png(path: Path, min_px: int = 200) -> None:
    assert path.is_file() and path.stat().st_size > 2000
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    h, w = imread(path).shape[:2]
    assert h >= min_px and w >= min_px


@pytest.mark.parametrize(
    ("k", "normalize", "log_scale"),
    [(3, "true", False), (3, None, True), (25, "true", False), (4, None, False)],
)
def test_confusion_matrix_png(tmp_path, k, normalize, log_scale):
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 50, size=(k, k))
    cm[0] = 0  # a class with no samples must not break normalisation
    names = [f"class_{i}_long_name" for i in range(k)]
    out = plot_confusion_matrix(
        cm,
        names,
        tmp_path / "sub" / "cm.png",
        normalize=normalize,
        title="test",
        log_scale=log_scale,
    )
    _assert_png(out)


def test_confusion_matrix_bad_args(tmp_path):
    with pytest.raises(ValueError):
        plot_confusion_matrix(np.eye(2), NAMES, tmp_path / "cm.png")
    with pytest.raises(ValueError):
        plot_confusion_matrix(np.eye(3), NAMES, tmp_path / "cm.png", normalize="all")


def test_training_curves_png(tmp_path):
    history = [
        {"epoch": 0, "train_loss": 1.2, "train_accuracy": 0.5},
        {"epoch": 0, "val_loss": 1.0, "val_macro_f1": 0.4, "val_accuracy": 0.5},
        {"epoch": 1, "train_loss": 0.8, "val_loss": None, "val_macro_f1": float("nan")},
        {
            "epoch": 2,
            "train_loss": 0.6,
            "val_loss": 0.7,
            "val_macro_f1": 0.7,
            "val_accuracy": 0.75,
            "train_accuracy": 0.8,
        },
    ]
    _assert_png(plot_training_curves(history, tmp_path / "curves.png", title="demo"))
    _assert_png(plot_training_curves([], tmp_path / "empty.png"))


def test_per_group_png(tmp_path, metrics):
    _assert_png(plot_per_group(metrics["per_subject"], "macro_f1", tmp_path / "g.png", "F1"))
    many = {f"s{i}": 0.5 + i / 100 for i in range(40)}
    _assert_png(plot_per_group(many, "accuracy", tmp_path / "many.png", "many"))


def test_metrics_markdown(metrics):
    md = metrics_markdown(
        metrics, NAMES, "Demo run", extra={"dataset": "uci_har", "notes": "short demo run"}
    )
    assert md.startswith("# Demo run")
    assert md.index("**dataset**: uci_har") < md.index("## Overall")
    assert "short demo run" in md
    assert "| accuracy | 0.6667 |" in md
    assert "| macro-F1 | 0.5556 |" in md
    assert "| n | 6 |" in md
    assert "| sit | 0.5000 | 1.0000 | 0.6667 | 2 |" in md
    assert "| lie | 0.0000 | 0.0000 | 0.0000 | 2 |" in md
    assert "## Per subject" in md
    assert md.index("| 2 | 3 |") < md.index("| 10 | 3 |")  # natural order
    assert "0.6667 ± 0.4714" in md  # mean ± std of per-subject accuracy (1/3, 1)


def test_seeds_markdown():
    s = summarize_runs(
        [
            {"accuracy": 0.8, "macro_f1": 0.7, "weighted_f1": 0.75},
            {"accuracy": 0.9, "macro_f1": 0.8, "weighted_f1": 0.85},
            {"accuracy": 1.0, "macro_f1": 0.9, "weighted_f1": 0.95},
        ]
    )
    md = seeds_markdown(s)
    assert "| accuracy | 0.9000 ± 0.1000 | 0.8000 | 1.0000 | 3 |" in md
    assert "| macro-F1 | 0.8000 ± 0.1000 |" in md


def test_rich_table(metrics):
    console = Console(record=True, width=120)
    console.print(rich_metrics_table(metrics, "Demo"))
    text = console.export_text()
    assert "Demo" in text and "walk" in text and "lie" in text
    assert "0.5556" in text and "0.6667" in text


def test_write_json_roundtrip(tmp_path):
    obj = {
        "f32": np.float32(0.5),
        "i64": np.int64(7),
        "b": np.bool_(True),
        "arr": np.arange(3),
        "nested": {np.int64(1): (np.float64(1.5), "x")},
        "nan": float("nan"),
        "path": tmp_path / "a",
    }
    out = write_json(tmp_path / "d" / "r.json", obj)
    data = json.loads(out.read_text())
    assert data == {
        "f32": 0.5,
        "i64": 7,
        "b": True,
        "arr": [0, 1, 2],
        "nested": {"1": [1.5, "x"]},
        "nan": None,
        "path": str(tmp_path / "a"),
    }
    write_json(out, {"v": 2})  # overwrite in place
    assert json.loads(out.read_text()) == {"v": 2}
    assert os.listdir(out.parent) == ["r.json"]  # no temp files left behind


def test_write_json_failure_keeps_old_file(tmp_path):
    out = write_json(tmp_path / "r.json", {"v": 1})
    with pytest.raises(TypeError):
        write_json(out, {"bad": object()})
    assert json.loads(out.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["r.json"]


def test_hardware_record_and_line() -> None:
    from harlab.evaluation.report import hardware, hardware_line

    hw = hardware()
    assert hw["cpus"] >= 1 and hw["torch_threads"] >= 1 and hw["cpu"]
    assert isinstance(hw["gpus"], list)
    line = hardware_line(hw)
    assert hw["cpu"] in line and f"{hw['cpus']} CPUs" in line and hw["torch"] in line
    bare = {"platform": "Linux-x", "cpu": "x86_64", "cpus": 2, "torch_threads": 1,
            "python": "3.11", "torch": "2.13.0"}
    assert hardware_line(bare) == "x86_64 (2 CPUs), Linux-x, torch 2.13.0 (1 threads)"
    assert "GPU: H100" in hardware_line({**hw, "gpus": ["H100"]})
