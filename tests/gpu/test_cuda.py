"""harlab on a CUDA device: every model, bf16-mixed training, DDP, export and streaming.

Marked ``gpu`` and skipped where ``torch.cuda.is_available()`` is false (CI, the 2-core
development machines); ``benchmarks/gpu_budget.py`` runs them on the GPU machine. The CPU
side of the same code (device choice, precision, allocator) is tested in
``tests/unit/test_device.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

ROOT = Path(__file__).resolve().parents[2]
HARLAB = [sys.executable, "-m", "harlab.cli.main"]
RATE = 50.0
CHANNELS = ["acc_x", "acc_y", "acc_z"]
RADAR_MODELS = ("mranet", "dcnn3", "dcnn5")


def _shape(name: str) -> tuple[int, int]:
    return (150, 100) if name in RADAR_MODELS else (128, 6)


def _no_dropout(model: nn.Module) -> nn.Module:
    """Train mode (BatchNorm on batch statistics, cuDNN RNN backward) without randomness."""
    for m in model.modules():
        if isinstance(m, nn.Dropout | nn.Dropout1d | nn.Dropout2d):
            m.p = 0.0
        if isinstance(m, nn.RNNBase):
            m.dropout = 0.0
    return model.train()


def _forward_backward(model: nn.Module, x: torch.Tensor, bf16: bool
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(x)
    out = out.float()
    (out * torch.linspace(-1, 1, out.shape[1], device=out.device)).sum().backward()
    grads = {n: p.grad.detach().float().cpu() for n, p in model.named_parameters()
             if p.grad is not None}
    return out.detach().cpu(), grads


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("name", ["danhar", "danhar_cnn", "resnet", "cnn", "deepconvlstm",
                                  "lstm", "mranet", "dcnn3", "dcnn5"])
def test_every_model_forward_backward_on_cuda_matches_cpu(name: str, bf16: bool) -> None:
    from harlab.models.registry import MODELS, build_model

    assert set(MODELS) <= {"danhar", "danhar_cnn", "resnet", "cnn", "deepconvlstm", "lstm",
                           *RADAR_MODELS}, "a new model: add it to this test"
    torch.manual_seed(0)
    cpu = _no_dropout(build_model(name, _shape(name), 5))
    gpu = _no_dropout(build_model(name, _shape(name), 5))
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    x = torch.randn(16, *_shape(name))
    want, want_g = _forward_backward(cpu, x, bf16=False)  # fp32 on the CPU: the reference
    got, got_g = _forward_backward(gpu, x.cuda(), bf16=bf16)
    tol = 0.05 if bf16 else 0.01  # cuDNN convolutions use TF32 by default
    assert torch.isfinite(got).all()
    assert _rel(got, want) < tol, f"{name}: outputs differ by {_rel(got, want):.3g}"
    assert got_g.keys() == want_g.keys()
    # parameters whose gradient is rounding noise (a bias before BatchNorm) are left out
    floor = 1e-3 * max(float(g.norm()) for g in want_g.values())
    worst = max(_rel(got_g[k], want_g[k]) for k in want_g if want_g[k].norm() > floor)
    assert worst < 4 * tol, f"{name}: gradients differ by {worst:.3g}"


def test_danhar_gemm_layout_matches_the_reference_on_cuda() -> None:
    """The custom im2col / same-conv autograd functions against plain 2-D convolutions."""
    from harlab.models.danhar import build_danhar
    from harlab.models.reference import ReferenceDanHAR, copy_reference_weights

    cfg = {"backbone": "resnet", "attention": "channel_temporal", "kernel_size": 6,
           "stride": 2, "padding": 0, "head": "flatten", "temporal_kernel": "7x7"}
    torch.manual_seed(0)
    ref = ReferenceDanHAR((200, 3), 6, **cfg)
    fast = build_danhar((200, 3), 6, **cfg)
    copy_reference_weights(ref, fast)
    ref, fast = ref.cuda().train(), fast.cuda().train()
    x = torch.randn(32, 200, 3, device="cuda")
    for bf16, tol in ((False, 0.01), (True, 0.05)):
        a, ga = _forward_backward(ref, x, bf16)
        b, gb = _forward_backward(fast, x, bf16)
        assert _rel(b, a) < tol
        # parameter layouts differ (GEMM vs Conv2d): compare the whole gradient's size
        na, nb = (float(sum(g.pow(2).sum() for g in gs.values())) ** 0.5 for gs in (ga, gb))
        assert abs(nb / na - 1) < 4 * tol


def test_precision_auto_and_scoring_device_on_cuda() -> None:
    from harlab.config import resolve_precision
    from harlab.hardware import cuda_has_bf16, on_cuda
    from harlab.tasks.predict import predict_heads

    assert on_cuda("gpu") and on_cuda("auto") and not on_cuda("cpu")
    major, _ = torch.cuda.get_device_capability()
    assert cuda_has_bf16() == (major >= 8)
    assert resolve_precision("auto", "gpu") == ("bf16-mixed" if major >= 8 else "32-true")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    x = np.random.default_rng(0).standard_normal((700, 4, 3)).astype(np.float32)
    want = predict_heads(model, x)["activity"]
    got = predict_heads(model.cuda(), x)["activity"]
    assert got.shape == (700, 3) and np.allclose(got, want, atol=1e-3)


# ------------------------------------------------------------------ end to end on the GPU
def _recording(seconds: float, seed: int) -> pd.DataFrame:
    """Two activities (slow vs fast oscillation) alternating every 4 s, 3 channels."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    fast = (t // 4).astype(int) % 2 == 1
    phase = 2 * np.pi * np.cumsum(np.where(fast, 3.0, 0.7)) / RATE
    x = np.stack([np.sin(phase), np.cos(phase), 0.5 * np.sin(2 * phase)], axis=1)
    df = pd.DataFrame(x + 0.1 * rng.standard_normal(x.shape), columns=CHANNELS)
    df.insert(0, "timestamp", np.round(t, 4))
    df["label"] = np.where(fast, "running", "walking")
    return df


