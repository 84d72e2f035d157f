"""How much person identity do single radar frames carry? Linear probes; prints JSON.

A frame dataset (``harlab simulate radar --out DIR`` or any frame folder) is split by
``harlab reproduce mranet``'s own ``make_folds`` (recording protocol, fold 0 of
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

from harlab.errors import HarlabError
from harlab.evaluation.probe import frame_probe
from harlab.experiments.reproduce_mranet import load_frames, make_folds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="frame dataset folder")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--components", type=int, default=100)
    args = ap.parse_args()
    t0 = time.perf_counter()
    try:
        fr = load_frames(args.data)
        tr, va, te = make_folds(fr, args.folds, "recording", seed=0, val_fraction=0.2)[0]
        out = {"data": str(args.data), "activities": len(fr.activities)}
        out.update(frame_probe(fr.x, fr.activity, fr.person, np.sort(np.concatenate([tr, va])), te,
                               fr.activities, components=args.components))
    except HarlabError as exc:  # a bad folder or too few recordings: one line, no traceback
        sys.exit(f"error: {exc}")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
