"""JMI-CNN: the joint motion-classification and person-identification CNN of MRA-Net's [32].

MRA-Net (He et al. 2019, Sect. 6.2, Fig. 11) compares its multitask learning with
"another MTL network, JMI-CNN [32]". The description harlab found (that paper's abstract;
UWB radar, 15 people x 6 motions) says only that JMI-CNN is a CNN that learns motion
class (MCL) and person identity (PID) together with a *multitask learning scheme*, an
*attention mechanism* and *hierarchical feature reuse*. No layer is specified there, so
every detail below is harlab's choice, named here and in ``docs/fidelity/mranet.md``
("Baselines CAE and JMI-CNN"):

* trunk: ``len(channels)`` blocks of [conv3x3-BN-ReLU x 2 -> squeeze-and-excitation
  channel attention (reduction 4) -> max-pool 2x2], channels ``(32, 64, 128)``;
* hierarchical feature reuse: the global-average-pooled output of *every* block is
  concatenated into the embedding (dimension ``sum(channels)``), so the task heads see
  shallow and deep features;
* the two task heads are harlab's multitask heads on this trunk (``task.heads: [activity,
  identity]``, :mod:`harlab.tasks.multitask`), with harlab's loss weighting; the paper's
  own loss weights for JMI-CNN are not known.

A window ``(N, T, C)`` is read as the image ``(N, 1, C, T)`` (Doppler x time) like MRA-Net.
"""

from __future__ import annotations

from torch import Tensor, cat, nn

from harlab.models.checks import check_channels, check_dropout
from harlab.models.mranet import conv_bn_relu, pool_kernel


class SqueezeExcite(nn.Module):
    """Channel attention: x * sigmoid(W2 relu(W1 mean_hw(x)))."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(),
                                 nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.mlp(x.mean(dim=(2, 3)))[:, :, None, None]


class JMICNN(nn.Module):
    """Attention CNN trunk whose embedding concatenates every block's pooled output."""

    def __init__(self, input_shape: tuple[int, int], num_classes: int,
                 channels: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        t, c = input_shape
        blocks: list[nn.Module] = []
        cin, h, w = 1, c, t
        for ch in channels:
            k = pool_kernel(h, w)
            blocks.append(nn.Sequential(conv_bn_relu(cin, ch, 3), conv_bn_relu(ch, ch, 3),
                                        SqueezeExcite(ch), nn.MaxPool2d(k, stride=k)))
            cin, h, w = ch, h // k[0], w // k[1]
        self.blocks = nn.ModuleList(blocks)
        self.embedding_dim = sum(channels)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.embedding_dim, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Concatenated global-average-pooled outputs of all blocks, ``(N, sum(channels))``."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"JMI-CNN built for windows {self.input_shape}, got "
                             f"{tuple(x.shape[1:])}")
        h = x.transpose(1, 2).unsqueeze(1)
        pooled = []
        for block in self.blocks:
            h = block(h)
            pooled.append(h.mean(dim=(2, 3)))
        return cat(pooled, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.embed(x)))


def build_jmi_cnn(
    input_shape: tuple[int, int],
    num_classes: int,
    channels: tuple[int, ...] = (32, 64, 128),
    dropout: float = 0.5,
) -> JMICNN:
    """Build JMI-CNN (registry name ``jmi_cnn``); see the module docstring."""
    chans = check_channels("jmi_cnn", channels)
    check_dropout("jmi_cnn", dropout)
    return JMICNN(input_shape, num_classes, chans, float(dropout))
