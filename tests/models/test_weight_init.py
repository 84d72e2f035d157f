"""Weight initialisation schemes: the MRA-Net paper's orthogonal start, for any model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harlab.config import from_dict
from harlab.errors import ConfigError
from harlab.models import build_model
from harlab.models.weight_init import apply_init, check_init
from harlab.runs import RUN_FORMAT
from harlab.tasks.classifier import WindowClassifier
from tests.models.conftest import TINY


def _semi_orthogonal(w: torch.Tensor) -> bool:
    """Rows (or columns, whichever are fewer) of ``w`` read as a matrix are orthonormal."""
    m = w.detach().reshape(w.shape[0], -1).float()
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    return torch.allclose(gram, torch.eye(gram.shape[0]), atol=1e-4)


def test_orthogonal_mranet_keeps_layout_and_zeroes_biases() -> None:
    torch.manual_seed(0)
    model = build_model("mranet", (40, 30), 5, **TINY["mranet"])  # conv weights channels_last
    bn = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or
          k.endswith((".1.weight", ".1.bias"))}
    assert len(bn) > 10
    n = apply_init(model, "orthogonal")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert n == len(layers) > 10
    for m in layers:
        assert _semi_orthogonal(m.weight), m
        assert m.bias is None or not m.bias.any()
        if m.weight.ndim == 4 and m.weight.shape[1] > 1 and m.weight.shape[-1] > 1:
            assert m.weight.is_contiguous(memory_format=torch.channels_last)
    # BatchNorm scales/shifts and running statistics are not weight matrices: untouched
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in bn.items())
    # the default scheme leaves the model exactly as built
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert apply_init(model, "default") == 0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_orthogonal_recurrent_weights_and_seeded_draws() -> None:
    def draw(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        model = build_model("lstm", (32, 3), 4, **TINY["lstm"])
        apply_init(model, "orthogonal")
        return model

    a, b, c = draw(0), draw(0), draw(1)
    lstms = [m for m in a.modules() if isinstance(m, nn.LSTM)]
    assert lstms
    for lstm in lstms:
        for name, p in lstm.named_parameters():
            if name.startswith("weight"):
                assert _semi_orthogonal(p), name
            else:
                assert not p.any(), name
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # seeded: reproducible
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if "weight" in k)


def test_unknown_init_is_a_clear_error() -> None:
    for bad in ("xavier", "", "Orthogonal"):
        with pytest.raises(ConfigError, match="init must be one of default, orthogonal"):
            check_init(bad)
    with pytest.raises(ConfigError, match="train.init must be one of default, orthogonal"):
        from_dict({"train": {"init": "kaiming"}})
    assert from_dict({}).train.init == "default"
    assert from_dict({"train": {"init": "orthogonal"}}).train.init == "orthogonal"


def test_classifier_orthogonal_covers_heads_and_roundtrips() -> None:
    task = {"heads": ["activity", "identity"], "loss_weighting": "flwl", "fixed_ratio": 0.75,
            "flwl_grad": "head", "flwl_larger": "activity", "monitor": "mean",
            "identity_names": ["p1", "p2", "p3", "p4"]}

    def module(init: str) -> WindowClassifier:
        torch.manual_seed(3)
        return WindowClassifier(
            model_name="mranet", model_options={"channels": [2, 2, 2]}, input_shape=[30, 20],
            class_names=["a", "b", "c"], harlab={"version": RUN_FORMAT}, task=task, init=init)

    ortho, default = module("orthogonal"), module("default")
    linears = [m for m in ortho.model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) >= 3  # activity, identity and the FLWL branch
    assert all(_semi_orthogonal(m.weight) for m in linears)
    assert not all(_semi_orthogonal(m.weight) for m in default.model.modules()
                   if isinstance(m, nn.Linear))
    assert ortho.hparams["init"] == "orthogonal"
    # a checkpoint rebuilds from its hyperparameters and then takes its own weights
    again = WindowClassifier(**dict(ortho.hparams))
    again.load_state_dict(ortho.state_dict())
    x = torch.randn(4, 30, 20)
    ortho.eval(), again.eval()
    with torch.no_grad():
        out_a, out_b = ortho(x), again(x)
    assert all(torch.equal(out_a[k], out_b[k]) for k in out_a)
    # checkpoints written before the option existed load with PyTorch's initialisation
    hp = {k: v for k, v in dict(ortho.hparams).items() if k != "init"}
    assert WindowClassifier(**hp).hparams["init"] == "default"
    with pytest.raises(ConfigError, match="init must be one of"):
        WindowClassifier(**{**hp, "init": "uniform"})
