"""Train, evaluate and predict: the jobs behind ``harlab train/evaluate/predict``.

``train`` prepares the data honestly (see :mod:`harlab.data.prepare`), trains with a
Lightning Trainer (progress bar, best-by-validation-macro-F1 checkpoint, early stopping,
resume, bf16 autocast, devices/strategy/num_nodes passed through for DDP), then -- on
rank 0 only, in a single process -- scores the best checkpoint on the test part and
writes metrics JSON, a markdown summary, plots and per-window predictions.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from harlab.config import (
    RunConfig,
    dump_yaml,
    resolve_precision,
    run_config,
    uses_bf16,
)
from harlab.data.datamodule import WindowDataModule
from harlab.data.prepare import PreparedData, data_summary, prepare
from harlab.errors import CheckpointError, ConfigError
from harlab.evaluation.decisions import (
    decisions_markdown,
    plot_window_decisions,
    window_decisions,
)
from harlab.evaluation.plots import (
    plot_confusion_matrix,
    plot_per_group,
    plot_training_curves,
)
from harlab.evaluation.report import metrics_markdown
from harlab.evaluation.scoring import score_heads, write_predictions
from harlab.fileio import write_bytes_atomic, write_json
from harlab.hardware import on_cuda, reuse_freed_memory, training_conditions
from harlab.runs import (
    RUN_ENV,
    RUN_FORMAT,
    attempt_count,
    best_checkpoint,
    check_run_dir,
    create_run_dir,
    describe_unfinished,
    inherited_run_dir,
    read_checkpoint,
    read_marker,
    set_run_state,
    start_attempt,
)
from harlab.tasks.checkpoint import check_matches_run, load_module, load_run_module
from harlab.tasks.classifier import WindowClassifier
from harlab.tasks.predict import head_classes
from harlab.tasks.pretrain import CHECKPOINT as PRETRAIN_CKPT
from harlab.tasks.pretrain import classifier_parameters, epochs_done, run_pretraining
from harlab.tracking import check_installed, describe, finish_loggers, make_loggers

log = logging.getLogger("harlab")
SLOW_EPOCH_SECONDS = 600.0  # an estimated epoch longer than this is announced up front

Say = Callable[[str], None]  # receives one plain-text progress line


def _epoch_rows(csv_path: Path) -> dict[int, dict[str, Any]]:
    """Epoch rows (train and val metrics merged) of one CSVLogger file."""
    rows: dict[int, dict[str, Any]] = {}
    if not csv_path.is_file():
        return rows
    with csv_path.open() as fh:
        for row in csv.DictReader(fh):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            merged = rows.setdefault(epoch, {"epoch": epoch})
            for k, v in row.items():
                if k not in ("epoch", "step") and v not in ("", None):
                    merged[k] = float(v)
    return rows


def log_folder(run_dir: Path, attempt: int) -> Path:
    """Where training attempt ``attempt`` logs: ``logs/`` for the first, ``logs/attempt-N/``
    for resume N-1 (Lightning's CSVLogger empties the folder it starts in)."""
    return run_dir / "logs" if attempt == 1 else run_dir / "logs" / f"attempt-{attempt}"


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """The run's epoch rows over all its training attempts: an attempt that resumed at
    epoch e replaces the earlier attempts' rows from e on (a killed attempt's last,
    unfinished epoch is trained again); its rows of earlier epochs (the metrics its
    checkpoint carried) only fill what the earlier attempts never logged."""
    rows: dict[int, dict[str, Any]] = {}
    records = read_marker(run_dir).get("attempts") or []
    for attempt in range(1, attempt_count(run_dir) + 1):
        new = _epoch_rows(log_folder(run_dir, attempt) / "metrics.csv")
        if not new:
            continue
        record = records[attempt - 1] if attempt <= len(records) else {}
        start = record.get("resumed_from_epoch", min(new))
        kept = {e: r for e, r in rows.items() if e < start}
        for e in (e for e in new if e < start):
            kept[e] = new[e] | kept.get(e, {})
        rows = kept | {e: r for e, r in new.items() if e >= start}
    return [rows[e] for e in sorted(rows)]


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]
    is_main: bool



def _class_weights(y: np.ndarray, k: int) -> list[float]:
    counts = np.bincount(y, minlength=k).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (k * np.maximum(counts, 1)), 0.0)
    return w.tolist()



