"""LightningModule for window classification: activity, identity, or both (multitask).

Hyperparameters are kept to plain Python types so checkpoints load with
``torch.load(weights_only=True)``: the model is rebuilt from its registry name and
options, and the normalisation statistics and class names travel in the checkpoint.

With ``task=None`` this is the plain single-task activity classifier. With a ``task``
dict (heads, loss weighting, identity names; see :class:`harlab.config.TaskConfig`) the
model is a :class:`~harlab.tasks.multitask.MultiTaskModel`, batches carry labels
``(N, 2)`` = (activity, identity), the losses are combined by
:mod:`harlab.tasks.losses`, and ``val_macro_f1`` -- the quantity checkpointing and early
stopping monitor -- is the mean of the heads' validation macro-F1s (or one head's,
``task["monitor"]``); each head's scores are logged as ``val_<head>_macro_f1`` etc.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from harlab.models import build_model
from harlab.models.weight_init import apply_init


def make_optimizer(params: Iterable[torch.nn.Parameter], name: str, lr: float,
                   weight_decay: float) -> torch.optim.Optimizer:
    """``adam``, ``adamw`` or ``sgd`` (momentum 0.9), as ``train.optimizer`` names them."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


class WindowClassifier(L.LightningModule):
    """Cross-entropy classifier around any registered model."""

    def __init__(
        self,
        model_name: str,
        model_options: dict[str, Any],
        input_shape: list[int],
        class_names: list[str],
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        lr_step: int | None = None,
        lr_gamma: float = 0.1,
        lr_schedule: str = "step",
        label_smoothing: float = 0.0,
        class_weights: list[float] | None = None,
        harlab: dict[str, Any] | None = None,
        task: dict[str, Any] | None = None,
        init: str = "default",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        k = len(class_names)
        self.multitask = task is not None
        if task is not None:
            self._init_multitask(task, k)
        else:
            self.model = build_model(model_name, tuple(input_shape), k, **model_options)
        # checks ``init``; heads and the FLWL branch included; a reload overwrites the draw
        apply_init(self.model, init)
        self.register_buffer(
            "class_weights",
            torch.tensor(class_weights, dtype=torch.float32) if class_weights else None,
            persistent=False,
        )
        if not self.multitask:
            self.train_acc = MulticlassAccuracy(num_classes=k, average="micro")
            self.val_acc = MulticlassAccuracy(num_classes=k, average="micro")
            self.val_f1 = MulticlassF1Score(num_classes=k, average="macro")

    def _init_multitask(self, task: dict[str, Any], k: int) -> None:
        from torchmetrics import MetricCollection

        from harlab.tasks.losses import make_weighting
        from harlab.tasks.multitask import build_multitask_model

        hp = self.hparams
        self.heads: tuple[str, ...] = tuple(task["heads"])
        sizes = {"activity": k, "identity": len(task.get("identity_names") or [])}
        flwl = task.get("loss_weighting") == "flwl" and len(self.heads) == 2
        self.model = build_multitask_model(
            hp.model_name, dict(hp.model_options), tuple(hp.input_shape),
            {h: sizes[h] for h in self.heads}, flwl=flwl,
            flwl_grad=task.get("flwl_grad", "head"), flwl_input=task.get("flwl_input", "raw"),
        )
        self.weighting = make_weighting(
            task.get("loss_weighting", "equal"), self.heads,
            fixed_ratio=task.get("fixed_ratio", 0.75),
            flwl_larger=task.get("flwl_larger", "activity"),
        )
        self.monitor = task.get("monitor", "mean")

        def metrics(h: str) -> MetricCollection:
            n = sizes[h]
            return MetricCollection({
                "accuracy": MulticlassAccuracy(num_classes=n, average="micro"),
                "macro_f1": MulticlassF1Score(num_classes=n, average="macro"),
            })

        self.train_metrics = torch.nn.ModuleDict({h: metrics(h) for h in self.heads})
        self.val_metrics = torch.nn.ModuleDict({h: metrics(h) for h in self.heads})

    def forward(self, x: torch.Tensor) -> Any:
        return self.model(x)

    # --- multitask -------------------------------------------------------------------

    def _mt_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        out = self(x)
        losses = {}
        for h in self.heads:
            target = y[:, 0] if h == "activity" else y[:, 1]
            weight = self.class_weights if h == "activity" else None
            losses[h] = F.cross_entropy(out[h].float(), target, weight=weight, reduction="none",
                                        label_smoothing=self.hparams.label_smoothing)
            coll = self.train_metrics if stage == "train" else self.val_metrics
            coll[h].update(out[h].detach().float().argmax(1), target)
        loss, logs = self.weighting(losses, out.get("w"))
        n = y.shape[0]
        kw = {"on_step": False, "on_epoch": True, "batch_size": n, "sync_dist": True}
        self.log(f"{stage}_loss", loss, prog_bar=True, **kw)
        for h in self.heads:
            self.log(f"{stage}_{h}_loss", losses[h].detach().mean(), **kw)
        for name, value in logs.items():
            self.log(f"{stage}_{name}", value, **kw)
        return loss

    def _mt_epoch_end(self, stage: str) -> None:
        coll = self.train_metrics if stage == "train" else self.val_metrics
        f1s = {}
        for h in self.heads:
            values = coll[h].compute()  # synchronised across DDP ranks by torchmetrics
            coll[h].reset()
            for name, v in values.items():
                self.log(f"{stage}_{h}_{name}", v.float(), sync_dist=False)
            f1s[h] = values["macro_f1"].float()
        if stage == "val":
            mon = (torch.stack(list(f1s.values())).mean() if self.monitor == "mean"
                   else f1s[self.monitor])
            self.log("val_macro_f1", mon, prog_bar=True, sync_dist=False)

    def on_train_epoch_end(self) -> None:
        if self.multitask:
            self._mt_epoch_end("train")

    def on_validation_epoch_end(self) -> None:
        if self.multitask:
            self._mt_epoch_end("val")

    # --- single task -----------------------------------------------------------------

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), y, weight=self.class_weights,
                               label_smoothing=self.hparams.label_smoothing)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        if self.multitask:
            return self._mt_step(batch, "train")
        x, y = batch
        logits = self(x)
        loss = self._loss(logits, y)
        self.train_acc(logits.detach().float().argmax(1), y)
        self.log(
            "train_loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=y.shape[0],
            sync_dist=True,
        )
        self.log(
            "train_accuracy", self.train_acc, on_step=False, on_epoch=True, batch_size=y.shape[0]
        )
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        if self.multitask:
            self._mt_step(batch, "val")
            return
        x, y = batch
        logits = self(x)
        loss = self._loss(logits, y)
        pred = logits.float().argmax(1)
        self.val_acc(pred, y)
        self.val_f1(pred, y)
        self.log(
            "val_loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=y.shape[0],
            sync_dist=True,
        )
        self.log("val_accuracy", self.val_acc, on_step=False, on_epoch=True, batch_size=y.shape[0])
        self.log(
            "val_macro_f1",
            self.val_f1,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=y.shape[0],
        )

    def on_validation_epoch_start(self) -> None:
        """Under DDP, average BatchNorm running statistics across ranks before validating.

        DDP keeps parameters identical but each rank updates BatchNorm buffers on its own
        shard; averaging them makes every rank validate the same model, which is also the
        model rank 0 checkpoints (so validation scores match a single-process evaluation).
        """
        trainer = getattr(self, "_trainer", None)
        if trainer is None or trainer.world_size < 2:
            return
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            return
        for buf in self.buffers():
            if buf is not None and buf.is_floating_point():
                dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                buf.div_(trainer.world_size)

    def configure_optimizers(self) -> Any:
        """The optimizer, and the epoch-wise lr scheduler of ``lr_schedule`` (if any).

        ``step`` with ``lr_step`` is StepLR; ``cosine`` anneals over the trainer's
        ``max_epochs`` (CosineAnnealingLR, to 0); ``step`` without ``lr_step`` and ``none``
        keep the lr constant.
        """
        hp = self.hparams
        opt = make_optimizer(self.parameters(), hp.optimizer, hp.lr, hp.weight_decay)
        if hp.lr_schedule == "cosine":
            sched: Any = torch.optim.lr_scheduler.CosineAnnealingLR(
                opt, T_max=self.trainer.max_epochs)
        elif hp.lr_schedule == "step" and hp.lr_step:
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=hp.lr_step, gamma=hp.lr_gamma)
        else:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
