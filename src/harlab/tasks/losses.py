"""Loss weighting for multitask training (activity + identity heads).

Every strategy maps per-sample task losses ``{"activity": (N,), "identity": (N,)}`` to one
scalar and returns a few numbers worth logging. Strategies (``task.loss_weighting``):

* ``equal`` - ``L_r + L_i`` (what most multitask baselines do).
* ``fixed`` - ``r * L_r + 1 * L_i`` with ``r = w_activity / w_identity`` (``task.fixed_ratio``);
  the MRA-Net paper's greedy-search grid is :data:`PAPER_RATIOS`.
* ``uncertainty`` - homoscedastic uncertainty weighting (Kendall, Gal & Cipolla 2018): one
  learned log-variance ``s_t`` per task, loss ``sum_t exp(-s_t) * L_t + s_t``.
* ``flwl`` - MRA-Net's fine-grained loss weight learning (Eq. 4-6), see :class:`FLWL`.

With a single head every strategy reduces to that head's mean cross-entropy.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harlab.config import LOSS_WEIGHTINGS, TASK_HEADS
from harlab.errors import ConfigError

PAPER_RATIOS = (2 / 3, 3 / 4, 11 / 14, 12 / 13, 1.0)


def rw_from_w(w: Tensor) -> Tensor:
    """Paper Eq. 6: ``r_w = (2 + min(w)) / (2 + max(w))`` per sample, in [2/3, 1]."""
    lo, hi = w.min(dim=-1).values, w.max(dim=-1).values
    return (2 + lo) / (2 + hi)


class LossWeighting(nn.Module):
    """Base: combine per-sample task losses into one scalar (subclasses set the weights)."""

    needs_w = False

    def __init__(self, heads: tuple[str, ...]) -> None:
        super().__init__()
        self.heads = tuple(heads)

    def weights(self, losses: dict[str, Tensor], w: Tensor | None) -> dict[str, Tensor]:
        """Weight per head: a scalar or a per-sample (N,) tensor."""
        raise NotImplementedError

    def forward(
        self, losses: dict[str, Tensor], w: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss (mean over samples of the weighted sum) and detached values to log."""
        weights = self.weights(losses, w)
        total = sum((weights[h] * losses[h]).mean() for h in self.heads)
        logs = {f"weight_{h}": torch.as_tensor(weights[h]).detach().float().mean()
                for h in self.heads}
        return total + self.regulariser(), logs

    def regulariser(self) -> Tensor | float:
        return 0.0


class EqualWeighting(LossWeighting):
    def weights(self, losses: dict[str, Tensor], w: Tensor | None) -> dict[str, Tensor]:
        return {h: torch.ones((), device=losses[h].device) for h in self.heads}


class FixedRatio(LossWeighting):
    """``ratio * L_activity + L_identity`` (the paper's ``r_w = w_r / w_i``)."""

    def __init__(self, heads: tuple[str, ...], ratio: float) -> None:
        super().__init__(heads)
        self.ratio = float(ratio)

    def weights(self, losses: dict[str, Tensor], w: Tensor | None) -> dict[str, Tensor]:
        dev = next(iter(losses.values())).device
        return {h: torch.tensor(self.ratio if h == "activity" else 1.0, device=dev)
                for h in self.heads}


class UncertaintyWeighting(LossWeighting):
    """Kendall et al. 2018, classification form: ``exp(-s_t) * L_t + s_t / 2``.

    With ``s_t = log sigma_t^2`` this is their ``L_t / sigma_t^2 + log sigma_t``; the
    learned weights settle at ``exp(-s_t) = 1 / (2 L_t)``, so tasks are weighted by the
    inverse of their own loss.
    """

    def __init__(self, heads: tuple[str, ...]) -> None:
        super().__init__(heads)
        self.log_vars = nn.Parameter(torch.zeros(len(heads)))

    def weights(self, losses: dict[str, Tensor], w: Tensor | None) -> dict[str, Tensor]:
        return {h: torch.exp(-self.log_vars[i]) for i, h in enumerate(self.heads)}

    def regulariser(self) -> Tensor:
        return 0.5 * self.log_vars.sum()


class FLWL(LossWeighting):
    """MRA-Net Eq. 5: ``(2 + max(w_n)) L_r,n + (2 + min(w_n)) L_i,n``, averaged over n.

    ``w_n = softmax(FC(X_n))`` comes from the model's weight branch P_w, **per sample**
    (Eq. 4 is written per embedding X_n and the paper's Fig. 12 shows different weights for
    different test signatures), so the per-sample cross-entropies are weighted before the
    batch mean. Since ``max + min = 1`` the loss is ``3 L_r + 2 L_i + min(w)(L_i - L_r)``:
    gradients into P_w move ``min(w_n)`` towards 0 (r_w -> 2/3) on samples whose identity
    loss exceeds their activity loss and towards 0.5 (r_w -> 1) otherwise -- a bounded
    per-sample down-weighting of the harder task, never a collapse. How far gradients reach
    is set by the model's ``flwl_grad`` (see :mod:`harlab.tasks.multitask`).

    ``larger`` names the task that receives ``2 + max(w)``: ``activity`` is Eq. 5 as printed
    (then w_r / w_i = 1 / r_w lies in [1, 1.5]); ``identity`` is the reading that matches
    Eq. 6's label ``r_w = w_r / w_i`` in [2/3, 1] and the direction of the fixed-ratio grid.
    """

    needs_w = True

    def __init__(self, heads: tuple[str, ...], larger: str = "activity") -> None:
        super().__init__(heads)
        if set(heads) != {"activity", "identity"}:
            raise ConfigError("task.loss_weighting=flwl needs both heads [activity, identity]")
        self.larger = larger

    def weights(self, losses: dict[str, Tensor], w: Tensor | None) -> dict[str, Tensor]:
        if w is None:
            raise ValueError("FLWL needs the weight branch output w")
        w = w.float()
        hi, lo = 2 + w.max(dim=-1).values, 2 + w.min(dim=-1).values
        other = "identity" if self.larger == "activity" else "activity"
        return {self.larger: hi, other: lo}

    def forward(
        self, losses: dict[str, Tensor], w: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        total, logs = super().forward(losses, w)
        assert w is not None
        rw = rw_from_w(w.detach().float())
        logs["flwl_rw"] = rw.mean()
        logs["flwl_w_max"] = w.detach().float().max(dim=-1).values.mean()
        return total, logs


def make_weighting(
    name: str, heads: tuple[str, ...], fixed_ratio: float = 0.75, flwl_larger: str = "activity"
) -> LossWeighting:
    """Build strategy ``name`` for ``heads`` (ConfigError for bad names or values)."""
    if name not in LOSS_WEIGHTINGS:
        raise ConfigError(f"task.loss_weighting must be one of {', '.join(LOSS_WEIGHTINGS)}; "
                          f"got {name!r}")
    if len(heads) == 1:
        return EqualWeighting(heads)
    if name == "equal":
        return EqualWeighting(heads)
    if name == "fixed":
        if isinstance(fixed_ratio, bool) or not isinstance(fixed_ratio, (int, float)) \
                or not fixed_ratio > 0:
            raise ConfigError(f"task.fixed_ratio must be a positive number, got {fixed_ratio!r}")
        return FixedRatio(heads, float(fixed_ratio))
    if name == "uncertainty":
        return UncertaintyWeighting(heads)
    if flwl_larger not in TASK_HEADS:
        raise ConfigError(f"task.flwl_larger must be activity or identity, got {flwl_larger!r}")
    return FLWL(heads, flwl_larger)

