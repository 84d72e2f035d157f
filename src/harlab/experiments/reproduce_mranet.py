"""Reproduce the MRA-Net paper's experiments (Tables 4-6, Figs. 8-12) on radar frames.

A study on the engine (:mod:`harlab.experiments.engine`): every model the chosen
experiments need (:data:`~harlab.experiments.mranet_paper.NEEDS`) is a variant of one base
run config on the ``radar_frames`` dataset, trained per fold and seed as an ordinary run
(``harlab train``'s run directories, inside the reproduction's directory). The report is
built from those runs: their ``metrics.json`` and ``predictions.csv``, and their best
checkpoints for the SNR sweep.

Data: a frame dataset folder (``harlab simulate radar``) or the default simulated dataset
written into the reproduction's directory. Every frame is one window.

Protocol. Frames of one recording overlap in time, so a random frame split puts
near-copies of test frames into training. ``recording`` (default) is K-fold
cross-validation stratified over activity x person with whole recordings as groups
(``split.kind=recording``, ``stratify: true``); validation is one inner fold of the
training recordings. ``paper`` groups single frames (``group_by: window``), the paper's
random frame split, and carries a leakage warning.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from harlab.config import RunConfig, check_init, from_dict, resolve_precision
from harlab.errors import ConfigError, DataError
from harlab.evaluation.decisions import WHOLE_SPANS
from harlab.evaluation.report import hardware
from harlab.experiments.engine import (
    Event,
    Plan,
    RunResult,
    open_study,
    read_study,
    run_study,
)
from harlab.experiments.mranet_paper import (
    ABLATION_KEYS,
    EXPERIMENTS,
    NEEDS,
    PAPER_SOURCE,
    PROTOCOLS,
    SPECS,
    model_options,
    variant,
)
from harlab.experiments.mranet_report import (
    decision_summary,
    protocol_note,
    run_stats,
    sweep_summary,
    table4_pairs,
    write_report,
)
from harlab.fileio import folder_sha256, write_json
from harlab.radar.simulate import SIM_FILE
from harlab.runs import create_run_dir

KIND = "reproduce_mranet"
# the base run config of every model; CLI options override these keys
DEFAULTS: dict[str, Any] = {
    "name": "radar",
    "data": {"dataset": "radar_frames", "normalize": False,
             "split": {"kind": "recording", "stratify": True, "folds": 5, "val_fraction": 0.2}},
    "model": {"name": "mranet"},
    "task": {"heads": ["activity", "identity"], "loss_weighting": "flwl"},
    "train": {"max_epochs": 30, "patience": 10, "batch_size": 64, "lr": 1e-3,
              "weight_decay": 1e-4, "precision": "auto", "progress": False},
}


@dataclass
class Settings:
    """What a reproduction runs beyond the run config: experiments, folds, seeds, sweep."""

    experiments: list[str] = field(default_factory=lambda: list(EXPERIMENTS))
    protocol: str = "recording"
    folds: int = 5
    run_folds: int | None = None
    only_folds: list[int] | None = None  # fold ids (0-based, as printed) instead of run_folds
    seeds: list[int] = field(default_factory=lambda: [0])
    split_seed: int | None = None  # draws the folds; None: the first of ``seeds``
    models: list[str] | None = None  # train only these of the needed models
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    snrs: list[float] = field(default_factory=lambda: [0, 5, 10, 15, 20, 25, 30])
    snr_recordings: int = 2
    workers: int = 1

    def __post_init__(self) -> None:
        bad = [e for e in self.experiments if e not in EXPERIMENTS]
        if bad:
            raise ConfigError(f"unknown experiment(s) {bad}; valid: {', '.join(EXPERIMENTS)}")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got "
                              f"{self.protocol!r}")
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise ConfigError(f"--folds must be an integer >= 2, got {self.folds!r}")
        self._check_folds()
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds must be distinct integers, got {self.seeds}")
        if not self.channels or any(c < 1 for c in self.channels):
            raise ConfigError(f"--channels must be positive integers, got {self.channels}")
        if not self.snrs or any(not math.isfinite(s) for s in self.snrs):
            raise ConfigError(f"--snrs must be finite dB values, got {self.snrs}")
        if self.snr_recordings < 1 or self.workers < 1:
            raise ConfigError("--snr-recordings and --workers must be >= 1")
        wanted = self.wanted()
        if self.models is not None:
            bad = [m for m in self.models if m not in wanted]
            if bad or not self.models:
                raise ConfigError(f"--models: {bad or 'none given'} not needed by "
                                  f"{', '.join(self.experiments)}; choose from "
                                  f"{', '.join(wanted)}")

    def _check_folds(self) -> None:
        if self.run_folds is not None and not 1 <= self.run_folds <= self.folds:
            raise ConfigError(f"--run-folds must be in 1..{self.folds}, got {self.run_folds}")
        if self.only_folds is None:
            return
        if self.run_folds is not None:
            raise ConfigError("give --run-folds (the first N folds) or --only-folds "
                              "(these fold ids), not both")
        ids = self.only_folds
        if not ids or len(set(ids)) != len(ids) or any(not 0 <= f < self.folds for f in ids):
            raise ConfigError(f"--only-folds must be distinct fold ids in 0..{self.folds - 1} "
                              f"(0-based, as printed), got {ids}")

    def wanted(self) -> list[str]:
        """The models the chosen experiments need, in :data:`SPECS` order."""
        return [k for k in SPECS if any(k in NEEDS[e] for e in self.experiments)]

    def fold_ids(self) -> list[int]:
        """The folds this invocation runs: ``only_folds``, else the first ``run_folds``."""
        if self.only_folds is not None:
            return sorted(self.only_folds)
        return list(range(self.run_folds or self.folds))

    def fold_seed(self) -> int:
        """The seed that draws the folds: ``split_seed``, else the first training seed."""
        return self.seeds[0] if self.split_seed is None else self.split_seed


def training_overrides(epochs: int = 30, max_time_s: float | None = None,
                       patience: int | None = 10, batch_size: int = 64, lr: float = 1e-3,
                       threads: int | None = None, precision: str = "auto",
                       init: str = "default") -> list[str]:
    """``key.path=value`` overrides of :data:`DEFAULTS` from the command's options."""
    check_init(init, "--init")
    out = [f"train.max_epochs={epochs}", f"train.patience={patience or 'null'}",
           f"train.batch_size={batch_size}", f"train.lr={_yaml_float(lr)}",
           f"train.precision={resolve_precision(precision)}", f"train.init={init}"]
    if max_time_s is not None:
        if not max_time_s > 0:
            raise ConfigError(f"--max-time-per-run must be positive, got {max_time_s}")
        t = timedelta(seconds=max_time_s)
        out.append(f"train.max_time='{t.days:02d}:{t.seconds // 3600:02d}:"
                   f"{t.seconds // 60 % 60:02d}:{t.seconds % 60:02d}'")
    if threads:
        out.append(f"train.threads={threads}")
    return out


