"""Multitask heads on any registered backbone: activity P_r, identity P_i, FLWL branch P_w.

:class:`MultiTaskModel` wraps a registered model turned into a feature extractor
(:func:`harlab.models.registry.build_backbone`: the model minus its ``fc``) and adds one
linear head per task on the shared embedding X_n, as in MRA-Net's multitask classifier
(Fig. 1). With ``flwl=True`` it also has the weight branch ``w = softmax(FC(X_n))`` (Eq. 4).
Its forward returns a dict ``{"activity": logits, "identity": logits, "w": (N, 2)}`` with
the keys it has. :class:`~harlab.tasks.classifier.WindowClassifier` trains it (one module
class for single- and multitask runs, so every checkpoint loads the same way).

FLWL gradients (``flwl_grad``): the paper trains end-to-end and says the weights are
*learned*, so P_w must receive gradients -- the loss is its only training signal (a
detached branch would keep its random initial output). What that signal says is "lower
this sample's weight on the task with the larger loss" (see :class:`harlab.tasks.losses.FLWL`),
which is a sensible per-sample reweighting but a poor signal for the shared features: with
``full`` the backbone is also pushed to produce embeddings that move w rather than
embeddings that classify. The default ``head`` therefore lets P_w's FC learn from the loss
on a detached copy of X_n; ``full`` is the literal end-to-end reading, ``none`` freezes the
branch at its random initialisation (an ablation).

FLWL input (``flwl_input``): Eq. 4 feeds X_n itself (``raw``). X_n's norm grows during
training (MRA-Net at 8/16/32 channels: from about 1 at initialisation to about 60), so the
logits of P_w grow with it and the softmax saturates at w = (0, 1), where its gradient
vanishes and w stops following the loss. ``unit`` feeds X_n / ||X_n|| instead, so only P_w's
own weights set the logit scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from harlab.errors import ConfigError
from harlab.models.registry import build_backbone


class MultiTaskModel(nn.Module):
    """Shared backbone + one linear head per task (+ optional FLWL weight branch)."""

    def __init__(self, backbone: nn.Module, embedding_dim: int, head_classes: dict[str, int],
                 flwl: bool = False, flwl_grad: str = "head", flwl_input: str = "raw") -> None:
        super().__init__()
        self.backbone = backbone
        self.embedding_dim = int(embedding_dim)
        self.heads = nn.ModuleDict({h: nn.Linear(embedding_dim, k)
                                    for h, k in head_classes.items()})
        self.flwl_grad = flwl_grad
        self.flwl_input = flwl_input
        self.weight_head = nn.Linear(embedding_dim, 2) if flwl else None
        if self.weight_head is not None and flwl_grad == "none":
            self.weight_head.requires_grad_(False)

    def embed(self, x: Tensor) -> Tensor:
        """Shared embedding X_n ``(N, embedding_dim)``."""
        return self.backbone(x)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        e = self.backbone(x)
        out = {h: head(e) for h, head in self.heads.items()}
        if self.weight_head is not None:
            src = e if self.flwl_grad == "full" else e.detach()
            if self.flwl_input == "unit":
                src = torch.nn.functional.normalize(src.float(), dim=-1)
            out["w"] = torch.softmax(self.weight_head(src).float(), dim=-1)
        return out


def build_multitask_model(
    model_name: str, model_options: dict[str, Any], input_shape: tuple[int, int],
    head_classes: dict[str, int], flwl: bool = False, flwl_grad: str = "head",
    flwl_input: str = "raw",
) -> MultiTaskModel:
    """Registered model ``model_name`` as backbone with the given heads."""
    for h, k in head_classes.items():
        if k < 2:
            raise ConfigError(f"the {h} head needs at least 2 classes, got {k}")
    backbone, dim = build_backbone(model_name, input_shape, **model_options)
    return MultiTaskModel(backbone, dim, head_classes, flwl, flwl_grad, flwl_input)


def plot_rw_histogram(rw: np.ndarray, path: Any, title: str = "") -> Any:
    """Histogram of per-sample FLWL ratios r_w (paper Fig. 12b) saved as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(rw, bins=np.linspace(2 / 3, 1, 21), color="#4C72B0", edgecolor="white")
    ax.set_xlim(2 / 3 - 0.01, 1.01)
    ax.set_xlabel("r_w = (2 + min w) / (2 + max w)")
    ax.set_ylabel("test windows")
    ax.set_title(title or f"FLWL loss-weight ratios (n={len(rw)}, mean {rw.mean():.3f})")
    fig.savefig(path, dpi=120, format="png", bbox_inches="tight")
    fig.clear()
    return path
