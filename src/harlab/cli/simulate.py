"""``harlab simulate``: the person-specific radar simulator's command group.

``harlab simulate persons`` prints the default simulated subjects (MRA-Net Table 2) and
their seeded motion styles. Heavy imports stay inside the commands.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from harlab.cli.common import NoProgress, parse_names

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


WAVEFORMS = ("pulsed", "fmcw")


def _positive(value: object, default: float) -> float | None:
    """``value`` (``default`` when None) as a positive finite float, else None (the config's
    own validation then reports the bad value)."""
    try:
        v = float(default if value is None else value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _radar_overrides(
    data: dict, prf: float | None, waveform: str | None, where: str = ""
) -> dict:
    """The YAML dict with ``--prf`` / ``--waveform`` applied and FMCW gaps filled.

    Switching the waveform drops the old waveform's ``range_start_m`` (and, for pulsed,
    the sweep fields) so that the new one's defaults apply. An FMCW radar without its own
    values gets ``range_start_m`` 0 (the simulator's FMCW beat has no range offset, while
    processing adds ``range_start_m`` to every bin), ``sweep_s = 1 / PRF`` and the smallest
    power-of-two ``samples_per_sweep`` whose processed half (``n / 2`` bins of ``c / 2B``)
    reaches ``range_stop_m``.
    """
    from harlab.errors import ConfigError, unknown_name
    from harlab.radar.types import SPEED_OF_LIGHT, RadarParams

    if waveform is not None and waveform not in WAVEFORMS:
        raise unknown_name("waveform", waveform, WAVEFORMS)
    rd = data.get("radar", {})
    if not isinstance(rd, dict):
        if prf is None and waveform is None:
            return data  # from_dict reports the malformed radar entry
        raise ConfigError(f"{where}radar must be a mapping of radar parameters, got {rd!r}")
    rd = dict(rd)
    if prf is not None:
        rd["prf_hz"] = prf
    if waveform is not None and waveform != rd.get("waveform", "pulsed"):
        rd["waveform"] = waveform
        rd.pop("range_start_m", None)
        if waveform == "pulsed":
            rd.pop("sweep_s", None)
            rd.pop("samples_per_sweep", None)
    if rd.get("waveform") == "fmcw":
        rd.setdefault("range_start_m", 0.0)
        defaults = RadarParams()
        prf_hz = _positive(rd.get("prf_hz"), defaults.prf_hz)
        if rd.get("sweep_s") is None and prf_hz:
            rd["sweep_s"] = 1.0 / prf_hz
        bandwidth = _positive(rd.get("bandwidth_hz"), defaults.bandwidth_hz)
        stop = _positive(data.get("range_stop_m"), 8.0)
        if rd.get("samples_per_sweep") is None and bandwidth and stop:
            bins = 2 * stop / (SPEED_OF_LIGHT / (2 * bandwidth))
            rd["samples_per_sweep"] = max(16, 2 ** math.ceil(math.log2(bins)))
    if rd or "radar" in data:
        data = {**data, "radar": rd}
    return data


NO_NOISE = ("none", "off", "inf")


def parse_snr(text: str | float) -> float | tuple[float, float] | None:
    """``--snr``: a number of dB, ``LOW,HIGH`` (or ``LOW:HIGH``; drawn per recording) or
    ``none`` (no noise, returned as None)."""
    from harlab.errors import ConfigError

    if isinstance(text, int | float):
        return float(text)
    t = text.strip().lower()
    if t in NO_NOISE:
        return None
    parts = t.replace(":", ",").split(",")
    try:
        values = [float(v) for v in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"--snr must be a number of dB, LOW,HIGH or none; got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def simulation_config(
    config: Path | None = None,
    persons: str | None = None,
    activities: str | None = None,
    seed: int | None = None,
    snr: str | float | None = None,
    recordings: int | None = None,
    duration: float | None = None,
    prf: float | None = None,
    waveform: str | None = None,
    ground_bounce: bool | None = None,
    clutter: bool | None = None,
    quick: bool = False,
    jitter: float | None = None,
) -> Any:
    """The SimulationConfig of ``harlab simulate radar``: the YAML (or the defaults), then
    ``--quick``, then each option that was given. ``persons`` picks among the config's."""
    from harlab.errors import ConfigError, HarlabError, unknown_name
    from harlab.radar.simulate import SimulationConfig

    data: dict = {}
    if config is not None:
        from harlab.config import load_yaml

        data = load_yaml(config)
    where = f"{config}: " if config is not None else ""
    data = _radar_overrides(data, prf, None if waveform is None else waveform.lower(), where)
    try:
        sim = SimulationConfig.from_dict(data)
    except HarlabError as exc:
        raise type(exc)(f"{where}{exc}") from None
    except (TypeError, ValueError) as exc:  # e.g. a list or null where a number belongs
        raise ConfigError(f"{where}invalid simulation config: {exc}") from None
    changes: dict[str, Any] = {}
    by_name = {p.name: p for p in sim.persons}
    wanted = parse_names(persons) or ([p.name for p in sim.persons[:2]] if quick else None)
    if wanted is not None:
        for name in wanted:
            if name not in by_name:
                raise unknown_name("person", name, by_name)
        changes["persons"] = [by_name[n] for n in wanted]
    acts = parse_names(activities)
    if acts is not None:
        changes["activities"] = tuple(acts)
    if seed is not None:
        changes["seed"] = seed
    if snr is not None:
        changes["snr_db"] = parse_snr(snr)
    if quick:
        changes["recordings_per_cell"] = 1
        changes["duration_s"] = 3.5
    if recordings is not None:
        if recordings < 1:
            raise ConfigError(f"--recordings must be >= 1, got {recordings}")
        changes["recordings_per_cell"] = recordings
    if duration is not None:
        changes["duration_s"] = duration
        # Table-3-sized counts were sized for the old duration: re-size them (frame totals
        # per cell stay near the paper's) unless the counts were set explicitly
        if "recordings_per_cell" not in changes and duration > 0:
            from harlab.radar.simulate import paper_recordings_per_cell

            if sim.recordings_per_cell == paper_recordings_per_cell(sim.duration_s):
                changes["recordings_per_cell"] = paper_recordings_per_cell(duration)
    if ground_bounce is not None:
        changes["ground_bounce"] = ground_bounce
    if clutter is not None:
        changes["clutter"] = clutter
    if jitter is not None:
        changes["jitter"] = jitter
    try:
        return dataclasses.replace(sim, **changes)
    except HarlabError as exc:
        raise type(exc)(f"{where}{exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}invalid simulation settings: {exc}") from None