def _yaml_float(value: float) -> str:
    """``repr`` that YAML reads back as a float: ``5e-05`` would be a string (YAML 1.1 wants
    a dot), so it becomes ``5.0e-05``."""
    text = repr(float(value))
    return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text


def base_config(folder: Path, settings: Settings, overrides: list[str], out: str | Path
                ) -> RunConfig:
    """The run config every model of the reproduction starts from (one window per frame)."""
    from harlab.config import apply_overrides
    from harlab.radar.dataset import dataset_files

    dataset_files(folder)  # a missing folder or frame file: one-line DataError, before any run
    tree = apply_overrides(DEFAULTS, overrides)
    tree["output_dir"] = str(out)
    tree["data"]["path"] = str(folder)
    tree["data"]["window"] = {"length": 1, "step": 1, "unit": "frames"}
    split = tree["data"]["split"]
    split.update({"folds": settings.folds, "seed": settings.fold_seed()})
    if settings.protocol == "paper":
        split["group_by"] = "window"
    return from_dict(tree)


def mranet_plan(base: RunConfig, settings: Settings, data_sha256: str) -> Plan:
    """Every needed model x folds x seeds of ``base`` (the fold seed fixed by the base)."""
    variants = [variant(SPECS[k], settings.channels) for k in settings.wanted()]
    return Plan(KIND, base, variants, settings.fold_ids(), list(settings.seeds),
                seed_split=False, identity={"data_sha256": data_sha256,
                                            "protocol": settings.protocol})



