"""Rebuild a trained :class:`~harlab.tasks.classifier.WindowClassifier` from its checkpoint.

Reading the file safely (``weights_only=True``) is :func:`harlab.runs.read_checkpoint`'s
job; this module turns the stored hyperparameters back into a module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harlab.errors import CheckpointError
from harlab.runs import read_checkpoint


def load_module(path: str | Path) -> Any:
    """Rebuild the WindowClassifier stored in a checkpoint, in eval mode."""
    from harlab.tasks.classifier import WindowClassifier

    ckpt = read_checkpoint(path)
    hp = dict(ckpt["hyper_parameters"])
    try:
        module = WindowClassifier(**hp)
        module.load_state_dict(ckpt["state_dict"], strict=True)
    except (TypeError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path}: checkpoint does not match its model: {exc}") from None
    return module.eval()
