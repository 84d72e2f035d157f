"""``harlab reproduce mranet``'s training options survive the override parser."""

from __future__ import annotations

import pytest

from harlab.config import load_config
from harlab.experiments.reproduce_mranet import training_overrides


@pytest.mark.parametrize("lr", [5e-5, 1e-3, 0.0003, 2.5e-7, 1e-10])
def test_paper_learning_rates_stay_numbers(lr: float) -> None:
    """The paper's lr 5e-5 printed as ``5e-05`` was read by YAML as a string, so
    ``--lr 5e-5`` failed with 'train.lr must be a finite number'."""
    over = training_overrides(epochs=400, patience=None, batch_size=128, lr=lr,
                              precision="32-true", init="orthogonal", max_time_s=90)
    cfg = load_config(None, over)
    assert cfg.train.lr == lr and cfg.train.max_epochs == 400 and cfg.train.patience is None
    assert cfg.train.max_time == "00:00:01:30" and cfg.train.init == "orthogonal"
