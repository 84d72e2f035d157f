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

from harlab.cli.common import NoProgress

app = typer.Typer(no_args_is_help=True, help="Simulate person-specific radar data (MRA-Net).")
console = Console()


@app.command()
def persons() -> None:
    """Show the default simulated persons: body, walking/running speeds and drawn styles."""
    from harlab.radar.simulate import DEFAULT_PERSONS

    # one row per setting (label, format, attribute), one column per person: fits 80
    # columns, where a row per person cut every cell; a rule between the activities
    groups = [
        [("gender", "", "gender"), ("height m", ".2f", "height_m"),
         ("weight kg", ".0f", "weight_kg")],
        [("walk m/s", ".2f", "walk_speed_ms"), ("walk rv", ".2f", "walk_rv"),
         ("walk stride Hz", ".2f", "walk_stride_hz"), ("arm swing", ".2f", "arm_swing"),
         ("bounce", ".2f", "bounce")],
        [("run m/s", ".2f", "run_speed_ms"), ("run stride Hz", ".2f", "run_stride_hz")],
        [("punch /s", ".2f", "punch_rate_hz"), ("guard deg", ".0f", "guard_shoulder_deg")],
        [("jump vx m/s", ".2f", "jump_vx_ms"), ("crouch s", ".2f", "jump_crouch_s")],
        [("circle r m", ".2f", "circle_radius_m"), ("circle m/s", ".2f", "circle_speed_ms")],
    ]
    table = Table(title="default simulated persons (MRA-Net Table 2, Latin-hypercube styles)")
    table.add_column("", no_wrap=True)
    for p in DEFAULT_PERSONS:
        table.add_column(p.name, justify="right", no_wrap=True)
    for group in groups:
        for i, (label, fmt, attr) in enumerate(group):
            table.add_row(label, *(format(getattr(p, attr), fmt) for p in DEFAULT_PERSONS),
                          end_section=i == len(group) - 1)
    console.print(table)


# the longer options of `harlab simulate radar`, named here so that the command stays short
ConfigYaml = Annotated[
    Path | None,
    typer.Option(
        help="SimulationConfig YAML (e.g. configs/radar/simulate_default.yaml); the "
        "options below override its values where given"
    ),
]
PersonNames = Annotated[
    str | None,
    typer.Option(help="comma-separated person names (default: all of the config's, "
                 "else sub1..sub6)"),
]
Snr = Annotated[
    str | None,
    typer.Option(help="SNR in dB: a number, LOW,HIGH (drawn per recording) or none (no "
                 "noise); default: the config's, else 20,35"),
]
Waveform = Annotated[
    str | None,
    typer.Option(
        help="pulsed | fmcw (FMCW without its own settings: sweep 1/PRF, power-of-two "
        "samples per sweep covering range_stop_m, range_start_m 0)"
    ),
]
GroundBounce = Annotated[
    bool | None,
    typer.Option("--ground-bounce/--no-ground-bounce",
                 help="add floor-bounce image scatterers (default: the config's, else off)"),
]
Clutter = Annotated[
    bool | None,
    typer.Option("--clutter/--no-clutter",
                 help="static clutter and Tx/Rx coupling (default: the config's, else on)"),
]
Jitter = Annotated[
    float | None,
    typer.Option(help="per-recording style jitter, a fraction in [0, 0.5): each "
                 "recording's speed, cadence, arm swing... vary by up to ± this around "
                 "the person's own (default: the config's, else 0.04)"),
]


def _print_summary(summary: dict, out: Path, sim_file: str) -> None:
    """What was written: frames, recordings, persons x activities, dropped recordings,
    counts per cell, and where the settings and figures are."""
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
    console.print(f"simulation settings: {out / sim_file}")
    console.print(f"figures (one recording per activity): {out / 'figures'}")


@app.command("radar")
def radar(
    out: Annotated[Path, typer.Option(help="new folder for the frame dataset (must not exist)")],
    config: ConfigYaml = None,
    persons: PersonNames = None,
    activities: Annotated[
        str | None, typer.Option(help="comma-separated activities (default: all five)")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="simulation seed (default: the config's, else 0)")
    ] = None,
    snr: Snr = None,
    workers: Annotated[int, typer.Option(help="simulation processes")] = 2,
    recordings: Annotated[
        int | None,
        typer.Option(help="recordings per person x activity (default: MRA-Net Table 3 counts)"),
    ] = None,
    duration: Annotated[float | None, typer.Option(help="seconds per recording")] = None,
    prf: Annotated[
        float | None, typer.Option("--prf", help="pulse (chirp) repetition frequency in Hz")
    ] = None,
    waveform: Waveform = None,
    ground_bounce: GroundBounce = None,
    clutter: Clutter = None,
    jitter: Jitter = None,
    processing: Annotated[
        Path | None, typer.Option(help="YAML of radar processing options (ProcessingConfig)")
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(help="tiny dataset: 2 persons, 1 recording of 3.5 s per activity"),
    ] = False,
    no_progress: NoProgress = False,
) -> None:
    """Simulate raw radar recordings and write the processed frame dataset to OUT.

    OUT gets one .npy stack of 100x150 frames per recording, labels.csv, dataset.json,
    harlab_simulation.json (every simulation setting used: persons and styles, radar,
    SNR, clutter, ground bounce, seed) and figures/ with a spectrogram, range-time map and
    frames of one recording per activity. Load it for training with dataset radar_frames
    (path OUT).
    """
    from harlab.errors import DataError
    from harlab.radar.dataset import write_frames_dataset
    from harlab.radar.options import settings_line, simulation_config
    from harlab.radar.processing import ProcessingConfig
    from harlab.radar.simulate import SIM_FILE, simulate_dataset

    if out.exists() or out.is_symlink():  # before minutes of simulation, not after
        raise DataError(f"--out {out}: exists; give a folder that does not exist yet")
    sim_cfg = simulation_config(
        config, persons, activities, seed, snr, recordings, duration, prf, waveform,
        ground_bounce, clutter, quick, jitter=jitter,
    )
    cfg = ProcessingConfig.from_yaml(processing) if processing else ProcessingConfig()
    console.print(settings_line(sim_cfg), highlight=False)
    raws = simulate_dataset(sim_cfg, workers=workers, progress=not no_progress)
    summary = write_frames_dataset(raws, out, cfg, progress=False, figures=True,
                                   extra_files={SIM_FILE: sim_cfg.to_json()})
    _print_summary(summary, out, SIM_FILE)
