"""How much of each frame survives the dB floor, and where each frame's maximum lies.

Real measured FMCW spectrograms without clutter suppression have their 0-Hz clutter line
at each frame's maximum, so a per-frame 40 dB floor keeps only a few per cent of the
pixels. This script simulates ``--recordings`` recordings per activity of the first
``--persons`` persons of a simulation YAML, processes them with a processing YAML, and
prints JSON: ``above_floor`` = fraction of frame pixels above the floor (value > 0),
``max_at_zero_doppler`` = fraction of frames whose maximum lies in a row within
``--zero-ms`` m/s of 0 (measured on the spectrogram before resizing), per activity and in
all, plus the configs used.

Usage: ``python benchmarks/radar_realism.py --config configs/radar/simulate_realistic.yaml
--processing configs/radar/processing_realistic.yaml [--persons 2] [--recordings 1]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from harlab.radar.processing import ProcessingConfig, frame_starts, frames, process
from harlab.radar.simulate import SimulationConfig, simulate_dataset


def _max_rows_at_zero(spec, cfg: ProcessingConfig, zero_ms: float) -> np.ndarray:
    """Per frame: is the frame's maximum in a row with ``|v| <= zero_ms``?"""
    starts, n_cols = frame_starts(spec.magnitude.shape[1], spec.column_s, cfg)
    out = []
    for s in starts:
        block = spec.magnitude[:, s:s + n_cols]
        row = np.unravel_index(int(np.argmax(block)), block.shape)[0]
        out.append(abs(spec.velocity_ms[row]) <= zero_ms)
    return np.array(out, bool)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/radar/simulate_default.yaml")
    ap.add_argument("--processing", default="configs/radar/processing_default.yaml")
    ap.add_argument("--persons", type=int, default=2)
    ap.add_argument("--recordings", type=int, default=1)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--zero-ms", type=float, default=0.1)
    ap.add_argument("--set", action="append", default=[],
                    help="processing override key=value (YAML value), repeatable")
    args = ap.parse_args()
    import yaml

    sim = SimulationConfig.from_yaml(args.config)
    sim = dataclasses.replace(sim, persons=sim.persons[:args.persons],
                              recordings_per_cell=args.recordings, duration_s=args.duration)
    proc = ProcessingConfig.from_yaml(args.processing).to_dict()
    for item in args.set:
        key, _, value = item.partition("=")
        proc[key] = yaml.safe_load(value)
    cfg = ProcessingConfig.from_dict(proc)
    per: dict[str, list[tuple[float, float, int]]] = {}
    for raw in simulate_dataset(sim, workers=1, progress=False):
        spec = process(raw, cfg)
        stack = frames(spec, cfg)
        at_zero = _max_rows_at_zero(spec, cfg, args.zero_ms)
        per.setdefault(raw.activity, []).append(
            (float((stack > 0).mean()), float(at_zero.mean()), len(stack)))
    def agg(rows: list[tuple[float, float, int]]) -> dict[str, float]:
        w = np.array([r[2] for r in rows], float)
        return {"above_floor": round(float(np.average([r[0] for r in rows], weights=w)), 4),
                "max_at_zero_doppler": round(float(np.average([r[1] for r in rows],
                                                              weights=w)), 4),
                "frames": int(w.sum())}
    everything = [r for rows in per.values() for r in rows]
    print(json.dumps({"config": args.config, "processing": proc,
                      "persons": args.persons, "recordings": args.recordings,
                      "duration_s": args.duration, "all": agg(everything),
                      "per_activity": {a: agg(r) for a, r in per.items()}}, indent=1))


if __name__ == "__main__":
    main()
