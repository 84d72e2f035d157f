"""Unsupervised reconstruction pre-training of a model's autoencoder, inside one run.

A model takes part when it offers ``reconstruct(x)`` (windows ``(N, T, C)`` in, their
reconstruction out), a ``decoder`` that only ``reconstruct`` uses, and ``pretrain_epochs``
> 0 (for multitask runs the backbone is looked at). Before the supervised fit,
:func:`run_pretraining` trains that part for ``pretrain_epochs`` epochs to reconstruct the
*training* windows (MSE; labels unused, no validation) with a Lightning Trainer of the run's
settings (precision, accelerator, devices, progress bar); the classifier wraps the very same
module, so the encoder it ends with is the classifier's starting point. The decoder is then
frozen: the supervised fit never uses it.

The run directory gets ``checkpoints/pretrain.ckpt`` (after every epoch: a run killed
during pre-training resumes there; one killed later never pre-trains again) and
``pretrain_history.csv`` (epoch, reconstruction MSE, seconds).
"""

from __future__ import annotations

import csv
import io
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch import nn

from harlab.config import TrainConfig
from harlab.errors import CheckpointError
from harlab.fileio import write_bytes_atomic
from harlab.hardware import on_cuda, reuse_freed_memory
from harlab.runs import read_checkpoint
from harlab.tasks.classifier import make_optimizer

CHECKPOINT = Path("checkpoints") / "pretrain.ckpt"
HISTORY = "pretrain_history.csv"


def autoencoder_part(model: nn.Module) -> nn.Module | None:
    """``model`` or its multitask ``backbone`` when it offers ``reconstruct``, else None."""
    for part in (model, getattr(model, "backbone", None)):
        if part is not None and callable(getattr(part, "reconstruct", None)):
            return part
    return None


def pretrain_epochs(model: nn.Module) -> int:
    """Epochs of reconstruction pre-training ``model`` asks for (0: none)."""
    part = autoencoder_part(model)
    return int(getattr(part, "pretrain_epochs", 0) or 0) if part is not None else 0


def classifier_parameters(model: nn.Module) -> int:
    """Parameters of ``model`` without its autoencoder's decoder (unused after pre-training)."""
    part = autoencoder_part(model)
    decoder = getattr(part, "decoder", None) if part is not None else None
    skip = sum(p.numel() for p in decoder.parameters()) if decoder is not None else 0
    return sum(p.numel() for p in model.parameters()) - skip


