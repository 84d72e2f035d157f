"""LightningModule for window classification (activity or identity).

Hyperparameters are kept to plain Python types so checkpoints load with
``torch.load(weights_only=True)``: the model is rebuilt from its registry name and
options, and the normalisation statistics and class names travel in the checkpoint.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from harlab.models import build_model


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
        class_weights: list[float] | None = None,
        harlab: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        k = len(class_names)
        self.model = build_model(model_name, tuple(input_shape), k, **model_options)
        self.register_buffer(
            "class_weights",
            torch.tensor(class_weights, dtype=torch.float32) if class_weights else None,
            persistent=False,
        )
        self.train_acc = MulticlassAccuracy(num_classes=k, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=k, average="micro")
        self.val_f1 = MulticlassF1Score(num_classes=k, average="macro")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), y, weight=self.class_weights)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
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
        hp = self.hparams
        params = self.parameters()
        if hp.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay)
        elif hp.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
        else:
            opt = torch.optim.SGD(params, lr=hp.lr, momentum=0.9, weight_decay=hp.weight_decay)
        if not hp.lr_step:
            return opt
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=hp.lr_step, gamma=hp.lr_gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
