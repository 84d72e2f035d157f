"""Convolutional-autoencoder (CAE) baseline of the MRA-Net paper, with its pre-training.

MRA-Net (He et al. 2019, Sect. 6.2, Fig. 10b) compares with "the convolutional
autoencoder (CAE) in [9]": Seyfioglu, Ozbayoglu and Gurbuz, "Deep convolutional
autoencoder for radar-based classification of similar aided and unaided human
activities", IEEE TAES 54(4), 2018. The text available to harlab (that paper's abstract)
says only: a *three-layer* deep CAE whose unsupervised pre-training initialises the
weights of the convolutional layers, then classification of 12 micro-Doppler activity
classes. Everything else is harlab's choice, named here and in ``docs/fidelity/mranet.md``
("Baselines CAE and JMI-CNN"):

* encoder: 3 x [conv k x k ('same') -> ReLU -> max-pool 2x2], channels ``(32, 32, 32)``,
  ``kernel_size=3`` (filter counts and sizes not found);
* decoder (built only when ``pretrain_epochs`` > 0): the encoder mirrored, per layer
  nearest-neighbour upsampling back to that layer's input size (odd sizes included) ->
  conv k x k ('same'), ReLU between layers and a linear last conv to the one input plane
  (the paper's unpooling or deconvolution not found);
* pre-training: ``pretrain_epochs`` epochs of unsupervised reconstruction (MSE) of the
  training windows through encoder + decoder (:mod:`harlab.tasks.pretrain`), whose
  encoder then starts the supervised fit; ``0`` trains end-to-end from a random start;
* classifier: flatten -> FC ``hidden=128`` -> ReLU -> dropout 0.5 -> ``fc`` (the size of
  the fully connected part not found).

A window ``(N, T, C)`` is read as the image ``(N, 1, C, T)`` (Doppler x time) like MRA-Net.
"""

from __future__ import annotations

from torch import Tensor, nn

from harlab.errors import ConfigError
from harlab.models.checks import check_channels, check_dropout, check_int
from harlab.models.mranet import pool_kernel


def mirror_decoder(inputs: list[tuple[int, int, int]], channels: tuple[int, ...],
                   kernel_size: int) -> nn.Sequential:
    """The encoder mirrored: for each encoder layer, last first, upsample (nearest) to the
    ``(channels, h, w)`` that layer took in, then a 'same' conv back to its channels; ReLU
    between layers, none after the last (it rebuilds the normalised input plane)."""
    layers: list[nn.Module] = []
    for i in reversed(range(len(channels))):
        cin, h, w = inputs[i]
        layers += [nn.Upsample(size=(h, w), mode="nearest"),
                   nn.Conv2d(channels[i], cin, kernel_size, padding=kernel_size // 2)]
        if i > 0:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class CAEClassifier(nn.Module):
    """CAE encoder (conv -> ReLU -> max-pool per layer) -> flatten -> FC -> ``fc``; with
    ``pretrain_epochs`` > 0 also the decoder that :meth:`reconstruct` trains."""

    def __init__(self, input_shape: tuple[int, int], num_classes: int,
                 channels: tuple[int, ...], kernel_size: int, hidden: int,
                 dropout: float, pretrain_epochs: int = 0) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        t, c = input_shape
        layers: list[nn.Module] = []
        inputs: list[tuple[int, int, int]] = []
        cin, h, w = 1, c, t
        for ch in channels:
            inputs.append((cin, h, w))
            k = pool_kernel(h, w)
            layers += [nn.Conv2d(cin, ch, kernel_size, padding=kernel_size // 2), nn.ReLU(),
                       nn.MaxPool2d(k, stride=k)]
            cin, h, w = ch, h // k[0], w // k[1]
        self.encoder = nn.Sequential(*layers)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(cin * h * w, hidden), nn.ReLU())
        self.embedding_dim = hidden
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)
        self.pretrain_epochs = int(pretrain_epochs)
        # built last, so the classifier's initial weights do not depend on it
        self.decoder = (mirror_decoder(inputs, channels, kernel_size)
                        if pretrain_epochs > 0 else None)

    def _image(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"CAE built for windows {self.input_shape}, got "
                             f"{tuple(x.shape[1:])}")
        return x.transpose(1, 2).unsqueeze(1)

    def reconstruct(self, x: Tensor) -> Tensor:
        """Encoder then decoder: the reconstruction ``(N, T, C)`` of windows ``x``."""
        if self.decoder is None:
            raise ValueError("this CAE has no decoder (pretrain_epochs=0)")
        return self.decoder(self.encoder(self._image(x))).squeeze(1).transpose(1, 2)

    def embed(self, x: Tensor) -> Tensor:
        """The hidden FC layer's output for windows ``(N, T, C)``."""
        return self.hidden(self.encoder(self._image(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.embed(x)))


def build_cae(
    input_shape: tuple[int, int],
    num_classes: int,
    channels: tuple[int, ...] = (32, 32, 32),
    kernel_size: int = 3,
    hidden: int = 128,
    dropout: float = 0.5,
    pretrain_epochs: int = 0,
) -> CAEClassifier:
    """Build the CAE baseline (registry name ``cae``); see the module docstring."""
    chans = check_channels("cae", channels)
    check_int("cae", "kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise ConfigError(f"cae: kernel_size must be odd, got {kernel_size}")
    check_int("cae", "hidden", hidden)
    check_dropout("cae", dropout)
    check_int("cae", "pretrain_epochs", pretrain_epochs, low=0)
    return CAEClassifier(input_shape, num_classes, chans, kernel_size, hidden, float(dropout),
                         int(pretrain_epochs))