def run_row(res: RunResult, parent: Path) -> dict[str, Any]:
    """A reproduction row (model, fold, seed, scores per head, how it trained) of a run."""
    m = res.metrics
    heads = m.get("test_heads") or {(m.get("heads") or ["activity"])[0]: m["test"]}
    epochs = int(m.get("epochs_trained") or 0)
    row: dict[str, Any] = {
        "model": res.planned.variant, "fold": res.planned.fold, "seed": res.planned.seed,
        "run": str(res.run_dir.relative_to(parent)), "reloaded": res.reused,
        "epochs_trained": epochs, "train_seconds": m.get("train_seconds"),
        "seconds_per_epoch": (round(m["train_seconds"] / epochs, 3)
                              if epochs and m.get("train_seconds") is not None else None),
        "best_val": m.get("best_val_macro_f1"), "parameters": m.get("parameters"),
        "precision": m.get("precision"),
        **{k: m.get(k) for k in ("trained_at", "cpu", "threads", "load_average")},
    }
    for head, hm in heads.items():
        row[f"{head}_macro_f1"], row[f"{head}_accuracy"] = hm["macro_f1"], hm["accuracy"]
    dec = m.get("decisions") or {}
    if dec and "skipped" not in dec:  # radar recordings carry one label: a segment is the recording
        row["decisions"] = {h: [{**e, "frames": "recording" if e["frames"] in WHOLE_SPANS
                                 else e["frames"]} for e in dec[h]] for h in heads if h in dec}
    return row


def pool_predictions(res: RunResult, pooled: dict[str, dict[str, list[np.ndarray]]],
                     activities: list[str], persons: list[str]) -> None:
    """Add one run's test predictions (indices into the dataset's names) to ``pooled``."""
    import pandas as pd

    table = pd.read_csv(res.run_dir / "predictions.csv", dtype=str)
    index = {"activity": {n: i for i, n in enumerate(activities)},
             "identity": {n: i for i, n in enumerate(persons)}}
    p = pooled.setdefault(res.planned.variant, {})
    for head, sfx in (("activity", ""), ("identity", "_identity")):
        if f"pred{sfx}" in table:
            for what in ("true", "pred"):
                p.setdefault(f"{head}_{what}", []).append(
                    table[f"{what}{sfx}"].map(index[head]).to_numpy(np.int64))
    if "flwl_w0" in table:
        p.setdefault("w", []).append(table[["flwl_w0", "flwl_w1"]].to_numpy(np.float64))
    p.setdefault("test_activity", []).append(
        table["true"].map(index["activity"]).to_numpy(np.int64) if "true" in table
        else np.zeros(0, np.int64))


# ------------------------------------------------------------------ SNR sweep (Fig. 11)
@dataclass
class FrameData:
    """The dataset's frames as windows, with what the report and the sweep need of them."""

    folder: Path
    x: np.ndarray  # (N, W, H) windows, one per frame
    recording: np.ndarray  # (N,) radar recording id (the session)
    activity: np.ndarray  # (N,) activity name
    person: np.ndarray  # (N,) person name
    activities: list[str]
    persons: list[str]

    @classmethod
    def load(cls, base: RunConfig) -> FrameData:
        """Through the shared data layer (and its cache), as the runs read it."""
        from harlab.data.prepare import load_windowed
        from harlab.fileio import natural_key

        wd = load_windowed(base.data)
        activity = np.array([wd.classes[k] for k in sorted(wd.classes)])
        ids = np.searchsorted(sorted(wd.classes), np.asarray(wd.windows.y))
        return cls(Path(str(base.data.path)), wd.windows.x, wd.session, activity[ids],
                   wd.subject, list(activity),
                   sorted(set(wd.subject.tolist()), key=natural_key))


