"""Stacked LSTM baseline on raw windows: classify from the final hidden state."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harlab.errors import ConfigError


def check_int(model: str, name: str, value: object, low: int = 1) -> None:
    """Raise ConfigError unless ``value`` is an int >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{model}: {name} must be an integer >= {low}, got {value!r}")


def check_dropout(model: str, value: object) -> None:
    """Raise ConfigError unless ``value`` is a probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{model}: dropout must be in [0, 1), got {value!r}")


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
    if not isinstance(bidirectional, bool):
        raise ConfigError(f"lstm: bidirectional must be true or false, got {bidirectional!r}")
    return LSTMClassifier(input_shape[1], num_classes, hidden, layers, float(dropout),
                          bidirectional)
