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
import json
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

from harlab.config import RunConfig, dump_yaml, from_dict, load_yaml, resolve_precision
from harlab.data.datamodule import WindowDataModule
from harlab.data.prepare import PreparedData, load_windowed, prepare
from harlab.errors import CheckpointError, ConfigError
from harlab.evaluation.metrics import compute_metrics
from harlab.evaluation.plots import (
    plot_confusion_matrix,
    plot_metric_curves,
    plot_per_group,
    plot_training_curves,
)
from harlab.evaluation.report import metrics_markdown, write_json
from harlab.hardware import reuse_freed_memory
from harlab.runs import (
    RUN_ENV,
    best_checkpoint,
    check_run_dir,
    create_run_dir,
    inherited_run_dir,
    load_module,
)
from harlab.tasks.classifier import WindowClassifier

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


def head_classes(module: Any) -> dict[str, list[str]]:
    """Class names of each head of a trained module, primary head (activity if any) first."""
    hp = module.hparams
    task = hp.get("task")
    if not task:
        return {"activity": list(hp["class_names"])}
    names = {"activity": list(hp["class_names"]), "identity": list(task["identity_names"])}
    return {h: names[h] for h in task["heads"]}


def predict_heads(
    module: torch.nn.Module, x: np.ndarray, batch_size: int = 512, bf16: bool = False
) -> dict[str, np.ndarray]:
    """Per-head class probabilities for windows ``x`` (N, T, C), single process, eval mode.

    Keys are the module's heads (``activity`` for a single-task model) plus ``w`` (N, 2),
    the FLWL weights, when the model has that branch. Freed memory is kept for reuse
    (:func:`harlab.hardware.reuse_freed_memory`): scoring radar frames in batches of 256
    otherwise page-faults every activation in again (2.5x slower, mostly system time).
    """
    reuse_freed_memory()
    module.eval()
    out: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], np.float32))
            res = module(xb)
            if not isinstance(res, dict):
                res = {"activity": res}
            for k, v in res.items():
                p = v.float() if k == "w" else torch.softmax(v.float(), dim=1)
                out.setdefault(k, []).append(p.numpy())
    if not out:
        heads = head_classes(module) if hasattr(module, "hparams") else {"activity": []}
        return {h: np.zeros((0, len(n)), np.float32) for h, n in heads.items()}
    return {k: np.concatenate(v) for k, v in out.items()}


def predict_proba(
    module: torch.nn.Module, x: np.ndarray, batch_size: int = 512, bf16: bool = False
) -> np.ndarray:
    """Class probabilities of the primary head (activity if present) for windows ``x``."""
    probs = predict_heads(module, x, batch_size, bf16)
    primary = next(iter(head_classes(module))) if hasattr(module, "hparams") else "activity"
    return probs[primary]


def _class_weights(y: np.ndarray, k: int) -> list[float]:
    counts = np.bincount(y, minlength=k).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (k * np.maximum(counts, 1)), 0.0)
    return w.tolist()


def data_summary(data: PreparedData) -> dict[str, Any]:
    """What a run's ``data.json`` records: windows per part, split, classes, normalisation."""
    wd = data.windowed
    return {
        "dataset": wd.name,
        "citation": wd.citation,
        "channels": list(wd.channels),
        "units": list(wd.units),
        "rate": wd.windows.rate,
        "window_length": wd.windows.length,
        "window_step": wd.windows.step,
        "class_ids": data.class_ids,
        "class_names": data.class_names,
        "split": data.split.description,
        "split_subjects": data.split.subjects,
        # which sessions (trials, experiments) each part's windows come from, so a session
        # or recording split can be audited from the run directory alone
        "split_sessions": {k: sorted({str(x) for x in np.unique(data.sessions(k))})
                           for k in data.y},
        "warnings": data.split.warnings,
        "windows": {k: int(v.shape[0]) for k, v in data.y.items()},
        "dropped": {
            **wd.dropped,
            **{f"windows_excluded_class_{k}": v for k, v in data.excluded.items() if v},
            **({"windows_straddling_val_cut": data.split.dropped} if data.split.dropped else {}),
        },
        "normalization": data.normalizer.to_dict(),
        "from_cache": wd.from_cache,
    }


