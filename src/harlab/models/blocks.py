"""Attention submodules of DanHAR (Gao et al., section III), in a channels-last layout.

Both modules return the attention *weights* (in [0, 1]) instead of the re-weighted
features, so the caller can multiply them in and keep them for visualisation. Features
are channels-last: ``(N, L, C)`` or ``(N, S, T, C)`` where L = S * T positions, because
that is the layout the fast DanHAR implementation computes in.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _MeanMax(torch.autograd.Function):
    """Mean and max over ``dim`` in one autograd node with a one-pass backward.

    The max gradient goes to the element ``torch.max`` returns (the first maximum), as the
    authors' ``torch.max`` / ``AdaptiveMaxPool2d`` pooling routes it; the backward is the
    broadcast mean gradient plus a scatter of ``g_max`` at the saved indices. Compared
    with routing by ``x == max`` (a compare, a tie count and a select over the whole
    activation) this is one write pass, and only the indices are kept for backward. The
    mean is ``sum / n``: ``mean`` of a bf16 tensor first copies all of it to fp32.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
        mx, idx = x.max(dim, keepdim=True)
        ctx.save_for_backward(idx)
        ctx.dim, ctx.shape, ctx.dtype = dim, x.shape, x.dtype
        return x.sum(dim) / x.shape[dim], mx.squeeze(dim)

    @staticmethod
    def backward(ctx: Any, g_mean: Tensor, g_max: Tensor) -> tuple[Tensor, None]:
        (idx,) = ctx.saved_tensors
        d = ctx.dim
        gx = (g_mean / ctx.shape[d]).to(ctx.dtype).unsqueeze(d).expand(ctx.shape).contiguous()
        return gx.scatter_add_(d, idx, g_max.to(ctx.dtype).unsqueeze(d)), None


def mean_max(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """``(x.mean(dim), x.amax(dim))`` with a cheap fused backward (max gradient to the first
    maximum, like ``torch.max``)."""
    return _MeanMax.apply(x, dim)


class ChannelAttention(nn.Module):
    """Channel weights sigmoid(mlp(avgpool(x)) + mlp(maxpool(x))), eq. (2) of the paper.

    Pools over all positions (time and sensor axis); the shared MLP C -> C/r -> C is
    bias-free with a ReLU in between, as in the authors' 1x1-conv implementation.
    """

    pool = staticmethod(mean_max)  # (export swaps in plain mean/amax ops)

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, channels, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Map features ``(N, L, C)`` to channel weights ``(N, C)``."""
        pooled = torch.stack(self.pool(x, 1))  # (2, N, C): one MLP call for both
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(pooled))).sum(dim=0))


class TemporalAttention(nn.Module):
    """Temporal weights sigmoid(conv([mean_c(x); max_c(x)])), eq. (3) of the paper.

    The conv runs over the (T, S) map with a bias-free ``kernel`` of (7, 1) (time only)
    or (7, 7) (time and sensor axis) and 'same' padding. ``weight`` is stored in the
    authors' (1, 2, kT, kS) orientation.
    """

    pool = staticmethod(mean_max)  # (export swaps in plain mean/amax ops)

    def __init__(self, kernel: tuple[int, int] = (7, 1)) -> None:
        super().__init__()
        self.kernel = kernel
        self.weight = nn.Parameter(torch.empty(1, 2, *kernel))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Conv2d's default init

    def forward(self, x: Tensor) -> Tensor:
        """Map features ``(N, S, T, C)`` to temporal weights ``(N, S, T)``."""
        n, s, t, _ = x.shape
        pooled = torch.stack(self.pool(x, -1), dim=1)  # (N, 2, S, T)
        kt, ks = self.kernel
        w = self.weight.to(pooled.dtype)
        if ks == 1:  # time-only kernel: a conv1d per sensor row
            pooled = pooled.transpose(1, 2).reshape(n * s, 2, t)
            out = F.conv1d(pooled, w.squeeze(-1), padding=kt // 2)
        else:
            out = F.conv2d(pooled, w.transpose(2, 3), padding=(ks // 2, kt // 2))
        return torch.sigmoid(out.view(n, s, t))
