"""MRA-Net (Eq. 1, ablation switches), the radar DCNN baselines, and the backbone contract."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harlab.errors import ConfigError
from harlab.models import build_model, list_models
from harlab.models.mranet import MRABlock, build_mranet
from harlab.models.registry import build_backbone
from tests.models.conftest import TINY


def test_mranet_radar_frame_shapes_and_embedding() -> None:
    model = build_mranet((150, 100), 5, channels=(4, 8, 8)).eval()
    x = torch.randn(2, 150, 100)
    # (N, 1, C=100, T=150) pooled 2x2 three times -> (8, 12, 18)
    assert model.feature_shape == (8, 12, 18)
    assert model.embed(x).shape == (2, model.embedding_dim) == (2, 8 * 12 * 18)
    assert torch.allclose(model(x), model.fc(model.embed(x)), atol=1e-6)
    with pytest.raises(ValueError, match="built for windows"):
        model(torch.randn(2, 100, 150))


def test_channels_last_layout_changes_no_result() -> None:
    torch.manual_seed(0)
    nchw = build_mranet((30, 20), 5, channels=(4, 8, 8), channels_last=False)
    nhwc = build_mranet((30, 20), 5, channels=(4, 8, 8))
    nhwc.load_state_dict(nchw.state_dict())
    conv = nhwc.blocks[1].fine[0].weight  # (8, 4, 3, 3): the layouts differ
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert nchw.blocks[1].fine[0].weight.is_contiguous()
    x = torch.randn(4, 30, 20)
    y = torch.tensor([0, 1, 2, 3])
    outs = []
    for model in (nchw, nhwc):
        model.train()
        model.zero_grad()
        out = model.fc(model.embed(x))  # no dropout: compare exactly
        F.cross_entropy(out, y).backward()
        outs.append((out.detach(), model.blocks[1].fine[0].weight.grad.clone()))
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-5)
    assert torch.allclose(outs[0][1], outs[1][1], atol=1e-4)
    with pytest.raises(ConfigError, match="channels_last"):
        build_mranet((30, 20), 5, channels_last="yes")  # type: ignore[arg-type]


def test_block_implements_eq1() -> None:
    torch.manual_seed(0)
    block = MRABlock(1, 4, fine=True, coarse=True, attention=True).eval()
    x = torch.randn(3, 1, 10, 12)
    torch.set_grad_enabled(False)
    o = block.fuse(block.fine(x) + block.coarse(x))
    m = block.mask(x)
    assert m.shape == o.shape and float(m.min()) >= 0 and float(m.max()) <= 1
    want = F.max_pool2d((m + 1) * o, 2)
    assert torch.allclose(block(x), want, atol=1e-6)
    torch.set_grad_enabled(True)


@pytest.mark.parametrize(
    ("fine", "coarse", "attention"),
    [(False, True, False), (True, False, False), (True, True, False), (True, True, True)],
)
def test_ablation_switches_remove_branches(fine: bool, coarse: bool, attention: bool) -> None:
    model = build_mranet((32, 16), 3, channels=(4, 4, 4), fine=fine, coarse=coarse,
                         attention=attention)
    for block in model.blocks:
        assert (block.fine is not None) == fine
        assert (block.coarse is not None) == coarse
        assert (block.mask is not None) == attention
    assert model(torch.randn(2, 32, 16)).shape == (2, 3)


def test_mranet_rejects_bad_options() -> None:
    with pytest.raises(ConfigError, match="at least one of fine and coarse"):
        build_mranet((32, 16), 3, fine=False, coarse=False)
    with pytest.raises(ConfigError, match="no option"):
        build_model("mranet", (32, 16), 3, kernel=3)
    with pytest.raises(ConfigError, match="channels"):
        build_model("mranet", (32, 16), 3, channels=[])
    with pytest.raises(ConfigError, match="attention must be true or false"):
        build_model("mranet", (32, 16), 3, attention="yes")
    with pytest.raises(ConfigError, match="kernel_size"):
        build_model("dcnn3", (32, 16), 3, kernel_size=4)


def test_short_axes_are_not_pooled_away() -> None:
    """Sensor windows with 6 channels work: axes shorter than 2 are not pooled."""
    model = build_model("mranet", (64, 6), 4, channels=(4, 4, 4))
    assert model.feature_shape == (4, 1, 8)
    assert model(torch.randn(2, 64, 6)).shape == (2, 4)


@pytest.mark.parametrize("name", [spec.name for spec in list_models()])
def test_every_model_is_a_backbone(name: str) -> None:
    """fc(backbone(x)) == model(x): the heads see what the single-task classifier sees."""
    torch.manual_seed(0)
    model = build_model(name, (64, 6), 5, **TINY.get(name, {})).eval()
    x = torch.randn(3, 64, 6)
    want = model(x)
    fc = model.fc
    model.fc = nn.Identity()
    assert torch.allclose(fc(model(x)), want, atol=1e-5)
    backbone, dim = build_backbone(name, (64, 6), **TINY.get(name, {}))
    assert backbone(x).shape == (3, dim) and dim == fc.in_features


def test_dcnn_presets_differ() -> None:
    a = build_model("dcnn3", (150, 100), 6, hidden=16)
    b = build_model("dcnn5", (150, 100), 6, hidden=16)
    assert sum(isinstance(m, nn.Conv2d) for m in a.modules()) == 3
    assert sum(isinstance(m, nn.Conv2d) for m in b.modules()) == 5
    assert any(isinstance(m, nn.BatchNorm2d) for m in b.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in a.modules())
    assert a(torch.randn(2, 150, 100)).shape == (2, 6)


@pytest.mark.parametrize("shape", [(128, 128), (64, 200), (200, 64), (150, 100)])
@pytest.mark.parametrize("name", ["mranet", "dcnn3", "dcnn5", "lstm"])
def test_radar_models_build_for_any_frame_size(name: str, shape: tuple[int, int]) -> None:
    """Frame folders of any (W time, H Doppler) size: the FC layers are sized from it."""
    opts = {"channels": (4, 8, 8)} if name in ("mranet", "dcnn3", "dcnn5") else {}
    model = build_model(name, shape, 6, **opts).eval()
    with torch.no_grad():
        assert model(torch.randn(3, *shape)).shape == (3, 6)
