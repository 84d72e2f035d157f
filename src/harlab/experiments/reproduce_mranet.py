"""Reproduce the MRA-Net paper's experiments (Tables 4-6, Figs. 8-12) on radar frames.

Data: a frame dataset folder (``harlab simulate radar``) or the default simulated dataset
written into the run directory. Every frame is one window ``(T=150, C=100)``.

Protocol. Frames of one recording overlap in time (1 s frames, hop 0.64 s), so a random
frame split puts near-copies of test frames into training. The default protocol is
therefore ``recording``: K-fold cross-validation with scikit-learn's
``StratifiedGroupKFold`` (stratified over activity x person, group = recording), and the
validation part (model selection, early stopping) is again whole training recordings
(one inner ``StratifiedGroupKFold`` fold). ``paper`` is the paper's random frame split
(each frame its own group), reported with a leakage warning.

Experiments (``EXPERIMENTS``): ``table4`` multitask (FLWL) vs single-task MRA-Net;
``fig8`` confusion matrices (log recall); ``fig9`` identification F1 per activity;
``fig10`` baselines (dcnn3, dcnn5, lstm, multitask dcnn3 with equal weights) vs MRA-Net;
``fig11`` SNR sweep (see :func:`snr_sweep_frames`); ``fig12`` FLWL weights + r_w
histogram; ``table5`` fixed loss-weight ratios (the ``search-ratio`` grid, chosen on
validation); ``table6`` ablation of coarse / fine / attention with parameters and CPU
inference time. Each trained model is one checkpoint under ``runs/`` of the new run
directory, which also gets ``results.json``, ``report.md`` and the PNG figures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from harlab.config import check_init, resolve_precision
from harlab.errors import ConfigError, DataError
from harlab.evaluation.report import hardware, hardware_line
from harlab.fileio import write_json
from harlab.hardware import (
    cpu_note,
    process_pool,
    report_cpu,
    reuse_freed_memory,
    training_conditions,
)
from harlab.radar.simulate import SIM_FILE
from harlab.runs import (
    RUN_FORMAT,
    attempts,
    copy_finished_run,
    create_run_dir,
    first_free,
    keep_before_resume,
)

EXPERIMENTS = ("table4", "fig8", "fig9", "fig10", "fig11", "fig12", "table5", "table6")
PROTOCOLS = ("recording", "paper")
PAPER_SOURCE = (
    "He, Zhang, Chen, Zhou, Jing. Joint Activity Recognition and Person Identification With "
    "Radar Micro-Doppler Signatures (MRA-Net). Remote Sensing 2019"
)
# Published test F1-scores (%) transcribed from the paper; nothing here is measured.
PAPER_TABLE4 = {"mranet_flwl": (98.29, 95.87), "mranet_activity": (97.61, None),
                "mranet_identity": (None, 91.34)}
PAPER_TABLE5 = {2 / 3: (95.72, 88.97), 3 / 4: (97.28, 91.37), 11 / 14: (98.43, 94.85),
                12 / 13: (96.13, 93.16), 1.0: (97.45, 90.23)}
# (coarse, fine, attention) -> (activity F1 %, identity F1 %, execution time vs row 1)
PAPER_TABLE6 = [
    ((True, False, False), 92.96, 89.75, "2.31 s"),
    ((False, True, False), 94.52, 90.14, "-13.96%"),
    ((True, True, False), 96.83, 91.30, "+89.28%"),
    ((True, False, True), 97.71, 93.89, "+83.03%"),
    ((False, True, True), 98.18, 94.06, "+75.41%"),
    ((True, True, True), 98.29, 95.87, "+136.03%"),
]
PAPER_FIG9 = "walk 96.50 %, box 91.38 % (the other activities are only plotted)"
PAPER_FIG10 = ("identification: MRA-Net ~4 % above the DCNN of [19], ~8 % above the DCNN of [5]; "
               "activity: CAE [9] 95.08 %, MRA-Net ~3.21 % above it, stacked LSTM lowest")
PAPER_FIG11 = ("noise added to the MD signatures: identification F1 > 90 % above 15 dB; "
               "activity F1 > 95 %; similar to JMI-CNN at 5 dB, JMI-CNN slightly better at 0 dB")


PRECISIONS = ("32-true", "bf16-mixed")
# frames per decision scored beside the paper's one-frame decisions (recording protocol
# only; harlab.evaluation.decisions): 1 frame = 1 s, each further frame adds the hop
DECISION_SPANS: tuple[int | str, ...] = (1, 2, 4, 8, "recording")


@dataclass
class Limits:
    """How much training each model gets (recorded in the results)."""

    folds: int = 5
    run_folds: int | None = None
    only_folds: list[int] | None = None  # fold ids (0-based, as printed) instead of run_folds
    seeds: list[int] = field(default_factory=lambda: [0])
    split_seed: int | None = None  # draws the folds; None: the first of ``seeds``
    epochs: int = 30
    max_time_s: float | None = None
    patience: int | None = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    val_fraction: float = 0.2
    threads: int | None = None
    snrs: list[float] = field(default_factory=lambda: [0, 5, 10, 15, 20, 25, 30])
    snr_recordings: int = 2
    workers: int = 1
    # Lightning precision of training: "32-true", "bf16-mixed" or "auto" (bf16 where the CPU
    # has AMX/AVX512-BF16; resolved here, so the plan records what ran). Test scoring always
    # runs in fp32 on the fp32 master weights, so a resume or merge re-scores identically.
    precision: str = "32-true"
    # weight initialisation of every model: "default" (PyTorch's) or "orthogonal" (the
    # paper's, Sect. 5.2); plans written before this option count as "default"
    init: str = "default"

    def fold_seed(self) -> int:
        """The seed that draws the folds: ``split_seed``, else the first training seed."""
        return self.seeds[0] if self.split_seed is None else self.split_seed

    def fold_ids(self) -> list[int]:
        """The folds this invocation runs: ``only_folds``, else the first ``run_folds``."""
        if self.only_folds is not None:
            return sorted(self.only_folds)
        return list(range(self.run_folds or self.folds))

    def __post_init__(self) -> None:
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise ConfigError(f"--folds must be an integer >= 2, got {self.folds!r}")
        if self.run_folds is not None and not 1 <= self.run_folds <= self.folds:
            raise ConfigError(f"--run-folds must be in 1..{self.folds}, got {self.run_folds}")
        if self.only_folds is not None:
            if self.run_folds is not None:
                raise ConfigError("give --run-folds (the first N folds) or --only-folds "
                                  "(these fold ids), not both")
            ids = self.only_folds
            if (not ids or len(set(ids)) != len(ids)
                    or any(not 0 <= f < self.folds for f in ids)):
                raise ConfigError(f"--only-folds must be distinct fold ids in "
                                  f"0..{self.folds - 1} (0-based, as printed), got {ids}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds must be distinct integers, got {self.seeds}")
        if self.split_seed is not None and (isinstance(self.split_seed, bool)
                                            or not isinstance(self.split_seed, int)):
            raise ConfigError(f"--split-seed must be an integer, got {self.split_seed!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("--epochs and the batch size must be >= 1")
        if not 0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")
        if not self.channels or any(c < 1 for c in self.channels):
            raise ConfigError(f"--channels must be positive integers, got {self.channels}")
        if not self.snrs or any(not math.isfinite(s) for s in self.snrs):
            raise ConfigError(f"--snrs must be finite dB values, got {self.snrs}")
        if self.snr_recordings < 1 or self.workers < 1:
            raise ConfigError("--snr-recordings and --workers must be >= 1")
        check_init(self.init, "--init")
        self.precision = resolve_precision(self.precision)
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be auto, {' or '.join(PRECISIONS)}, got "
                              f"{self.precision!r}")


@dataclass
class Frames:
    """All frames of a dataset as windows with their labels and recording ids."""

    x: np.ndarray  # (N, T, C) float32
    activity: np.ndarray  # (N,) 0..A-1
    person: np.ndarray  # (N,) 0..P-1
    recording: np.ndarray  # (N,) recording id (str)
    activities: list[str]
    persons: list[str]
    folder: Path
    snr_db: np.ndarray | None = None  # (N,) per-frame SNR of simulated data, else None
    # (N,) index of the frame within its recording, where the row order is not the time
    # order; None: rows of a recording are in time order (read_frames_dataset's order)
    position: np.ndarray | None = None
    # (frame length, hop between frame starts) in seconds where dataset.json records the
    # processing, else None (a folder of spectrogram images does not say)
    frame_timing: tuple[float, float] | None = None

    def positions(self) -> np.ndarray:
        """Index of each frame within its recording (row order where not recorded)."""
        if self.position is not None:
            return self.position
        import pandas as pd

        return pd.Series(self.recording).groupby(self.recording).cumcount().to_numpy(np.int64)


def load_frames(folder: str | Path) -> Frames:
    """Read a frame dataset folder (:func:`harlab.radar.dataset.read_frames_dataset`)."""
    import pandas as pd

    from harlab.radar.dataset import label_order, read_frames_dataset, read_metadata

    root = Path(folder).expanduser()
    stack, table = read_frames_dataset(root)
    meta = read_metadata(root)
    act_names = [str(v) for v in table["activity"]]
    per_names = [str(v) for v in table["person"]]
    activities = label_order(act_names, meta.get("classes"))
    persons = label_order(per_names, meta.get("persons"))
    if len(activities) < 2 or len(persons) < 2:
        raise DataError(f"{root}: needs at least 2 activities and 2 persons, found "
                        f"{activities} and {persons}")
    a_id, p_id = {n: i for i, n in enumerate(activities)}, {n: i for i, n in enumerate(persons)}
    return Frames(
        x=np.ascontiguousarray(stack.transpose(0, 2, 1)),
        activity=np.array([a_id[n] for n in act_names], np.int64),
        person=np.array([p_id[n] for n in per_names], np.int64),
        recording=np.asarray(table["recording"].astype(str)),
        activities=activities,
        persons=persons,
        folder=root,
        snr_db=(pd.to_numeric(table["snr_db"], errors="coerce").to_numpy(np.float64)
                if "snr_db" in table.columns else None),
        frame_timing=_frame_timing(meta),
    )


def _frame_timing(meta: dict[str, Any]) -> tuple[float, float] | None:
    """(frame length, hop) in seconds from ``dataset.json``'s processing settings."""
    proc = meta.get("processing")
    if not isinstance(proc, dict):
        return None
    try:
        frame_s, overlap = float(proc["frame_s"]), float(proc["frame_overlap_s"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(frame_s) and math.isfinite(overlap) and 0 <= overlap < frame_s):
        return None
    return frame_s, frame_s - overlap


def make_folds(
    fr: Frames, k: int, protocol: str, seed: int, val_fraction: float
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(train, val, test) frame indices of each of the ``k`` outer folds.

    Stratified over activity x person; groups are recordings (``recording``) or single
    frames (``paper``). Validation = one inner stratified group fold of the training part.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    strat = fr.activity * len(fr.persons) + fr.person
    groups = (np.unique(fr.recording, return_inverse=True)[1] if protocol == "recording"
              else np.arange(len(strat)))
    n_groups = len(np.unique(groups))
    inner_k = max(2, int(round(1 / val_fraction)))
    if n_groups < k * inner_k:
        raise DataError(f"{fr.folder}: {n_groups} {protocol}s are too few for {k} folds with "
                        f"an inner validation split of 1/{inner_k}")
    out = []
    with warnings.catch_warnings():  # "least populated class has only n members"
        warnings.filterwarnings("ignore", ".*least populated class.*")
        outer = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
        for trv, te in outer.split(np.zeros(len(strat)), strat, groups):
            inner = StratifiedGroupKFold(inner_k, shuffle=True, random_state=seed)
            tr, va = next(inner.split(np.zeros(len(trv)), strat[trv], groups[trv]))
            out.append((np.sort(trv[tr]), np.sort(trv[va]), np.sort(te)))
    return out


# ------------------------------------------------------------------ models and training
@dataclass(frozen=True)
class Spec:
    """One trained model: registry name, options, heads and loss weighting."""

    key: str
    label: str
    model: str
    heads: tuple[str, ...]
    weighting: str = "equal"
    options: tuple[tuple[str, Any], ...] = ()
    ratio: float = 0.75
    flwl_larger: str = "activity"  # the task that gets 2 + max(w) (see tasks.losses.FLWL)
    flwl_input: str = "raw"  # what P_w sees: X_n (Eq. 4) or X_n / ||X_n|| (task.flwl_input)


def _mranet(key: str, label: str, heads: tuple[str, ...], weighting: str = "flwl",
            **opts: Any) -> Spec:
    return Spec(key, label, "mranet", heads, weighting, tuple(sorted(opts.items())))


BOTH = ("activity", "identity")
SPECS: dict[str, Spec] = {
    "mranet_flwl": _mranet("mranet_flwl", "MRA-Net multitask (FLWL)", BOTH),
    # Eq. 5 as printed gives activity 2 + max(w); Eq. 6, the Fig. 12b text ("w_r increases
    # from 2.0 to 2.5") and the Table 5 grid (r_w = w_r / w_i <= 1) give it 2 + min(w)
    "mranet_flwl_id": Spec("mranet_flwl_id", "MRA-Net multitask (FLWL, Eq. 6 reading)",
                           "mranet", BOTH, "flwl", flwl_larger="identity"),
    # harlab's variant: P_w sees the unit-norm embedding, so the growing norm of X_n cannot
    # saturate its softmax (see harlab.tasks.multitask)
    "mranet_flwl_id_unit": Spec("mranet_flwl_id_unit",
                                "MRA-Net multitask (FLWL, Eq. 6 reading, unit-norm P_w input)",
                                "mranet", BOTH, "flwl", flwl_larger="identity",
                                flwl_input="unit"),
    "mranet_activity": _mranet("mranet_activity", "MRA-Net activity only", ("activity",),
                               "equal"),
    "mranet_identity": _mranet("mranet_identity", "MRA-Net identity only", ("identity",),
                               "equal"),
    "dcnn3_activity": Spec("dcnn3_activity", "dcnn3 (activity)", "dcnn3", ("activity",)),
    "dcnn5_identity": Spec("dcnn5_identity", "dcnn5 (identity)", "dcnn5", ("identity",)),
    "lstm_activity": Spec("lstm_activity", "stacked LSTM (activity)", "lstm", ("activity",),
                          options=(("dropout", 0.2), ("hidden", 128), ("layers", 2))),
    "dcnn3_mt_equal": Spec("dcnn3_mt_equal", "multitask dcnn3, equal weights", "dcnn3", BOTH),
}
for _r in PAPER_TABLE5:
    SPECS[f"mranet_fixed_{_r:.4f}"] = Spec(f"mranet_fixed_{_r:.4f}", f"MRA-Net r_w = {_r:.4f}",
                                           "mranet", BOTH, "fixed", ratio=_r)
for _i, ((_c, _f, _a), *_rest) in enumerate(PAPER_TABLE6[:-1], start=1):
    SPECS[f"mranet_abl{_i}"] = _mranet(f"mranet_abl{_i}", f"row ({_i})", BOTH, coarse=_c,
                                       fine=_f, attention=_a)
ABLATION_KEYS = [f"mranet_abl{i}" for i in range(1, 6)] + ["mranet_flwl"]
FLWL_KEYS = ["mranet_flwl", "mranet_flwl_id", "mranet_flwl_id_unit"]
RATIO_KEYS = [f"mranet_fixed_{r:.4f}" for r in PAPER_TABLE5]
NEEDS: dict[str, list[str]] = {
    "table4": ["mranet_flwl", "mranet_activity", "mranet_identity"],
    "fig8": ["mranet_flwl"],
    "fig9": ["mranet_flwl"],
    "fig10": ["dcnn3_activity", "dcnn5_identity", "lstm_activity", "dcnn3_mt_equal",
              "mranet_flwl"],
    "fig11": ["mranet_flwl", "dcnn3_mt_equal"],
    "fig12": FLWL_KEYS,
    "table5": RATIO_KEYS + FLWL_KEYS,
    "table6": ABLATION_KEYS,
}


def model_options(spec: Spec, lim: Limits) -> dict[str, Any]:
    """Registry options of ``spec`` (MRA-Net gets ``lim.channels``)."""
    opts = dict(spec.options)
    if spec.model == "mranet":
        opts = {"channels": list(lim.channels), "dropout": 0.5, **opts}
    return opts


def _task(spec: Spec, persons: list[str]) -> dict[str, Any] | None:
    if spec.heads == ("activity",):
        return None
    return {"heads": list(spec.heads), "loss_weighting": spec.weighting,
            "fixed_ratio": float(spec.ratio), "flwl_grad": "head", "flwl_larger": spec.flwl_larger,
            "flwl_input": spec.flwl_input,
            "monitor": "mean", "identity_names": list(persons)}


def fit(spec: Spec, fr: Frames, idx: tuple[np.ndarray, np.ndarray, np.ndarray], seed: int,
        lim: Limits, run_dir: Path) -> tuple[Any, dict[str, Any]]:
    """Train ``spec`` on ``idx[0]``, select the epoch on ``idx[1]``; best module + facts."""
    import logging

    import lightning as L

    from harlab.data.datamodule import WindowDataModule
    from harlab.tasks.checkpoint import load_module
    from harlab.tasks.classifier import WindowClassifier
    from harlab.training import fit_module

    for name in ("lightning.pytorch", "lightning.fabric"):  # banner and tips; warnings stay
        logging.getLogger(name).setLevel(logging.WARNING)
    L.seed_everything(seed, workers=True, verbose=False)
    tr, va, _ = idx
    missing = sorted(set(range(len(fr.persons))) - set(fr.person[tr].tolist()))
    if missing and "identity" in spec.heads:
        raise DataError(f"{fr.folder}: persons {[fr.persons[i] for i in missing]} have no "
                        "training frames in this fold; they cannot be identified")
    task = _task(spec, fr.persons)
    module = WindowClassifier(
        model_name=spec.model, model_options=model_options(spec, lim),
        input_shape=list(fr.x.shape[1:]), class_names=list(fr.activities), lr=lim.lr,
        weight_decay=lim.weight_decay, optimizer="adam", init=lim.init,
        harlab={"version": RUN_FORMAT, "dataset": "radar_frames", "source": str(fr.folder),
                "normalization": None, "window_length": int(fr.x.shape[1])},
        task=task,
    )
    labels = fr.activity if task is None else np.stack([fr.activity, fr.person], 1)
    dm = WindowDataModule({"train": fr.x[tr], "val": fr.x[va]},
                          {"train": labels[tr], "val": labels[va]},
                          batch_size=lim.batch_size, seed=seed)
    fit_ = fit_module(
        module, dm, run_dir, max_epochs=lim.epochs, patience=lim.patience,
        accelerator="cpu", devices=1, precision=lim.precision,
        max_time=timedelta(seconds=lim.max_time_s) if lim.max_time_s else None,
    )
    trainer, best_cb, train_s = fit_.trainer, fit_.best, fit_.seconds
    if not best_cb.best_model_path:
        raise DataError(f"{spec.key}: training produced no checkpoint (no validation epoch "
                        "finished; raise --max-time-per-run)")
    best = load_module(best_cb.best_model_path)
    epochs = int(trainer.current_epoch)
    facts = {
        "epochs_trained": epochs, "train_steps": int(trainer.global_step),
        "train_frames": int(len(tr)), "train_seconds": round(train_s, 2),
        "seconds_per_epoch": round(train_s / max(epochs, 1), 3),
        "best_val": float(best_cb.best_model_score) if best_cb.best_model_score is not None
        else None,
        "parameters": int(sum(p.numel() for p in best.parameters())),
        "stopped_by_time": bool(lim.max_time_s and epochs < lim.epochs
                                and train_s >= 0.95 * lim.max_time_s),
        "precision": str(trainer.precision),  # as Lightning ran it
        **training_conditions(),
    }
    return best, facts


def score(module: Any, fr: Frames, test: np.ndarray, x: np.ndarray | None = None,
          spans: tuple[int | str, ...] = ()) -> dict[str, Any]:
    """Per-head test predictions and metrics (identity also grouped by activity).

    With ``spans`` (frames per decision, see :mod:`harlab.evaluation.decisions`), also
    ``out["decisions"][head]``: the macro-F1 of one decision per run of that many
    consecutive test frames of a recording. Only meaningful under the recording protocol.
    """
    from harlab.evaluation.decisions import decision_curve
    from harlab.evaluation.metrics import compute_metrics
    from harlab.tasks.predict import predict_heads

    probs = predict_heads(module, fr.x[test] if x is None else x, batch_size=256)
    truth = {"activity": fr.activity[test], "identity": fr.person[test]}
    names = {"activity": fr.activities, "identity": fr.persons}
    acts = np.asarray(fr.activities)[fr.activity[test]]
    out: dict[str, Any] = {"pred": {}, "metrics": {}}
    for head in ("activity", "identity"):
        if head not in probs:
            continue
        pred = probs[head].argmax(1)
        groups = {"activity": acts} if head == "identity" else None
        out["pred"][head] = pred
        out["metrics"][head] = compute_metrics(truth[head], pred, names[head], groups,
                                               labels=range(len(names[head])))
        if spans:
            frame_s, hop_s = fr.frame_timing or (None, None)
            out.setdefault("decisions", {})[head] = decision_curve(
                probs[head], truth[head], fr.recording[test], fr.positions()[test], spans,
                names[head], frame_s=frame_s, hop_s=hop_s)
    if "w" in probs:
        out["w"] = probs["w"]
    return out


# ------------------------------------------------------------------ SNR sweep (Fig. 11)
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


def check_resimulation(sim: Any, fr: Frames, recording: str) -> None:
    """DataError unless re-simulating ``recording`` reproduces its stored frames."""
    task = sim.tasks()[int(recording)]
    got = _sweep_one((task, task[4], load_processing(fr.folder)))
    want = fr.x[fr.recording == recording]
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-3):
        raise DataError(f"{fr.folder}: re-simulating recording {recording} does not reproduce "
                        f"its frames; {SIM_FILE} does not describe this dataset")


# ------------------------------------------------------------------ timing (Table 6)
def time_model(spec: Spec, lim: Limits, input_shape: tuple[int, int], n_act: int, n_per: int,
               channels: list[int] | None = None, reps: int = 5) -> dict[str, Any]:
    """Parameters and CPU inference time (ms per frame, median) at batch 1 and 64."""
    import torch

    from harlab.tasks.multitask import build_multitask_model

    opts = model_options(spec, lim)
    if channels is not None:
        opts["channels"] = list(channels)
    sizes = {"activity": n_act, "identity": n_per}
    model = build_multitask_model(spec.model, opts, input_shape,
                                  {h: sizes[h] for h in spec.heads},
                                  flwl=spec.weighting == "flwl").eval()
    out: dict[str, Any] = {"parameters": int(sum(p.numel() for p in model.parameters())),
                           "channels": list(opts.get("channels", []))}
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for batch in (1, 64):
            x = torch.rand((batch, *input_shape), generator=gen)
            model(x)  # warm-up
            times = []
            for _ in range(reps if batch == 64 else 4 * reps):
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
            out[f"ms_per_frame_b{batch}"] = float(np.median(times) * 1000 / batch)
    return out


# ------------------------------------------------------------------ the experiment
def _stats(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    """``{key: {mean, std, n} or None}`` over ``rows`` (runs, folds)."""
    from harlab.evaluation.metrics import mean_std

    return {k: mean_std([r.get(k) for r in rows]) for k in keys}


def _head_scores(metrics: dict[str, dict[str, Any]]) -> dict[str, float]:
    """``{head}_macro_f1`` and ``{head}_accuracy`` of every scored head."""
    return {f"{head}_{m}": metrics[head][m] for head in metrics for m in ("macro_f1", "accuracy")}


def decision_summary(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per head and span: mean ± std over runs of the multi-frame decision scores."""
    from harlab.evaluation.metrics import mean_std

    out: dict[str, list[dict[str, Any]]] = {}
    heads = dict.fromkeys(h for r in rows for h in r.get("decisions", {}))
    for head in heads:
        curves = [r["decisions"][head] for r in rows if head in r.get("decisions", {})]
        entries = []
        for i, first in enumerate(curves[0]):
            same = [c[i] for c in curves if len(c) > i and c[i]["frames"] == first["frames"]]
            entries.append({
                "frames": first["frames"], "runs": len(same),
                "seconds": mean_std([e["seconds"] for e in same]),
                "decisions": int(sum(e["decisions"] for e in same)),
                "too_short": int(sum(e["too_short"] for e in same)),
                "mixed_labels": int(sum(e["mixed_labels"] for e in same)),
                "macro_f1": mean_std([e["macro_f1"] for e in same]),
                "accuracy": mean_std([e["accuracy"] for e in same]),
            })
        out[head] = entries
    return out


# Table 4's question, asked of paired runs: (multitask model, single-task model, head)
TABLE4_PAIRS = (("mranet_flwl", "mranet_identity", "identity"),
                ("mranet_flwl", "mranet_activity", "activity"))


def table4_pairs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Multitask minus single-task macro-F1 per head, paired by (fold, seed).

    Per frame, and with one decision per whole test recording where decisions were scored.
    Runs of one fold and seed share their test recordings and training seed, so the paired
    difference is what Table 4 claims ("joint learning helps identification").
    """
    from harlab.evaluation.decisions import whole_decision
    from harlab.evaluation.paired import paired_difference, verdict

    def by_run(model: str, head: str, whole: bool) -> dict[tuple[int, int], float | None]:
        out: dict[tuple[int, int], float | None] = {}
        for r in runs:
            if r["model"] != model:
                continue
            if not whole:
                out[(r["fold"], r["seed"])] = r.get(f"{head}_macro_f1")
                continue
            last = whole_decision(r.get("decisions"), head)
            if last.get("frames") == "recording":
                out[(r["fold"], r["seed"])] = last.get("macro_f1")
        return out

    pairs = []
    for multi, single, head in TABLE4_PAIRS:
        for whole in (False, True):
            diff = paired_difference(by_run(multi, head, whole), by_run(single, head, whole))
            if diff is None and whole:
                continue  # decisions not scored (paper protocol)
            pairs.append({"multitask": multi, "single": single, "head": head,
                          "score": "whole recording" if whole else "per frame",
                          "difference": diff,
                          "verdict": verdict(diff, f"joint learning helps {head}",
                                             f"joint learning hurts {head}")})
    return pairs


def simulate_into(folder: Path, quick: bool, seed: int = 0, workers: int = 1,
                  progress: bool = False) -> Path:
    """Simulate the default (or ``quick``: tiny) dataset into ``folder``; record its settings."""
    from harlab.radar.dataset import write_frames_dataset
    from harlab.radar.simulate import DEFAULT_PERSONS, SimulationConfig, simulate_dataset

    if quick:  # 2 persons x 5 activities x 4 recordings of 2 frames
        sim = SimulationConfig(persons=list(DEFAULT_PERSONS[:2]), recordings_per_cell=4,
                               duration_s=2.5, seed=seed)
    else:
        sim = SimulationConfig(seed=seed)
    raws = simulate_dataset(sim, workers=workers, progress=progress)
    write_frames_dataset(raws, folder, progress=False, figures=False,
                         extra_files={SIM_FILE: sim.to_json()})
    return folder


def reproduce_mranet(
    data: str | Path | None = None,
    simulate: bool = False,
    quick: bool = False,
    experiments: list[str] | None = None,
    protocol: str = "recording",
    limits: Limits | None = None,
    out: str | Path = "runs",
    command: str = "",
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    resume: str | Path | None = None,
    models: list[str] | None = None,
    merge: list[str | Path] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run the chosen experiments; returns the run directory and the results dict.

    ``models`` (keys of ``SPECS``) limits which of the models the experiments need are
    trained, so that expensive ones can be run one at a time; the report marks the others
    "not run". On resume, models finished earlier are always reloaded and reported.

    ``resume`` continues (or extends, with more ``run_folds`` or experiments) a reproduction
    in its directory: the training settings must be the original's, the data are the
    folder it used, and every model whose ``metrics.json`` and best checkpoint exist is
    reloaded and re-scored instead of retrained. A model directory left half-written is
    kept; the model is trained again beside it.

    ``merge`` (with ``resume`` only) first copies the finished models of other
    reproductions with the same plan (:func:`merge_runs`), e.g. folds trained in parallel
    with ``only_folds`` on other cores or machines; they are then reloaded and re-scored
    like the run's own.
    """
    import torch

    lim = limits or Limits()
    exps = list(experiments or EXPERIMENTS)
    bad = [e for e in exps if e not in EXPERIMENTS]
    if bad:
        raise ConfigError(f"unknown experiment(s) {bad}; valid: {', '.join(EXPERIMENTS)}")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if merge and resume is None:
        raise ConfigError("--merge adds models to an existing reproduction: give it with "
                          "--resume DIR")
    if resume is not None and (data is not None or simulate):
        raise ConfigError("--resume reads the data its run used; drop --data/--simulate")
    if resume is None and (data is None) == (not simulate):
        raise ConfigError("give exactly one of --data DIR and --simulate")
    wanted = [k for k in SPECS if any(k in NEEDS[e] for e in exps)]
    if models is not None:
        bad = [m for m in models if m not in wanted]
        if bad or not models:
            raise ConfigError(f"--models: {bad or 'none given'} not needed by "
                              f"{', '.join(exps)}; choose from {', '.join(wanted)}")
    selected = set(wanted if models is None else models)
    emit = on_event or (lambda kind, info: None)
    if lim.threads:
        torch.set_num_threads(int(lim.threads))
    t_start = time.perf_counter()
    plan = {"protocol": protocol, "limits": _plan_limits(lim)}
    stored: dict[str, Any] = {}
    merged: list[dict[str, Any]] = []
    if resume is not None:
        parent = Path(resume)
        stored = load_plan(parent, plan)
        merged = [merge_runs(parent, stored, Path(src)) for src in merge or []]
        for m in merged:
            emit("stage", {"what": f"merged from {m['from']}: {m['copied']} model(s) "
                           f"copied, {m['already_there']} already here"
                           + (f", {m['incomplete']} unfinished there (not copied)"
                              if m["incomplete"] else "")})
        folder, quick = Path(stored["data"]), bool(stored.get("quick", False))
        simulate = bool(stored.get("simulated_here", False))
        fr = load_frames(folder)
    elif simulate:
        parent = create_run_dir(out, "reproduce_mranet" + ("_quick" if quick else ""))
        emit("stage", {"what": "simulating the radar dataset"})
        folder = simulate_into(parent / "data", quick, workers=lim.workers)
        fr = load_frames(folder)
    else:  # read (and check) the data before a run directory exists
        folder = Path(data).expanduser()  # type: ignore[arg-type]
        fr = load_frames(folder)
        parent = create_run_dir(out, "reproduce_mranet")
    if resume is None:  # what a later --resume must match
        write_json(parent / PLAN_FILE, {**plan, "data": str(folder.resolve()), "quick": quick,
                                        "data_sha256": _data_fingerprint(folder),
                                        "simulated_here": simulate, "command": command,
                                        "started": datetime.now().isoformat(timespec="seconds")})
    sim = load_simulation(folder) if "fig11" in exps else None
    all_folds = make_folds(fr, lim.folds, protocol, lim.fold_seed(), lim.val_fraction)
    fold_ids = lim.fold_ids()
    folds = [all_folds[f] for f in fold_ids]
    planned = [(f, seed) for f in fold_ids for seed in lim.seeds]
    spans = DECISION_SPANS if protocol == "recording" else ()

    def written(key: str, f: int, seed: int) -> bool:  # a cheap look before finished_run()
        return resume is not None and any((d / "metrics.json").is_file() for d in attempts(
            parent / "runs", f"{key}_fold{f}_seed{seed}"))

    # the selected models, plus (on resume) any other model with finished runs to reload
    n_runs = {k: len(planned) if k in selected else sum(written(k, *fs) for fs in planned)
              for k in wanted}
    keys = [k for k in wanted if n_runs[k]]
    total = sum(n_runs[k] for k in keys)
    emit("plan", {"total": total, "frames": len(fr.x), "folds": len(folds)})
    runs: list[dict[str, Any]] = []
    reused = 0
    pooled: dict[str, dict[str, list[np.ndarray]]] = {}
    sweep: dict[str, dict[float, list[dict[str, float]]]] = {}
    sweep_note = ""
    if "fig11" in exps and sim is None:
        sweep_note = (f"skipped: {folder} has no {SIM_FILE} (the SNR sweep re-simulates the "
                      "raw test recordings; use --simulate or a folder it wrote)")
    elif "fig11" in exps:
        check_resimulation(sim, fr, str(fr.recording[folds[0][2][0]]))
    for f, idx in zip(fold_ids, folds, strict=True):
        for seed in lim.seeds:
            keep: dict[str, Any] = {}
            for key in keys:
                spec = SPECS[key]
                name = f"{key}_fold{f}_seed{seed}"
                found = finished_run(parent, name) if resume is not None else None
                if found is None and key not in selected:
                    continue
                if found is not None:  # trained before the interruption: reload, re-score
                    run_dir, row, module = found
                    res = score(module, fr, idx[2], spans=spans)
                    now, then = _head_scores(res["metrics"]), _head_scores(row["test"])
                    if now.keys() != then.keys() or any(abs(now[k] - then[k]) > 5e-3
                                                        for k in now):
                        raise DataError(f"cannot resume: {run_dir} no longer scores as "
                                        "recorded (were the data or code changed?)")
                    # stored decisions are replaced by this code's (set below)
                    row = {k: v for k, v in row.items() if k not in ("test", "decisions")}
                    if "trained_at" not in row:  # written before rows kept their conditions
                        mtime = (run_dir / "metrics.json").stat().st_mtime
                        row["trained_at"] = datetime.fromtimestamp(mtime).isoformat(
                            timespec="seconds")
                        row["trained_at_from"] = "metrics.json file time"
                    row["reloaded"] = True
                    reused += 1
                else:
                    emit("start", {"model": key, "fold": f, "seed": seed})
                    run_dir = first_free(parent / "runs", name,
                                         lambda p: p.mkdir(parents=True))
                    module, facts = fit(spec, fr, idx, seed, lim, run_dir)
                    res = score(module, fr, idx[2], spans=spans)
                    row = {"model": key, "fold": f, "seed": seed, **facts,
                           "run": str(run_dir.relative_to(parent)),
                           **_head_scores(res["metrics"])}
                if "decisions" in res:
                    row["decisions"] = res["decisions"]
                if found is None:
                    write_json(run_dir / "metrics.json", {**row, "test": res["metrics"]})
                runs.append(row)
                p = pooled.setdefault(key, {})
                for head, pred in res["pred"].items():
                    p.setdefault(f"{head}_pred", []).append(pred)
                    p.setdefault(f"{head}_true", []).append(
                        fr.activity[idx[2]] if head == "activity" else fr.person[idx[2]])
                if "w" in res:
                    p.setdefault("w", []).append(res["w"])
                p.setdefault("test_activity", []).append(fr.activity[idx[2]])
                if key in NEEDS["fig11"]:
                    keep[key] = module
                emit("done", {**row, "reused": found is not None})
            if "fig11" in exps and sim is not None:
                emit("stage", {"what": f"SNR sweep, fold {f}"})
                _run_sweep(sim, fr, idx[2], lim, keep, sweep)
    timing = {}
    if "table6" in exps:
        emit("stage", {"what": "timing the ablation models on CPU"})
        shape = (int(fr.x.shape[1]), int(fr.x.shape[2]))
        for key in ABLATION_KEYS:
            timing[key] = {"trained": time_model(SPECS[key], lim, shape, len(fr.activities),
                                                 len(fr.persons))}
            if list(lim.channels) != [32, 64, 128]:
                timing[key]["paper_size"] = time_model(SPECS[key], lim, shape,
                                                       len(fr.activities), len(fr.persons),
                                                       channels=[32, 64, 128], reps=1)
    summary = {}
    for key in wanted:
        rs = [r for r in runs if r["model"] == key]
        summary[key] = _stats(rs, (
            "activity_macro_f1", "identity_macro_f1", "activity_accuracy",
            "identity_accuracy", "train_seconds", "epochs_trained", "seconds_per_epoch",
            "best_val"))
        summary[key]["parameters"] = rs[0]["parameters"] if rs else None
        if spans and rs:
            summary[key]["decisions"] = decision_summary(rs)
    result = {
        "paper": PAPER_SOURCE, "command": command, "experiments": exps,
        "protocol": protocol,
        "protocol_note": _protocol_note(protocol),
        "data": {"folder": str(folder), "frames": int(len(fr.x)),
                 "recordings": int(len(np.unique(fr.recording))),
                 "activities": fr.activities, "persons": fr.persons, "simulated_here": simulate,
                 "quick": quick},
        "limits": dataclasses.asdict(lim), "hardware": hardware(),
        "not_run": [k for k in wanted if not any(r["model"] == k for r in runs)],
        "started": stored.get("started", datetime.now().isoformat(timespec="seconds")),
        "wall_seconds": None, "summary": summary, "runs": runs, "timing": timing,
        "sweep": {str(s): v for s, v in _sweep_summary(sweep).items()}, "sweep_note": sweep_note,
        "fold_sizes": [[int(len(i)) for i in idx] for idx in folds],
        "fold_ids": fold_ids, "fold_seed": lim.fold_seed(),
        "table4_pairs": table4_pairs(runs) if "table4" in exps else [],
    }
    result["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    if resume is not None:
        result["command"] = stored.get("command", command)
        result["resumed"] = {"command": command, "reused_models": reused,
                             "at": datetime.now().isoformat(timespec="seconds"),
                             "note": "wall_seconds counts the resumed part only",
                             **({"merged": merged} if merged else {})}
        # every resume in order ("resumed" is the latest); the earlier aggregate is kept
        result["resumes"] = [*_keep_earlier_results(parent), result["resumed"]]
    write_report(parent, result, fr, pooled, sweep)
    write_json(parent / "results.json", result)
    return parent, result


def _keep_earlier_results(parent: Path) -> list[dict[str, Any]]:
    """The resumes listed by ``parent/results.json`` (older files: their one ``resumed``).

    That file is kept as ``results.before-resume-<time>.json`` before it is rewritten; an
    interrupted reproduction may have none.
    """
    path = parent / "results.json"
    if not path.is_file():
        return []
    data = path.read_bytes()
    keep_before_resume(path, data)
    try:
        old = json.loads(data)
    except ValueError:
        return []  # unreadable aggregate: kept as a copy, its history cannot be read
    if not isinstance(old, dict):
        return []
    if isinstance(old.get("resumes"), list):
        return [r for r in old["resumes"] if isinstance(r, dict)]
    return [old["resumed"]] if isinstance(old.get("resumed"), dict) else []


PLAN_FILE = "reproduce_plan.json"
# free on resume: how much of the plan runs now (folds, experiments, the SNR sweep, which is
# recomputed anyway) and how fast; everything else decides what a trained model is
_NOT_COMPARED = ("run_folds", "only_folds", "snrs", "snr_recordings", "threads", "workers")


def _limit_defaults() -> dict[str, Any]:
    """Each :class:`Limits` field's default, as a plan stores it. New options keep the old
    behaviour as their default, so this is also what a plan written before one ran with."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Limits):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return json.loads(json.dumps(out))


def _plan_limits(lim: Limits) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(lim).items() if k not in _NOT_COMPARED}


def load_plan(parent: Path, plan: dict[str, Any], into: Path | None = None) -> dict[str, Any]:
    """The plan a reproduction wrote at its start; its training settings must equal ``plan``.

    More folds (``run_folds``), other experiments or SNR levels may be asked for: models are
    keyed by (model, fold, seed), so finished ones are reused and the rest trained. Seeds may
    be added or left out too, as long as the folds are drawn with the same seed (the first
    of ``seeds`` unless ``split_seed`` is given). With
    ``into`` (the reproduction that ``parent``'s models are to be merged into), the
    messages say so.
    """
    what = "resume" if into is None else "merge"
    path = parent / PLAN_FILE
    if not path.is_file():
        raise ConfigError(f"cannot {what} {parent}: no {PLAN_FILE} there (not a "
                          "'harlab reproduce mranet' directory)")
    try:
        stored = json.loads(path.read_text())
        old = {k: stored[k] for k in plan}
        stored["data"] = str(stored["data"])
        if not (isinstance(old["limits"], dict)
                and isinstance(old["limits"].get("seeds", []), list)):
            raise TypeError("'limits' must be a mapping with a list of seeds")
        # an option added since the plan was written: it ran with the option's default
        # (precision 32-true, PyTorch's init), which is the Limits field's default
        for k, v in _limit_defaults().items():
            if k in (plan.get("limits") or {}):
                old["limits"].setdefault(k, v)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot {what} from {path}: unreadable plan "
                          f"({type(exc).__name__}: {exc})") from None
    now = json.loads(json.dumps(plan))  # compare as stored JSON (tuples become lists)
    # seeds may change on resume (models are keyed by seed) while the folds stay the same
    f_old, f_now = _fold_seed(old["limits"]), _fold_seed(now["limits"])
    if f_old is not None and f_now is not None and f_old != f_now:
        s_now = now["limits"].get("seeds") or []
        keep = ",".join(str(s) for s in [f_old, *(s for s in s_now if s != f_old)])
        raise ConfigError(
            f"cannot resume {parent} with --seeds {','.join(map(str, s_now))}: its folds were "
            f"drawn with seed {f_old}; keep it first (e.g. --seeds {keep}) or give "
            f"--split-seed {f_old}" if into is None else
            f"cannot merge {parent} into {into}: its folds were drawn with seed {f_old}, those "
            f"of {into} with seed {f_now} (--split-seed, or the first of --seeds)")
    flat_old, flat_now = (_flat(d, skip=("limits.seeds", "limits.split_seed"))
                          for d in (old, now))
    changed = [k for k in sorted(set(flat_old) | set(flat_now))
               if flat_old.get(k) != flat_now.get(k)]
    if changed:
        pair = ("{k}: original {a!r}, now {b!r}" if into is None
                else "{k}: {a!r} there, {b!r} in {into}")
        diff = "; ".join(pair.format(k=k, a=flat_old.get(k), b=flat_now.get(k), into=into)
                         for k in changed)
        # "auto" resolves per machine, so the original command may not repeat the precision
        prec = (f" (with --precision {flat_old['limits.precision']})"
                if "limits.precision" in changed and flat_old.get("limits.precision") else "")
        raise ConfigError(
            f"cannot resume {parent} with different options ({diff}). Repeat the original "
            f"options{prec}: {stored.get('command') or '?'}" if into is None else
            f"cannot merge {parent} into {into}: different options ({diff}){prec}")
    return stored


def _fold_seed(limits: dict[str, Any]) -> int | None:
    """The seed a stored plan's folds were drawn with (plans before ``split_seed``: the
    first of ``seeds``)."""
    if limits.get("split_seed") is not None:
        return limits["split_seed"]
    seeds = limits.get("seeds") or []
    return seeds[0] if seeds else None


def _flat(plan: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{"limits": {"epochs": 12}}`` -> ``{"limits.epochs": 12}`` (less ``skip``), so a
    diff names the option."""
    out: dict[str, Any] = {}
    for k, v in plan.items():
        out.update({f"{k}.{kk}": vv for kk, vv in v.items()} if isinstance(v, dict)
                   else {k: v})
    return {k: v for k, v in out.items() if k not in skip}


_RUN_NAME = re.compile(r"^(?P<base>\w+_fold\d+_seed\d+)(?:-\d+)?$")


def _finished_row(run_dir: Path) -> dict[str, Any] | None:
    """The metrics of a finished model directory (a readable ``metrics.json`` with test
    scores, and a best checkpoint); None for one left half-written."""
    if not (run_dir / "checkpoints" / "best.ckpt").is_file():
        return None
    try:
        row = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) and "test" in row else None


def _data_fingerprint(folder: Path) -> str:
    """sha256 over the relative paths and bytes of every file under a frame dataset folder
    (a labels CSV may point into subfolders)."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def merge_runs(parent: Path, stored: dict[str, Any], src: Path) -> dict[str, Any]:
    """Copy the finished models of reproduction ``src`` into ``parent/runs``.

    ``src`` must have ``parent``'s plan (protocol, training options, the same fold seed,
    so the same folds) and the same data: files with the same sha256 as recorded in each
    plan when its run started (so ``src`` may come from a machine where the data lay
    elsewhere). Plans written before the fingerprint: the same folder, or folders whose
    files hash alike now.
    A model ``parent`` already has finished is left as it is; the others are copied under
    a free name (never over a directory). The resume that follows reloads and re-scores
    them, and refuses any that no longer score as recorded.
    """
    src = Path(src).expanduser()
    if src.resolve() == parent.resolve():
        raise ConfigError(f"--merge {src}: that is the reproduction being resumed")
    other = load_plan(src, {"protocol": stored["protocol"], "limits": stored["limits"]},
                      into=parent)
    mine, theirs = Path(stored["data"]).expanduser(), Path(other["data"]).expanduser()
    recorded = [stored.get("data_sha256"), other.get("data_sha256")]
    if None not in recorded or mine.resolve() != theirs.resolve():
        # the fingerprint recorded when each run started (plans before it: the folders now)
        prints = [fp or (_data_fingerprint(d) if d.is_dir() else None)
                  for fp, d in zip(recorded, (mine, theirs), strict=True)]
        if None in prints:
            missing = mine if prints[0] is None else theirs
            raise ConfigError(f"cannot merge {src} into {parent}: its data folder "
                              f"{missing} is not there to compare, and its plan records no "
                              "data fingerprint")
        if prints[0] != prints[1]:
            raise ConfigError(f"cannot merge {src} into {parent}: it was trained on other "
                              f"data ({theirs} differs from {mine})")
    copied, already, incomplete = [], 0, 0
    root = src / "runs"
    bases = sorted({m["base"] for p in (root.iterdir() if root.is_dir() else [])
                    if p.is_dir() and (m := _RUN_NAME.match(p.name))})
    for base in bases:
        done = [d for d in attempts(root, base) if _finished_row(d) is not None]
        if not done:  # trained there but never finished: counted, not copied
            incomplete += 1
            continue
        if any(_finished_row(d) is not None for d in attempts(parent / "runs", base)):
            already += 1
            continue
        dest = first_free(parent / "runs", base, lambda p: p.mkdir(parents=True))
        copy_finished_run(done[-1], dest)
        copied.append(dest.name)
    return {"from": str(src), "copied": len(copied), "already_there": already,
            "incomplete": incomplete, "models": copied}


def finished_run(parent: Path, name: str) -> tuple[Path, dict[str, Any], Any] | None:
    """A model trained before an interruption: (its directory, metrics, best module).

    Attempts are ``name``, ``name-2``, ... (see :func:`harlab.runs.first_free`); the last
    complete one counts.
    """
    from harlab.tasks.checkpoint import load_module

    for run_dir in reversed(attempts(parent / "runs", name)):
        row = _finished_row(run_dir)
        if row is not None:  # else half-written: train again
            return run_dir, row, load_module(run_dir / "checkpoints" / "best.ckpt")
    return None


def _trained_cell(rows: list[dict[str, Any]]) -> str:
    """When a table row's models were trained (first - last) and the 5-minute load average."""
    when = sorted(r["trained_at"][:16].replace("T", " ") for r in rows if r.get("trained_at"))
    if not when:
        return "n/a"
    cell = when[0] if when[0] == when[-1] else f"{when[0]} - {when[-1]}"
    loads = [r["load_average"][1] for r in rows if r.get("load_average")]
    return cell + (f" ({min(loads):.1f}-{max(loads):.1f})" if len(set(loads)) > 1
                   else f" ({loads[0]:.1f})" if loads else " (load not recorded)")


def conditions_note(by_key: dict[str, list[dict[str, Any]]], cpu: str | None) -> list[str]:
    """Say when training times in one table were measured under different conditions.

    Rows reloaded by ``--resume`` keep the time measured in their own session, and a
    resume may run on another machine or under another load; the reader must know before
    comparing seconds per epoch between rows.
    """
    rows = [r for rs in by_key.values() for r in rs]
    notes = []
    reloaded = sorted({k for k, rs in by_key.items() if any(r.get("reloaded") for r in rs)})
    fresh = sorted({k for k, rs in by_key.items() if any(not r.get("reloaded") for r in rs)})
    if reloaded and fresh:
        notes.append(f"Training times come from different sessions: {', '.join(reloaded)} "
                     "were reloaded from an earlier session and keep the time measured there; "
                     f"{', '.join(fresh)} were trained in this one. Compare seconds per epoch "
                     "only between rows trained under similar load (last column: 5-minute "
                     "load average at the end of training).")
    elif reloaded:
        notes.append("Every row was reloaded from earlier sessions and keeps the training "
                     "time measured there (last column: when, and the 5-minute load average "
                     "at the end of training).")
    if (other := cpu_note(rows, cpu, "Rows")) is not None:
        notes.append(other)
    if any(r.get("trained_at_from") for r in rows):
        notes.append("Rows trained before harlab recorded training conditions show the time "
                     "their metrics.json was written and no load.")
    return notes or ["Every row was trained in this run, on this CPU."]


def _protocol_note(protocol: str) -> str:
    if protocol == "recording":
        return ("honest: StratifiedGroupKFold over activity x person with group = recording "
                "(frames of one recording overlap by 0.36 s and never straddle train/test); "
                "validation = whole training recordings")
    return ("paper protocol: frames split at random (stratified K-fold over frames). LEAKAGE: "
            "frames of one recording overlap by 0.36 s, so test frames have near-copies in "
            "training; scores are optimistic")


def _run_sweep(sim: Any, fr: Frames, test: np.ndarray, lim: Limits, modules: dict[str, Any],
               sweep: dict[str, dict[float, list[dict[str, float]]]]) -> None:
    """Evaluate ``modules`` on re-simulated test recordings at every SNR (one fold)."""
    recs, seen = [], {}
    for r in np.unique(fr.recording[test]):  # first N test recordings of each cell
        i = np.flatnonzero(fr.recording == r)[0]
        cell = (int(fr.activity[i]), int(fr.person[i]))
        if seen.get(cell, 0) < lim.snr_recordings:
            seen[cell] = seen.get(cell, 0) + 1
            recs.append(str(r))
    stacks = snr_sweep_frames(sim, recs, lim.snrs, lim.workers, load_processing(fr.folder))
    # the dataset's frames of those recordings, in the order the re-simulation returns them
    idx = np.concatenate([np.flatnonzero(fr.recording == r) for r in recs])
    for snr, st in stacks.items():
        x = np.concatenate(st)
        if len(x) != len(idx):
            raise DataError(f"SNR sweep: re-simulated recordings gave {len(x)} frames, the "
                            f"dataset has {len(idx)}")
        for key, module in modules.items():
            row = {"n": int(len(x)), **_head_scores(score(module, fr, idx, x)["metrics"])}
            sweep.setdefault(key, {}).setdefault(snr, []).append(row)


def _sweep_summary(sweep: dict[str, dict[float, list[dict[str, float]]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, by_snr in sweep.items():
        out[key] = {str(s): _stats(rows, ("activity_macro_f1", "identity_macro_f1"))
                    | {"n_frames": rows[0]["n"]} for s, rows in sorted(by_snr.items())}
    return out


__all__ = ["EXPERIMENTS", "Limits", "reproduce_mranet", "load_frames", "make_folds",
           "snr_sweep_frames", "time_model", "write_report"]


# ------------------------------------------------------------------ report
def flwl_task_weights(w: np.ndarray, larger: str) -> tuple[np.ndarray, np.ndarray]:
    """(activity, identity) loss weights of FLWL outputs ``w`` (N, 2): 2 + max(w) goes to
    the ``larger`` task and 2 + min(w) to the other (see :class:`harlab.tasks.losses.FLWL`)."""
    hi, lo = 2 + w.max(1), 2 + w.min(1)
    return (hi, lo) if larger == "activity" else (lo, hi)


def _pct(s: dict[str, Any] | None) -> str:
    return "n/a" if not s else f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"


def _mean(s: dict[str, Any] | None, fmt: str) -> str:
    return "n/a" if not s else format(s["mean"], fmt)


def _paper(v: float | None) -> str:
    return "×" if v is None else f"{v:.2f}"


def _ms(s: dict[str, Any] | None) -> tuple[float, float] | None:
    return None if not s else (s["mean"], s["std"])


def _snr_range(fr: Frames) -> str:
    """'SNR a-b dB' of the dataset's frames (from its labels), counting frames without one."""
    if fr.snr_db is None or not np.isfinite(fr.snr_db).any():
        return "SNR not recorded in the dataset"
    known = np.isfinite(fr.snr_db)
    v = fr.snr_db[known]
    rest = int((~known).sum())
    return (f"SNR {v.min():.1f}-{v.max():.1f} dB"
            + (f"; {rest} frames noise-free or without a recorded SNR" if rest else ""))


def _span_name(e: dict[str, Any]) -> str:
    from harlab.evaluation.decisions import span_label

    return span_label(e["frames"], e["seconds"]["mean"] if e.get("seconds") else None)


def decisions_section(parent: Path, summ: dict[str, Any], plot: Callable[..., Any]
                      ) -> list[str]:
    """Report lines + PNG of the multi-frame decisions (empty when none were scored)."""
    keys = [k for k, s in summ.items() if s.get("decisions")]
    if not keys:
        return []
    first = summ[keys[0]]["decisions"]
    spans = next(iter(first.values()))
    lines = [
        "## Beyond the paper: one decision over several frames", "",
        "The paper decides on every 1 s frame alone (all numbers above). A system that "
        "watches a person for a few seconds can decide once over several consecutive frames "
        "of the same recording. Here the class probabilities of every run of k consecutive "
        "test frames (sliding by one frame), or of a whole test recording, are averaged and "
        "the mean decides (`harlab.evaluation.decisions`; same trained models, nothing "
        "retrained). Test macro-F1 in %, mean ± std over runs. Only scored under the "
        "recording protocol, where every test recording is whole and unseen in training.", "",
        "| model | head | " + " | ".join(_span_name(e) for e in spans) + " |",
        "|---|---|" + "---|" * len(spans),
    ]
    curves = {}
    for key in keys:
        for head, entries in summ[key]["decisions"].items():
            cells = [_pct(e["macro_f1"]) for e in entries]
            lines.append(f"| {SPECS[key].label} | {head} | " + " | ".join(cells) + " |")
            pts = [(e["seconds"]["mean"] if e.get("seconds") else float(i + 1),
                    e["macro_f1"]["mean"], e["macro_f1"]["std"])
                   for i, e in enumerate(entries) if e["macro_f1"]]
            if pts:
                curves[f"{SPECS[key].label}: {head}"] = tuple(zip(*pts, strict=True))
    short = [f"{_span_name(e)}: {e['too_short']}" for e in spans
             if e["too_short"] and e["frames"] != "recording"]
    mixed = max((e["mixed_labels"] for e in spans), default=0)
    lines += ["", f"Decisions scored ({SPECS[keys[0]].label}, {next(iter(first))}, all runs): "
              + ", ".join(f"{_span_name(e)} {e['decisions']}" for e in spans) + "."]
    if short:
        lines.append("Test recordings too short for a span (left out of that column, summed "
                     "over runs): " + ", ".join(short) + ".")
    if mixed:
        lines.append(f"{mixed} test recording(s) whose frames carry different labels were "
                     "left out (summed over runs).")
    timed = all(e.get("seconds") for e in spans)
    if curves:
        plot(parent / "decisions_vs_span.png", curves,
             "seconds one decision covers" if timed else "span (frames; last = whole recording)",
             "Test macro-F1 vs frames per decision (beyond the paper)")
        lines += ["", "![decisions](decisions_vs_span.png)"]
    return [*lines, ""]


def table4_pairs_lines(pairs: list[dict[str, Any]]) -> list[str]:
    """Report lines: multitask minus single-task, paired by (fold, seed)."""
    from harlab.evaluation.paired import format_difference, multiple_note

    if not any(p["difference"] for p in pairs):
        return []
    lines = ["Multitask minus single-task, paired by (fold, seed): mean ± std of the "
             "differences in macro-F1 points [95 % t interval], how many pairs went up, "
             "paired t-test and Wilcoxon signed-rank p-values (the paper gives one number per "
             "model, no spread).", "",
             "| head | multitask − single-task | scored | difference (points) | verdict | "
             "paper (per frame) |",
             "|---|---|---|---|---|---|"]
    for p in pairs:
        i = 0 if p["head"] == "activity" else 1
        ref = (PAPER_TABLE4[p["multitask"]][i], PAPER_TABLE4[p["single"]][i])
        paper = (f"{ref[0] - ref[1]:+.2f}" if None not in ref and p["score"] == "per frame"
                 else "—")
        lines.append(f"| {p['head']} | {SPECS[p['multitask']].label} − "
                     f"{SPECS[p['single']].label} | {p['score']} | "
                     f"{format_difference(p['difference'], digits=2, scale=100)} | "
                     f"{p['verdict']} | {paper} |")
    note = multiple_note(sum(p["difference"] is not None for p in pairs))
    return [*lines, *(["", note] if note else []), ""]


def write_report(parent: Path, res: dict[str, Any], fr: Frames,
                 pooled: dict[str, dict[str, list[np.ndarray]]],
                 sweep: dict[str, dict[float, list[dict[str, float]]]]) -> Path:
    """``report.md`` + PNG figures: every measured number next to the paper's."""
    from harlab.evaluation.metrics import compute_metrics
    from harlab.evaluation.plots import plot_confusion_matrix, plot_metric_curves
    from harlab.evaluation.radar_plots import (
        plot_grouped_bars,
        plot_loss_weights,
        plot_snr_curves,
    )
    from harlab.tasks.multitask import plot_rw_histogram

    summ, lim, exps = res["summary"], res["limits"], res["experiments"]
    d = res["data"]
    runs_per = len(res["fold_sizes"]) * len(lim["seeds"])
    ids = res.get("fold_ids") or list(range(len(res["fold_sizes"])))
    which = "" if ids == list(range(len(ids))) else f"; fold ids {ids}"
    lines = [
        "# MRA-Net reproduction (harlab)", "",
        f"Paper: {PAPER_SOURCE}. Paper numbers are test F1-scores in %; ours are test "
        f"macro-F1 in %, mean ± std over {runs_per} runs ({len(res['fold_sizes'])} of "
        f"{lim['folds']} folds x seeds {lim['seeds']}{which}).", "",
        f"- command: `{res['command']}`",
        f"- data: {d['frames']} frames from {d['recordings']} recordings, "
        f"{len(d['persons'])} persons x {len(d['activities'])} activities "
        f"({'simulated by this run' if d['simulated_here'] else d['folder']}"
        f"{', quick tiny set' if d['quick'] else ''})",
        f"- protocol: {res['protocol_note']}",
        f"- fold sizes (train/val/test frames): {res['fold_sizes']}"
        + (f", folds drawn with seed {res['fold_seed']}" if "fold_seed" in res else ""),
        f"- training limits: at most {lim['epochs']} epochs"
        + (f", at most {lim['max_time_s']:.0f} s per model" if lim["max_time_s"] else "")
        + f", early-stopping patience {lim['patience']}, batch {lim['batch_size']}, Adam lr "
        f"{lim['lr']}, weight decay {lim['weight_decay']}, MRA-Net channels {lim['channels']}, "
        f"precision {lim.get('precision', '32-true')}, {lim.get('init', 'default')} weight "
        "initialisation (paper: 400 epochs, lr 5e-5, batch 128, orthogonal initialisation, "
        "4 GPUs)",
        f"- hardware: {hardware_line(res['hardware'])}; wall time {res['wall_seconds']} s",
        "- model selection: the epoch with the best validation macro-F1 (mean of both heads "
        "for multitask models); test data never chooses anything",
        *([f"- not run (`--models` left them out): {', '.join(res['not_run'])}; their rows "
           "read n/a"] if res.get("not_run") else []),
        *[f"- resumed {r['at']} with `{r['command']}`: {r['reused_models']} models trained "
          "before were reloaded from their best checkpoints and re-scored"
          for r in (res.get("resumes") or ([res["resumed"]] if res.get("resumed") else []))],
        *(["- the wall time counts the last resumed part only"] if res.get("resumed") else []),
        "",
    ]
    if "table4" in exps:
        lines += ["## Table 4: multitask vs single-task MRA-Net", "",
                  "| model | activity F1 (ours) | activity F1 (paper) | identity F1 (ours) | "
                  "identity F1 (paper) | epochs | train s |", "|---|---|---|---|---|---|---|"]
        for key in NEEDS["table4"]:
            s, (pa, pi) = summ[key], PAPER_TABLE4[key]
            lines.append(f"| {SPECS[key].label} | {_pct(s['activity_macro_f1'])} | "
                         f"{_paper(pa)} | {_pct(s['identity_macro_f1'])} | {_paper(pi)} | "
                         f"{_mean(s['epochs_trained'], '.1f')} | "
                         f"{_mean(s['train_seconds'], '.0f')} |")
        lines.append("")
        lines += table4_pairs_lines(res.get("table4_pairs") or [])
    flwl = pooled.get("mranet_flwl", {})
    if "fig8" in exps and flwl:
        lines += ["## Fig. 8: confusion matrices (MRA-Net multitask, all test folds pooled)", "",
                  "Colour = log(recall) as in the paper; cells show counts and row shares.", ""]
        for head, names, tag in (("identity", fr.persons, "a"),
                                 ("activity", fr.activities, "b")):
            t, p = np.concatenate(flwl[f"{head}_true"]), np.concatenate(flwl[f"{head}_pred"])
            m = compute_metrics(t, p, names, labels=range(len(names)))
            name = f"fig8{tag}_confusion_{head}.png"
            plot_confusion_matrix(np.asarray(m["confusion_matrix"]), names, parent / name,
                                  normalize="true", log_scale=True,
                                  title=f"{head}: recall (log colour), n={m['n']}")
            rec = ", ".join(f"{c['class']} {100 * c['recall']:.1f}" for c in m["per_class"])
            lines += [f"![{head}]({name})", "", f"{head} recall (%): {rec}", ""]
    if "fig9" in exps and flwl:
        t = np.concatenate(flwl["identity_true"])
        p = np.concatenate(flwl["identity_pred"])
        acts = np.asarray(fr.activities)[np.concatenate(flwl["test_activity"])]
        m = compute_metrics(t, p, fr.persons, {"activity": acts},
                            labels=range(len(fr.persons)))
        per = m["per_activity"]
        plot_grouped_bars(parent / "fig9_identity_f1_per_activity.png", list(per),
                          {"MRA-Net multitask": [(v["macro_f1"], 0.0) for v in per.values()]},
                          "identification macro-F1", "Fig. 9: identification per activity")
        lines += ["## Fig. 9: identification F1 per activity (pooled test folds)", "",
                  "| activity | frames | identity F1 (ours) |", "|---|---|---|"]
        lines += [f"| {a} | {v['n']} | {100 * v['macro_f1']:.2f} |" for a, v in per.items()]
        lines += ["", f"Paper: {PAPER_FIG9}.", "", "![fig9](fig9_identity_f1_per_activity.png)",
                  ""]
    if "fig10" in exps:
        act_keys = ["dcnn3_activity", "lstm_activity", "dcnn3_mt_equal", "mranet_flwl"]
        id_keys = ["dcnn5_identity", "dcnn3_mt_equal", "mranet_flwl"]
        for tag, head, ks in (("a", "identity", id_keys), ("b", "activity", act_keys)):
            plot_grouped_bars(parent / f"fig10{tag}_{head}.png", [SPECS[k].label for k in ks],
                              {"test macro-F1": [_ms(summ[k][f"{head}_macro_f1"]) for k in ks]},
                              f"{head} macro-F1", f"Fig. 10{tag}: {head}, baselines vs MRA-Net")
        lines += ["## Fig. 10: baselines vs MRA-Net", "",
                  "| model | activity F1 | identity F1 | parameters | epochs |",
                  "|---|---|---|---|---|"]
        for k in dict.fromkeys(act_keys + id_keys):
            s = summ[k]
            lines.append(f"| {SPECS[k].label} | {_pct(s['activity_macro_f1'])} | "
                         f"{_pct(s['identity_macro_f1'])} | "
                         f"{'n/a' if s['parameters'] is None else format(s['parameters'], ',')} | "
                         f"{_mean(s['epochs_trained'], '.1f')} |")
        lines += ["", f"Paper (text): {PAPER_FIG10}. The paper's baselines are not specified "
                  "layer by layer; dcnn3/dcnn5/lstm are style baselines (see "
                  "harlab.models.radar_baselines), the equal-weight multitask dcnn3 stands in "
                  "for JMI-CNN.", "", "![fig10a](fig10a_identity.png) "
                  "![fig10b](fig10b_activity.png)", ""]
    if "fig11" in exps:
        lines += ["## Fig. 11: robustness to noise", ""]
        if not sweep:
            lines += [res["sweep_note"], ""]
        else:
            snrs = sorted(next(iter(sweep.values())))
            curves = {}
            for key, by_snr in sweep.items():
                for head in ("activity", "identity"):
                    m = f"{head}_macro_f1"
                    vals = [_stats(by_snr[s], (m,))[m] for s in snrs]
                    if all(v is not None for v in vals):
                        curves[f"{SPECS[key].label}: {head}"] = [v["mean"] for v in vals]
            plot_snr_curves(parent / "fig11_snr.png", snrs, curves,
                            "Fig. 11: test macro-F1 vs SNR (noise on raw radar data)")
            n = next(iter(next(iter(sweep.values())).values()))
            lines += [
                "Noise: complex white Gaussian noise added to the *raw* baseband radar data "
                "before MTI and STFT (the test recordings are re-simulated with identical "
                "motion and clutter, only the noise level changes; SNR = mean target power over "
                "the range window / noise power per sample). The models were trained on the "
                f"dataset's recordings ({_snr_range(fr)}). Evaluated on the first "
                f"{lim['snr_recordings']} test recording(s) of every activity x person cell "
                f"({sum(r['n'] for r in n)} frames over all folds).", "",
                "| model: head | " + " | ".join(f"{s:g} dB" for s in snrs) + " |",
                "|---" * (len(snrs) + 1) + "|"]
            for name, vals in curves.items():
                lines.append(f"| {name} | " + " | ".join(f"{100 * v:.1f}" for v in vals) + " |")
            lines += ["", f"Paper (text): {PAPER_FIG11}.", "", "![fig11](fig11_snr.png)", ""]
    if "fig12" in exps and any(pooled.get(k, {}).get("w") for k in FLWL_KEYS):
        lines += ["## Fig. 12: FLWL loss weights", "",
                  "Eq. 5 as printed gives activity the weight 2 + max(w) (`mranet_flwl`); Eq. 6, "
                  "the Fig. 12b text (\"w_r increases from 2.0 to 2.5\") and the Table 5 grid "
                  "give it 2 + min(w) (`mranet_flwl_id`); `mranet_flwl_id_unit` is the latter "
                  "with P_w fed the unit-norm embedding (harlab's variant: the raw embedding's "
                  "norm grows during training and saturates P_w's softmax). Each is shown "
                  "where trained. "
                  "r_w = (2 + min w)/(2 + max w) is the quantity of the paper's histogram; "
                  "w_a / w_i = activity weight / identity weight is Table 5's ratio. Paper "
                  "(Fig. 12b caption): most r_w between 2.3/2.7 = 0.852 and 2.4/2.6 = 0.923.",
                  ""]
        for key in FLWL_KEYS:
            if not pooled.get(key, {}).get("w"):
                continue
            w = np.concatenate(pooled[key]["w"])
            w_a, w_i = flwl_task_weights(w, SPECS[key].flwl_larger)
            rw = (2 + w.min(1)) / (2 + w.max(1))
            tag = {"mranet_flwl": "", "mranet_flwl_id": "_eq6"}.get(key, "_eq6_unit")
            plot_loss_weights(parent / f"fig12a_loss_weights{tag}.png", w_a[:64], w_i[:64],
                              f"Fig. 12a: FLWL loss weights of 64 test frames ({key})")
            plot_rw_histogram(rw, parent / f"fig12b_rw_histogram{tag}.png")
            q = np.percentile(rw, [5, 50, 95])
            lines += [f"**{SPECS[key].label}** (`{key}`, {SPECS[key].flwl_larger} gets "
                      f"2 + max w): over {len(rw)} test frames r_w mean {rw.mean():.4f}, "
                      f"5/50/95th percentiles {q[0]:.4f} / {q[1]:.4f} / {q[2]:.4f}; activity "
                      f"weight in [{w_a.min():.3f}, {w_a.max():.3f}], mean w_a / w_i "
                      f"{(w_a / w_i).mean():.4f}.", "",
                      f"![fig12a](fig12a_loss_weights{tag}.png) "
                      f"![fig12b](fig12b_rw_histogram{tag}.png)", ""]
    if "table5" in exps:
        scored = [(summ[k]["best_val"]["mean"], k) for k in RATIO_KEYS if summ[k]["best_val"]]
        chosen = max(scored)[1] if scored else None
        lines += ["## Table 5: fixed loss-weight ratios vs FLWL", "",
                  "The fixed ratio r_w = w_activity / w_identity (paper grid, as in "
                  "`harlab search-ratio`) is chosen by validation score only.", "",
                  "| r_w | val score | activity F1 (ours) | activity F1 (paper) | identity F1 "
                  "(ours) | identity F1 (paper) |", "|---|---|---|---|---|---|"]
        for r, k in zip(PAPER_TABLE5, RATIO_KEYS, strict=True):
            s, (pa, pi) = summ[k], PAPER_TABLE5[r]
            mark = " **(selected)**" if k == chosen else ""
            lines.append(f"| {r:.4f}{mark} | {_pct(s['best_val'])} | "
                         f"{_pct(s['activity_macro_f1'])} | {pa:.2f} | "
                         f"{_pct(s['identity_macro_f1'])} | {pi:.2f} |")
        for key in FLWL_KEYS:
            s = summ.get(key)
            if not s or not s["best_val"]:
                continue
            w = pooled.get(key, {}).get("w")
            ratio = ""
            if w:
                w_a, w_i = flwl_task_weights(np.concatenate(w), SPECS[key].flwl_larger)
                ratio = f" (mean w_a / w_i {(w_a / w_i).mean():.4f})"
            lines.append(f"| FLWL, {SPECS[key].flwl_larger} gets 2 + max w{ratio} | "
                         f"{_pct(s['best_val'])} | {_pct(s['activity_macro_f1'])} | 98.29 | "
                         f"{_pct(s['identity_macro_f1'])} | 95.87 |")
        lines.append("")
    if "table6" in exps:
        tm = res["timing"]
        base = summ["mranet_abl1"]["seconds_per_epoch"]
        lines += ["## Table 6: ablation (coarse / fine / attention)", "",
                  "Inference time: CPU, median ms per frame at batch 1 and batch 64 "
                  "(`torch.inference_mode`, fp32). Training time per epoch relative to row (1) "
                  "is what the paper's 'execution time' measures (one pass over the data).", "",
                  "| row | coarse | fine | att. | activity F1 (ours / paper) | identity F1 "
                  "(ours / paper) | params | ms/frame b1 | ms/frame b64 | train s/epoch (vs "
                  "(1)) | paper time | trained (load) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        paper_size = []
        by_key = {k: [r for r in res["runs"] if r["model"] == k] for k in ABLATION_KEYS}
        for i, (key, ((c, f, a), pa, pi, pt)) in enumerate(zip(ABLATION_KEYS, PAPER_TABLE6,
                                                              strict=True), start=1):
            s, t = summ[key], tm[key]["trained"]
            spe = s["seconds_per_epoch"]
            rel = ("n/a" if not spe else f"{spe['mean']:.2f}" if i == 1 or not base
                   else f"{spe['mean']:.2f} ({100 * (spe['mean'] / base['mean'] - 1):+.1f}%)")
            yes = {True: "√", False: "×"}
            lines.append(
                f"| ({i}) | {yes[c]} | {yes[f]} | {yes[a]} | {_pct(s['activity_macro_f1'])} / "
                f"{pa:.2f} | {_pct(s['identity_macro_f1'])} / {pi:.2f} | "
                f"{t['parameters']:,} | {t['ms_per_frame_b1']:.2f} | "
                f"{t['ms_per_frame_b64']:.2f} | {rel} | {pt} | "
                f"{_trained_cell(by_key.get(key, []))} |")
            if "paper_size" in tm[key]:
                ps = tm[key]["paper_size"]
                paper_size.append(f"| ({i}) | {ps['parameters']:,} | "
                                  f"{ps['ms_per_frame_b1']:.2f} | {ps['ms_per_frame_b64']:.2f} |")
        labelled = {f"({i})": by_key[k] for i, k in enumerate(ABLATION_KEYS, start=1)}
        lines += ["", *conditions_note(labelled, report_cpu(res["hardware"]))]
        if paper_size:
            lines += ["", "The same rows at harlab's full size (channels [32, 64, 128], "
                      "untrained, timing only):", "",
                      "| row | params | ms/frame b1 | ms/frame b64 |", "|---|---|---|---|",
                      *paper_size]
        lines.append("")
    lines += decisions_section(parent, summ, plot_metric_curves)
    lines += ["## Files", "", "`results.json` holds every run's numbers (per fold and seed), "
              "the limits and the hardware; each model's checkpoint and test metrics are under "
              "`runs/`.", ""]
    path = parent / "report.md"
    path.write_text("\n".join(lines))
    return path
