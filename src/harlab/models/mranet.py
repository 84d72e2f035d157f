"""MRA-Net feature extractor (He et al., Remote Sensing 2019, Sect. 3, Fig. 2, Eq. 1).

A window ``(N, T, C)`` -- for radar a micro-Doppler frame of T = 150 time steps by C = 100
Doppler bins -- is read as a one-channel image ``(N, 1, C, T)``. Three blocks, each

* fine-scale branch  ``O_p1 = ReLU(BN(conv3x3/1(x)))``,
* coarse-scale branch ``O_p2 = ReLU(BN(conv5x5/1(x)))``,
* 1x1 fusion ``f(.) = ReLU(BN(conv1x1(.)))`` of ``O_p1 + O_p2``,
* residual attention branch: a bottom-up/top-down soft mask ``M(x)`` in [0, 1] after
  Wang et al. 2017 (max-pool 3x3/2 down, conv3x3-BN-ReLU, bilinear up to the input size,
  conv1x1-BN-ReLU, conv1x1, sigmoid),

give ``O_b = (M(x) + 1) * f(O_p1 + O_p2)`` (Eq. 1), followed by max-pooling 2x2/2 (an axis
shorter than 2 is not pooled, so sensor windows with few channels work too). The result
is flattened into the shared embedding X_n (Eq. 2); ``fc`` is the single-task classifier.

Where the text is silent (Fig. 2 is an image) these are our choices: channels
(32, 64, 128), BatchNorm after every conv, max-pooling 2x2/2 after each block, one
down/up level in the mask, dropout 0.5 before the classifier. The ablation switches
``fine``, ``coarse`` and ``attention`` reproduce the rows of the paper's Table 6.

The convolution weights are kept in channels_last (NHWC) memory format by default: the
one-channel input image is both NCHW and NHWC, so every conv then runs oneDNN's NHWC
kernels (about 1.6x faster training on CPU, ``benchmarks/throughput.py``). The layout
changes no result: ``channels_last=False`` gives the same outputs up to fp32 rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harlab.errors import ConfigError
from harlab.models.checks import check_bool, check_channels, check_dropout


def conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    """``k x k`` stride-1 'same' conv, BatchNorm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


def pool_kernel(h: int, w: int) -> tuple[int, int]:
    """2x2 max-pool kernel for an (h, w) map, 1 along an axis shorter than 2 (kept as is)."""
    return (2 if h >= 2 else 1, 2 if w >= 2 else 1)


class SoftMask(nn.Module):
    """Bottom-up/top-down soft attention mask M(x) in [0, 1] with the trunk's shape."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.down = conv_bn_relu(cin, cout, 3)
        self.mix = nn.Sequential(
            nn.Conv2d(cout, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        d = F.max_pool2d(x, 3, stride=2, padding=1) if min(h, w) >= 2 else x
        up = F.interpolate(self.down(d), size=(h, w), mode="bilinear", align_corners=False)
        return self.mix(up).sigmoid()


class MRABlock(nn.Module):
    """One MRA-Net block: Eq. 1 then max-pooling."""

    def __init__(self, cin: int, cout: int, fine: bool, coarse: bool, attention: bool) -> None:
        super().__init__()
        self.fine = conv_bn_relu(cin, cout, 3) if fine else None
        self.coarse = conv_bn_relu(cin, cout, 5) if coarse else None
        self.fuse = conv_bn_relu(cout, cout, 1)
        self.mask = SoftMask(cin, cout) if attention else None

    def forward(self, x: Tensor) -> Tensor:
        if self.fine is not None and self.coarse is not None:
            o = self.fine(x) + self.coarse(x)
        else:
            o = (self.fine or self.coarse)(x)  # type: ignore[operator]
        o = self.fuse(o)
        if self.mask is not None:
            o = o * (self.mask(x) + 1)
        k = pool_kernel(*o.shape[-2:])
        return F.max_pool2d(o, k, stride=k)


class MRANet(nn.Module):
    """MRA-Net extractor + linear classifier: ``forward = fc(dropout(embed(x)))``."""

    def __init__(self, input_shape: tuple[int, int], num_classes: int,
                 channels: tuple[int, ...], fine: bool, coarse: bool, attention: bool,
                 dropout: float, channels_last: bool = True) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        t, c = input_shape
        blocks, cin, h, w = [], 1, c, t
        for ch in channels:
            blocks.append(MRABlock(cin, ch, fine, coarse, attention))
            k = pool_kernel(h, w)
            cin, h, w = ch, h // k[0], w // k[1]
        self.blocks = nn.Sequential(*blocks)
        self.feature_shape = (cin, h, w)
        self.embedding_dim = cin * h * w
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.embedding_dim, num_classes)
        if channels_last:  # 4-D conv weights only; parameters keep this format on .to(device)
            self.blocks.to(memory_format=torch.channels_last)

    def embed(self, x: Tensor) -> Tensor:
        """Shared embedding X_n (flattened features) of windows ``(N, T, C)``."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"MRA-Net built for windows {self.input_shape}, got "
                             f"{tuple(x.shape[1:])}")
        img = x.transpose(1, 2).unsqueeze(1)  # (N, 1, C, T): Doppler rows, time columns
        return self.blocks(img).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.embed(x)))


def build_mranet(
    input_shape: tuple[int, int],
    num_classes: int,
    channels: tuple[int, ...] = (32, 64, 128),
    fine: bool = True,
    coarse: bool = True,
    attention: bool = True,
    dropout: float = 0.5,
    channels_last: bool = True,
) -> MRANet:
    """Build MRA-Net for windows ``(T, C)``; ``fine``/``coarse``/``attention`` for ablations.

    ``channels_last`` keeps conv weights in NHWC memory format (faster on CPU, same math).
    """
    chans = check_channels("mranet", channels)
    for name, v in (("fine", fine), ("coarse", coarse), ("attention", attention)):
        check_bool("mranet", name, v)
    if not (fine or coarse):
        raise ConfigError("mranet: at least one of fine and coarse must be true")
    check_dropout("mranet", dropout)
    check_bool("mranet", "channels_last", channels_last)
    return MRANet(input_shape, num_classes, chans, fine, coarse, attention, float(dropout),
                  channels_last)
