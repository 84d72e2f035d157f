"""Stacked LSTM baseline on raw windows: classify from the final hidden state."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harlab.models.checks import check_bool, check_dropout, check_int


class LSTMClassifier(nn.Module):
    """LSTM over time -> dropout -> linear on the last layer's final hidden state(s)."""

    def __init__(self, channels: int, num_classes: int, hidden: int, layers: int,
                 dropout: float, bidirectional: bool) -> None:
        super().__init__()
        self.lstm = nn.LSTM(channels, hidden, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0, bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        _, (h, _) = self.lstm(x)
        # h: (layers * dirs, N, hidden); the last layer's states are the last 1 or 2 rows
        last = torch.cat(list(h[-2:]), dim=1) if self.lstm.bidirectional else h[-1]
        return self.fc(self.dropout(last))


def build_lstm(
    input_shape: tuple[int, int],
    num_classes: int,
    hidden: int = 128,
    layers: int = 2,
    dropout: float = 0.2,
    bidirectional: bool = False,
) -> LSTMClassifier:
    """Build the stacked-LSTM baseline for windows ``(T, C)``."""
    check_int("lstm", "hidden", hidden)
    check_int("lstm", "layers", layers)
    check_dropout("lstm", dropout)
    check_bool("lstm", "bidirectional", bidirectional)
    return LSTMClassifier(input_shape[1], num_classes, hidden, layers, float(dropout),
                          bidirectional)
