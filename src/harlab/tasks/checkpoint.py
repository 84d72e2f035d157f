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


def check_matches_run(run: Path, ckpt: Path, hp: dict[str, Any]) -> None:
    """Refuse (one line) a checkpoint whose model, dataset or channels are not those of
    run directory ``run`` (its ``config.yaml`` and ``data.json``): a file put there from
    another run."""
    import json

    from harlab.config import load_yaml, run_config

    run_config(run / "config.yaml")  # a damaged config is named as such, not as a mismatch
    cfg = load_yaml(run / "config.yaml")
    model = cfg.get("model") or {}
    theirs = {"model": hp.get("model_name"), "model options": dict(hp.get("model_options") or {}),
              "dataset": (hp.get("harlab") or {}).get("dataset")}
    mine = {"model": model.get("name"), "model options": dict(model.get("options") or {}),
            "dataset": (cfg.get("data") or {}).get("dataset")}
    try:
        data = json.loads((run / "data.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if isinstance(data, dict) and "channels" in data:
        theirs["channels"] = list((hp.get("harlab") or {}).get("channels") or [])
        mine["channels"] = list(data["channels"])
    for key, value in mine.items():
        if theirs[key] != value:
            raise CheckpointError(f"{ckpt} does not belong to run {run}: its {key} is "
                                  f"{theirs[key]}, the run's is {value} (a checkpoint of "
                                  "another run?)")


def load_run_module(run: Path, ckpt: Path, allow_unfinished: bool = False
                    ) -> tuple[Any, str | None]:
    """(module, warning) of checkpoint ``ckpt`` of run directory ``run``: the run must be
    complete (or ``allow_unfinished``: then the warning says why it is not) and the
    checkpoint must be the run's own (:func:`check_matches_run`)."""
    from harlab.runs import check_complete

    module = load_module(ckpt)
    check_matches_run(run, ckpt, dict(module.hparams))
    return module, check_complete(run, allow_unfinished)
