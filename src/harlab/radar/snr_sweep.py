"""Fig. 11 of MRA-Net: scores at set SNRs, on any frame folder or on re-simulated data.

On any frame folder (real or yours), :func:`add_frame_noise` adds white Gaussian noise to
the micro-Doppler signatures themselves, as the paper does ("Gaussian white noise with
different SNRs was added on the MD signatures", Sect. 6.2). The paper does not say in
which domain; harlab adds it in *linear power*, before the dB scaling the frames are
stored in: SNR = mean power of the frame / noise variance, both linear. That is what
"signal power" means for a spectrogram, and it makes an SNR of x dB one figure whatever
dynamic range a folder was scaled to (noise added to the dB picture would be measured in
dB of dB). It needs the frames' dB range (``dataset.json``'s ``dynamic_range_db``, or its
``processing``'s for harlab's folders). Negative noisy powers are set to 0, and each
frame is normalised to its new maximum again (as the processing normalises frames).

On harlab-simulated folders the raw-signal sweep is kept as an extra: the test
recordings are re-simulated with complex white Gaussian noise on the *raw* baseband data,
before MTI and STFT, with the simulator's SNR definition; the target and clutter stay
those of the dataset, only the noise level changes. Such a folder records how it was
simulated (``SIM_FILE``) and processed (``dataset.json``), so its recordings can be made
again.
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


def add_frame_noise(frames: np.ndarray, snr_db: float, dynamic_range_db: float,
                    seed: int = 0) -> np.ndarray:
    """``frames`` (N, a, b) in [0, 1] (dB normalised over ``dynamic_range_db``) with white
    Gaussian noise added in linear power at ``snr_db`` (mean power of each frame / noise
    variance), normalised again per frame; float32, same shape. See the module docstring."""
    from harlab.radar.processing import to_unit_db

    power = 10.0 ** ((np.asarray(frames, np.float64) - 1.0) * dynamic_range_db / 10.0)
    noisy = np.maximum(_noisy_power(power, snr_db, seed), 0.0)
    return to_unit_db(np.sqrt(noisy), dynamic_range_db, axis=(1, 2)).astype(np.float32)


def _noisy_power(power: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """``power`` (N, a, b) plus white Gaussian noise of variance mean frame power / SNR
    (one seeded draw); the one noise model of both frame kinds."""
    if not np.isfinite(snr_db):
        raise DataError(f"SNR must be a finite number of dB, got {snr_db}")
    sigma = np.sqrt(power.mean(axis=(1, 2), keepdims=True) / 10.0 ** (snr_db / 10.0))
    return power + sigma * np.random.default_rng(seed).standard_normal(power.shape)


def add_level_noise(frames: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """Level frames ``frames`` (N, a, b) in dB (``20 log10 |S|``, harlab.radar.dataset) with
    the noise of :func:`add_frame_noise` (in linear power relative to each frame's maximum,
    so the same draw on the same frame gives the same picture), returned in dB (float32;
    power the noise takes to 0 or below sits at float64's smallest normal number)."""
    x = np.asarray(frames, np.float64)
    peak = x.max(axis=(1, 2), keepdims=True)
    noisy = np.maximum(_noisy_power(10.0 ** ((x - peak) / 10.0), snr_db, seed),
                       np.finfo(np.float64).tiny)
    return (10.0 * np.log10(noisy) + peak).astype(np.float32)


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
