"""DCNN-style baselines for micro-Doppler frames (the CNNs MRA-Net compares with).

The MRA-Net paper (Sect. 6.2) compares with the DCNNs of its refs. [5] (Vandersmissen et
al. 2018) and [19] (Cao et al. 2018) for identification, the DCNN of [23] (Kim & Moon
2016) and a stacked LSTM [31] for activities, but gives no layer details. These builders are
therefore *style* baselines, not reproductions (the CAE [9] and the multitask JMI-CNN [32]
are built from their own papers' abstracts: :mod:`harlab.models.cae`,
:mod:`harlab.models.jmi_cnn`):

* ``dcnn3`` - a shallow DCNN: 3 x [conv5x5 -> ReLU -> max-pool 2x2], FC classifier
  (the plain 2016-style spectrogram CNN of [23]);
* ``dcnn5`` - a deeper DCNN: 5 x [conv3x3 -> BN -> ReLU -> max-pool 2x2], FC
  (the deeper person-identification CNNs of [5, 19]).

The stacked LSTM is the registered ``lstm`` model: on a frame ``(T=150, C=100)`` it reads
one 100-bin Doppler column per time step. ``dcnn3``/``dcnn5`` with ``task.heads:
[activity, identity]`` and ``task.loss_weighting: equal`` is a plain multitask CNN
(``configs/mranet/baseline_multitask_cnn_equal.yaml``), not a model of the paper.

A window ``(N, T, C)`` is read as the image ``(N, 1, C, T)`` like MRA-Net.
"""

from __future__ import annotations

from torch import Tensor, nn

from harlab.errors import ConfigError
from harlab.models.checks import check_bool, check_channels, check_dropout
from harlab.models.mranet import pool_kernel


class DCNN(nn.Module):
    """``len(channels)`` x [conv k x k -> (BN) -> ReLU -> max-pool 2x2] -> flatten -> FC."""

    def __init__(self, input_shape: tuple[int, int], num_classes: int,
                 channels: tuple[int, ...], kernel_size: int, batch_norm: bool,
                 hidden: int, dropout: float) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        t, c = input_shape
        layers: list[nn.Module] = []
        cin, h, w = 1, c, t
        for ch in channels:
            layers.append(nn.Conv2d(cin, ch, kernel_size, padding=kernel_size // 2,
                                    bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.ReLU())
            k = pool_kernel(h, w)
            layers.append(nn.MaxPool2d(k, stride=k))
            cin, h, w = ch, h // k[0], w // k[1]
        self.features = nn.Sequential(*layers)
        flat = cin * h * w
        self.hidden = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU()) if hidden else None
        self.embedding_dim = hidden or flat
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.embedding_dim, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Flattened conv features (through the hidden FC layer when there is one)."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"DCNN built for windows {self.input_shape}, got "
                             f"{tuple(x.shape[1:])}")
        h = self.features(x.transpose(1, 2).unsqueeze(1)).flatten(1)
        return h if self.hidden is None else self.hidden(self.dropout(h))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.embed(x)))


def build_dcnn(
    input_shape: tuple[int, int],
    num_classes: int,
    channels: tuple[int, ...] = (32, 64, 64),
    kernel_size: int = 5,
    batch_norm: bool = False,
    hidden: int = 128,
    dropout: float = 0.5,
) -> DCNN:
    """Build a DCNN baseline (registry presets ``dcnn3`` and ``dcnn5``)."""
    chans = check_channels("dcnn", channels)
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 \
            or kernel_size % 2 == 0:
        raise ConfigError(f"dcnn: kernel_size must be an odd integer >= 1, got {kernel_size!r}")
    check_bool("dcnn", "batch_norm", batch_norm)
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
        raise ConfigError(f"dcnn: hidden must be an integer >= 0 (0 = none), got {hidden!r}")
    check_dropout("dcnn", dropout)
    return DCNN(input_shape, num_classes, chans, kernel_size, batch_norm, hidden,
                float(dropout))

