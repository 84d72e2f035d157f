"""Loss weighting strategies: FLWL (MRA-Net Eq. 4-6), fixed, equal, uncertainty."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harlab.config import TaskConfig, from_dict
from harlab.errors import ConfigError
from harlab.tasks.losses import (
    FLWL,
    EqualWeighting,
    FixedRatio,
    UncertaintyWeighting,
    make_weighting,
    rw_from_w,
)

HEADS = ("activity", "identity")


def _losses(n: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"activity": torch.rand(n, generator=g), "identity": torch.rand(n, generator=g) + 1}


def test_flwl_is_eq5_per_sample() -> None:
    losses = _losses()
    w = torch.softmax(torch.randn(5, 2), dim=1)
    total, logs = FLWL(HEADS)(losses, w)
    hi, lo = w.max(1).values, w.min(1).values
    want = ((2 + hi) * losses["activity"] + (2 + lo) * losses["identity"]).mean()
    assert torch.allclose(total, want)
    assert torch.allclose(logs["flwl_rw"], ((2 + lo) / (2 + hi)).mean())
    swapped, _ = FLWL(HEADS, larger="identity")(losses, w)
    want = ((2 + lo) * losses["activity"] + (2 + hi) * losses["identity"]).mean()
    assert torch.allclose(swapped, want)


@settings(max_examples=50, deadline=None)
@given(st.floats(-30, 30), st.floats(-30, 30))
def test_rw_stays_in_paper_range(a: float, b: float) -> None:
    w = torch.softmax(torch.tensor([[a, b]], dtype=torch.float64), dim=1)
    rw = float(rw_from_w(w))
    assert 2 / 3 - 1e-9 <= rw <= 1 + 1e-9


def test_flwl_gradient_lowers_weight_of_larger_loss() -> None:
    """d loss / d min(w) = L_i - L_r: with L_i > L_r the weight branch pushes r_w to 2/3."""
    logits = torch.tensor([[0.3, -0.2]], requires_grad=True)
    losses = {"activity": torch.tensor([0.5]), "identity": torch.tensor([2.0])}
    total, _ = FLWL(HEADS)(losses, torch.softmax(logits, 1))
    total.backward()
    step = logits - 0.1 * logits.grad
    before = rw_from_w(torch.softmax(logits.detach(), 1))
    after = rw_from_w(torch.softmax(step.detach(), 1))
    assert after < before


def test_fixed_equal_uncertainty() -> None:
    losses = _losses()
    total, logs = FixedRatio(HEADS, 0.75)(losses)
    assert torch.allclose(total, 0.75 * losses["activity"].mean() + losses["identity"].mean())
    assert float(logs["weight_activity"]) == pytest.approx(0.75)
    total, _ = EqualWeighting(HEADS)(losses)
    assert torch.allclose(total, losses["activity"].mean() + losses["identity"].mean())
    unc = UncertaintyWeighting(HEADS)
    with torch.no_grad():
        unc.log_vars.copy_(torch.tensor([0.5, -0.3]))
    total, _ = unc(losses)
    want = sum(
        torch.exp(-s) * losses[h].mean() + s / 2  # Kendall: L / sigma^2 + log sigma
        for h, s in zip(HEADS, torch.tensor([0.5, -0.3]), strict=True)
    )
    assert torch.allclose(total, want)
    total.backward()
    assert unc.log_vars.grad is not None and torch.all(unc.log_vars.grad != 0)
    # the optimum of exp(-s) L + s / 2 over s is exp(-s) = 1 / (2 L)
    g = -torch.exp(-torch.tensor([0.5, -0.3])) * torch.stack(
        [losses[h].mean() for h in HEADS]) + 0.5
    assert torch.allclose(unc.log_vars.grad, g)


def test_single_head_is_plain_mean() -> None:
    losses = {"identity": torch.tensor([1.0, 3.0])}
    for name in ("equal", "fixed", "uncertainty"):
        total, _ = make_weighting(name, ("identity",))(losses)
        assert float(total) == pytest.approx(2.0)


def test_task_config_validation() -> None:
    assert TaskConfig().is_multitask is False
    assert TaskConfig(heads=["identity", "activity"]).heads == ["activity", "identity"]
    assert TaskConfig(heads=["identity"]).is_multitask
    bad = [
        {"heads": ["person"]},
        {"heads": []},
        {"heads": ["activity", "activity"]},
        {"loss_weighting": "gradnorm"},
        {"fixed_ratio": 0},
        {"heads": ["activity"], "loss_weighting": "flwl"},
        {"monitor": "identity"},
        {"flwl_grad": "some"},
    ]
    for kwargs in bad:
        with pytest.raises(ConfigError):
            TaskConfig(**kwargs)
    with pytest.raises(ConfigError, match="unknown config key 'task.weighting'"):
        from_dict({"task": {"weighting": "flwl"}})
    cfg = from_dict({"task": {"heads": ["activity", "identity"], "loss_weighting": "flwl"}})
    assert cfg.task.loss_weighting == "flwl"