def _sweep_recordings(fd: FrameData, test_recordings: list[str], per_cell: int) -> list[str]:
    """The first ``per_cell`` test recordings of every activity x person cell."""
    first = {r: int(np.flatnonzero(fd.recording == r)[0]) for r in test_recordings}
    out, seen = [], {}
    for r in sorted(test_recordings):
        cell = (fd.activity[first[r]], fd.person[first[r]])
        if seen.get(cell, 0) < per_cell:
            seen[cell] = seen.get(cell, 0) + 1
            out.append(r)
    return out


def run_sweep(sim: Any, fd: FrameData, settings: Settings, fold_runs: list[RunResult],
              sweep: dict[str, dict[float, list[dict[str, float]]]]) -> None:
    """Score the fold's sweep models on its test recordings re-simulated at every SNR."""
    import pandas as pd

    from harlab.evaluation.snr import head_scores
    from harlab.radar.snr_sweep import load_processing, snr_sweep_frames
    from harlab.runs import best_checkpoint
    from harlab.tasks.checkpoint import load_run_module

    tests = pd.read_csv(fold_runs[0].run_dir / "predictions.csv", dtype=str)["session"]
    recs = _sweep_recordings(fd, sorted(set(tests)), settings.snr_recordings)
    stacks = snr_sweep_frames(sim, recs, settings.snrs, settings.workers,
                              load_processing(fd.folder))
    idx = np.concatenate([np.flatnonzero(fd.recording == r) for r in recs])
    truth = {"activity": fd.activity[idx], "identity": fd.person[idx]}
    modules = {r.planned.variant: load_run_module(r.run_dir, best_checkpoint(r.run_dir))[0]
               for r in fold_runs}  # complete runs, each with its own checkpoint
    for snr, st in stacks.items():
        x = np.concatenate(st)
        if len(x) != len(idx):
            raise DataError(f"SNR sweep: re-simulated recordings gave {len(x)} frames, the "
                            f"dataset has {len(idx)}")
        for key, module in modules.items():
            row = {"n": int(len(x)), **head_scores(module, x, truth)}
            sweep.setdefault(key, {}).setdefault(snr, []).append(row)


def run_frame_sweep(db_range: float, fd: FrameData, settings: Settings,
                    fold_runs: list[RunResult],
                    sweep: dict[str, dict[float, list[dict[str, float]]]]) -> None:
    """Score the fold's sweep models on all its test frames with white Gaussian noise added
    to the frames in linear power (:func:`harlab.radar.snr_sweep.add_frame_noise`)."""
    import pandas as pd

    from harlab.evaluation.snr import scores_at_snrs
    from harlab.runs import best_checkpoint
    from harlab.tasks.checkpoint import load_run_module

    tests = sorted(set(pd.read_csv(fold_runs[0].run_dir / "predictions.csv",
                                   dtype=str)["session"]))
    idx = np.flatnonzero(np.isin(fd.recording, tests))
    truth = {"activity": fd.activity[idx], "identity": fd.person[idx]}
    for r in fold_runs:
        module = load_run_module(r.run_dir, best_checkpoint(r.run_dir))[0]
        scores = scores_at_snrs(module, fd.x[idx], truth, settings.snrs, db_range,
                                seed=r.planned.fold)
        for snr, row in scores.items():
            sweep.setdefault(r.planned.variant, {}).setdefault(snr, []).append(row)


