"""ONNX export: parity with PyTorch for every registered model, metadata, clear errors."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harlab.deploy.export import (
    ExportError,
    export_friendly,
    export_module,
    export_run,
    ort_session,
)
from harlab.errors import CheckpointError, ConfigError, HarlabError
from harlab.models import build_model, get_model_spec, list_models
from harlab.runs import mark_run_dir

SHAPES = [(24, 3), (48, 3), (64, 4)]  # the first one a model accepts is used
SMALL = {"channels": (8, 16), "filters": 8, "lstm_hidden": 16, "hidden": 16}  # if accepted


def _tiny(name: str) -> tuple[nn.Module, tuple[int, int]]:
    for shape in SHAPES:
        try:
            model = build_model(name, shape, 5)
        except ConfigError:
            continue
        accepted = {k: v for k, v in SMALL.items()
                    if k in inspect.signature(get_model_spec(name).build_fn()).parameters}
        if accepted:  # same architecture, fewer channels: keeps the test fast
            model = build_model(name, shape, 5, **accepted)
        # non-trivial BatchNorm statistics, so eval-mode BN is really exercised
        gen = torch.Generator().manual_seed(0)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
        return model.eval(), shape
    pytest.skip(f"model {name} accepts none of the tiny shapes {SHAPES}")


@pytest.mark.parametrize("name", [s.name for s in list_models()])
def test_every_registered_model_exports_with_parity(name: str) -> None:
    torch.manual_seed(0)
    model, shape = _tiny(name)
    data, heads, parity = export_module(model, shape, name)
    assert list(heads) == ["activity"] and len(heads["activity"]) == 5
    assert parity["max_abs_diff"] <= 1e-4 and parity["argmax_equal"]
    # independent check on other batch sizes (dynamic batch axis), against the fast model
    sess = ort_session(data)
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, *shape)).astype(np.float32)
        (got,) = sess.run(None, {"windows": x})
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)).numpy()
        assert got.shape == (n, 5)
        assert np.abs(got - ref).max() <= 1e-4
        assert (got.argmax(1) == ref.argmax(1)).all()


def test_export_friendly_copy_leaves_the_model_alone() -> None:
    model = build_model("danhar", (48, 3), 4, channels=(8, 16))
    plain = export_friendly(model)
    assert type(model.blocks[0]).__name__ == "DanHARBlock"
    assert type(plain.blocks[0]).__name__ == "_PlainDanHARBlock"
    x = torch.randn(2, 48, 3)
    with torch.inference_mode():
        assert torch.allclose(model.eval()(x), plain(x), atol=1e-5)


class _Unexportable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.kthvalue(x, 2, dim=1).values)


def test_unexportable_op_is_named() -> None:
    with pytest.raises(ExportError, match="aten::kthvalue"):
        export_module(_Unexportable(), (8, 3), "toy")


class _Wrong(nn.Module):
    """Exports, but wrongly: tracing bakes in the data-dependent branch taken on zeros."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x.mean(1))
        return y * 0 if float(x.abs().sum()) == 0 else y


def test_parity_failure_is_an_error() -> None:
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_module(_Wrong(), (8, 3), "toy")


def test_two_head_model_exports_both_heads() -> None:
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = build_model("cnn", (48, 3), 4, channels=(8, 16))
            self.identity = nn.Linear(4, 7)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            a = self.body(x)
            return {"activity": a, "identity": self.identity(a), "w": torch.softmax(a[:, :2], 1)}

    hp = {"class_names": list("abcd"), "task": {"heads": ["activity", "identity"],
                                                "identity_names": [f"p{i}" for i in range(7)]}}
    data, heads, parity = export_module(TwoHeads().eval(), (48, 3), "two", hp)
    assert heads == {"activity": list("abcd"), "identity": [f"p{i}" for i in range(7)]}
    sess = ort_session(data)
    assert [o.name for o in sess.get_outputs()] == ["activity", "identity"]
    assert parity["argmax_equal"]