@pytest.fixture(scope="module")
def data_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("gpu")
    data = root / "data"
    data.mkdir()
    for i, subject in enumerate(["s1", "s2", "s3", "s4"]):
        df = _recording(60, seed=i)
        df.insert(0, "session", "1")
        df.insert(0, "subject", subject)
        df.to_csv(data / f"{subject}.csv", index=False)
    env = dict(os.environ, HARLAB_CACHE=str(root / "cache"), PYTHONUNBUFFERED="1")
    env.pop("HARLAB_RUN_DIR", None)
    return data, env


def _train(data: Path, env: dict[str, str], out: Path, *extra: str) -> Path:
    sets = ["data.dataset=custom", f"data.path={data}", "data.window.length=64",
            "data.window.step=32", "data.split.kind=random", "model.name=danhar",
            "model.options.channels=[16,32]", "model.options.head=gap",
            "train.accelerator=gpu", "train.precision=bf16-mixed", "train.patience=null",
            "train.max_time=null", *extra]
    args = ["train", "--epochs", "4", "--out", str(out), "--no-progress"]
    for s in sets:
        args += ["--set", s]
    proc = subprocess.run(HARLAB + args, env=env, capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


@pytest.fixture(scope="module")
def gpu_run(data_env: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
            ) -> Path:
    data, env = data_env
    return _train(data, env, tmp_path_factory.mktemp("runs"))


def test_bf16_training_on_the_gpu_scores_on_the_gpu(gpu_run: Path) -> None:
    m = json.loads((gpu_run / "metrics.json").read_text())
    assert m["precision"] == "bf16-mixed" and m["accelerator"] == "gpu"
    assert m["gpu"] == torch.cuda.get_device_name()
    assert m["epochs_trained"] == 4 and m["test"]["macro_f1"] > 0.8, m["test"]
    # the checkpoint loads on a machine without a GPU (map_location cpu)
    from harlab.tasks.checkpoint import load_module

    module = load_module(gpu_run / "checkpoints" / "best.ckpt")
    assert all(p.device.type == "cpu" for p in module.parameters())


def test_ddp_with_one_gpu_through_the_normal_path(data_env: tuple[Path, dict[str, str]],
                                                  tmp_path: Path) -> None:
    from harlab.training import evaluate

    data, env = data_env
    run = _train(data, env, tmp_path, "train.strategy=ddp", "train.devices=1")
    m = json.loads((run / "metrics.json").read_text())
    assert m["strategy"] == "ddp" and m["accelerator"] == "gpu"
    os.environ["HARLAB_CACHE"] = env["HARLAB_CACHE"]
    try:
        again = evaluate(run, part="test", checkpoint="best")
    finally:
        os.environ.pop("HARLAB_CACHE", None)
    assert again["metrics"]["confusion_matrix"] == m["test"]["confusion_matrix"]


def test_export_and_stream_a_gpu_trained_run(gpu_run: Path) -> None:
    pytest.importorskip("onnxruntime")
    from harlab.deploy.export import export_run
    from harlab.deploy.streaming import StreamProcessor, load_window_model

    onnx_path, _, meta = export_run(gpu_run)
    assert onnx_path.is_file() and meta["class_names"] == ["running", "walking"]
    x = _recording(12, seed=9)[CHANNELS].to_numpy(np.float32)
    t = np.arange(len(x)) / RATE
    lines = ["timestamp," + ",".join(CHANNELS)] + [
        f"{ti:.4f}," + ",".join(f"{v:.5f}" for v in row) for ti, row in zip(t, x, strict=True)]
    labels = {}
    for name, model in (("onnx", load_window_model(onnx_path)),
                        ("torch", load_window_model(gpu_run))):
        recs: list[dict] = []
        proc = StreamProcessor(model, hop=16, emit=recs.append)
        proc.feed(lines)
        assert proc.finish()["windows"] == len(recs) > 10
        labels[name] = [r["label"] for r in recs]
    agree = np.mean([a == b for a, b in zip(labels["onnx"], labels["torch"], strict=True)])
    assert agree >= 0.9  # the torch side runs under bf16 autocast as trained