# ------------------------------------------------------------------ timing (Table 6)
def time_model(key: str, channels: list[int], input_shape: tuple[int, int], n_act: int,
               n_per: int, reps: int = 5) -> dict[str, Any]:
    """Parameters and CPU inference time (ms per frame, median) at batch 1 and 64."""
    import torch

    from harlab.tasks.multitask import build_multitask_model

    spec = SPECS[key]
    opts = model_options(spec, channels)
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


def _timing(fd: FrameData, settings: Settings) -> dict[str, Any]:
    """Table 6's timings: the ablation models at the trained size (and the paper's)."""
    shape = (int(fd.x.shape[1]), int(fd.x.shape[2]))
    n = (len(fd.activities), len(fd.persons))
    out = {}
    for key in ABLATION_KEYS:
        out[key] = {"trained": time_model(key, settings.channels, shape, *n)}
        if list(settings.channels) != [32, 64, 128]:
            out[key]["paper_size"] = time_model(key, [32, 64, 128], shape, *n, reps=1)
    return out


# ------------------------------------------------------------------ the reproduction
def simulate_into(folder: Path, quick: bool, seed: int = 0, workers: int = 1) -> Path:
    """Simulate the default (or ``quick``: tiny) dataset into ``folder``; record its settings."""
    from harlab.radar.dataset import write_frames_dataset
    from harlab.radar.simulate import DEFAULT_PERSONS, SimulationConfig, simulate_dataset

    if quick:  # 2 persons x 5 activities x 4 recordings of 2 frames
        sim = SimulationConfig(persons=list(DEFAULT_PERSONS[:2]), recordings_per_cell=4,
                               duration_s=2.5, seed=seed)
    else:
        sim = SimulationConfig(seed=seed)
    raws = simulate_dataset(sim, workers=workers)
    write_frames_dataset(raws, folder, progress=False, figures=False,
                         extra_files={SIM_FILE: sim.to_json()})
    return folder


def _open(data: str | Path | None, simulate: bool, quick: bool, settings: Settings,
          overrides: list[str], out: str | Path, command: str, resume: str | Path | None,
          merge: list[str | Path] | None, emit: Event) -> tuple[Path, Plan, dict[str, Any]]:
    """The reproduction's directory (new, or resumed), its plan and study record."""
    if merge and resume is None:
        raise ConfigError("--merge adds models to an existing reproduction: give it with "
                          "--resume DIR")
    if resume is not None and (data is not None or simulate):
        raise ConfigError("--resume reads the data its run used; drop --data/--simulate")
    if resume is None and (data is None) == (not simulate):
        raise ConfigError("give exactly one of --data DIR and --simulate")
    parent: Path | None = None
    if resume is not None:
        extra = read_study(Path(resume), "resume").get("extra") or {}
        folder = Path(extra.get("data", ""))
    elif simulate:
        parent = create_run_dir(out, "reproduce_mranet" + ("_quick" if quick else ""))
        emit("stage", {"what": "simulating the radar dataset"})
        folder = simulate_into(parent / "data", quick, workers=settings.workers)
        extra = {"quick": quick, "simulated_here": True}
    else:
        folder = Path(data).expanduser()  # type: ignore[arg-type]
        extra = {"quick": False, "simulated_here": False}
    base = base_config(folder.resolve(), settings, overrides, out)  # reads (checks) the data
    sha = extra.get("data_sha256") or folder_sha256(folder)
    plan = mranet_plan(base, settings, sha)
    parent, record = open_study(plan, out, command, resume, merge, emit, parent=parent,
                                extra={**extra, "data": str(folder.resolve()),
                                       "data_sha256": sha})
    return parent, plan, record


