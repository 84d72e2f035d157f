"""DanHAR: exact parameter counts, equivalence with the reference layout, options, maps."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from harlab import hardware
from harlab.errors import ConfigError
from harlab.models import build_model
from harlab.models import danhar as danhar_mod
from harlab.models.blocks import ChannelAttention, TemporalAttention, mean_max
from harlab.models.danhar import build_danhar
from harlab.models.reference import ReferenceDanHAR, copy_reference_weights
from tests.models.conftest import fit_losses

WISDM = {"kernel_size": 6, "stride": 2, "padding": 0, "head": "flatten",
         "temporal_kernel": "7x7", "reduction": 16}
SMALL = {"channels": (8, 16, 12), "kernel_size": 5, "stride": 2, "padding": 1}
ARRANGEMENTS = ["channel_temporal", "temporal_channel", "channel", "temporal", "none"]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("backbone", "attention", "expected"),
    [
        ("resnet", "channel_temporal", 2_443_564),  # DanHAR-ResNet, WISDM
        ("resnet", "none", 2_414_598),  # plain ResNet, WISDM
        ("cnn", "none", 1_625_094),  # ResNet minus the 3 shortcut conv+BN
        ("cnn", "channel_temporal", 1_625_094 + 28_966),
    ],
)
def test_wisdm_parameter_counts(backbone: str, attention: str, expected: int) -> None:
    kw = dict(WISDM, backbone=backbone, attention=attention)
    assert n_params(build_danhar((200, 3), 6, **kw)) == expected
    assert n_params(ReferenceDanHAR((200, 3), 6, **kw)) == expected


def test_wisdm_forward_shape() -> None:
    model = build_danhar((200, 3), 6, **WISDM)
    assert model(torch.randn(2, 200, 3)).shape == (2, 6)


def _mapped_grads(ref: ReferenceDanHAR, shape: tuple[int, int], classes: int,
                  **kw: object) -> dict[str, torch.Tensor]:
    """The reference's gradients, re-laid-out like the fast model's parameters."""
    holder, carrier = build_danhar(shape, classes, **kw), ReferenceDanHAR(shape, classes, **kw)
    with torch.no_grad():
        for p, q in zip(carrier.parameters(), ref.parameters(), strict=True):
            p.copy_(q.grad)
    copy_reference_weights(carrier, holder)
    return dict(holder.named_parameters())


@pytest.mark.parametrize(
    ("backbone", "attention", "temporal_kernel", "length", "sensors"),
    [(*combo, 41, 4)
     for combo in itertools.product(["resnet", "cnn"], ARRANGEMENTS, ["7x1", "7x7"])]
    + [("resnet", "channel_temporal", "7x7", 23, 4), ("cnn", "temporal_channel", "7x1", 15, 4),
       # the many-channel shapes of the DSADS (45) and OPPORTUNITY (113) presets
       ("resnet", "channel_temporal", "7x1", 29, 45),
       ("resnet", "channel_temporal", "7x1", 23, 113), ("cnn", "none", "7x1", 23, 113)],
)
def test_equivalent_to_reference(backbone: str, attention: str, temporal_kernel: str,
                                 length: int, sensors: int, conv_path: str) -> None:
    """Same loss, gradients and eval outputs on both conv paths; lengths 23 and 15 end in
    2- and 1-step maps."""
    torch.manual_seed(0)
    kw = dict(SMALL, backbone=backbone, attention=attention, temporal_kernel=temporal_kernel)
    ref = ReferenceDanHAR((length, sensors), 5, **kw)
    model = build_danhar((length, sensors), 5, **kw)
    x = torch.randn(6, length, sensors)
    ref(x)  # one training step of BatchNorm statistics
    copy_reference_weights(ref, model)
    # training mode: same loss and same gradients (exercises the custom backward passes)
    ref.zero_grad()
    loss_ref = ref(x).square().mean()
    loss_ref.backward()
    loss = model(x).square().mean()
    loss.backward()
    assert loss.item() == pytest.approx(loss_ref.item(), rel=1e-5)
    expected = _mapped_grads(ref, (length, sensors), 5, **kw)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-4, atol=1e-5, msg=name)
    # eval mode (running statistics): outputs match to 1e-5
    ref.eval()
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=1e-5)


def test_wisdm_equivalence_eval(conv_path: str) -> None:
    torch.manual_seed(0)
    ref = ReferenceDanHAR((200, 3), 6, **WISDM).eval()
    model = build_danhar((200, 3), 6, **WISDM).eval()
    copy_reference_weights(ref, model)
    x = torch.randn(3, 200, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["danhar", "danhar_cnn", "resnet", "cnn"])
@pytest.mark.parametrize("attention", ARRANGEMENTS)
def test_registered_variants_all_attentions(name: str, attention: str) -> None:
    model = build_model(name, (64, 5), 4, attention=attention, channels=(8, 8, 8))
    assert model(torch.randn(3, 64, 5)).shape == (3, 4)


def test_gap_head_is_length_agnostic() -> None:
    model = build_danhar((128, 3), 4, head="gap", channels=(8, 16, 16))
    for t in (36, 100, 128, 301):
        assert model(torch.randn(2, t, 3)).shape == (2, 4)


def test_flatten_head_rejects_other_lengths() -> None:
    model = build_danhar((128, 3), 4, channels=(8, 8, 8))
    with pytest.raises(ValueError, match="built for windows"):
        model(torch.randn(2, 100, 3))


def test_attention_maps() -> None:
    model = build_danhar((200, 3), 6, channels=(8, 16, 24), temporal_kernel="7x7")
    x = torch.randn(5, 200, 3)
    model(x)
    assert model.attention_maps == []  # off by default
    model.keep_attention = True
    model(x)
    maps = model.attention_maps
    assert len(maps) == 3
    for block_maps, c, t in zip(maps, (8, 16, 24), (98, 47, 21), strict=True):
        assert block_maps["channel"].shape == (5, c)
        assert block_maps["temporal"].shape == (5, t, 3)
        for m in block_maps.values():
            assert not m.requires_grad
            assert m.min().item() >= 0.0 and m.max().item() <= 1.0
    only = build_danhar((200, 3), 6, attention="temporal", channels=(8, 8, 8))
    only.keep_attention = True
    only(x)
    assert set(only.attention_maps[0]) == {"temporal"}


def test_attention_blocks_standalone() -> None:
    x = torch.randn(2, 3, 10, 32)  # (N, S, T, C)
    assert ChannelAttention(32, 16)(x.view(2, 30, 32)).shape == (2, 32)
    assert sum(p.numel() for p in ChannelAttention(32, 16).parameters()) == 2 * 32 * 2
    for kernel, count in (((7, 1), 14), ((7, 7), 98)):
        ta = TemporalAttention(kernel)
        assert sum(p.numel() for p in ta.parameters()) == count
        w = ta(x)
        assert w.shape == (2, 3, 10) and ((w >= 0) & (w <= 1)).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("dim", [1, -1])
def test_mean_max_gradient_matches_autograd_with_ties(dtype: torch.dtype, dim: int) -> None:
    """The fused mean/max equals autograd's (mean, torch.max): values and gradients, with
    the whole max gradient on the first of tied maxima (as the authors' pooling routes it)."""
    torch.manual_seed(0)
    x = torch.randn(4, 30, 5).to(dtype)
    x[0, 3:6, 1] = x[0, :, 1].max() + 1  # three tied maxima
    x[1, :, 2] = 0.5  # a constant column: every element ties
    if dim == -1:
        x = x.transpose(1, 2).contiguous()
    g_mean, g_max = torch.randn(4, 5).to(dtype), torch.randn(4, 5).to(dtype)
    grads, outs = [], []
    for fused in (True, False):
        xi = x.clone().requires_grad_(True)
        mean, mx = mean_max(xi, dim) if fused else (xi.mean(dim), xi.max(dim).values)
        outs.append((mean.float(), mx.float()))
        ((mean * g_mean).sum() + (mx * g_max).sum()).backward()
        grads.append(xi.grad.float())
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-2, atol=1e-2)
    # g_max lands on exactly one element of a tied group: the first
    g = grads[0] if dim == 1 else grads[0].transpose(1, 2)
    extra = g - g_mean.float()[:, None, :] / 30
    for row, col, first in ((0, 1, 3), (1, 2, 0)):
        hit = extra[row, :, col].abs() > 1e-3
        assert hit.nonzero().flatten().tolist() == [first]
        assert extra[row, first, col].item() == pytest.approx(g_max[row, col].item(), rel=2e-2)


