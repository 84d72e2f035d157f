"""Train, evaluate and predict: the jobs behind ``harlab train/evaluate/predict``.

``train`` prepares the data honestly (see :mod:`harlab.data.prepare`), trains with a
Lightning Trainer (progress bar, best-by-validation-macro-F1 checkpoint, early stopping,
resume, bf16 autocast, devices/strategy/num_nodes passed through for DDP), then -- on
rank 0 only, in a single process -- scores the best checkpoint on the test part and
writes metrics JSON, a markdown summary, plots and per-window predictions.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from harlab.config import (
    RunConfig,
    dump_yaml,
    from_dict,
    load_yaml,
    resolve_precision,
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
from harlab.fileio import write_json
from harlab.hardware import on_cuda, reuse_freed_memory, training_conditions
from harlab.runs import (
    RUN_ENV,
    RUN_FORMAT,
    best_checkpoint,
    check_run_dir,
    create_run_dir,
    inherited_run_dir,
)
from harlab.tasks.checkpoint import load_module
from harlab.tasks.classifier import WindowClassifier
from harlab.tasks.predict import head_classes

log = logging.getLogger("harlab")


def read_history(csv_path: Path) -> list[dict[str, Any]]:
    """Epoch rows (train and val metrics merged) from Lightning's CSVLogger file."""
    if not csv_path.is_file():
        return []
    rows: dict[int, dict[str, Any]] = {}
    with csv_path.open() as fh:
        for row in csv.DictReader(fh):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            merged = rows.setdefault(epoch, {"epoch": epoch})
            for k, v in row.items():
                if k not in ("epoch", "step") and v not in ("", None):
                    merged[k] = float(v)
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
        "parameters": sum(p.numel() for p in module.model.parameters()),
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


@dataclass
class Fit:
    """A finished ``trainer.fit``: the Trainer, the best-checkpoint callback, seconds."""

    trainer: L.Trainer
    best: ModelCheckpoint
    seconds: float


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
) -> Fit:
    """Fit ``module`` with harlab's one Trainer set-up; every training job goes through here.

    Checkpoints ``checkpoints/best.ckpt`` (highest ``val_macro_f1``: model selection on
    validation data only) and ``checkpoints/last.ckpt`` (every epoch, for resume), early
    stopping on ``val_macro_f1`` when ``patience`` is set, CSV logs under ``logs/``.
    ``limit_*_batches`` go to Lightning as given (a float is a fraction, an int a number
    of batches). Resuming from ``ckpt_path`` loads it with ``weights_only=True``. Training
    on the CPU keeps freed memory for reuse (:func:`harlab.hardware.reuse_freed_memory`);
    on a CUDA GPU the host allocator is left alone (activations live on the GPU there).
    """
    if not on_cuda(accelerator):
        reuse_freed_memory()
    best_cb = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor="val_macro_f1",
        mode="max",
        save_last=False,
        save_top_k=1,
        enable_version_counter=False,
    )
    # the latest state after every epoch (Lightning's save_last only follows improvements)
    last_cb = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="last",
        monitor=None,
        save_top_k=1,
        every_n_epochs=1,
        enable_version_counter=False,
    )
    callbacks: list[Callback] = [best_cb, last_cb]
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
        logger=CSVLogger(str(run_dir), name="logs", version=""),
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
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path, weights_only=True)
    return Fit(trainer, best_cb, time.perf_counter() - t0)


