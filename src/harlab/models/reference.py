"""Straightforward DanHAR in the authors' layout, for benchmarking and equivalence tests.

The window (N, T, S) is treated as an image N x 1 x T x S and every convolution is an
``nn.Conv2d`` with a (k, 1) kernel; attention uses CBAM-style modules. This is the slow,
obvious implementation: :mod:`harlab.models.danhar` computes the same function faster, and
:func:`copy_reference_weights` maps a reference model's weights onto it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harlab.models.danhar import (
    DanHAR,
    TimeConv,
    attention_order,
    check_danhar_options,
    temporal_kernel_size,
)


class RefChannelAttention(nn.Module):
    """CBAM channel attention: sigmoid(mlp(avgpool) + mlp(maxpool)) -> (N, C, 1, 1)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.fc(self.avg_pool(x)) + self.fc(self.max_pool(x)))


class RefSpatialAttention(nn.Module):
    """CBAM spatial (here: temporal) attention over the (T, S) map -> (N, 1, T, S)."""

    def __init__(self, kernel: tuple[int, int]) -> None:
        super().__init__()
        pad = (kernel[0] // 2, kernel[1] // 2)
        self.conv = nn.Conv2d(2, 1, kernel, padding=pad, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class RefBlock(nn.Module):
    """conv(k,1)/s -> BN -> ReLU -> conv(3,1) -> BN -> attention (+ shortcut) -> ReLU."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int,
        s: int,
        p: int,
        residual: bool,
        attention: str,
        reduction: int,
        tkernel: tuple[int, int],
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, (k, 1), (s, 1), (p, 0))
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, (3, 1), 1, (1, 0))
        self.bn2 = nn.BatchNorm2d(cout)
        self.order = attention_order(attention)
        self.ca = RefChannelAttention(cout, reduction) if "channel" in self.order else None
        self.sa = RefSpatialAttention(tkernel) if "temporal" in self.order else None
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, (k, 1), (s, 1), (p, 0)), nn.BatchNorm2d(cout))
            if residual
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        for kind in self.order:
            out = (self.ca(out) if kind == "channel" else self.sa(out)) * out
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return torch.relu(out)


class ReferenceDanHAR(nn.Module):
    """DanHAR / ResNet / CNN of the paper as 2-D convolutions on an N x 1 x T x S image."""

    def __init__(
        self,
        input_shape: tuple[int, int],
        num_classes: int,
        backbone: str = "resnet",
        attention: str = "channel_temporal",
        reduction: int = 16,
        temporal_kernel: str = "7x1",
        kernel_size: int = 6,
        stride: int = 2,
        padding: int = 0,
        channels: tuple[int, ...] = (128, 256, 384),
        head: str = "flatten",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        lengths = check_danhar_options(
            input_shape, backbone, attention, reduction, temporal_kernel,
            kernel_size, stride, padding, channels, head, dropout,
        )
        tk = temporal_kernel_size(temporal_kernel)
        blocks, cin = [], 1
        for c in channels:
            blocks.append(
                RefBlock(cin, c, kernel_size, stride, padding, backbone == "resnet",
                         attention, reduction, tk)
            )
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.head = head
        self.dropout = nn.Dropout(dropout)
        feats = cin * lengths[-1] * input_shape[1] if head == "flatten" else cin
        self.fc = nn.Linear(feats, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(x.unsqueeze(1))
        h = h.flatten(1) if self.head == "flatten" else h.mean(dim=(2, 3))
        return self.fc(self.dropout(h))


@torch.no_grad()
def copy_reference_weights(ref: ReferenceDanHAR, model: DanHAR) -> None:
    """Copy every parameter and BatchNorm buffer of ``ref`` into ``model`` (same config).

    Conv weights go from Conv2d (C, Cin, k, 1) to the GEMM layout (k, Cin, C) and the
    flatten head's weight is permuted from the reference's (C, T', S) feature order to
    the fast model's (S, T', C).
    """
    if len(ref.blocks) != len(model.blocks):
        raise ValueError("reference and model have different numbers of blocks")
    for rb, mb in zip(ref.blocks, model.blocks, strict=True):
        pairs = [(rb.conv1, mb.conv1), (rb.bn1, mb.bn1), (rb.conv2, mb.conv2), (rb.bn2, mb.bn2)]
        if rb.shortcut is not None:
            pairs += [(rb.shortcut[0], mb.shortcut), (rb.shortcut[1], mb.bn_sc)]
        if rb.ca is not None:
            pairs += [(rb.ca.fc[0], mb.ca.fc1), (rb.ca.fc[2], mb.ca.fc2)]
        if rb.sa is not None:
            pairs += [(rb.sa.conv, mb.ta)]
        for src, dst in pairs:
            for name, value in src.state_dict().items():
                if isinstance(dst, TimeConv) and name == "weight":  # (C, Cin, k, 1) -> (k, Cin, C)
                    value = value.squeeze(-1).permute(2, 1, 0)
                getattr(dst, name).copy_(value.reshape(getattr(dst, name).shape))
    w = ref.fc.weight
    if model.head == "flatten":
        c, t, s = model.feature_shape
        w = w.view(-1, c, t, s).permute(0, 3, 2, 1).reshape(w.shape[0], -1)
    model.fc.weight.copy_(w)
    model.fc.bias.copy_(ref.fc.bias)


__all__ = ["ReferenceDanHAR", "copy_reference_weights"]