def _write_outputs(
    run_dir: Path,
    cfg: RunConfig,
    data: PreparedData,
    module: WindowClassifier,
    history: list[dict[str, Any]],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Score the best module on the test part; write metrics, predictions, history, plots
    and the markdown summary of the run."""
    heads, probs = score_heads(module, data, "test", bf16=uses_bf16(cfg.train.precision))
    names = head_classes(module)
    primary = next(iter(heads))
    result = {
        "test": heads[primary],
        "model": cfg.model.name,
        "parameters": classifier_parameters(module.model),
        "dataset": cfg.data.dataset,
        "split": data.split.description,
        "warnings": data.split.warnings,
        **extra,
    }
    result["decisions"] = window_decisions(data, probs, names, "test")
    if cfg.task.is_multitask:
        result["heads"] = list(heads)
        result["test_heads"] = heads
        result["task"] = dataclasses.asdict(cfg.task)
        if "w" in probs:
            result["flwl_test"] = _flwl_summary(probs["w"], run_dir)
    write_predictions(run_dir / "predictions.csv", data, "test", probs, names)
    _write_history(run_dir / "history.csv", history)
    _plot_run(run_dir, cfg, heads, names, history, result)
    (run_dir / "summary.md").write_text(_summary_markdown(run_dir, cfg, data, heads, names,
                                                          result, extra))
    # last: metrics.json marks a finished run (studies reuse a run that has it)
    write_json(run_dir / "metrics.json", result)
    return result


def _flwl_summary(w: np.ndarray, run_dir: Path) -> dict[str, Any]:
    """The FLWL loss-weight ratio r_w over the test windows; its histogram as PNG."""
    from harlab.tasks.losses import rw_from_w
    from harlab.tasks.multitask import plot_rw_histogram

    rw = rw_from_w(torch.from_numpy(w)).numpy()
    plot_rw_histogram(rw, run_dir / "flwl_rw_histogram.png")
    return {"rw_mean": float(rw.mean()), "rw_std": float(rw.std()),
            "rw_quantiles": {str(q): float(np.quantile(rw, q)) for q in (0.05, 0.5, 0.95)},
            "w_max_mean": float(w.max(1).mean())}


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        keys = sorted({k for r in history for k in r}, key=lambda k: (k != "epoch", k))
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(history)


def _plot_run(run_dir: Path, cfg: RunConfig, heads: dict[str, dict[str, Any]],
              names: dict[str, list[str]], history: list[dict[str, Any]],
              result: dict[str, Any]) -> None:
    """Confusion matrix per head, training curves, per-subject scores, decisions."""
    primary = next(iter(heads))
    what = f"{cfg.model.name} on {cfg.data.dataset}"
    for head, m in heads.items():
        fname = "confusion_matrix.png" if head == primary else f"confusion_matrix_{head}.png"
        plot_confusion_matrix(np.asarray(m["confusion_matrix"]), names[head], run_dir / fname,
                              normalize="true", title=f"{what} (test, {head})")
    if history:
        plot_training_curves(history, run_dir / "training_curves.png", title=what)
    if heads[primary].get("per_subject"):
        plot_per_group(heads[primary]["per_subject"], "macro_f1", run_dir / "per_subject.png",
                       title="test macro-F1 per subject")
    plot_window_decisions(result["decisions"], run_dir / "decisions.png",
                          f"{what}: test macro-F1 vs windows per decision")


def _summary_markdown(run_dir: Path, cfg: RunConfig, data: PreparedData,
                      heads: dict[str, dict[str, Any]], names: dict[str, list[str]],
                      result: dict[str, Any], extra: dict[str, Any]) -> str:
    """``summary.md``: the run's facts, each head's metrics and the decisions."""
    primary = next(iter(heads))
    info = {
        "dataset": cfg.data.dataset,
        "model": f"{cfg.model.name} ({result['parameters']:,} parameters)",
        "protocol": data.split.description,
        "run": str(run_dir),
        **{k: str(v) for k, v in extra.items()
           if k in ("note", "best_epoch", "train_seconds", "precision", "seed")},
    }
    if cfg.task.is_multitask:
        info.update(_task_info(cfg, heads, result))
    if "pretrain" in extra:
        info["pre-training"] = (f"{extra['pretrain']['epochs']} epochs of reconstruction of the "
                                "training windows, final MSE "
                                f"{extra['pretrain']['final_reconstruction_mse']:.4g}")
    notes = training_notes(result, cfg.train.max_epochs)
    if notes:
        info["training"] = "; ".join(notes)
    for wmsg in data.split.warnings:
        info["WARNING"] = wmsg
    md = metrics_markdown(heads[primary], names[primary], f"harlab run {run_dir.name}", info)
    if len(heads) > 1 or primary != "activity":
        md = md.replace("## Overall", f"## {primary} head\n\n## Overall", 1)
        for head, m in heads.items():
            if head != primary:
                sub = metrics_markdown(m, names[head], f"{head} head")
                md += "\n\n" + sub.replace("# ", "## ", 1).replace("\n## ", "\n### ")
    return md.rstrip("\n") + "\n\n" + decisions_markdown(result["decisions"])


def _task_info(cfg: RunConfig, heads: dict[str, Any], result: dict[str, Any]
               ) -> dict[str, str]:
    """Summary lines of a multitask (or identity-only) run."""
    info = {"heads": ", ".join(heads)}
    task = cfg.task
    info["loss weighting"] = (
        task.loss_weighting + (f" (r={task.fixed_ratio:g})"
                               if task.loss_weighting == "fixed" else "")
        if len(heads) > 1 else "single task")
    info["model selection"] = ("mean of the heads' validation macro-F1"
                               if task.monitor == "mean"
                               else f"validation macro-F1 of the {task.monitor} head")
    if "flwl_test" in result:
        info["FLWL r_w on test (mean)"] = f"{result['flwl_test']['rw_mean']:.4f}"
    return info


def check_task_split(cfg: RunConfig) -> None:
    """Identification needs the test persons in training: reject subject-wise splits."""
    if "identity" in cfg.task.heads and cfg.data.split.kind in ("subject", "given"):
        raise ConfigError(
            f"task.heads includes identity, but data.split.kind={cfg.data.split.kind} puts "
            "different persons in training and test, so nobody in the test part could be "
            "identified; use split.kind=session or recording (train and test on different "
            "sessions or recordings of the same persons) or random"
        )


def task_hparams(cfg: RunConfig, data: PreparedData) -> dict[str, Any] | None:
    """The classifier's ``task`` hyperparameters (None for plain activity classification).

    Raises ConfigError when validation/test windows belong to persons without training
    windows (they cannot be identified).
    """
    if not cfg.task.is_multitask:
        return None
    if "identity" in cfg.task.heads:
        for part in ("val", "test"):
            unseen = int((data.person[part] < 0).sum())
            if unseen:
                who = sorted({str(s) for s in data.subjects(part)[data.person[part] < 0]})
                raise ConfigError(
                    f"{cfg.data.dataset}: {unseen} {part} windows belong to persons with no "
                    f"training windows ({', '.join(who[:5])}); the identity head cannot "
                    "learn them -- check the split"
                )
        if len(data.person_names) < 2:
            raise ConfigError("the identity head needs at least 2 persons in the training part")
    task = dataclasses.asdict(cfg.task)
    task["identity_names"] = list(data.person_names) if "identity" in cfg.task.heads else []
    return task


class _EpochKeeper(Callback):
    """Makes every epoch a function of (seed, epoch) and its logs durable, so that a run
    killed and resumed trains exactly as one that never stopped: reseeds torch (dropout)
    at each epoch start, writes the CSV log after validation and at each epoch start, and
    counts each epoch's training batches (an epoch cut short by ``max_time`` is not a
    trained epoch).

    Lightning saves the epoch's checkpoints before it logs that epoch's training metrics,
    so a kill in between would leave a resumable checkpoint whose epoch has no training
    row: every checkpoint therefore carries those metrics (:meth:`state_dict`), and a resume
    logs them again into its own CSV log, where :func:`read_history` fills the gap."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.batches = 0
        self.last_epoch: tuple[int, int, int] | None = None  # (epoch, batches, of)
        self._trainer: L.Trainer | None = None
        self._restored: dict[str, Any] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        """The training metrics Lightning will log for the epoch ending now (saved with
        the checkpoint); empty outside an epoch's end."""
        trainer = self._trainer
        connector = getattr(trainer, "_logger_connector", None)
        if trainer is None or not trainer.training or connector is None \
                or connector._first_loop_iter is not None:  # not at a training epoch's end
            return {}
        logged = connector.metrics["log"]
        return {"epoch": int(trainer.current_epoch),
                "train_metrics": {k: float(v) for k, v in logged.items() if k != "epoch"}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = dict(state_dict)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A resume logs its checkpoint's epoch's training metrics again (CSV only: the
        history's source), in case the killed attempt never did."""
        from lightning.pytorch.loggers import CSVLogger

        metrics = self._restored.get("train_metrics")
        if not metrics:
            return
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                logger.log_metrics({**metrics, "epoch": self._restored["epoch"]},
                                   step=max(int(trainer.global_step) - 1, 0))
                logger.save()

    def _flush(self, trainer: L.Trainer) -> None:
        for logger in trainer.loggers:
            logger.save()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush(trainer)
        state = np.random.SeedSequence([self.seed, trainer.current_epoch]).generate_state(1)
        torch.manual_seed(int(state[0]))
        self.batches = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self.batches = batch_idx + 1

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.last_epoch = (trainer.current_epoch, self.batches,
                           int(trainer.num_training_batches))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush(trainer)


class _EpochEstimate(Callback):
    """Times a few training steps of a fit's first epoch (after ``warmup`` untimed ones) and
    estimates the epoch's training time from its number of batches; when that exceeds
    ``threshold_s`` says so once on the ``harlab`` logger. ``seconds`` keeps the estimate
    (None when the epoch has too few batches to time); ``clock`` is injectable for tests."""

    def __init__(self, warmup: int = 2, steps: int = 5,
                 threshold_s: float = SLOW_EPOCH_SECONDS,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if warmup < 1 or steps < 1:
            raise ValueError("warmup and steps must be at least 1")
        self.warmup, self.steps, self.threshold_s, self.clock = warmup, steps, threshold_s, clock
        self.seconds: float | None = None
        self._start: float | None = None
        self._windows = 0
        self._done = False

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._done:
            return
        if batch_idx == self.warmup - 1:  # timing starts after the warm-up steps end
            self._start = self.clock()
            return
        if self._start is None or batch_idx < self.warmup:
            return
        self._windows += len(batch[0] if isinstance(batch, (list, tuple)) else batch)
        if batch_idx == self.warmup + self.steps - 1:
            self._done = True
            self._estimate(trainer, self.clock() - self._start)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._done = True  # only the first epoch is timed

    def _estimate(self, trainer: L.Trainer, elapsed: float) -> None:
        batches = trainer.num_training_batches
        if elapsed <= 0 or not np.isfinite(batches):
            return
        self.seconds = elapsed / self.steps * int(batches)
        if self.seconds > self.threshold_s and trainer.is_global_zero:
            log.warning(
                "estimated %.0f min per epoch (%.1f windows/s at %d per batch, %d batches); "
                "a narrower model (--set model.options.channels=[...]) or fewer channels "
                "trains faster", self.seconds / 60, self._windows / elapsed,
                round(self._windows / self.steps), int(batches))


@dataclass
class Fit:
    """A finished ``trainer.fit``: the Trainer, the best-checkpoint callback, seconds, the
    epoch keeper (how many batches the last epoch trained) and the first epoch's up-front
    time estimate."""

    trainer: L.Trainer
    best: ModelCheckpoint
    seconds: float
    keeper: _EpochKeeper
    estimate: _EpochEstimate


def _checkpoints(run_dir: Path) -> tuple[ModelCheckpoint, ModelCheckpoint]:
    """``checkpoints/best.ckpt`` (highest validation macro-F1) and ``last.ckpt`` (the
    latest state after every epoch; Lightning's save_last only follows improvements)."""
    best_cb = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best",
                              monitor="val_macro_f1", mode="max", save_last=False,
                              save_top_k=1, enable_version_counter=False)
    last_cb = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", monitor=None,
                              save_top_k=1, every_n_epochs=1, enable_version_counter=False)
    return best_cb, last_cb


def fit_module(
    module: L.LightningModule,
    dm: L.LightningDataModule,
    run_dir: Path,
    *,
    max_epochs: int,
    patience: int | None = None,
    min_epochs: int | None = None,
    accelerator: str = "auto",
    devices: Any = "auto",
    strategy: str = "auto",
    num_nodes: int = 1,
    precision: Any = "32-true",
    max_time: Any = None,
    limit_train_batches: int | float | None = None,
    limit_val_batches: int | float | None = None,
    progress: bool = False,
    ckpt_path: str | None = None,
    seed: int = 0,
    attempt: int = 1,
    loggers: tuple[str, ...] | list[str] = ("csv",),
    params: dict[str, Any] | None = None,
) -> Fit:
    """Fit ``module`` with harlab's one Trainer set-up; every training job goes through here.

    Checkpoints ``checkpoints/best.ckpt`` (highest ``val_macro_f1``: model selection on
    validation data only) and ``checkpoints/last.ckpt`` (every epoch, for resume), early
    stopping on ``val_macro_f1`` when ``patience`` is set, CSV logs under ``logs/`` (training
    attempt ``attempt`` > 1, a resume: ``logs/attempt-N/``) plus the other ``loggers``
    (:func:`harlab.tracking.make_loggers`; ``params``: the config MLflow records); epoch e
    reseeds torch from
    (``seed``, e), so a resumed run trains as an uninterrupted one.
    ``limit_*_batches`` go to Lightning as given (a float is a fraction, an int a number
    of batches). Resuming from ``ckpt_path`` loads it with ``weights_only=True``. Training
    on the CPU keeps freed memory for reuse (:func:`harlab.hardware.reuse_freed_memory`);
    on a CUDA GPU the host allocator is left alone (activations live on the GPU there).
    """
    if not on_cuda(accelerator):
        reuse_freed_memory()
    best_cb, last_cb = _checkpoints(run_dir)
    keeper, estimate = _EpochKeeper(seed), _EpochEstimate()
    callbacks: list[Callback] = [keeper, estimate, best_cb, last_cb]
    if patience:
        callbacks.append(EarlyStopping("val_macro_f1", mode="max", patience=patience))
    trainer = L.Trainer(
        max_epochs=max_epochs,
        min_epochs=min_epochs,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        num_nodes=num_nodes,
        precision=precision,
        max_time=max_time,
        limit_train_batches=limit_train_batches,
        limit_val_batches=limit_val_batches,
        callbacks=callbacks,
        logger=make_loggers(loggers, run_dir,
                            "" if attempt == 1 else log_folder(run_dir, attempt).name, params),
        log_every_n_steps=10,
        enable_progress_bar=progress,
        enable_model_summary=False,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        deterministic=False,
        default_root_dir=str(run_dir),
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*number of training batches.*")
        warnings.filterwarnings("ignore", ".*exists and is not empty.*")  # pretrain.ckpt
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path, weights_only=True)
    return Fit(trainer, best_cb, time.perf_counter() - t0, keeper, estimate)


def train(cfg: RunConfig, say: Say | None = None) -> TrainResult:
    """Train a new run; returns its directory and (on rank 0) test metrics.

    The run directory is created once the data are prepared and the model is built (an
    error there leaves none);
    its marker says ``running`` while it trains, then ``complete`` or ``failed`` (with the
    error). ``say(line)`` receives the run's progress lines (plain text); None: silent.
    """
    _start(cfg)
    child_dir = inherited_run_dir()
    prepared = _prepare(cfg)
    module = build_module(cfg, prepared[0], prepared[1])  # a model error: no directory either
    run_dir = child_dir if child_dir is not None else create_run_dir(cfg.output_dir,
                                                                     cfg.run_name())
    with _marking(run_dir, child_dir is not None):
        if child_dir is None:
            write_bytes_atomic(run_dir / "config.yaml", dump_yaml(cfg).encode())
        return _train_in(run_dir, cfg, prepared, None, child_dir is not None, say, module)


def resume(run_dir: str | Path, epochs: int | None = None, progress: bool | None = None,
           say: Say | None = None, force: bool = False) -> TrainResult:
    """Continue an unfinished (killed or failed) run from ``checkpoints/last.ckpt`` in its
    own directory, with its own ``config.yaml``; ``epochs`` may raise its ``max_epochs``
    (recorded in ``config.yaml``). A complete run is refused: it is never changed. A run
    still marked running by another host is refused unless ``force`` (the user knows that
    process is dead: two machines training into one directory would corrupt it)."""
    run = check_run_dir(run_dir)
    is_child = inherited_run_dir() is not None
    cfg = run_config(run / "config.yaml")
    last = run / "checkpoints" / "last.ckpt"
    if not is_child:
        _check_resumable(run, last, force)
    ckpt = _resume_checkpoint(run, last)
    before = cfg.train.max_epochs
    if epochs is not None:
        if epochs < before:
            raise ConfigError(f"--epochs {epochs}: {run} was set to train {before} epochs; "
                              "a resume may raise that number, not lower it")
        cfg.train.max_epochs = epochs
    if progress is not None:
        cfg.train.progress = progress
    _start(cfg)
    prepared = _prepare(cfg)
    module = build_module(cfg, prepared[0], prepared[1])
    if ckpt is not None:
        _check_resume_checkpoint(module, ckpt, last)
    if not is_child:
        start_attempt(run, resumed_from_epoch=int(ckpt["epoch"]) + 1 if ckpt else 0,
                      max_epochs=cfg.train.max_epochs,
                      **({} if ckpt else {"pretrain_epochs_done": epochs_done(run)}))
        if cfg.train.max_epochs != before:
            write_bytes_atomic(run / "config.yaml", dump_yaml(cfg).encode())
    with _marking(run, is_child):
        return _train_in(run, cfg, prepared, str(last) if ckpt else None, is_child, say,
                         module)


def _resume_checkpoint(run: Path, last: Path) -> dict[str, Any] | None:
    """``checkpoints/last.ckpt`` of ``run``, checked to be the run's own; None for a run
    stopped during or right after its pre-training (its ``pretrain.ckpt``, checked the same
    way, is resumed or reused and the supervised fit starts from the beginning)."""
    if not last.is_file() and (run / PRETRAIN_CKPT).is_file():
        pre = read_checkpoint(run / PRETRAIN_CKPT)
        check_matches_run(run, run / PRETRAIN_CKPT, pre["hyper_parameters"])
        return None
    ckpt = read_checkpoint(last)
    check_matches_run(run, last, ckpt["hyper_parameters"])
    return ckpt


def _check_resumable(run: Path, last: Path, force: bool = False) -> None:
    """One line when ``run`` may not be resumed: complete, of no state, still training,
    marked running by another host (unless ``force``), or without ``last.ckpt``."""
    from harlab.runs import run_state, running_elsewhere

    state = run_state(run)
    if state == "complete":
        raise CheckpointError(
            f"{run} is a complete run and is never changed; harlab has no option to continue "
            f"training a finished run into a new directory: train a new run with its settings "
            f"(`harlab train {run / 'config.yaml'} --epochs N`)")
    why = describe_unfinished(run)
    if state is None or (why is not None and "still training" in why):
        raise CheckpointError(f"cannot resume: {why}")
    if running_elsewhere(run) is not None and not force:
        raise CheckpointError(f"cannot resume: {why}")
    if not last.is_file() and not (run / PRETRAIN_CKPT).is_file():
        raise CheckpointError(f"{run}: nothing to resume (no checkpoints/last.ckpt: it was "
                              "stopped before its first epoch ended); train it again")


def _check_resume_checkpoint(module: WindowClassifier, ckpt: dict[str, Any], path: Path
                             ) -> None:
    """One line when ``ckpt`` cannot resume ``module`` (Lightning would raise deep inside):
    missing training state, weights or optimizer state of another shape."""
    missing = [k for k in ("epoch", "global_step", "optimizer_states", "loops") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: not a resumable checkpoint (no {', '.join(missing)})")
    theirs, mine = ckpt["hyper_parameters"]["harlab"], module.hparams["harlab"]
    for key in ("channels", "rate", "window_length", "window_step", "class_ids"):
        if theirs.get(key) != mine[key]:
            raise CheckpointError(f"{path}: its {key} is {theirs.get(key)}, the run's data now "
                                  f"give {mine[key]}; the dataset changed since training")
    if not np.allclose((theirs.get("normalization") or {}).get("mean", []),
                       mine["normalization"]["mean"], atol=1e-4):
        raise CheckpointError(f"{path}: training data changed since this run (normalisation "
                              "differs)")
    probe = copy.deepcopy(module)
    try:
        probe.load_state_dict(ckpt["state_dict"], strict=True)
        opt = probe.configure_optimizers()
        opt = opt["optimizer"] if isinstance(opt, dict) else opt
        opt.load_state_dict(ckpt["optimizer_states"][0])
    except (RuntimeError, ValueError, KeyError, IndexError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} does not fit its run's model: {first[:200]}") from None


@contextmanager
def _marking(run_dir: Path, is_child: bool) -> Iterator[None]:
    """Mark ``run_dir`` failed, with the error, when the body raises (rank 0 only)."""
    try:
        yield
    except BaseException as exc:
        if not is_child:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            what = ("interrupted" if isinstance(exc, (KeyboardInterrupt, SystemExit))
                    else f"{type(exc).__name__}: {text[:300]}")
            set_run_state(run_dir, "failed", error=what)
        raise


def _start(cfg: RunConfig) -> None:
    """Threads, seeds, names checked, precision resolved, Lightning's banner silenced."""
    if cfg.train.threads:
        torch.set_num_threads(int(cfg.train.threads))
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    _check_names(cfg)
    cfg.train.precision = resolve_precision(cfg.train.precision, cfg.train.accelerator)
    for name in ("lightning.pytorch", "lightning.fabric"):  # banner and tips; warnings stay
        logging.getLogger(name).setLevel(logging.WARNING)


def _prepare(cfg: RunConfig) -> tuple[PreparedData, dict[str, Any] | None, float]:
    """(data, task hyperparameters, seconds): everything checked before a run is made."""
    t0 = time.perf_counter()
    data = prepare(cfg.data)
    prep_s = time.perf_counter() - t0
    if data.y["val"].size == 0:
        raise ConfigError("the validation part is empty; set data.split.val_fraction > 0")
    return data, task_hparams(cfg, data), prep_s


def _train_in(run_dir: Path, cfg: RunConfig,
              prepared: tuple[PreparedData, dict[str, Any] | None, float],
              ckpt_path: str | None, is_child: bool, say: Say | None,
              module: WindowClassifier | None = None) -> TrainResult:
    """Train in ``run_dir`` (from ``ckpt_path`` for a resume), then on rank 0 score the best
    checkpoint, write the outputs and mark the run complete."""
    say = say or (lambda line: None)
    data, task, prep_s = prepared
    os.environ[RUN_ENV] = str(run_dir.resolve())
    if not is_child:
        summary = data_summary(data)
        write_json(run_dir / "data.json", summary)
        for line in _data_lines(run_dir, summary, data, prep_s, task):
            say(line)
    module = module if module is not None else build_module(cfg, data, task)
    if not is_child and (tracked := describe(cfg.train.loggers, run_dir)):
        say(tracked)  # where the TensorBoard and MLflow logs go
    labels = data.y if task is None else {p: np.stack([data.y[p], data.person[p]], 1)
                                           for p in data.y}
    dm = WindowDataModule(data.x, labels, batch_size=cfg.train.batch_size, seed=cfg.train.seed,
                          augment=cfg.train.augment)
    pretrained = run_pretraining(module, dm, run_dir, cfg.train, ckpt_path is not None,
                                 say if not is_child else lambda line: None)
    fit = _fit_config(module, dm, run_dir, cfg, ckpt_path)
    if not fit.trainer.is_global_zero:
        return TrainResult(run_dir, {}, False)
    best = best_checkpoint(run_dir)
    extra = _fit_facts(cfg, fit, run_dir, best, prep_s, len(dm.train_dataloader()))
    if pretrained is not None:
        extra["pretrain"] = pretrained
    module = scoring_module(load_module(best), cfg)
    result = _write_outputs(run_dir, cfg, data, module, read_history(run_dir), extra)
    finish_loggers(fit.trainer.loggers, run_dir, result, int(fit.trainer.global_step))
    set_run_state(run_dir, "complete")
    return TrainResult(run_dir, result, True)


def scoring_module(module: WindowClassifier, cfg: RunConfig) -> WindowClassifier:
    """A reloaded module on the device its run trained on: a CUDA GPU for a GPU run (where
    one is present), else the CPU it was loaded on."""
    return module.to("cuda") if on_cuda(cfg.train.accelerator) else module


def _check_names(cfg: RunConfig) -> None:
    """Fail fast on names before any data is loaded or a run directory is created."""
    from harlab.data.sources import get_source
    from harlab.models.registry import get_model_spec

    get_source(cfg.data.dataset)
    get_model_spec(cfg.model.name)
    check_task_split(cfg)
    check_installed(cfg.train.loggers)


def _data_lines(run_dir: Path, summary: dict[str, Any], data: PreparedData, prep_s: float,
                task: dict[str, Any] | None) -> list[str]:
    """What a run says before training: where it is, its data, drops, warnings, heads."""
    win = summary["windows"]
    lines = [f"run directory {run_dir}",
             f"data: {summary['dataset']} | {summary['split']} | windows train {win['train']}, "
             f"val {win['val']}, test {win['test']} | {len(data.class_names)} classes | "
             f"prepared in {prep_s:.1f}s{' (cache)' if summary['from_cache'] else ''}"]
    if summary["dropped"]:
        lines.append("dropped: " + ", ".join(f"{k}={v}" for k, v in summary["dropped"].items()))
    lines += [f"WARNING {w}" for w in data.split.warnings]
    if task is not None:
        lines.append(f"task: heads {', '.join(task['heads'])}"
                     + (f" ({len(task['identity_names'])} persons)"
                        if task["identity_names"] else "")
                     + (f" | loss weighting {task['loss_weighting']}"
                        if len(task["heads"]) > 1 else ""))
    return lines


def checkpoint_metadata(cfg: RunConfig, data: PreparedData) -> dict[str, Any]:
    """What a checkpoint records about its input (``hparams["harlab"]``): the run format,
    channels, units, rate, window and normalisation that prediction must reproduce."""
    return {
        "version": RUN_FORMAT,
        "dataset": cfg.data.dataset,
        "channels": list(data.windowed.channels),
        "units": list(data.windowed.units),
        "rate": float(data.windowed.windows.rate),
        "window_length": int(data.windowed.windows.length),
        "window_step": int(data.windowed.windows.step),
        "class_ids": [int(c) for c in data.class_ids],
        "normalization": data.normalizer.to_dict(),
    }


def build_module(cfg: RunConfig, data: PreparedData, task: dict[str, Any] | None
                 ) -> WindowClassifier:
    """The untrained classifier of ``cfg`` for ``data`` (with ``task``'s heads)."""
    k = len(data.class_names)
    return WindowClassifier(
        model_name=cfg.model.name,
        model_options=dict(cfg.model.options),
        input_shape=list(data.input_shape),
        class_names=list(data.class_names),
        lr=cfg.train.lr,
        weight_decay=cfg.train.weight_decay,
        optimizer=cfg.train.optimizer,
        lr_step=cfg.train.lr_step,
        lr_gamma=cfg.train.lr_gamma,
        lr_schedule=cfg.train.lr_schedule,
        label_smoothing=cfg.train.label_smoothing,
        init=cfg.train.init,
        class_weights=_class_weights(data.y["train"], k) if cfg.train.class_weights else None,
        harlab=checkpoint_metadata(cfg, data),
        task=task,
    )


def _fit_config(module: WindowClassifier, dm: WindowDataModule, run_dir: Path,
                cfg: RunConfig, ckpt_path: str | None) -> Fit:
    """:func:`fit_module` with the training settings of ``cfg``."""
    t = cfg.train
    return fit_module(
        module, dm, run_dir, max_epochs=t.max_epochs, patience=t.patience,
        min_epochs=t.min_epochs, accelerator=t.accelerator, devices=t.devices,
        strategy=t.strategy, num_nodes=t.num_nodes, precision=t.precision,
        max_time=t.max_time, limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches, progress=t.progress, ckpt_path=ckpt_path,
        seed=t.seed, attempt=attempt_count(run_dir), loggers=t.loggers, params=cfg.to_dict(),
    )


def _fit_facts(cfg: RunConfig, fit: Fit, run_dir: Path, best: Path, prep_s: float,
               available_batches: int) -> dict[str, Any]:
    """How training went, for ``metrics.json``: whole epochs trained, an epoch cut short
    (``max_time``), what stopped it, and training batches per epoch when limited."""
    score = fit.best.best_model_score
    epochs = int(fit.trainer.current_epoch)
    facts: dict[str, Any] = {"best_checkpoint": str(best.relative_to(run_dir)),
                             "best_val_macro_f1": float(score) if score is not None else None}
    last = fit.keeper.last_epoch
    if last is not None and last[1] < last[2]:  # the last epoch stopped inside
        epochs -= 1
        facts["unfinished_epoch"] = {"epoch": last[0], "batches": last[1], "of": last[2]}
    facts["epochs_trained"] = epochs
    facts["stopped_before_max_epochs"] = bool(epochs < cfg.train.max_epochs)
    facts["stopped_by"] = _stopped_by(fit) if epochs < cfg.train.max_epochs else None
    batches = int(fit.trainer.num_training_batches)
    if batches < available_batches:
        facts["train_batches_per_epoch"] = {"used": batches, "of": available_batches}
    return {
        **facts,
        "train_seconds": round(fit.seconds, 2),
        # from a few timed steps of the first epoch (training only, no validation)
        "estimated_epoch_seconds": (None if fit.estimate.seconds is None
                                    else round(fit.estimate.seconds, 1)),
        "prepare_seconds": round(prep_s, 2),
        "precision": str(cfg.train.precision),
        "seed": cfg.train.seed,
        "accelerator": cfg.train.accelerator,
        # a GPU run's time is the GPU's: name it beside the CPU of training_conditions()
        "gpu": torch.cuda.get_device_name() if on_cuda(cfg.train.accelerator) else None,
        "devices": cfg.train.devices,
        "strategy": cfg.train.strategy,
        "note": cfg.description,
        **training_conditions(),  # when, on which CPU, threads, load: times compare only so
    }


def _stopped_by(fit: Fit) -> str:
    """What ended training before max_epochs: ``max_time``, ``early_stopping`` or
    ``other`` (the trainer was asked to stop)."""
    from lightning.pytorch.callbacks import Timer

    for cb in fit.trainer.callbacks:
        if isinstance(cb, Timer) and cb.time_remaining() is not None and cb.time_remaining() <= 0:
            return "max_time"
    for cb in fit.trainer.callbacks:
        if isinstance(cb, EarlyStopping) and cb.stopped_epoch > 0:
            return "early_stopping"
    return "other"


def training_notes(metrics: dict[str, Any], max_epochs: int) -> list[str]:
    """Sentences on how a run's training was cut: by time inside an epoch, by early
    stopping or the time limit before ``max_epochs``, or by ``limit_train_batches``."""
    notes = []
    part = metrics.get("unfinished_epoch")
    if part:
        notes.append(f"train.max_time stopped training inside epoch {part['epoch']} after "
                     f"{part['batches']} of {part['of']} batches; that epoch is not counted")
    if metrics.get("stopped_before_max_epochs"):
        why = {"max_time": "the time limit train.max_time",
               "early_stopping": "early stopping on validation macro-F1"}.get(
                   metrics.get("stopped_by") or "", "a stop request")
        notes.append(f"stopped after {metrics['epochs_trained']} of {max_epochs} epochs "
                     f"({why})")
    limited = metrics.get("train_batches_per_epoch")
    if limited:
        notes.append(f"each epoch trained on {limited['used']} of {limited['of']} training "
                     "batches (train.limit_train_batches)")
    return notes


def evaluate(run_dir: str | Path, part: str = "test", checkpoint: str = "best",
             allow_unfinished: bool = False) -> dict[str, Any]:
    """Re-score a run's best (or last) checkpoint on its own split, single process.

    A run that is not complete is refused unless ``allow_unfinished`` (then the result's
    ``warnings`` say why it is not complete)."""
    if part not in ("train", "val", "test"):
        raise ConfigError(f"part must be train, val or test; got {part!r}")
    run = check_run_dir(run_dir)
    cfg = run_config(run / "config.yaml")
    if checkpoint not in ("best", "last"):
        raise ConfigError(f"checkpoint must be best or last; got {checkpoint!r}")
    ckpt = best_checkpoint(run) if checkpoint == "best" else run / "checkpoints" / "last.ckpt"
    module, unfinished = load_run_module(run, ckpt, allow_unfinished)
    module = scoring_module(module, cfg)
    data = prepare(cfg.data)
    hp = module.hparams
    if list(hp["input_shape"]) != list(data.input_shape):
        raise CheckpointError(
            f"{ckpt}: the model takes windows of shape {list(hp['input_shape'])} (time, "
            f"channels), the run's data are {list(data.input_shape)}; the dataset changed "
            "since training")
    if list(hp["class_names"]) != data.class_names:
        raise CheckpointError(
            f"{run}: checkpoint classes {hp['class_names']} differ from the data's "
            f"{data.class_names}; the dataset changed since training"
        )
    stored = hp["harlab"]["normalization"]
    if not np.allclose(stored["mean"], data.normalizer.mean, atol=1e-4):
        raise CheckpointError(
            f"{run}: training data changed since this run (normalisation differs)"
        )
    task = hp.get("task")
    if task and "identity" in task["heads"]:
        if list(task["identity_names"]) != data.person_names:
            raise CheckpointError(
                f"{run}: checkpoint persons {task['identity_names']} differ from the training "
                f"part's {data.person_names}; the dataset or split changed since training"
            )
        task_hparams(cfg, data)  # unseen persons in val/test -> ConfigError
    heads, probs = score_heads(module, data, part, bf16=uses_bf16(cfg.train.precision))
    out = {
        "part": part,
        "checkpoint": str(ckpt),
        "metrics": next(iter(heads.values())),
        "split": data.split.description,
        "warnings": [*([unfinished] if unfinished else []), *data.split.warnings],
        "class_names": data.class_names,
    }
    out["decisions"] = window_decisions(data, probs, head_classes(module), part)
    if task:
        out["heads"] = heads
        out["identity_names"] = list(task["identity_names"])
    return out



def write_evaluation(run_dir: str | Path, result: dict[str, Any]) -> Path:
    """Save an evaluation next to the run without touching earlier files."""
    run = Path(run_dir)
    for i in range(1, 1000):
        path = run / f"evaluation-{result['part']}-{i}.json"
        if not path.exists():
            write_json(path, result)
            return path
    raise CheckpointError(f"{run}: too many evaluation files")


__all__ = ["train", "resume", "evaluate", "write_evaluation", "training_notes"]
