"""LightningDataModule over window arrays, batched without per-window Python.

The dataset is indexed with a whole batch of indices at once (one tensor gather per
batch instead of one ``__getitem__`` per window), so the loader costs almost nothing
next to the model. Windows given lazily (``NormalizedRows`` over the window cache) are
read and normalised batch by batch, so the training set never has to fit in memory.

Under DDP each rank draws an equal-sized shard of a shared
permutation (the same seed on every rank), so Lightning's own DistributedSampler is not
needed (``use_distributed_sampler=False``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from harlab.data.augment import augment_batch, batch_generator


class ArrayDataset(Dataset):
    """Windows ``x`` (N, T, C) and labels ``y`` (N,) indexed by a list of indices. ``x`` is
    an array (held as a tensor) or anything indexed like one along axis 0 that returns
    float32 arrays (e.g. ``NormalizedRows``), read batch by batch."""

    def __init__(self, x: Any, y: np.ndarray) -> None:
        if isinstance(x, np.ndarray):
            self.x: Any = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        else:
            self.x = x
        self.y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} windows but {len(self.y)} labels")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, idx: list[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx_t = torch.as_tensor(idx, dtype=torch.long)
        if isinstance(self.x, torch.Tensor):
            xb = self.x.index_select(0, idx_t)
        else:
            xb = torch.from_numpy(np.ascontiguousarray(self.x[idx_t.numpy()], np.float32))
        return xb, self.y.index_select(0, idx_t)


class AugmentedDataset(Dataset):
    """The batches of ``base`` augmented by ``options`` (:mod:`harlab.data.augment`), each
    with the generator of ``seed`` and its window indices."""

    def __init__(self, base: ArrayDataset, options: dict[str, float], seed: int) -> None:
        self.base, self.options, self.seed = base, dict(options), seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, idx: list[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xb, yb = self.base[idx]
        indices = idx.tolist() if isinstance(idx, torch.Tensor) else list(idx)
        return augment_batch(xb, self.options, batch_generator(self.seed, indices)), yb


class BatchIndexSampler(Sampler[list[int]]):
    """Yields index batches; shuffles per epoch (seed + epoch) and shards across ranks.

    Training shards are padded by wrap-around so every rank runs the same number of
    steps (required by DDP); evaluation shards are disjoint and not padded, so each
    sample is scored exactly once across ranks.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        drop_last: bool = False,
        pad: bool = False,
    ) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world, self.drop_last, self.pad = rank, world, drop_last, pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> np.ndarray:
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(self.n)
        else:
            order = np.arange(self.n)
        if self.world > 1:
            if self.pad:
                per = math.ceil(self.n / self.world)
                order = np.resize(order, per * self.world)
            order = order[self.rank :: self.world]
        return order

    def __iter__(self) -> Iterator[list[int]]:
        order = self._indices()
        stop = len(order) - (len(order) % self.batch_size if self.drop_last else 0)
        for i in range(0, stop, self.batch_size):
            yield order[i : i + self.batch_size].tolist()

    def __len__(self) -> int:
        m = len(self._indices())
        return m // self.batch_size if self.drop_last else math.ceil(m / self.batch_size)


class WindowDataModule(L.LightningDataModule):
    """Train/val/test loaders over prepared arrays; ``augment`` (``train.augment``
    options) augments the training batches only."""

    def __init__(
        self,
        x: dict[str, Any],
        y: dict[str, np.ndarray],
        batch_size: int = 128,
        seed: int = 0,
        eval_batch_size: int | None = None,
        augment: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.sets: dict[str, Dataset] = {k: ArrayDataset(x[k], y[k]) for k in x}
        if augment and "train" in self.sets:
            self.sets["train"] = AugmentedDataset(self.sets["train"], augment, seed)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or max(batch_size, 256)
        self.seed = seed

    def _rank_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def _loader(self, part: str, train: bool) -> DataLoader:
        rank, world = self._rank_world()
        ds = self.sets[part]
        # avoid a last training batch of 1 (BatchNorm cannot train on it)
        drop_last = train and len(ds) % self.batch_size == 1
        sampler = BatchIndexSampler(
            len(ds),
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            rank=rank,
            world=world,
            drop_last=drop_last,
            pad=train,
        )
        return DataLoader(ds, sampler=sampler, batch_size=None, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
