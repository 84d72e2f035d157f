"""Simulation settings from command-line style options (``harlab simulate radar``).

:func:`simulation_config` builds the :class:`~harlab.radar.simulate.SimulationConfig` a
command asks for: a YAML file (or the defaults), ``--quick``, then each option given as
text or a number (``--snr 20,35``, ``--persons sub1,sub3``, ``--waveform fmcw`` ...);
:func:`parse_snr` reads an SNR option and :func:`settings_line` describes a configuration in
one line. It lives in the radar layer so that other front ends (experiments, notebooks) can
build the same configuration without the CLI.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from harlab.errors import ConfigError, HarlabError, unknown_name
from harlab.radar.simulate import SimulationConfig, paper_recordings_per_cell
from harlab.radar.types import SPEED_OF_LIGHT, RadarParams

__all__ = ["NO_NOISE", "WAVEFORMS", "parse_snr", "settings_line", "simulation_config"]


def _names(text: str | None) -> list[str] | None:
    """``"a, b,"`` -> ``["a", "b"]``; None (keep the config's) for None or no names."""
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()] or None


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


def _base_config(
    config: Path | None, prf: float | None, waveform: str | None, where: str
) -> SimulationConfig:
    """The YAML ``config`` (or the defaults) with the ``--prf`` / ``--waveform`` radar
    overrides applied; errors are prefixed with ``where`` (the file)."""
    data: dict = {}
    if config is not None:
        from harlab.config import load_yaml

        data = load_yaml(config)
    data = _radar_overrides(data, prf, None if waveform is None else waveform.lower(), where)
    try:
        return SimulationConfig.from_dict(data)
    except HarlabError as exc:
        raise type(exc)(f"{where}{exc}") from None
    except (TypeError, ValueError) as exc:  # e.g. a list or null where a number belongs
        raise ConfigError(f"{where}invalid simulation config: {exc}") from None


def _selection(
    sim: SimulationConfig, persons: str | None, activities: str | None, quick: bool
) -> dict[str, Any]:
    """Changes choosing persons (by name among the config's; the first two with
    ``quick``) and activities (comma-separated names); none where not given."""
    changes: dict[str, Any] = {}
    by_name = {p.name: p for p in sim.persons}
    wanted = _names(persons) or ([p.name for p in sim.persons[:2]] if quick else None)
    if wanted is not None:
        for name in wanted:
            if name not in by_name:
                raise unknown_name("person", name, by_name)
        changes["persons"] = [by_name[n] for n in wanted]
    acts = _names(activities)
    if acts is not None:
        changes["activities"] = tuple(acts)
    return changes


def _sizes(
    sim: SimulationConfig, quick: bool, recordings: int | None, duration: float | None
) -> dict[str, Any]:
    """Changes to recordings per cell and duration: ``quick``'s tiny dataset, then
    ``recordings``, then ``duration`` (which re-sizes Table-3 counts unless set here)."""
    changes: dict[str, Any] = {}
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
        if ("recordings_per_cell" not in changes and duration > 0
                and sim.recordings_per_cell == paper_recordings_per_cell(sim.duration_s)):
            changes["recordings_per_cell"] = paper_recordings_per_cell(duration)
    return changes


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
) -> SimulationConfig:
    """The SimulationConfig of ``harlab simulate radar``: the YAML (or the defaults), then
    ``--quick``, then each option that was given. ``persons`` picks among the config's."""
    where = f"{config}: " if config is not None else ""
    sim = _base_config(config, prf, waveform, where)
    changes = _selection(sim, persons, activities, quick)
    if seed is not None:
        changes["seed"] = seed
    if snr is not None:
        changes["snr_db"] = parse_snr(snr)
    changes.update(_sizes(sim, quick, recordings, duration))
    flags = {"ground_bounce": ground_bounce, "clutter": clutter, "jitter": jitter}
    changes.update({k: v for k, v in flags.items() if v is not None})
    try:
        return dataclasses.replace(sim, **changes)
    except HarlabError as exc:
        raise type(exc)(f"{where}{exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}invalid simulation settings: {exc}") from None


def settings_line(sim: SimulationConfig) -> str:
    """One line describing the radar, SNR, add-ons, jitter and seed of ``sim`` (and the
    realism options where they differ from the defaults)."""
    r = sim.radar
    extra = (f", {r.samples_per_sweep} samples per {r.sweep_s * 1e3:.3g} ms sweep"
             if r.waveform == "fmcw" else "")
    snr = sim.snr_db
    snr_text = ("no noise" if snr is None else
                f"SNR {snr[0]:g}-{snr[1]:g} dB" if isinstance(snr, tuple) else f"SNR {snr:g} dB")
    clutter = (f"clutter {sim.clutter_db[0]:g}-{sim.clutter_db[1]:g} dB" if sim.clutter
               else "clutter off")
    real = "".join([f"; person {sim.range_offset_m:g} m further" if sim.range_offset_m else "",
                    f"; limbs {sim.limb_gain_db:g} dB" if sim.limb_gain_db else ""])
    return (f"radar: {r.waveform}, PRF {r.prf_hz:g} Hz{extra}, carrier {r.carrier_hz / 1e9:g} GHz, "
            f"bandwidth {r.bandwidth_hz / 1e9:g} GHz; {snr_text}{real}; {clutter}, "
            f"ground bounce {'on' if sim.ground_bounce else 'off'}; "
            f"jitter ±{sim.jitter * 100:g}% per recording; seed {sim.seed}")
