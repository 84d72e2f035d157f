"""Registry-wide forward shapes, and the DeepConvLSTM / LSTM baselines."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harlab.errors import ConfigError
from harlab.models import build_model, list_models
from harlab.models.deepconvlstm import build_deepconvlstm
from harlab.models.lstm import build_lstm
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


def test_deepconvlstm_matches_conv2d_formulation() -> None:
    """Per-channel k x 1 convs: compare with nn.Conv2d on the (N, 1, T, C) image."""
    torch.manual_seed(0)
    model = build_deepconvlstm((40, 3), 4, filters=6, kernel_size=3).eval()
    x = torch.randn(2, 40, 3)
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
    ],
)
def test_bad_options_raise_config_error(builder, options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        builder((32, 3), 4, **options)


def test_registry_rejects_unknown_option() -> None:
    with pytest.raises(ConfigError, match="no option"):
        build_model("lstm", (32, 3), 4, filters=3)


@pytest.mark.parametrize("name", ["deepconvlstm", "lstm"])
def test_overfits_random_batch(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, (32, 3), 4, dropout=0.0, **TINY[name])
    x, y = torch.randn(16, 32, 3), torch.randint(0, 4, (16,))
    losses = fit_losses(model, x, y, lr=1e-2, steps=30)
    assert losses[-1] < 0.5 * losses[0]
