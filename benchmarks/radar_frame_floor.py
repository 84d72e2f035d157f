"""Share of frame pixels above the floor under each frame scaling (docs/results/mranet.md).

Usage: python benchmarks/radar_frame_floor.py FOLDER [RUN_DIR ...]

FOLDER is a radar frame folder; each RUN_DIR a run trained on it with
``data.frame_scale: train`` (its ``data.json`` holds the fitted ceiling and range). Prints
one line for the stored [0, 1] frames and one per run: the share of pixels above 0 (the
floor) over all frames of the folder, and over the frames whose maximum lies in the two
middle (0 m/s) rows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from harlab.radar.dataset import frame_files


def _stacks(folder: Path, levels: bool) -> np.ndarray:
    return np.concatenate([stack for stack, _ in frame_files(folder, levels)[1]])


def main(folder: str, *runs: str) -> None:
    root = Path(folder)
    stored = _stacks(root, levels=False)
    h = stored.shape[1]
    peak_rows = stored.reshape(len(stored), h, -1).max(axis=2).argmax(axis=1)
    middle = np.isin(peak_rows, (h // 2 - 1, h // 2))
    print(f"{root.name}: {len(stored)} frames, {middle.mean():.0%} with their maximum in the "
          f"two middle rows")
    print(f"  stored (per frame): {np.mean(stored > 0):.1%} of pixels above the floor")
    if not runs:
        return
    level = _stacks(root, levels=True)
    for run in runs:
        fit = json.loads((Path(run) / "data.json").read_text())["frame_scale"]
        floor = fit["ceiling_db"] - fit["range_db"]
        above = level > floor
        print(f"  train (ceiling {fit['ceiling_db']:.2f} dB = p{fit['percentile']:g}, range "
              f"{fit['range_db']:g} dB; {Path(run).name}): {above.mean():.1%} of pixels above "
              f"the floor, {np.mean(level > fit['ceiling_db']):.2%} at the ceiling")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(*sys.argv[1:])
