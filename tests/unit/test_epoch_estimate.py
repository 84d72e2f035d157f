"""The up-front epoch-time estimate: a few timed steps of the first epoch, a warning only
when the estimate exceeds the threshold (driven by a fake clock and trainer, no training)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from harlab.training import _EpochEstimate


class FakeClock:
    """Advances ``step_s`` seconds every time it is read."""

    def __init__(self, step_s: float) -> None:
        self.now, self.step_s = 0.0, step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


def drive(cb: _EpochEstimate, batches: int, run: int, batch_size: int = 128) -> None:
    trainer = SimpleNamespace(num_training_batches=batches, is_global_zero=True)
    batch = (torch.zeros(batch_size, 4, 2), torch.zeros(batch_size))
    for i in range(run):
        cb.on_train_batch_end(trainer, None, None, batch, i)
    cb.on_train_epoch_end(trainer, None)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "harlab" and r.levelno == logging.WARNING]


def test_slow_epoch_is_announced_once(caplog: pytest.LogCaptureFixture) -> None:
    # the clock is read once at the end of warm-up and once after 5 timed steps: 15 s apart,
    # i.e. 3 s per step of 128 windows; 440 batches -> 1320 s = 22 min > 10 min
    cb = _EpochEstimate(warmup=2, steps=5, threshold_s=600, clock=FakeClock(15.0))
    with caplog.at_level("WARNING", logger="harlab"):
        drive(cb, batches=440, run=20)
    assert cb.seconds == pytest.approx(1320.0)
    (line,) = warnings_of(caplog)
    assert line.startswith("estimated 22 min per epoch (42.7 windows/s at 128 per batch, "
                           "440 batches)")
    assert "model.options.channels" in line


def test_fast_epoch_is_recorded_but_not_announced(caplog: pytest.LogCaptureFixture) -> None:
    # 3 s per step, 100 batches -> 300 s: under the 600 s threshold
    cb = _EpochEstimate(warmup=2, steps=5, threshold_s=600, clock=FakeClock(15.0))
    with caplog.at_level("WARNING", logger="harlab"):
        drive(cb, batches=100, run=20)
    assert cb.seconds == pytest.approx(300.0)
    assert warnings_of(caplog) == []


def test_only_the_first_epoch_is_timed_and_short_epochs_give_none() -> None:
    clock = FakeClock(15.0)
    cb = _EpochEstimate(warmup=2, steps=5, clock=clock)
    drive(cb, batches=4, run=4)  # too few batches to time: no estimate
    assert cb.seconds is None
    drive(cb, batches=440, run=20)  # a later epoch is not timed
    assert cb.seconds is None