class ReconstructionPretrainer(L.LightningModule):
    """Trains ``autoencoder.reconstruct`` to give back its (normalised) input windows.

    The hyperparameters name the run's model and data (``harlab``: the checkpoint
    metadata), so ``pretrain.ckpt`` is checked like any harlab checkpoint."""

    def __init__(self, autoencoder: nn.Module, model_name: str, model_options: dict[str, Any],
                 harlab: dict[str, Any], lr: float, weight_decay: float, optimizer: str,
                 epochs: int) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["autoencoder"])
        self.autoencoder = autoencoder

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x = batch[0]
        loss = F.mse_loss(self.autoencoder.reconstruct(x).float(), x.float())
        self.log("pretrain_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=x.shape[0], sync_dist=True)
        return loss

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        return make_optimizer(self.autoencoder.parameters(), hp.optimizer, hp.lr,
                              hp.weight_decay)


def read_pretrain_history(run_dir: Path) -> list[dict[str, float]]:
    """The rows of ``pretrain_history.csv`` (empty when there is none)."""
    path = run_dir / HISTORY
    if not path.is_file():
        return []
    with path.open() as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


class _HistoryWriter(Callback):
    """After every pre-training epoch, rewrites ``pretrain_history.csv`` atomically with the
    earlier epochs' rows and this one's (a resumed epoch replaces its old row)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.t0 = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch
        rows = [r for r in read_pretrain_history(self.run_dir) if r["epoch"] < epoch]
        loss = trainer.callback_metrics["pretrain_loss"]
        rows.append({"epoch": epoch, "reconstruction_mse": float(loss),
                     "seconds": round(time.perf_counter() - self.t0, 3)})
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["epoch", "reconstruction_mse", "seconds"])
        w.writeheader()
        w.writerows({**r, "epoch": int(r["epoch"])} for r in rows)
        write_bytes_atomic(self.run_dir / HISTORY, buf.getvalue().encode())


def epochs_done(run_dir: Path) -> int:
    """Whole pre-training epochs that ``checkpoints/pretrain.ckpt`` holds (0: no file)."""
    path = run_dir / CHECKPOINT
    return int(read_checkpoint(path)["epoch"]) + 1 if path.is_file() else 0


def _trainer(run_dir: Path, t: TrainConfig, epochs: int) -> L.Trainer:
    """A Trainer with the run's settings, no validation, checkpointing every epoch."""
    ckpt = ModelCheckpoint(dirpath=run_dir / CHECKPOINT.parent, filename=CHECKPOINT.stem,
                           monitor=None, save_top_k=1, every_n_epochs=1,
                           save_on_train_epoch_end=True, enable_version_counter=False)
    return L.Trainer(
        max_epochs=epochs, accelerator=t.accelerator, devices=t.devices, strategy=t.strategy,
        num_nodes=t.num_nodes, precision=t.precision,
        limit_train_batches=t.limit_train_batches, limit_val_batches=0,
        callbacks=[_HistoryWriter(run_dir), ckpt], logger=False,
        enable_progress_bar=t.progress, enable_model_summary=False,
        use_distributed_sampler=False, num_sanity_val_steps=0, default_root_dir=str(run_dir))


def run_pretraining(module: L.LightningModule, dm: L.LightningDataModule, run_dir: Path,
                    t: TrainConfig, resuming_fit: bool,
                    say: Callable[[str], None]) -> dict[str, Any] | None:
    """Pre-train ``module.model``'s autoencoder (see the module docstring), resuming or
    reusing ``checkpoints/pretrain.ckpt``; returns the facts ``metrics.json`` records
    (None for a model that does not pre-train). ``resuming_fit``: the supervised fit
    resumes from its own checkpoint, so pre-training must be complete already.
    ``train.max_time`` and ``patience`` bound the supervised fit only; the other settings
    (``limit_train_batches`` included) apply to both."""
    epochs = pretrain_epochs(module.model)
    if epochs == 0:
        return None
    part = autoencoder_part(module.model)
    assert part is not None
    done = epochs_done(run_dir)
    if resuming_fit and done < epochs:
        raise CheckpointError(f"{run_dir}: the supervised fit has checkpoints/last.ckpt but "
                              f"{CHECKPOINT} holds {done} of {epochs} pre-training epochs")
    hp = module.hparams
    pre = ReconstructionPretrainer(part, hp.model_name, dict(hp.model_options), hp.harlab,
                                   hp.lr, hp.weight_decay, hp.optimizer, epochs)
    if done >= epochs:
        say(f"pre-training: {epochs} epochs done before ({CHECKPOINT}); not repeated")
        if not resuming_fit:  # a resumed fit restores its own weights
            pre.load_state_dict(read_checkpoint(run_dir / CHECKPOINT)["state_dict"])
    else:
        say(f"pre-training: {epochs} epochs of unsupervised reconstruction (MSE) of the "
            "training windows" + (f", resumed after epoch {done}" if done else ""))
        if not on_cuda(t.accelerator):
            reuse_freed_memory()
        trainer = _trainer(run_dir, t, epochs)
        with warnings.catch_warnings():  # the data module's validation part is not used
            warnings.filterwarnings("ignore", ".*have no `validation_step`.*")
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            trainer.fit(pre, datamodule=dm, weights_only=True,
                        ckpt_path=str(run_dir / CHECKPOINT) if done else None)
        if not trainer.is_global_zero:  # rank 0 writes the history and the facts
            part.decoder.requires_grad_(False)
            return {}
    part.decoder.requires_grad_(False)  # the supervised fit never uses it
    return pretrain_facts(run_dir, epochs)


def pretrain_facts(run_dir: Path, epochs: int) -> dict[str, Any]:
    """What ``metrics.json`` says of a run's pre-training (from ``pretrain_history.csv``)."""
    rows = read_pretrain_history(run_dir)
    if len(rows) < epochs:
        raise CheckpointError(f"{run_dir / HISTORY}: {len(rows)} rows for {epochs} "
                              "pre-training epochs (the file was changed or removed)")
    return {"epochs": epochs, "checkpoint": str(CHECKPOINT), "history": HISTORY,
            "first_epoch_reconstruction_mse": rows[0]["reconstruction_mse"],
            "final_reconstruction_mse": rows[epochs - 1]["reconstruction_mse"],
            "seconds": round(sum(r["seconds"] for r in rows[:epochs]), 2)}