def reproduce_mranet(
    data: str | Path | None = None, simulate: bool = False, quick: bool = False,
    settings: Settings | None = None, overrides: list[str] | None = None,
    out: str | Path = "runs", command: str = "", on_event: Event | None = None,
    resume: str | Path | None = None, merge: list[str | Path] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run the chosen experiments; returns the reproduction's directory and results.

    ``overrides`` (:func:`training_overrides`, ``--set``-style) set the training of every
    model. ``settings.models`` limits which needed models are trained now; the others
    read n/a unless finished runs of them are there. ``resume`` continues (or extends, with
    more folds, seeds, experiments or models) a reproduction in its directory, with the
    same training settings and data; ``merge`` first copies in the finished runs of other
    reproductions of the same plan (e.g. folds trained on other machines).
    """
    settings = settings or Settings()
    emit = on_event or (lambda kind, info: None)
    t0 = time.perf_counter()
    parent, plan, record = _open(data, simulate, quick, settings, list(overrides or []), out,
                                 command, resume, merge, emit)
    if "fig11" in settings.experiments and plan.base.data.frame_scale != "stored":
        raise ConfigError("reproduce mranet: the Fig. 11 sweep scores the stored [0, 1] frames; "
                          "with data.frame_scale train use harlab radar snr-sweep on each run")
    fd = FrameData.load(plan.base)
    how = _check_sweep(fd, settings)
    wanted = settings.wanted()
    only = set(wanted if settings.models is None else settings.models)
    folds, seeds = set(settings.fold_ids()), set(settings.seeds)
    results = run_study(parent, plan, record, emit, train_only=only,  # a resumed study may
                        include=lambda p: (p.variant in wanted and p.fold in folds  # hold more
                                           and p.seed in seeds))
    rows, pooled, sweep = _collect(parent, results, fd, how, settings, emit)
    timing = _timing(fd, settings) if "table6" in settings.experiments else {}
    result = _result(parent, plan, record, settings, fd, results, rows, sweep, timing)
    result["sweep_method"] = how[0] if how is not None else None
    result["sweep_note"] = "" if how is not None or "fig11" not in settings.experiments else (
        f"skipped: {fd.folder} has no {SIM_FILE} to re-simulate its raw recordings and its "
        "dataset.json gives no dynamic_range_db to add noise to its frames in linear power")
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    write_report(parent, result, pooled, sweep)
    write_json(parent / "results.json", result)
    return parent, result


def _check_sweep(fd: FrameData, settings: Settings) -> tuple[str, Any] | None:
    """How Fig. 11 adds noise, when it is asked for: ``("raw", simulation settings)`` for a
    folder harlab simulated (checked to reproduce its first recording), else ``("frames",
    dB range)`` where the folder records its dB range; None otherwise."""
    from harlab.radar.dataset import frame_dynamic_range
    from harlab.radar.snr_sweep import check_resimulation, load_simulation

    if "fig11" not in settings.experiments:
        return None
    sim = load_simulation(fd.folder)
    if sim is not None:
        first = sorted(set(fd.recording.tolist()))[0]
        check_resimulation(sim, fd.folder, first, fd.x[fd.recording == first])
        return "raw", sim
    db_range = frame_dynamic_range(fd.folder)
    return ("frames", db_range) if db_range is not None else None


def _collect(parent: Path, results: list[RunResult], fd: FrameData,
             how: tuple[str, Any] | None, settings: Settings, emit: Event
             ) -> tuple[list[dict[str, Any]], Any, Any]:
    """Rows, pooled test predictions and the SNR sweep of the finished runs."""
    rows, pooled, sweep = [], {}, {}
    for res in results:
        rows.append(run_row(res, parent))
        pool_predictions(res, pooled, fd.activities, fd.persons)
    if how is not None:
        for fold in sorted({r.planned.fold for r in results}):
            runs = [r for r in results if r.planned.fold == fold
                    and r.planned.variant in NEEDS["fig11"]]
            if runs:
                emit("stage", {"what": f"SNR sweep, fold {fold}"})
                if how[0] == "raw":
                    run_sweep(how[1], fd, settings, runs, sweep)
                else:
                    run_frame_sweep(how[1], fd, settings, runs, sweep)
    return rows, pooled, sweep


def _fold_sizes(results: list[RunResult]) -> list[list[int]]:
    """(train, val, test) frames of each fold, from the first run of each."""
    sizes: dict[Any, list[int]] = {}
    for r in results:
        if r.planned.fold not in sizes:
            w = json.loads((r.run_dir / "data.json").read_text())["windows"]
            sizes[r.planned.fold] = [int(w["train"]), int(w["val"]), int(w["test"])]
    return [sizes[f] for f in sorted(sizes)]


def _result(parent: Path, plan: Plan, record: dict[str, Any], settings: Settings,
            fd: FrameData, results: list[RunResult], rows: list[dict[str, Any]], sweep: Any,
            timing: dict[str, Any]) -> dict[str, Any]:
    """``results.json``: settings, data, every row, summaries per model."""
    extra = record.get("extra") or {}
    t = plan.base.train
    summary = {}
    for key in settings.wanted():
        rs = [r for r in rows if r["model"] == key]
        summary[key] = run_stats(rs, ("activity_macro_f1", "identity_macro_f1",
                                   "activity_accuracy", "identity_accuracy", "train_seconds",
                                   "epochs_trained", "seconds_per_epoch", "best_val"))
        summary[key]["parameters"] = rs[0]["parameters"] if rs else None
        if rs and any(r.get("decisions") for r in rs):
            summary[key]["decisions"] = decision_summary([r for r in rs if r.get("decisions")])
    limits = {"folds": settings.folds, "seeds": settings.seeds, "epochs": t.max_epochs,
              "max_time": t.max_time, "patience": t.patience, "batch_size": t.batch_size,
              "lr": t.lr, "weight_decay": t.weight_decay, "channels": settings.channels,
              "precision": t.precision, "init": t.init,
              "snr_recordings": settings.snr_recordings}
    return {
        "paper": PAPER_SOURCE, "command": record.get("command", ""),
        "experiments": settings.experiments, "protocol": settings.protocol,
        "protocol_note": protocol_note(settings.protocol),
        "data": {"folder": str(fd.folder), "frames": int(len(fd.x)),
                 "recordings": int(len(np.unique(fd.recording))),
                 "activities": fd.activities, "persons": fd.persons,
                 "simulated_here": bool(extra.get("simulated_here")),
                 "quick": bool(extra.get("quick")), "snr_range": _snr_range(fd.folder)},
        "limits": limits, "hardware": hardware(),
        "not_run": [k for k in settings.wanted() if not any(r["model"] == k for r in rows)],
        "started": record.get("started"), "resumes": record.get("resumes", []),
        "merged": record.get("merged", []), "summary": summary, "runs": rows,
        "timing": timing, "sweep": {str(s): v for s, v in sweep_summary(sweep).items()},
        "fold_sizes": _fold_sizes(results),
        "fold_ids": sorted({r["fold"] for r in rows}), "fold_seed": settings.fold_seed(),
        "table4_pairs": table4_pairs(rows) if "table4" in settings.experiments else [],
        "directory": str(parent), "finished_at": datetime.now().isoformat(timespec="seconds"),
    }


def _snr_range(folder: Path) -> str:
    """'SNR a-b dB' of the dataset's frames (its labels' snr_db), counting frames without."""
    import pandas as pd

    from harlab.radar.dataset import LABELS

    table = pd.read_csv(folder / LABELS)
    if "snr_db" not in table:
        return "SNR not recorded in the dataset"
    snr = pd.to_numeric(table["snr_db"], errors="coerce").to_numpy(np.float64)
    frames = (pd.to_numeric(table["n_frames"], errors="coerce").fillna(1).to_numpy(np.int64)
              if "n_frames" in table else np.ones(len(table), np.int64))
    known = np.isfinite(snr)
    if not known.any():
        return "SNR not recorded in the dataset"
    rest = int(frames[~known].sum())
    return (f"SNR {snr[known].min():.1f}-{snr[known].max():.1f} dB"
            + (f"; {rest} frames noise-free or without a recorded SNR" if rest else ""))