@pytest.mark.slow
def test_export_run_writes_onnx_and_metadata(tiny_run: Path, exported: tuple[Path, Path]) -> None:
    import onnx

    onnx_path, json_path = exported
    assert onnx_path.parent == tiny_run / "export" and onnx_path.is_file()
    meta = json.loads(json_path.read_text())
    assert meta["channels"] == ["acc_x", "acc_y", "acc_z"]
    assert meta["rate"] == 50.0 and meta["window_length"] == 32 and meta["window_step"] == 16
    assert meta["heads"][0]["name"] == "activity"
    assert sorted(meta["heads"][0]["classes"]) == ["running", "walking"]
    assert len(meta["normalization"]["mean"]) == 3 and meta["opset"] == 17
    assert meta["model"]["name"] == "danhar" and meta["harlab_version"]
    assert meta["parity"]["max_abs_diff"] <= 1e-4
    embedded = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(embedded["harlab"]) == meta
    # a second export never overwrites the first
    again, _, _ = export_run(tiny_run, checkpoint="last")
    assert again.name == "last.onnx"
    with pytest.raises(ExportError, match="exists"):
        export_run(tiny_run, out=onnx_path)


@pytest.mark.slow
def test_export_errors(tiny_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown export format 'tflite'"):
        export_run(tiny_run, fmt="tflite", out=tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="best or last"):
        export_run(tiny_run, checkpoint="worst", out=tmp_path / "m.onnx")
    with pytest.raises(CheckpointError, match="not a harlab run directory"):
        export_run(tmp_path)
    # a run without checkpoints, and one with a corrupt checkpoint
    bare = tmp_path / "bare"
    (bare / "checkpoints").mkdir(parents=True)
    (bare / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    with pytest.raises(CheckpointError, match=r"not a harlab run directory \(no .harlab-run"):
        export_run(bare, out=tmp_path / "m.onnx")
    mark_run_dir(bare)
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        export_run(bare, out=tmp_path / "m.onnx")
    (bare / "checkpoints" / "best.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        export_run(bare, out=tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow
def test_export_cli(tiny_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harlab.cli.main import app

    out = tmp_path / "cli.onnx"
    res = CliRunner().invoke(app, ["export", str(tiny_run), "--format", "onnx", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert "max abs diff" in res.output
    res = CliRunner().invoke(app, ["export", str(tiny_run), "--format", "tflite"])
    assert isinstance(res.exception, ConfigError)  # main() prints it as one line, exit 2
    assert "unknown export format" in str(res.exception)
    assert issubclass(ExportError, HarlabError)


def test_static_int8_export_is_checked_on_validation(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harlab.deploy.export import export_run, quantize_export
    from harlab.deploy.predictor import OnnxPredictor

    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    path, _, meta = export_run(tiny_run, out=tmp_path / "m.onnx")
    q_path, q_json, q_meta = quantize_export(path, meta, tiny_run, calibration_windows=64)
    assert q_path.name == "m.int8.onnx" and q_json.is_file()
    q = q_meta["quantization"]
    assert q["checked_on"].split()[1] == "val" and "64 training windows" in q["calibration"]
    assert 0.0 <= q["agreement_with_fp32"] <= 1.0
    assert json.loads(q_json.read_text())["quantization"] == q
    # the int8 model is a usable model: same outputs shape, mostly the same decisions
    x = np.random.default_rng(0).standard_normal((5, *meta["input"]["shape"][1:]))
    fp, q8 = OnnxPredictor(path), OnnxPredictor(q_path)
    pf, pq = fp.predict_windows(x.astype(np.float32)), q8.predict_windows(x.astype(np.float32))
    assert pf.keys() == pq.keys()
    for k in pf:
        assert pq[k].shape == pf[k].shape and np.isfinite(pq[k]).all()
    with pytest.raises(HarlabError, match="never overwritten"):
        quantize_export(path, meta, tiny_run)


@pytest.mark.slow
def test_export_refuses_metadata_that_does_not_fit_the_model(
    tiny_run: Path, tmp_path: Path
) -> None:
    import shutil

    for key, value, message in (
        ("window_length", 10**12, "window of 1000000000000 samples x 3 channels differs"),
        ("normalization", {"mean": [0.0], "std": [1.0]}, "mean has 1 values for 3 channels"),
        ("normalization", {"mean": [0.0] * 3, "std": [1.0, float("nan"), 1.0]}, "non-finite"),
    ):
        run = tmp_path / f"run_{key}_{len(message)}"
        shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("export"))
        ckpt = run / "checkpoints" / "best.ckpt"
        state = torch.load(ckpt, weights_only=False)
        state["hyper_parameters"]["harlab"][key] = value
        torch.save(state, ckpt)
        out = tmp_path / f"{run.name}.onnx"
        with pytest.raises(ExportError, match=f"refusing to export, .*{message}"):
            export_run(run, out=out)
        assert not out.exists() and not out.with_suffix(".json").exists()
