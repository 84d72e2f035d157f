"""Fig. 11 of MRA-Net on simulated data: re-simulate test recordings at other noise levels.

The noise is complex white Gaussian noise on the *raw* baseband data, before MTI and STFT,
with the simulator's SNR definition; the target and clutter of each recording stay those of
the dataset, only the noise level changes. A frame folder records how it was simulated
(``SIM_FILE``) and processed (``dataset.json``), so its recordings can be made again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harlab.errors import DataError
from harlab.hardware import process_pool, reuse_freed_memory
from harlab.radar.simulate import SIM_FILE


def _sweep_one(args: tuple[Any, ...]) -> np.ndarray:
    from harlab.radar.processing import frames, process
    from harlab.radar.simulate import simulate_recording

    task, snr, proc = args
    p, a, radar, dur, _, seed, opts, _rep = task
    raw = simulate_recording(p, a, radar, dur, snr, seed, **opts)
    return frames(process(raw, proc), proc).transpose(0, 2, 1).astype(np.float32)


def load_simulation(folder: Path) -> Any:
    """The SimulationConfig a frame dataset was simulated with (None if not recorded)."""
    from harlab.radar.simulate import SimulationConfig

    p = folder / SIM_FILE
    if not p.is_file():
        return None
    try:
        return SimulationConfig.from_dict(json.loads(p.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{p}: cannot read the simulation settings ({exc})") from None


def load_processing(folder: Path) -> Any:
    """The ProcessingConfig a frame dataset was made with (``dataset.json``; default if absent).

    The SNR sweep must re-process with the same chain, or a folder written with custom
    ``--processing`` settings would fail the re-simulation check for the wrong reason.
    """
    from harlab.radar.processing import ProcessingConfig

    p = folder / "dataset.json"
    if not p.is_file():
        return ProcessingConfig()
    try:
        values = json.loads(p.read_text()).get("processing")
    except (OSError, ValueError, AttributeError) as exc:
        raise DataError(f"{p}: cannot read the processing settings ({exc})") from None
    return ProcessingConfig.from_dict(values) if values else ProcessingConfig()


def snr_sweep_frames(
    sim: Any, recordings: list[str], snrs: list[float], workers: int = 1, proc: Any = None,
) -> dict[float, list[np.ndarray]]:
    """Re-simulate ``recordings`` at each SNR and re-process them: ``{snr: [frames]}``.

    The noise is complex white Gaussian noise on the *raw* baseband data, before MTI and
    STFT, with the simulator's SNR definition (mean target power over the range window /
    noise power per sample). Recording ``i`` (id ``%05d``) is task ``i`` of ``sim``; the
    target and clutter are identical to the dataset's, only the noise level changes.
    ``proc`` is the dataset's processing (:func:`load_processing`; default chain if None).
    """
    from harlab.radar.processing import ProcessingConfig

    tasks = sim.tasks()
    proc = proc if proc is not None else ProcessingConfig()
    jobs = [(tasks[int(r)], float(s), proc) for s in snrs for r in recordings]
    reuse_freed_memory()
    if workers > 1:
        with process_pool(workers) as ex:
            stacks = list(ex.map(_sweep_one, jobs, chunksize=2))
    else:
        stacks = [_sweep_one(j) for j in jobs]
    n = len(recordings)
    return {float(s): stacks[i * n:(i + 1) * n] for i, s in enumerate(snrs)}


def check_resimulation(sim: Any, folder: Path, recording: str, frames: np.ndarray) -> None:
    """DataError unless re-simulating ``recording`` reproduces its stored ``frames``
    (N, W time, H Doppler), as windows of the folder's frames are laid out."""
    task = sim.tasks()[int(recording)]
    got = _sweep_one((task, task[4], load_processing(folder)))
    if got.shape != frames.shape or not np.allclose(got, frames, atol=1e-3):
        raise DataError(f"{folder}: re-simulating recording {recording} does not reproduce "
                        f"its frames; {SIM_FILE} does not describe this dataset")
