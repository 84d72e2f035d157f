"""DeepConvLSTM (Ordonez & Roggen 2016): 4 temporal conv layers + 2 LSTM layers.

As in the paper, the convolutions run along time only, separately on each sensor
channel (kernels of size k x 1 on the T x C window), each followed by ReLU; the LSTM
then reads, per time step, all filters of all sensor channels, and the class comes from
its last time step. Convolutions use the fast rows layout of :mod:`harlab.models.danhar`.
"""

from __future__ import annotations

from torch import Tensor, nn

from harlab.errors import ConfigError
from harlab.models.checks import check_dropout, check_int
from harlab.models.danhar import TimeConv


class DeepConvLSTM(nn.Module):
    """(N, T, C) -> 4 x [conv(k x 1) + ReLU] -> LSTM x layers -> dropout -> linear."""

    def __init__(self, input_shape: tuple[int, int], num_classes: int, filters: int,
                 kernel_size: int, lstm_hidden: int, lstm_layers: int, dropout: float) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            TimeConv(1 if i == 0 else filters, filters, kernel_size) for i in range(4)
        )
        self.lstm = nn.LSTM(filters * input_shape[1], lstm_hidden, lstm_layers,
                            batch_first=True, dropout=dropout if lstm_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(lstm_hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        n, t, c = x.shape
        h = x.transpose(1, 2).reshape(n * c, t, 1)  # one row per (window, sensor channel)
        for conv in self.convs:
            h = conv(h).relu()
        tp, f = h.shape[1], h.shape[2]
        h = h.view(n, c, tp, f).transpose(1, 2).reshape(n, tp, c * f)
        out, _ = self.lstm(self.dropout(h))
        return self.fc(self.dropout(out[:, -1]))


def build_deepconvlstm(
    input_shape: tuple[int, int],
    num_classes: int,
    filters: int = 64,
    kernel_size: int = 5,
    lstm_hidden: int = 128,
    lstm_layers: int = 2,
    dropout: float = 0.5,
) -> DeepConvLSTM:
    """Build DeepConvLSTM for windows ``(T, C)`` (needs T >= 4 * (kernel_size - 1) + 1)."""
    for name, value in (("filters", filters), ("kernel_size", kernel_size),
                        ("lstm_hidden", lstm_hidden), ("lstm_layers", lstm_layers)):
        check_int("deepconvlstm", name, value)
    check_dropout("deepconvlstm", dropout)
    need = 4 * (kernel_size - 1) + 1
    if input_shape[0] < need:
        raise ConfigError(
            f"deepconvlstm: window length {input_shape[0]} is too short for 4 convolutions "
            f"with kernel_size {kernel_size}; the minimum is {need}"
        )
    return DeepConvLSTM(input_shape, num_classes, filters, kernel_size, lstm_hidden,
                        lstm_layers, float(dropout))
