"""Shared helpers of the model tests (also used by tests/tasks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

from harlab.hardware import TIME_CONV_ENV

# small but complete variants of the registered models, to keep the tests fast
TINY = {
    "danhar": {"channels": (8, 8, 8)},
    "danhar_cnn": {"channels": (8, 8, 8)},
    "resnet": {"channels": (8, 8, 8)},
    "cnn": {"channels": (8, 8, 8)},
    "deepconvlstm": {"filters": 8, "lstm_hidden": 16},
    "lstm": {"hidden": 16},
    "mranet": {"channels": (4, 8, 8)},
    "dcnn3": {"channels": (4, 8, 8), "hidden": 16},
    "dcnn5": {"channels": (4, 4, 8, 8, 8), "hidden": 16},
    "cae": {"channels": (4, 4, 4), "hidden": 16},
    "jmi_cnn": {"channels": (4, 8, 8)},
}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models run fastest, and immune to a busy machine, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fit_losses(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int
) -> list[float]:
    """Cross-entropy losses of ``steps`` Adam steps on one batch (first to last)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.fixture(params=["gemm", "onednn"])
def conv_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of running the time convolutions on the CPU (``$HARLAB_TIME_CONV``)."""
    monkeypatch.setenv(TIME_CONV_ENV, request.param)
    return request.param
