"""Class probabilities from a trained module: the one prediction path.

Training, evaluation, ``harlab predict``, streaming and the studies all score windows
through :func:`predict_heads`, so batching, bf16 autocast and the FLWL weight output are
handled in one place.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch

from harlab.hardware import reuse_freed_memory


def head_classes(module: Any) -> dict[str, list[str]]:
    """Class names of each head of a trained module, primary head (activity if any) first."""
    hp = module.hparams
    task = hp.get("task")
    if not task:
        return {"activity": list(hp["class_names"])}
    names = {"activity": list(hp["class_names"]), "identity": list(task["identity_names"])}
    return {h: names[h] for h in task["heads"]}


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for one with neither)."""
    first = next(itertools.chain(module.parameters(), module.buffers()), None)
    return torch.device("cpu") if first is None else first.device


def predict_heads(
    module: torch.nn.Module, x: np.ndarray, batch_size: int = 512, bf16: bool = False
) -> dict[str, np.ndarray]:
    """Per-head class probabilities for windows ``x`` (N, T, C), single process, eval mode.

    Keys are the module's heads (``activity`` for a single-task model) plus ``w`` (N, 2),
    the FLWL weights, when the model has that branch. The windows go to the module's
    device (where its parameters are: a module moved to a GPU scores there, with bf16
    autocast of that device). On the CPU, freed memory is kept for reuse
    (:func:`harlab.hardware.reuse_freed_memory`): scoring radar frames in batches of 256
    otherwise page-faults every activation in again (2.5x slower, mostly system time).
    """
    device = module_device(module)
    if device.type == "cpu":
        reuse_freed_memory()
    module.eval()
    out: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                enabled=bf16):
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], np.float32))
            res = module(xb.to(device))
            if not isinstance(res, dict):
                res = {"activity": res}
            for k, v in res.items():
                p = v.float() if k == "w" else torch.softmax(v.float(), dim=1)
                out.setdefault(k, []).append(p.cpu().numpy())
    if not out:
        heads = head_classes(module) if hasattr(module, "hparams") else {"activity": []}
        return {h: np.zeros((0, len(n)), np.float32) for h, n in heads.items()}
    return {k: np.concatenate(v) for k, v in out.items()}


def predict_proba(
    module: torch.nn.Module, x: np.ndarray, batch_size: int = 512, bf16: bool = False
) -> np.ndarray:
    """Class probabilities of the primary head (activity if present) for windows ``x``."""
    probs = predict_heads(module, x, batch_size, bf16)
    primary = next(iter(head_classes(module))) if hasattr(module, "hparams") else "activity"
    return probs[primary]
