"""Registry-wide forward shapes, and the DeepConvLSTM / LSTM / CAE / JMI-CNN baselines."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harlab.data.datamodule import WindowDataModule
from harlab.errors import ConfigError
from harlab.models import build_model, list_models
from harlab.models.cae import build_cae
from harlab.models.deepconvlstm import build_deepconvlstm
from harlab.models.jmi_cnn import build_jmi_cnn
from harlab.models.lstm import build_lstm
from harlab.runs import RUN_FORMAT
from harlab.tasks.checkpoint import load_module
from harlab.tasks.classifier import WindowClassifier
from harlab.tasks.multitask import build_multitask_model
from harlab.tasks.predict import predict_heads
from tests.models.conftest import TINY, fit_losses


@pytest.mark.parametrize("name", [spec.name for spec in list_models()])
def test_every_registered_model_forward(name: str) -> None:
    model = build_model(name, (64, 6), 5, **TINY.get(name, {}))
    out = model(torch.randn(3, 64, 6))
    assert out.shape == (3, 5) and out.dtype == torch.float32
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", [spec.name for spec in list_models()])
def test_every_registered_model_default_options(name: str) -> None:
    model = build_model(name, (128, 9), 6).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 128, 9)).shape == (2, 6)


def test_deepconvlstm_parameter_count() -> None:
    # 4 convs (64 filters, k=5) on each of 3 channels, LSTM(192->128) + LSTM(128->128), fc
    convs = (5 * 1 * 64 + 64) + 3 * (5 * 64 * 64 + 64)
    lstm = 4 * 128 * (192 + 128 + 2) + 4 * 128 * (128 + 128 + 2)
    model = build_deepconvlstm((128, 3), 6)
    assert sum(p.numel() for p in model.parameters()) == convs + lstm + 128 * 6 + 6


@pytest.mark.parametrize("sensors", [3, 113])
def test_deepconvlstm_matches_conv2d_formulation(conv_path: str, sensors: int) -> None:
    """Per-channel k x 1 convs (on both conv paths): compare with nn.Conv2d on the
    (N, 1, T, C) image."""
    torch.manual_seed(0)
    model = build_deepconvlstm((40, sensors), 4, filters=6, kernel_size=3).eval()
    x = torch.randn(2, 40, sensors)
    h = x.unsqueeze(1)
    for conv in model.convs:
        w = conv.weight.permute(2, 1, 0).unsqueeze(-1)  # (k, Cin, Cout) -> (Cout, Cin, k, 1)
        h = F.conv2d(h, w, conv.bias).relu()
    feats = h.permute(0, 2, 3, 1).reshape(2, h.shape[2], -1)  # (N, T', C * F)
    out, _ = model.lstm(feats)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.fc(out[:, -1]), rtol=1e-5, atol=1e-5)


def test_lstm_bidirectional() -> None:
    model = build_lstm((30, 4), 3, hidden=8, layers=2, bidirectional=True)
    assert model.fc.in_features == 16
    assert model(torch.randn(5, 30, 4)).shape == (5, 3)


@pytest.mark.parametrize(
    ("builder", "options", "match"),
    [
        (build_lstm, {"hidden": 0}, "hidden"),
        (build_lstm, {"layers": 1.5}, "layers"),
        (build_lstm, {"dropout": -0.1}, "dropout"),
        (build_lstm, {"bidirectional": "yes"}, "bidirectional"),
        (build_deepconvlstm, {"filters": 0}, "filters"),
        (build_deepconvlstm, {"dropout": 1.0}, "dropout"),
        (build_deepconvlstm, {"kernel_size": 9}, "minimum is 33"),
        (build_cae, {"kernel_size": 4}, "odd"),
        (build_cae, {"hidden": 0}, "hidden"),
        (build_cae, {"channels": []}, "channels"),
        (build_jmi_cnn, {"channels": (8, 0)}, "channels"),
        (build_jmi_cnn, {"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_options_raise_config_error(builder, options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        builder((32, 3), 4, **options)


def test_registry_rejects_unknown_option() -> None:
    with pytest.raises(ConfigError, match="no option"):
        build_model("lstm", (32, 3), 4, filters=3)


@pytest.mark.parametrize(("name", "shape"), [("deepconvlstm", (32, 3)), ("lstm", (32, 3)),
                                             ("cae", (32, 16)), ("jmi_cnn", (32, 16))])
def test_overfits_random_batch(name: str, shape: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = build_model(name, shape, 4, dropout=0.0, **TINY[name])
    x, y = torch.randn(16, *shape), torch.randint(0, 4, (16,))
    losses = fit_losses(model, x, y, lr=1e-2, steps=30)
    assert losses[-1] < 0.5 * losses[0]


# The paper's frames are 100 Doppler bins x 150 time steps: windows (T=150, C=100).
FRAMES = [(150, 100), (128, 128)]


def _cae_params(t: int, c: int, k: int, chans=(32, 32, 32), kernel=3, hidden=128) -> int:
    convs, cin, h, w = 0, 1, c, t
    for ch in chans:
        convs += cin * ch * kernel * kernel + ch
        cin, h, w = ch, h // 2, w // 2
    return convs + (cin * h * w + 1) * hidden + (hidden + 1) * k


def _jmi_params(k: int, chans=(32, 64, 128)) -> int:
    total, cin = 0, 1
    for ch in chans:
        total += 9 * cin * ch + 9 * ch * ch + 2 * (2 * ch)  # 2 bias-free convs + 2 BNs
        r = ch // 4
        total += (ch + 1) * r + (r + 1) * ch  # squeeze-and-excitation MLP
        cin = ch
    return total + (sum(chans) + 1) * k


@pytest.mark.parametrize("shape", FRAMES)
@pytest.mark.parametrize("name", ["cae", "jmi_cnn"])
def test_paper_baselines_on_frames(name: str, shape: tuple[int, int]) -> None:
    """Paper-sized frames: forward, backward, and the parameter count of the design."""
    torch.manual_seed(0)
    model = build_model(name, shape, 5)
    x = torch.randn(2, *shape)
    out = model(x)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    F.cross_entropy(out, torch.tensor([0, 3])).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    n = sum(p.numel() for p in model.parameters())
    want = _cae_params(*shape, 5) if name == "cae" else _jmi_params(5)
    print(f"{name} {shape}: {n} parameters")
    assert n == want


def test_cae_has_three_conv_layers_and_no_decoder() -> None:
    model = build_model("cae", (150, 100), 6)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 3
    assert not any(isinstance(m, nn.ConvTranspose2d | nn.Upsample) for m in model.modules())


def test_jmi_cnn_embedding_reuses_every_block() -> None:
    """The embedding is the concatenation of each block's global-average-pooled output."""
    torch.manual_seed(0)
    model = build_jmi_cnn((64, 32), 4, channels=(4, 8, 8)).eval()
    x = torch.randn(3, 64, 32)
    with torch.no_grad():
        h, want = x.transpose(1, 2).unsqueeze(1), []
        for block in model.blocks:
            h = block(h)
            want.append(h.mean(dim=(2, 3)))
        torch.testing.assert_close(model.embed(x), torch.cat(want, 1))
    assert model.fc.in_features == 20