def test_bf16_autocast_runs_and_is_close() -> None:
    torch.manual_seed(0)
    model = build_danhar((100, 3), 4, channels=(16, 16, 16), temporal_kernel="7x7")
    x, y = torch.randn(8, 100, 3), torch.randint(0, 4, (8,))
    loss32 = F.cross_entropy(model(x), y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss16 = F.cross_entropy(model(x), y)
    loss16.backward()
    assert loss16.item() == pytest.approx(loss32.item(), rel=0.05)
    assert all(p.grad is not None and p.grad.dtype == torch.float32 and p.grad.isfinite().all()
               for p in model.parameters())


def test_bf16_mixed_paths_match_forced_onednn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the CPU's choice is oneDNN, bf16 autocast sends the short strided convs to the
    GEMM path and the rest to oneDNN; loss and gradients match every conv on oneDNN."""
    monkeypatch.setattr(hardware, "_mkl_runs_narrow", lambda: True)  # an AMD AVX-512 CPU
    torch.manual_seed(0)
    model = build_danhar((64, 7), 5, channels=(8, 16, 12), kernel_size=6, stride=2)
    x = torch.randn(4, 64, 7)
    results = {}
    for env in ("auto", "onednn"):
        monkeypatch.setenv(hardware.TIME_CONV_ENV, env)
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            # conv1 of each block: 30, 13 and 4 output steps; conv2: stride 1
            paths = [danhar_mod._use_onednn(torch.empty(28, t, 1), conv)
                     for t, conv in ((64, model.blocks[0].conv1), (30, model.blocks[1].conv1),
                                     (13, model.blocks[2].conv1), (4, model.blocks[2].conv2))]
            loss = model(x).float().square().mean()
        loss.backward()
        results[env] = (paths, loss.item(), [p.grad.clone() for p in model.parameters()])
    assert results["auto"][0] == [True, True, False, True]
    assert results["onednn"][0] == [True, True, True, True]
    assert results["auto"][1] == pytest.approx(results["onednn"][1], rel=2e-2)
    # all gradients as one vector (a conv bias before BatchNorm has a ~0 gradient: noise)
    ga, gb = (torch.cat([g.flatten() for g in results[k][2]]) for k in ("auto", "onednn"))
    assert (ga - gb).norm().item() <= 0.05 * gb.norm().item()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("backbone", "vgg"), ("attention", "spatial"), ("temporal_kernel", "5x5"),
        ("head", "avg"), ("reduction", 0), ("kernel_size", 0), ("stride", 0),
        ("padding", -1), ("channels", ()), ("channels", (8, -1)), ("dropout", 1.0),
    ],
)
def test_bad_options_raise_config_error(option: str, value: object) -> None:
    with pytest.raises(ConfigError, match=option):
        build_danhar((200, 3), 6, **{option: value})


def test_short_window_names_minimum_length() -> None:
    build_danhar((36, 3), 6)  # 36 -> 16 -> 6 -> 1 steps
    with pytest.raises(ConfigError, match="the minimum is 36"):
        build_danhar((35, 3), 6)
    with pytest.raises(ConfigError, match="minimum"):
        build_model("danhar", (10, 3), 6)


def test_unknown_option_via_registry() -> None:
    with pytest.raises(ConfigError, match="no option"):
        build_model("danhar", (200, 3), 6, kernel=3)


def test_overfits_random_batch() -> None:
    torch.manual_seed(0)
    model = build_danhar((64, 3), 4, channels=(16, 16, 16))
    x, y = torch.randn(16, 64, 3), torch.randint(0, 4, (16,))
    losses = fit_losses(model, x, y, lr=3e-3, steps=8)
    assert losses[-1] < 0.5 * losses[0]
