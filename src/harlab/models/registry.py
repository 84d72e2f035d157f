"""Model registry.

Every model takes windows shaped (N, T, C) -- time first, sensor channels last, the
layout the data layer produces -- and returns logits (N, num_classes). Every model ends in
a linear classifier ``model.fc`` whose input is the window's embedding; that is how
:func:`build_backbone` turns any registered model into a shared feature extractor for
multitask heads (:mod:`harlab.tasks.multitask`). Builders take the
input shape ``(T, C)``, ``num_classes`` and model-specific keyword options; unknown
options are rejected with a clear error instead of being ignored.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from harlab.errors import ConfigError, unknown_name


@dataclass(frozen=True)
class ModelSpec:
    name: str
    module: str
    builder: str
    summary: str
    defaults: tuple[tuple[str, Any], ...] = ()

    def build_fn(self) -> Callable[..., nn.Module]:
        return getattr(importlib.import_module(self.module), self.builder)


_SPECS: list[ModelSpec] = [
    ModelSpec(
        "danhar",
        "harlab.models.danhar",
        "build_danhar",
        "DanHAR: 3-block ResNet with channel+temporal dual attention (paper default)",
        (("backbone", "resnet"), ("attention", "channel_temporal")),
    ),
    ModelSpec(
        "danhar_cnn",
        "harlab.models.danhar",
        "build_danhar",
        "DanHAR attention on the plain 6-layer CNN (no shortcuts)",
        (("backbone", "cnn"), ("attention", "channel_temporal")),
    ),
    ModelSpec(
        "resnet",
        "harlab.models.danhar",
        "build_danhar",
        "Plain 3-block ResNet baseline of the DanHAR paper (no attention)",
        (("backbone", "resnet"), ("attention", "none")),
    ),
    ModelSpec(
        "cnn",
        "harlab.models.danhar",
        "build_danhar",
        "Plain 6-layer CNN baseline of the DanHAR paper (conv128x2-256x2-384x2-fc)",
        (("backbone", "cnn"), ("attention", "none")),
    ),
    ModelSpec(
        "deepconvlstm",
        "harlab.models.deepconvlstm",
        "build_deepconvlstm",
        "DeepConvLSTM (Ordonez & Roggen 2016): 4 conv layers + 2 LSTM layers",
    ),
    ModelSpec(
        "lstm",
        "harlab.models.lstm",
        "build_lstm",
        "Stacked LSTM baseline (2 layers) on raw windows",
    ),
    ModelSpec(
        "mranet",
        "harlab.models.mranet",
        "build_mranet",
        "MRA-Net extractor (He et al. 2019): 3 multiscale residual-attention blocks",
    ),
    ModelSpec(
        "dcnn3",
        "harlab.models.radar_baselines",
        "build_dcnn",
        "Shallow DCNN baseline (3 x conv5x5+pool, FC) for micro-Doppler frames",
        (("channels", (32, 64, 64)), ("kernel_size", 5), ("batch_norm", False)),
    ),
    ModelSpec(
        "dcnn5",
        "harlab.models.radar_baselines",
        "build_dcnn",
        "Deeper DCNN baseline (5 x conv3x3+BN+pool, FC) for micro-Doppler frames",
        (("channels", (16, 32, 64, 64, 128)), ("kernel_size", 3), ("batch_norm", True)),
    ),
    ModelSpec(
        "cae",
        "harlab.models.cae",
        "build_cae",
        "CAE baseline (Seyfioglu et al. 2018): 3-layer conv encoder + FC; with "
        "pretrain_epochs > 0 a mirrored decoder pre-trains the encoder (reconstruction)",
    ),
    ModelSpec(
        "jmi_cnn",
        "harlab.models.jmi_cnn",
        "build_jmi_cnn",
        "JMI-CNN-style joint activity/identity CNN: conv blocks with SE attention, "
        "features of every block reused",
    ),
]
MODELS: dict[str, ModelSpec] = {s.name: s for s in _SPECS}


def get_model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise unknown_name("model", name, MODELS) from None


def list_models() -> list[ModelSpec]:
    return list(MODELS.values())


def build_model(
    name: str, input_shape: tuple[int, int], num_classes: int, **options: Any
) -> nn.Module:
    """Build registered model ``name`` for windows of shape ``(T, C)``.

    Registry defaults (e.g. ``backbone='cnn'`` for ``cnn``) are applied first and user
    options override them. Unknown option names raise a ConfigError naming the valid ones.
    """
    spec = get_model_spec(name)
    fn = spec.build_fn()
    kwargs = dict(spec.defaults)
    kwargs.update(options)
    params = inspect.signature(fn).parameters
    allowed = [p for p in params if p not in ("input_shape", "num_classes")]
    bad = [k for k in kwargs if k not in params]
    if "pretrain_epochs" in bad:
        able = [s.name for s in _SPECS if "pretrain_epochs" in
                inspect.signature(s.build_fn()).parameters]
        raise ConfigError(f"model '{name}' has no decoder to pre-train (option "
                          f"pretrain_epochs); models with one: {', '.join(able)}")
    if bad:
        raise ConfigError(
            f"model '{name}' has no option(s) {', '.join(bad)}; valid: {', '.join(allowed)}"
        )
    if num_classes < 2:
        raise ConfigError(f"model '{name}' needs at least 2 classes, got {num_classes}")
    t, c = input_shape
    if t < 1 or c < 1:
        raise ConfigError(f"model '{name}': invalid input shape {input_shape}")
    return fn(input_shape=(int(t), int(c)), num_classes=int(num_classes), **kwargs)


def build_backbone(
    name: str, input_shape: tuple[int, int], **options: Any
) -> tuple[nn.Module, int]:
    """Registered model ``name`` without its classifier: returns ``(backbone, embedding_dim)``.

    ``backbone(x)`` gives the embedding ``(N, embedding_dim)`` that ``model.fc`` would have
    classified (after the model's own dropout), so multitask heads see exactly what the
    single-task classifier sees.
    """
    model = build_model(name, input_shape, 2, **options)
    fc = getattr(model, "fc", None)
    if not isinstance(fc, nn.Linear):
        raise ConfigError(f"model '{name}' has no final linear layer 'fc'; it cannot be used "
                          "as a multitask backbone")
    model.fc = nn.Identity()
    return model, int(fc.in_features)
