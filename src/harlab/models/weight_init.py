"""Weight initialisation schemes selectable for any model (``train.init``).

``default`` keeps PyTorch's per-layer initialisation (Kaiming-uniform for conv and linear
layers). ``orthogonal`` follows the MRA-Net paper (He et al. 2019, Sect. 5.2: "all weights
and biases were randomly orthogonally initialized"): every conv and linear weight, and
every recurrent weight matrix, becomes a random (semi-)orthogonal matrix with gain 1 (a
conv kernel is read as ``out_channels x (in_channels * kernel size)``, as
``torch.nn.init.orthogonal_`` does). A bias is a vector, which has no orthogonal form, so
biases start at zero, as TensorFlow's layers start them. BatchNorm / LayerNorm scales and
shifts keep their identity start (1 and 0): they are not weight matrices.

The random draw uses torch's global generator, so a seeded run is reproducible.
"""

from __future__ import annotations

import torch
from torch import nn

from harlab.config import INITS, check_init

__all__ = ["INITS", "apply_init", "check_init"]

_MATRIX_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_RECURRENT = (nn.RNNBase,)


def _orthogonal_(param: torch.Tensor) -> None:
    """Fill ``param`` (under no_grad) with an orthogonal draw, keeping its memory format
    (channels_last weights cannot be viewed as the 2-D matrix ``orthogonal_`` fills, so
    the draw is made apart and copied in)."""
    fresh = torch.empty(param.shape, dtype=torch.float32, device=param.device)
    nn.init.orthogonal_(fresh)
    param.copy_(fresh)


@torch.no_grad()
def apply_init(model: nn.Module, init: str) -> int:
    """Re-initialise ``model``'s weights by the scheme ``init`` (checked: an unknown name is
    a ConfigError); returns how many weight tensors were drawn (0 for ``default``, which
    leaves the model untouched)."""
    check_init(init)
    if init == "default":
        return 0
    n = 0
    for module in model.modules():
        if isinstance(module, _MATRIX_LAYERS):
            _orthogonal_(module.weight)
            n += 1
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, _RECURRENT):
            for name, param in module.named_parameters(recurse=False):
                if name.startswith("weight"):
                    _orthogonal_(param)
                    n += 1
                elif name.startswith("bias"):
                    param.zero_()
    return n