def head_labels(data: PreparedData, head: str, part: str) -> np.ndarray:
    """True labels of one head: activity classes or identity (person) indices."""
    return data.y[part] if head == "activity" else data.person[part]


def score_split(
    module: WindowClassifier, data: PreparedData, part: str = "test", bf16: bool = False
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics (incl. per-subject) and probabilities of ``module``'s primary head on a part."""
    heads, probs = score_heads(module, data, part, bf16)
    primary = next(iter(heads))
    return heads[primary], probs[primary]


def score_heads(
    module: WindowClassifier, data: PreparedData, part: str = "test", bf16: bool = False
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Metrics of every head (activity: per-subject too; identity: per-activity too)."""
    probs = predict_heads(module, data.x[part], bf16=bf16)
    metrics = {}
    for head, names in head_classes(module).items():
        if head == "activity":
            groups = {"subject": data.subjects(part)}
        else:
            groups = {"activity": np.asarray(data.class_names, dtype=object)[data.y[part]]}
        metrics[head] = compute_metrics(
            head_labels(data, head, part), probs[head].argmax(1), names, groups=groups
        )
    return metrics, probs


# windows per decision scored beside the per-window metrics (see window_decisions)
DECISION_SPANS: tuple[int | str, ...] = (1, 2, 4, 8, "segment")


def window_decisions(
    data: PreparedData, probs: dict[str, np.ndarray], names: dict[str, list[str]],
    part: str = "test",
) -> dict[str, Any]:
    """One decision over k consecutive windows (and over each whole segment) per head.

    A segment is a run of consecutive windows of one recording with the same true label
    of that head (oracle segmentation; for identity usually the whole recording). The
    mean class probability of the pool decides (:mod:`harlab.evaluation.decisions`).
    Skipped, with the reason, where the part's recordings also hold windows of another
    part (a split by windows): pooling neighbours of training windows would inflate it.
    """
    from harlab.evaluation.decisions import decision_curve, segment_ids

    rec = data.recordings(part).astype(str)
    others = [q for q in data.index if q != part and len(data.index[q])]
    shared = np.intersect1d(rec, np.concatenate([data.recordings(q).astype(str)
                                                 for q in others]) if others else [])
    if len(shared):
        return {"skipped": f"{len(shared)} of the {part} part's {len(np.unique(rec))} "
                f"recordings also have windows in {'/'.join(others)} (split by windows), so "
                "a decision over neighbouring windows would lean on training data"}
    w = data.windowed.windows
    starts = data.starts(part)
    window_s, hop_s = w.length / w.rate, w.step / w.rate
    out: dict[str, Any] = {
        "segments": "runs of consecutive windows of one recording with the same true label, "
                    "an oracle segmentation",
        "rule": "mean of the windows' class probabilities",
        "window_s": window_s, "hop_s": hop_s,
    }
    for head, head_names in names.items():
        truth = head_labels(data, head, part)
        seg = segment_ids(rec, truth, starts)
        out[head] = decision_curve(probs[head], truth, seg, starts, DECISION_SPANS,
                                   head_names, frame_s=window_s, hop_s=hop_s, step=w.step)
    return out


def decisions_markdown(dec: dict[str, Any]) -> str:
    """A markdown section for :func:`window_decisions` output."""
    lines = ["## One decision over several windows (beyond per-window scoring)", ""]
    if "skipped" in dec:
        return "\n".join([*lines, f"Not scored: {dec['skipped']}.", ""])
    from harlab.evaluation.decisions import span_label

    heads = [h for h in dec if isinstance(dec[h], list)]
    spans = dec[heads[0]]
    lines += [f"Mean class probability over k consecutive test windows (sliding by one) or "
              f"over each segment ({dec['segments']}); macro-F1, decisions in brackets.", "",
              "| head | " + " | ".join(span_label(e["frames"], e["seconds"], "window")
                                      for e in spans) + " |",
              "|---|" + "---|" * len(spans)]
    for head in heads:
        cells = ["n/a" if e["macro_f1"] is None else f"{e['macro_f1']:.4f} ({e['decisions']})"
                 for e in dec[head]]
        lines.append(f"| {head} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


def whole_decision(dec: dict[str, Any] | None, head: str) -> dict[str, Any]:
    """The whole-segment entry (the last span) of ``head``'s decisions; {} if not scored."""
    entries = (dec or {}).get(head)
    return entries[-1] if isinstance(entries, list) and entries else {}


def decisions_line(dec: dict[str, Any] | None) -> str | None:
    """One console line: macro-F1 of one decision per whole test segment, per head."""
    if not dec or "skipped" in dec:
        return None
    parts = []
    for head in dec:
        e = whole_decision(dec, head)
        if e.get("macro_f1") is not None:
            secs = f", ~{e['seconds']:.1f} s each" if e["seconds"] else ""
            parts.append(f"{head} macro-F1 {e['macro_f1']:.4f} ({e['decisions']} segments"
                         f"{secs})")
    return ("one decision per test segment (mean window probability): " + "; ".join(parts)
            if parts else None)


def plot_window_decisions(dec: dict[str, Any], path: Path, title: str) -> Path | None:
    """PNG of macro-F1 against the seconds one decision covers (None when skipped)."""
    curves = {}
    for head, entries in dec.items():
        if not isinstance(entries, list):
            continue
        pts = [(e["seconds"], e["macro_f1"], 0.0) for e in entries
               if e["macro_f1"] is not None and e["seconds"] is not None]
        if pts:
            curves[head] = tuple(zip(*pts, strict=True))
    if not curves:
        return None
    return plot_metric_curves(path, curves, "seconds one decision covers "
                                "(last point: whole segment, mean length)", title)


def write_predictions(
    path: Path,
    data: PreparedData,
    part: str,
    probs: np.ndarray | dict[str, np.ndarray],
    names: dict[str, list[str]] | None = None,
) -> None:
    """One CSV row per window of ``part``: ids, times, true and predicted class per head.

    The activity head writes ``true``, ``pred``, ``probability``; the identity head
    ``true_identity``, ``pred_identity``, ``probability_identity``; FLWL runs add the
    per-window loss-weight ratio ``flwl_rw``.
    """
    import pandas as pd

    from harlab.tasks.losses import rw_from_w

    if not isinstance(probs, dict):
        probs = {"activity": probs}
    names = names or {"activity": list(data.class_names)}
    w = data.windowed.windows
    starts = data.starts(part)
    cols: dict[str, Any] = {
        "window": data.index[part],
        "subject": data.subjects(part),
        "session": data.sessions(part),
        "start_s": np.round(starts / w.rate, 3),
        "end_s": np.round((starts + w.length) / w.rate, 3),
    }
    for head, head_names in names.items():
        sfx = "" if head == "activity" else f"_{head}"
        pred = probs[head].argmax(1)
        table = np.asarray(head_names, dtype=object)
        cols[f"true{sfx}"] = table[head_labels(data, head, part)]
        cols[f"pred{sfx}"] = table[pred]
        cols[f"probability{sfx}"] = np.round(probs[head][np.arange(len(pred)), pred], 4)
    if "w" in probs:
        cols["flwl_rw"] = np.round(rw_from_w(torch.from_numpy(probs["w"])).numpy(), 4)
    pd.DataFrame(cols).to_csv(path, index=False)


def _write_outputs(
    run_dir: Path,
    cfg: RunConfig,
    data: PreparedData,
    module: WindowClassifier,
    history: list[dict[str, Any]],
    extra: dict[str, Any],
) -> dict[str, Any]:
    bf16 = "bf16" in str(cfg.train.precision)
    heads, probs = score_heads(module, data, "test", bf16=bf16)
    names = head_classes(module)
    primary = next(iter(heads))
    metrics = heads[primary]
    n_params = sum(p.numel() for p in module.model.parameters())
    result = {
        "test": metrics,
        "model": cfg.model.name,
        "parameters": n_params,
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
            from harlab.tasks.losses import rw_from_w
            from harlab.tasks.multitask import plot_rw_histogram

            rw = rw_from_w(torch.from_numpy(probs["w"])).numpy()
            result["flwl_test"] = {
                "rw_mean": float(rw.mean()),
                "rw_std": float(rw.std()),
                "rw_quantiles": {str(q): float(np.quantile(rw, q)) for q in (0.05, 0.5, 0.95)},
                "w_max_mean": float(probs["w"].max(1).mean()),
            }
            plot_rw_histogram(rw, run_dir / "flwl_rw_histogram.png")
    write_json(run_dir / "metrics.json", result)
    write_predictions(run_dir / "predictions.csv", data, "test", probs, names)
    with (run_dir / "history.csv").open("w", newline="") as fh:
        keys = sorted({k for r in history for k in r}, key=lambda k: (k != "epoch", k))
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
    for head, m in heads.items():
        fname = "confusion_matrix.png" if head == primary else f"confusion_matrix_{head}.png"
        plot_confusion_matrix(
            np.asarray(m["confusion_matrix"]),
            names[head],
            run_dir / fname,
            normalize="true",
            title=f"{cfg.model.name} on {cfg.data.dataset} (test, {head})",
        )
    if history:
        plot_training_curves(
            history,
            run_dir / "training_curves.png",
            title=f"{cfg.model.name} on {cfg.data.dataset}",
        )
    if metrics.get("per_subject"):
        plot_per_group(
            metrics["per_subject"],
            "macro_f1",
            run_dir / "per_subject.png",
            title="test macro-F1 per subject",
        )
    info = {
        "dataset": cfg.data.dataset,
        "model": f"{cfg.model.name} ({n_params:,} parameters)",
        "protocol": data.split.description,
        "run": str(run_dir),
        **{
            k: str(v)
            for k, v in extra.items()
            if k in ("note", "best_epoch", "train_seconds", "precision", "seed")
        },
    }
    if cfg.task.is_multitask:
        info["heads"] = ", ".join(heads)
        info["loss weighting"] = (
            cfg.task.loss_weighting + (f" (r={cfg.task.fixed_ratio:g})"
                                       if cfg.task.loss_weighting == "fixed" else "")
            if len(heads) > 1 else "single task"
        )
        info["model selection"] = (
            "mean of the heads' validation macro-F1" if cfg.task.monitor == "mean"
            else f"validation macro-F1 of the {cfg.task.monitor} head"
        )
        if "flwl_test" in result:
            info["FLWL r_w on test (mean)"] = f"{result['flwl_test']['rw_mean']:.4f}"
    for wmsg in data.split.warnings:
        info["WARNING"] = wmsg
    md = metrics_markdown(metrics, names[primary], f"harlab run {run_dir.name}", info)
    if len(heads) > 1 or primary != "activity":
        md = md.replace("## Overall", f"## {primary} head\n\n## Overall", 1)
        for head, m in heads.items():
            if head != primary:
                sub = metrics_markdown(m, names[head], f"{head} head")
                md += "\n\n" + sub.replace("# ", "## ", 1).replace("\n## ", "\n### ")
    md = md.rstrip("\n") + "\n\n" + decisions_markdown(result["decisions"])
    plot_window_decisions(result["decisions"], run_dir / "decisions.png",
                          f"{cfg.model.name} on {cfg.data.dataset}: test macro-F1 vs "
                          "windows per decision")
    (run_dir / "summary.md").write_text(md)
    return result


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
    of batches). Resuming from ``ckpt_path`` loads it with ``weights_only=True``. Freed
    memory is kept for reuse (:func:`harlab.hardware.reuse_freed_memory`).
    """
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
    """Run one training job; returns the run directory and (on rank 0) test metrics."""
    if cfg.train.threads:
        torch.set_num_threads(int(cfg.train.threads))
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    say = console.print if console is not None else (lambda *a, **k: None)

    # fail fast on names before any data is loaded or a run directory is created
    from harlab.data.sources import get_source
    from harlab.models.registry import get_model_spec

    get_source(cfg.data.dataset)
    get_model_spec(cfg.model.name)
    check_task_split(cfg)
    child_dir = inherited_run_dir()
    if resume is not None:
        run_dir = check_run_dir(resume)
        ckpt_path: str | None = str(run_dir / "checkpoints" / "last.ckpt")
        if not Path(ckpt_path).is_file():
            raise CheckpointError(f"{run_dir}: nothing to resume (no checkpoints/last.ckpt)")
        saved = from_dict(load_yaml(run_dir / "config.yaml"))
        saved.train.max_epochs = cfg.train.max_epochs
        cfg = saved
    elif child_dir is not None:
        run_dir, ckpt_path = child_dir, None
    else:
        name = cfg.run_name()
        run_dir, ckpt_path = create_run_dir(cfg.output_dir, name), None
    os.environ[RUN_ENV] = str(run_dir.resolve())
    cfg.train.precision = resolve_precision(cfg.train.precision, cfg.train.accelerator)
    for name in ("lightning.pytorch", "lightning.fabric"):  # banner and tips; warnings stay
        logging.getLogger(name).setLevel(logging.WARNING)
    is_child = child_dir is not None

    t0 = time.perf_counter()
    data = prepare(cfg.data)
    prep_s = time.perf_counter() - t0
    if data.y["val"].size == 0:
        raise ConfigError("the validation part is empty; set data.split.val_fraction > 0")
    summary = data_summary(data)
    if not is_child:
        if resume is None:
            (run_dir / "config.yaml").write_text(dump_yaml(cfg))
        write_json(run_dir / "data.json", summary)
        say(f"[bold]run directory[/bold] {run_dir}")
        say(
            f"data: {summary['dataset']} | {summary['split']} | windows "
            f"train {summary['windows']['train']}, val {summary['windows']['val']}, test "
            f"{summary['windows']['test']} | {len(data.class_names)} classes | "
            f"prepared in {prep_s:.1f}s{' (cache)' if summary['from_cache'] else ''}"
        )
        if summary["dropped"]:
            say("dropped: " + ", ".join(f"{k}={v}" for k, v in summary["dropped"].items()))
        for wmsg in data.split.warnings:
            say(f"[bold yellow]WARNING[/bold yellow] {wmsg}")

    k = len(data.class_names)
    task = task_hparams(cfg, data)
    if task is not None and not is_child:
        say(f"task: heads {', '.join(task['heads'])}"
            + (f" ({len(task['identity_names'])} persons)" if task["identity_names"] else "")
            + (f" | loss weighting {task['loss_weighting']}" if len(task["heads"]) > 1 else ""))
    module = WindowClassifier(
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
        harlab={
            "version": 1,
            "dataset": cfg.data.dataset,
            "channels": list(data.windowed.channels),
            "units": list(data.windowed.units),
            "rate": float(data.windowed.windows.rate),
            "window_length": int(data.windowed.windows.length),
            "window_step": int(data.windowed.windows.step),
            "class_ids": [int(c) for c in data.class_ids],
            "normalization": data.normalizer.to_dict(),
        },
        task=task,
    )
    labels = data.y if task is None else {p: np.stack([data.y[p], data.person[p]], 1)
                                           for p in data.y}
    dm = WindowDataModule(data.x, labels, batch_size=cfg.train.batch_size, seed=cfg.train.seed)
    fit = fit_module(
        module, dm, run_dir,
        max_epochs=cfg.train.max_epochs,
        patience=cfg.train.patience,
        min_epochs=cfg.train.min_epochs,
        accelerator=cfg.train.accelerator,
        devices=cfg.train.devices,
        strategy=cfg.train.strategy,
        num_nodes=cfg.train.num_nodes,
        precision=cfg.train.precision,
        max_time=cfg.train.max_time,
        limit_train_batches=cfg.train.limit_train_batches,
        limit_val_batches=cfg.train.limit_val_batches,
        progress=cfg.train.progress,
        ckpt_path=ckpt_path,
    )
    trainer, ckpt_cb, train_s = fit.trainer, fit.best, fit.seconds
    if not trainer.is_global_zero:
        return TrainResult(run_dir, {}, False)

    best = best_checkpoint(run_dir)
    best_module = load_module(best)
    best_score = ckpt_cb.best_model_score
    extra = {
        "best_checkpoint": str(best.relative_to(run_dir)),
        "best_val_macro_f1": float(best_score) if best_score is not None else None,
        "epochs_trained": int(trainer.current_epoch),
        "stopped_before_max_epochs": bool(trainer.current_epoch < cfg.train.max_epochs),
        "train_seconds": round(train_s, 2),
        "prepare_seconds": round(prep_s, 2),
        "precision": str(cfg.train.precision),
        "seed": cfg.train.seed,
        "devices": cfg.train.devices,
        "strategy": cfg.train.strategy,
        "note": cfg.description,
    }
    history = read_history(run_dir / "logs" / "metrics.csv")
    result = _write_outputs(run_dir, cfg, data, best_module, history, extra)
    return TrainResult(run_dir, result, True)


def evaluate(run_dir: str | Path, part: str = "test", checkpoint: str = "best") -> dict[str, Any]:
    """Re-score a run's best (or last) checkpoint on its own split, single process."""
    if part not in ("train", "val", "test"):
        raise ConfigError(f"part must be train, val or test; got {part!r}")
    run = check_run_dir(run_dir)
    cfg = from_dict(load_yaml(run / "config.yaml"))
    if checkpoint not in ("best", "last"):
        raise ConfigError(f"checkpoint must be best or last; got {checkpoint!r}")
    ckpt = best_checkpoint(run) if checkpoint == "best" else run / "checkpoints" / "last.ckpt"
    module = load_module(ckpt)
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
    heads, probs = score_heads(module, data, part, bf16="bf16" in str(cfg.train.precision))
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


def stored_decisions(run_dir: Path, macro_f1: float | None = None,
                     metrics: dict[str, Any] | None = None,
                     ) -> tuple[dict[str, Any] | None, str | None]:
    """A finished run's multi-window decisions and the file they come from.

    From ``metrics.json`` when training scored them; for runs trained before that, from the
    newest ``evaluation-test-N.json`` (``harlab evaluate``) of the best checkpoint whose
    per-window macro-F1 equals ``macro_f1`` (the run's own test score), so an evaluation of
    another checkpoint or of changed data is never taken for the run's. ``(None, None)``
    when there are none. ``metrics``: the run's ``metrics.json`` if the caller has read it.
    """
    if metrics is None:
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text())
        except (OSError, ValueError):
            metrics = {}
    if metrics.get("decisions"):
        return metrics["decisions"], "metrics.json"
    if macro_f1 is None:
        macro_f1 = (metrics.get("test") or {}).get("macro_f1")
    if macro_f1 is None:
        return None, None
    numbered = [(int(f.stem.rsplit("-", 1)[1]), f) for f in run_dir.glob("evaluation-test-*.json")
                if f.stem.rsplit("-", 1)[1].isdigit()]
    for _, f in sorted(numbered, reverse=True):  # newest first
        try:
            ev = json.loads(f.read_text())
            same = (Path(ev["checkpoint"]).name == "best.ckpt"
                    and abs(float(ev["metrics"]["macro_f1"]) - float(macro_f1)) < 1e-9)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if same and ev.get("decisions"):
            return ev["decisions"], f.name
    return None, None


def write_evaluation(run_dir: str | Path, result: dict[str, Any]) -> Path:
    """Save an evaluation next to the run without touching earlier files."""
    run = Path(run_dir)
    for i in range(1, 1000):
        path = run / f"evaluation-{result['part']}-{i}.json"
        if not path.exists():
            write_json(path, result)
            return path
    raise CheckpointError(f"{run}: too many evaluation files")


__all__ = [
    "train",
    "evaluate",
    "write_evaluation",
    "predict_proba",
    "predict_heads",
    "score_split",
    "score_heads",
]


def cross_validate(
    cfg: RunConfig,
    folds: list[int] | None = None,
    seeds: list[int] | None = None,
    console: Any = None,
) -> tuple[Path, dict[str, Any]]:
    """Train every (fold, seed) of a subject-wise protocol; report mean ± std.

    Each run is a normal run directory inside one new parent directory, which also gets
    ``cv_results.json`` (every run's test scores and the summary) and ``cv_summary.md``.
    """
    import copy

    from harlab.evaluation.metrics import DEFAULT_SUMMARY_KEYS, summarize_runs
    from harlab.evaluation.report import seeds_markdown

    split = cfg.data.split
    if folds is None:
        if split.kind != "subject" or split.test_subjects:
            folds = [split.fold]
        elif split.folds == "loso":
            recordings = load_windowed(cfg.data).recordings
            folds = list(range(len({r.subject for r in recordings})))
        else:
            folds = list(range(int(split.folds)))
    seeds = seeds or [cfg.train.seed]
    name = cfg.run_name()
    parent = create_run_dir(cfg.output_dir, f"cv_{name}")
    results = []
    for seed in seeds:
        for fold in folds:
            run_cfg = copy.deepcopy(cfg)
            run_cfg.data.split.fold = fold
            run_cfg.data.split.seed = seed
            run_cfg.train.seed = seed
            run_cfg.output_dir = str(parent)
            run_cfg.name = f"{name}_fold{fold}_seed{seed}"
            if console is not None:
                console.print(f"[bold]fold {fold}, seed {seed}[/bold]")
            res = train(run_cfg, console=console)
            if not res.is_main:
                continue
            test = res.metrics["test"]
            primary = (res.metrics.get("heads") or ["activity"])[0]
            whole = whole_decision(res.metrics.get("decisions"), primary)
            results.append(
                {
                    "fold": fold,
                    "seed": seed,
                    "run": res.run_dir.name,
                    "accuracy": test["accuracy"],
                    "macro_f1": test["macro_f1"],
                    "weighted_f1": test["weighted_f1"],
                    "n": test["n"],
                    # the primary head, one decision per test segment (window_decisions)
                    "segment_macro_f1": whole.get("macro_f1"),
                    "segments": whole.get("decisions"),
                    "best_val_macro_f1": res.metrics.get("best_val_macro_f1"),
                    "train_seconds": res.metrics.get("train_seconds"),
                }
            )
    summary = summarize_runs(results, (*DEFAULT_SUMMARY_KEYS, "segment_macro_f1"))
    out = {
        "config": cfg.to_dict(),
        "runs": results,
        "summary": summary,
        "protocol": split.kind,
        "folds": folds,
        "seeds": seeds,
    }
    write_json(parent / "cv_results.json", out)
    lines = [
        seeds_markdown(summary, f"{name}: {len(results)} runs (folds {folds}, seeds {seeds})"),
        "",
        "| fold | seed | accuracy | macro-F1 | weighted-F1 | n | run |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['fold']} | {r['seed']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
        f"{r['weighted_f1']:.4f} | {r['n']} | {r['run']} |"
        for r in results
    ]
    (parent / "cv_summary.md").write_text("\n".join(lines) + "\n")
    return parent, out
