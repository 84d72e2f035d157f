"""Receptive field of a radar model's conv trunk, measured on the model itself; prints JSON.

Usage: ``python benchmarks/receptive_field.py MODEL [--options JSON] [--frame T,C]``

Builds the registered MODEL (``mranet``, ``dcnn3``, ``dcnn5``: the models whose trunk is
``blocks`` or ``features``) untrained, in eval mode, for frames of T time columns by C
Doppler bins, and back-propagates the centre position of its last feature map to 16 random
frames. The rows and columns with a non-zero gradient in any of them are the pixels that
position can see: its receptive field, attention masks and padding included.
docs/results/mranet.md ("Why does MRA-Net lose to dcnn5: depth or parameters?") relates it
to the frame size.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from harlab.errors import HarlabError
from harlab.models.registry import build_model


def _extent(mask: torch.Tensor) -> int:
    idx = mask.nonzero().flatten()
    return int(idx.max() - idx.min() + 1) if len(idx) else 0


def receptive_field(name: str, options: dict, frame: tuple[int, int]) -> dict:
    """Feature-map shape and receptive field (Doppler rows, time columns) of ``name``."""
    model = build_model(name, frame, 5, **options).eval()
    trunk = getattr(model, "blocks", None) or getattr(model, "features", None)
    if trunk is None:
        raise HarlabError(f"model {name!r} has no conv trunk (blocks or features) to measure")
    x = torch.rand((16, *frame), generator=torch.Generator().manual_seed(0),
                   requires_grad=True)
    fmap = trunk(x.transpose(1, 2).unsqueeze(1))  # (16, channels, Doppler, time)
    h, w = fmap.shape[-2:]
    fmap[:, :, h // 2, w // 2].sum().backward()
    grad = x.grad.abs().sum(0).T  # (Doppler, time); over 16 frames, as max-pooling and
    # ReLU pass the gradient to the inputs that won in each frame only
    return {"model": name, "options": options, "frame_time_doppler": list(frame),
            "parameters": sum(p.numel() for p in model.parameters()),
            "feature_map": list(fmap.shape[1:]), "rf_doppler": _extent(grad.sum(1) > 0),
            "rf_time": _extent(grad.sum(0) > 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--options", default="{}", help="model options as JSON")
    ap.add_argument("--frame", default="150,100", help="T,C: time columns, Doppler bins")
    args = ap.parse_args()
    try:
        frame = tuple(int(v) for v in args.frame.split(","))
        assert len(frame) == 2
    except (ValueError, AssertionError):
        sys.exit(_fail(f"--frame must be T,C (two integers), got {args.frame!r}"))
    try:
        options = json.loads(args.options)
    except ValueError as exc:
        sys.exit(_fail(f"--options is not JSON: {exc}"))
    try:
        print(json.dumps(receptive_field(args.model, options, frame)))  # type: ignore[arg-type]
    except HarlabError as exc:
        sys.exit(_fail(str(exc)))


def _fail(message: str) -> int:
    """One line on stderr, exit code 2, no traceback."""
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    main()