@pytest.mark.parametrize("name", ["cae", "jmi_cnn"])
def test_paper_baselines_as_multitask_backbones(name: str) -> None:
    """Joint activity + identity heads (and FLWL) on the baseline trunk, at paper frames."""
    torch.manual_seed(0)
    model = build_multitask_model(name, {}, (150, 100), {"activity": 5, "identity": 6},
                                  flwl=True)
    out = model(torch.randn(4, 150, 100))
    assert out["activity"].shape == (4, 5) and out["identity"].shape == (4, 6)
    assert torch.allclose(out["w"].sum(-1), torch.ones(4))
    loss = F.cross_entropy(out["activity"], torch.tensor([0, 1, 2, 3])) \
        + F.cross_entropy(out["identity"], torch.tensor([5, 4, 3, 2]))
    loss.backward()
    assert all(p.grad is not None for p in model.backbone.parameters())


def test_jmi_cnn_trains_with_joint_heads_and_roundtrips(tmp_path: Path) -> None:
    """One Lightning epoch of activity + identity on the JMI-CNN trunk; checkpoint reload."""
    rng = np.random.default_rng(0)
    x = {p: rng.normal(size=(24, 30, 20)).astype(np.float32) for p in ("train", "val")}
    y = {p: np.stack([rng.integers(0, 3, 24), rng.integers(0, 4, 24)], 1) for p in x}
    task = {"heads": ["activity", "identity"], "loss_weighting": "equal",
            "identity_names": ["p1", "p2", "p3", "p4"]}
    module = WindowClassifier(
        model_name="jmi_cnn", model_options={"channels": [4, 4, 8]}, input_shape=[30, 20],
        class_names=["a", "b", "c"], lr=3e-3, harlab={"version": RUN_FORMAT}, task=task)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, use_distributed_sampler=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=WindowDataModule(x, y, batch_size=8))
    logged = trainer.callback_metrics
    assert np.isfinite(float(logged["train_loss"]))
    assert "val_activity_macro_f1" in logged and "val_identity_macro_f1" in logged
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    loaded = load_module(tmp_path / "m.ckpt")
    got, want = predict_heads(loaded, x["val"]), predict_heads(module, x["val"])
    assert set(want) == {"activity", "identity"}
    for key in want:
        np.testing.assert_allclose(got[key], want[key], atol=1e-5)
