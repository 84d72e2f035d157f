"""How much person identity do single radar frames carry? Linear probes; prints JSON.

A frame dataset (``harlab simulate radar --out DIR`` or any frame folder) is split as
``harlab reproduce mranet`` splits it (the stratified recording split, fold 0 of
``--folds``; its training and validation parts train the probe) and probed with z-score +
PCA + logistic regression on two feature sets (``harlab.evaluation.probe``): pooled
pixels and phase/direction-invariant features (Doppler profile, folded profile,
modulation spectrum). Identity over all frames, activity, and identity within each
activity. Chance macro-F1 for P persons is about 1/P.

This is the acceptance check for the simulator's between-person differences: the paper's
real radar data give 95.9 % identity F1 with MRA-Net, so a simulated dataset whose frames
are close to chance here cannot show the paper's identification results.

Usage: ``python benchmarks/radar_identity_probe.py DIR [--folds 5] [--components 100]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from harlab.data.splits import frame_split
from harlab.errors import HarlabError
from harlab.evaluation.probe import frame_probe
from harlab.radar.dataset import label_order, read_frames_dataset, read_metadata


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="frame dataset folder")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--components", type=int, default=100)
    args = ap.parse_args()
    t0 = time.perf_counter()
    try:
        stack, table = read_frames_dataset(args.data)
        names = table["activity"].astype(str).to_numpy()
        activities = label_order(names, read_metadata(args.data).get("classes"))
        act = np.array([activities.index(a) for a in names])
        per = np.unique(table["person"].astype(str).to_numpy(), return_inverse=True)[1]
        sp = frame_split(act, per, table["recording"].astype(str).to_numpy(), args.folds)
        out = {"data": str(args.data), "activities": len(activities)}
        out.update(frame_probe(np.ascontiguousarray(stack.transpose(0, 2, 1)), act, per,
                               np.sort(np.concatenate([sp.train, sp.val])), sp.test,
                               activities, components=args.components))
    except HarlabError as exc:  # a bad folder or too few recordings: one line, no traceback
        sys.exit(f"error: {exc}")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