def _settings_line(sim: Any) -> str:
    r = sim.radar
    extra = (f", {r.samples_per_sweep} samples per {r.sweep_s * 1e3:.3g} ms sweep"
             if r.waveform == "fmcw" else "")
    snr = sim.snr_db
    snr_text = ("no noise" if snr is None else
                f"SNR {snr[0]:g}-{snr[1]:g} dB" if isinstance(snr, tuple) else f"SNR {snr:g} dB")
    return (f"radar: {r.waveform}, PRF {r.prf_hz:g} Hz{extra}, carrier {r.carrier_hz / 1e9:g} GHz, "
            f"bandwidth {r.bandwidth_hz / 1e9:g} GHz; {snr_text}; "
            f"clutter {'on' if sim.clutter else 'off'}, "
            f"ground bounce {'on' if sim.ground_bounce else 'off'}; "
            f"jitter ±{sim.jitter * 100:g}% per recording; seed {sim.seed}")


@app.command("radar")
def radar(
    out: Annotated[Path, typer.Option(help="new folder for the frame dataset (must not exist)")],
    config: Annotated[
        Path | None,
        typer.Option(
            help="SimulationConfig YAML (e.g. configs/radar/simulate_default.yaml); the "
            "options below override its values where given"
        ),
    ] = None,
    persons: Annotated[
        str | None,
        typer.Option(help="comma-separated person names (default: all of the config's, "
                     "else sub1..sub6)"),
    ] = None,
    activities: Annotated[
        str | None, typer.Option(help="comma-separated activities (default: all five)")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="simulation seed (default: the config's, else 0)")
    ] = None,
    snr: Annotated[
        str | None,
        typer.Option(help="SNR in dB: a number, LOW,HIGH (drawn per recording) or none (no "
                     "noise); default: the config's, else 20,35"),
    ] = None,
    workers: Annotated[int, typer.Option(help="simulation processes")] = 2,
    recordings: Annotated[
        int | None,
        typer.Option(help="recordings per person x activity (default: MRA-Net Table 3 counts)"),
    ] = None,
    duration: Annotated[float | None, typer.Option(help="seconds per recording")] = None,
    prf: Annotated[
        float | None, typer.Option("--prf", help="pulse (chirp) repetition frequency in Hz")
    ] = None,
    waveform: Annotated[
        str | None,
        typer.Option(
            help="pulsed | fmcw (FMCW without its own settings: sweep 1/PRF, power-of-two "
            "samples per sweep covering range_stop_m, range_start_m 0)"
        ),
    ] = None,
    ground_bounce: Annotated[
        bool | None,
        typer.Option("--ground-bounce/--no-ground-bounce",
                     help="add floor-bounce image scatterers (default: the config's, else off)"),
    ] = None,
    clutter: Annotated[
        bool | None,
        typer.Option("--clutter/--no-clutter",
                     help="static clutter and Tx/Rx coupling (default: the config's, else on)"),
    ] = None,
    jitter: Annotated[
        float | None,
        typer.Option(help="per-recording style jitter, a fraction in [0, 0.5): each "
                     "recording's speed, cadence, arm swing... vary by up to ± this around "
                     "the person's own (default: the config's, else 0.04)"),
    ] = None,
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
    from harlab.radar.dataset import write_frames_dataset
    from harlab.radar.processing import ProcessingConfig
    from harlab.radar.simulate import SIM_FILE, simulate_dataset

    sim_cfg = simulation_config(
        config, persons, activities, seed, snr, recordings, duration, prf, waveform,
        ground_bounce, clutter, quick, jitter=jitter,
    )
    cfg = ProcessingConfig.from_yaml(processing) if processing else ProcessingConfig()
    console.print(_settings_line(sim_cfg), highlight=False)
    raws = simulate_dataset(sim_cfg, workers=workers, progress=not no_progress)
    summary = write_frames_dataset(raws, out, cfg, progress=False, figures=True,
                                   extra_files={SIM_FILE: sim_cfg.to_json()})
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
    console.print(f"simulation settings: {out / SIM_FILE}")
    console.print(f"figures (one recording per activity): {out / 'figures'}")
