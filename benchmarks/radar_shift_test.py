"""How much do trained radar models lose when their test frames move a few pixels? JSON.

Usage: ``python benchmarks/radar_shift_test.py RUN_DIR [RUN_DIR ...] [--time 4,8,16]
[--doppler 1,2,4,8]``

Each RUN_DIR is a finished run on a radar frame folder (``harlab cv`` writes one per fold
and seed). Its best checkpoint scores its own test frames unshifted and moved by +/- each
shift (``harlab.evaluation.shift``); printed per run with each head's macro-F1 lost at
each shift (``time_loss`` / ``doppler_loss``: clean minus the mean of the + and - shift).
docs/results/mranet.md, "Why does MRA-Net lose to dcnn5: depth or parameters?", reads it.
"""

from __future__ import annotations

import argparse
import json
import sys

from harlab.errors import HarlabError
from harlab.evaluation.shift import run_shift_test


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _losses(res: dict, axis: str, shifts: list[int], key: str) -> dict[str, float]:
    """Score ``key`` lost at each shift: clean minus the mean of the + and - shift."""
    return {str(s): round(res["clean"][key] - (res[axis][str(s)][key]
                                               + res[axis][str(-s)][key]) / 2, 4)
            for s in shifts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="finished radar frame run directories")
    ap.add_argument("--time", type=_ints, default=[4, 8, 16], help="time shifts (columns)")
    ap.add_argument("--doppler", type=_ints, default=[1, 2, 4, 8], help="Doppler shifts (bins)")
    args = ap.parse_args()
    out = []
    for run in args.runs:
        try:
            res = run_shift_test(run, [s * k for s in args.time for k in (1, -1)],
                                 [s * k for s in args.doppler for k in (1, -1)])
        except HarlabError as exc:  # one line, exit code 2, no traceback
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        for axis, shifts in (("time", args.time), ("doppler", args.doppler)):
            res[f"{axis}_loss"] = {key.removesuffix("_macro_f1"): _losses(res, axis, shifts, key)
                                   for key in res["clean"] if key.endswith("_macro_f1")}
        out.append(res)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
