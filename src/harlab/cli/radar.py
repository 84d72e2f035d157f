"""``harlab radar ...``: run the radar processing chain on real recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, help="Radar recordings: process real files.")
console = Console()


@app.command("process")
def process_file(
    file: Annotated[Path, typer.Argument(help="a Glasgow radar .dat file")],
    out: Annotated[Path, typer.Option(help="spectrogram PNG to write (must not exist)")],
    processing: Annotated[
        Path | None, typer.Option(help="YAML of radar processing options (ProcessingConfig)")
    ] = None,
    frames_out: Annotated[
        Path | None, typer.Option("--frames", help="also save the 100x150 frames as .npy")
    ] = None,
) -> None:
    """Process one radar file: spectrogram PNG (+ range-time PNG beside it, optional frames)."""
    from harlab.errors import DataError
    from harlab.radar.glasgow import read_dat
    from harlab.radar.processing import (
        ProcessingConfig,
        frames,
        plot_range_time,
        plot_spectrogram,
        process,
    )

    rt_path = out.with_name(out.stem + "_range_time.png")
    for p in (out, rt_path, frames_out):
        if p is not None and p.exists():
            raise DataError(f"{p} exists; choose another output file")
    cfg = ProcessingConfig.from_yaml(processing) if processing else ProcessingConfig()
    raw = read_dat(file)
    spec = process(raw, cfg)
    plot_spectrogram(spec, out)
    plot_range_time(spec, rt_path)
    stack = frames(spec, cfg)
    if frames_out is not None:
        import numpy as np

        frames_out.parent.mkdir(parents=True, exist_ok=True)
        np.save(frames_out, stack)
    p = raw.params
    console.print(
        f"{file}: {raw.n_pulses} sweeps x {p.samples_per_sweep} samples, PRF {p.prf_hz:g} Hz, "
        f"v_max {p.v_max_ms:.2f} m/s, activity {raw.activity}, person {raw.person}; "
        f"{len(stack)} frames; wrote {out} and {rt_path}"
    )
