"""``harlab simulate``: the person-specific radar simulator's command group.

``harlab simulate persons`` prints the default simulated subjects (MRA-Net Table 2) and
their seeded motion styles. Heavy imports stay inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harlab.cli.common import parse_names

app = typer.Typer(no_args_is_help=True, help="Simulate person-specific radar data (MRA-Net).")
console = Console()


@app.command()
def persons() -> None:
    """Show the default simulated persons: body, walking/running speeds and drawn styles."""
    from harlab.radar.simulate import DEFAULT_PERSONS

    table = Table(title="default simulated persons (MRA-Net Table 2, Latin-hypercube styles)")
    cols = ("name", "gender", "height m", "weight kg", "walk m/s", "rv", "walk stride Hz",
            "arm swing", "bounce", "run m/s", "run stride Hz", "punch /s", "guard deg",
            "jump vx m/s", "crouch s", "circle r m", "circle m/s")
    for c in cols:
        table.add_column(c, justify="left" if c in ("name", "gender") else "right")
    for p in DEFAULT_PERSONS:
        stride = p.walk_rv**0.5 / 1.346 * p.cadence_scale
        table.add_row(
            p.name, p.gender, f"{p.height_m:.2f}", f"{p.weight_kg:.0f}",
            f"{p.walk_speed_ms:.2f}", f"{p.walk_rv:.2f}", f"{stride:.2f}",
            f"{p.arm_swing:.2f}", f"{p.bounce:.2f}", f"{p.run_speed_ms:.2f}",
            f"{p.run_stride_hz:.2f}", f"{p.punch_rate_hz:.2f}", f"{p.guard_shoulder_deg:.0f}",
            f"{p.jump_vx_ms:.2f}", f"{p.jump_crouch_s:.2f}", f"{p.circle_radius_m:.2f}",
            f"{p.circle_speed_ms:.2f}",
        )
    console.print(table)


@app.command("radar")
def radar(
    out: Annotated[Path, typer.Option(help="new folder for the frame dataset (must not exist)")],
    persons: Annotated[
        str | None, typer.Option(help="comma-separated person names (default: all, sub1..sub6)")
    ] = None,
    activities: Annotated[
        str | None, typer.Option(help="comma-separated activities (default: all five)")
    ] = None,
    seed: Annotated[int, typer.Option(help="simulation seed")] = 0,
    snr: Annotated[
        float | None, typer.Option(help="SNR in dB (default: drawn from 20-35 dB per recording)")
    ] = None,
    workers: Annotated[int, typer.Option(help="simulation processes")] = 2,
    recordings: Annotated[
        int | None,
        typer.Option(help="recordings per person x activity (default: MRA-Net Table 3 counts)"),
    ] = None,
    duration: Annotated[float | None, typer.Option(help="seconds per recording")] = None,
    processing: Annotated[
        Path | None, typer.Option(help="YAML of radar processing options (ProcessingConfig)")
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(help="tiny dataset: 2 persons, 1 recording of 3.5 s per activity"),
    ] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no progress bar")] = False,
) -> None:
    """Simulate raw radar recordings and write the processed frame dataset to OUT.

    OUT gets one .npy stack of 100x150 frames per recording, labels.csv, dataset.json and
    figures/ with a spectrogram, range-time map and frames of one recording per activity.
    Load it for training with dataset radar_frames (path OUT).
    """
    from harlab.errors import ConfigError, unknown_name
    from harlab.radar.dataset import write_frames_dataset
    from harlab.radar.processing import ProcessingConfig
    from harlab.radar.simulate import (
        ACTIVITIES,
        DEFAULT_PERSONS,
        SimulationConfig,
        simulate_dataset,
    )

    by_name = {p.name: p for p in DEFAULT_PERSONS}
    wanted = parse_names(persons) or ([p.name for p in DEFAULT_PERSONS[:2]] if quick else None)
    chosen = list(DEFAULT_PERSONS)
    if wanted is not None:
        for name in wanted:
            if name not in by_name:
                raise unknown_name("person", name, by_name)
        chosen = [by_name[n] for n in wanted]
    acts = tuple(parse_names(activities) or ACTIVITIES)
    kwargs: dict = {"persons": chosen, "activities": acts, "seed": seed}
    if snr is not None:
        kwargs["snr_db"] = snr
    if quick:
        kwargs["recordings_per_cell"] = 1
        kwargs["duration_s"] = 3.5
    if recordings is not None:
        if recordings < 1:
            raise ConfigError(f"--recordings must be >= 1, got {recordings}")
        kwargs["recordings_per_cell"] = recordings
    if duration is not None:
        kwargs["duration_s"] = duration
    sim_cfg = SimulationConfig(**kwargs)
    cfg = ProcessingConfig.from_yaml(processing) if processing else ProcessingConfig()
    raws = simulate_dataset(sim_cfg, workers=workers, progress=not no_progress)
    summary = write_frames_dataset(raws, out, cfg, progress=False, figures=True)
    console.print(
        f"wrote {summary['n_frames']} frames from {summary['n_recordings']} recordings "
        f"({len(summary['persons'])} persons x {len(summary['classes'])} activities) to {out}"
    )
    if summary["dropped"]["recordings_too_short"]:
        console.print(
            f"[yellow]{summary['dropped']['recordings_too_short']} recordings were too short "
            "for one frame and were not written[/yellow]"
        )
    console.print(json.dumps(summary["counts"]))
    console.print(f"figures (one recording per activity): {out / 'figures'}")