def train(cfg: RunConfig, resume: str | Path | None = None, console: Any = None) -> TrainResult:
    """Run one training job; returns the run directory and (on rank 0) test metrics.

    ``console``: where the run's progress lines go (anything with ``print``); None: silent.
    """
    if cfg.train.threads:
        torch.set_num_threads(int(cfg.train.threads))
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    say = console.print if console is not None else (lambda *a, **k: None)
    _check_names(cfg)
    cfg, run_dir, ckpt_path, is_child = _open_run(cfg, resume)
    t0 = time.perf_counter()
    data = prepare(cfg.data)
    prep_s = time.perf_counter() - t0
    if data.y["val"].size == 0:
        raise ConfigError("the validation part is empty; set data.split.val_fraction > 0")
    summary = data_summary(data)
    task = task_hparams(cfg, data)
    if not is_child:
        if resume is None:
            (run_dir / "config.yaml").write_text(dump_yaml(cfg))
        write_json(run_dir / "data.json", summary)
        for line in _data_lines(run_dir, summary, data, prep_s, task):
            say(line, markup=False, highlight=False)
    module = build_module(cfg, data, task)
    labels = data.y if task is None else {p: np.stack([data.y[p], data.person[p]], 1)
                                           for p in data.y}
    dm = WindowDataModule(data.x, labels, batch_size=cfg.train.batch_size, seed=cfg.train.seed)
    fit = _fit_config(module, dm, run_dir, cfg, ckpt_path)
    if not fit.trainer.is_global_zero:
        return TrainResult(run_dir, {}, False)
    best = best_checkpoint(run_dir)
    extra = _fit_facts(cfg, fit, run_dir, best, prep_s)
    history = read_history(run_dir / "logs" / "metrics.csv")
    module = scoring_module(load_module(best), cfg)
    result = _write_outputs(run_dir, cfg, data, module, history, extra)
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


def _open_run(cfg: RunConfig, resume: str | Path | None
              ) -> tuple[RunConfig, Path, str | None, bool]:
    """(config, run directory, checkpoint to resume from, is a non-zero DDP rank).

    A new run gets a new directory; a resumed one keeps its saved config (its epochs may
    grow); a DDP child works in the directory rank 0 created.
    """
    child_dir = inherited_run_dir()
    ckpt_path: str | None = None
    if resume is not None:
        run_dir = check_run_dir(resume)
        ckpt_path = str(run_dir / "checkpoints" / "last.ckpt")
        if not Path(ckpt_path).is_file():
            raise CheckpointError(f"{run_dir}: nothing to resume (no checkpoints/last.ckpt)")
        saved = from_dict(load_yaml(run_dir / "config.yaml"))
        saved.train.max_epochs = cfg.train.max_epochs
        cfg = saved
    elif child_dir is not None:
        run_dir = child_dir
    else:
        run_dir = create_run_dir(cfg.output_dir, cfg.run_name())
    os.environ[RUN_ENV] = str(run_dir.resolve())
    cfg.train.precision = resolve_precision(cfg.train.precision, cfg.train.accelerator)
    for name in ("lightning.pytorch", "lightning.fabric"):  # banner and tips; warnings stay
        logging.getLogger(name).setLevel(logging.WARNING)
    return cfg, run_dir, ckpt_path, child_dir is not None


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
    )


def _fit_facts(cfg: RunConfig, fit: Fit, run_dir: Path, best: Path, prep_s: float
               ) -> dict[str, Any]:
    """How training went, for ``metrics.json``."""
    score = fit.best.best_model_score
    epochs = int(fit.trainer.current_epoch)
    return {
        "best_checkpoint": str(best.relative_to(run_dir)),
        "best_val_macro_f1": float(score) if score is not None else None,
        "epochs_trained": epochs,
        "stopped_before_max_epochs": bool(epochs < cfg.train.max_epochs),
        "train_seconds": round(fit.seconds, 2),
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


def evaluate(run_dir: str | Path, part: str = "test", checkpoint: str = "best") -> dict[str, Any]:
    """Re-score a run's best (or last) checkpoint on its own split, single process."""
    if part not in ("train", "val", "test"):
        raise ConfigError(f"part must be train, val or test; got {part!r}")
    run = check_run_dir(run_dir)
    cfg = from_dict(load_yaml(run / "config.yaml"))
    if checkpoint not in ("best", "last"):
        raise ConfigError(f"checkpoint must be best or last; got {checkpoint!r}")
    ckpt = best_checkpoint(run) if checkpoint == "best" else run / "checkpoints" / "last.ckpt"
    module = scoring_module(load_module(ckpt), cfg)
    data = prepare(cfg.data)
    hp = module.hparams
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
        "warnings": data.split.warnings,
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


__all__ = ["train", "evaluate", "write_evaluation"]
