"""scikit-learn estimators around harlab's models, trained through the same Lightning path.

:class:`HarClassifier` wraps any registered model (``harlab models``) as a classifier of
windows ``X`` shaped ``(n, time, channels)`` (a 2-D ``X`` is read as one channel); it
works in ``cross_val_score`` (with ``GroupKFold`` and ``groups=``), ``GridSearchCV`` and a
``Pipeline``. :class:`MultitaskHarClassifier` trains the activity and identity heads
together (``y`` shaped ``(n, 2)``: activity, person), with harlab's loss weightings.

``fit`` holds out ``val_fraction`` of the windows for model selection (by ``groups`` when
given, so windows of one recording stay together; else stratified), fits the channel
normalisation on the training part only, trains with
:func:`harlab.training.fit_module` (best-by-validation-macro-F1 checkpoint, optional early
stopping) and keeps the best model. Training writes its checkpoints and CSV logs into a
temporary folder that ``fit`` removes; ``out=`` keeps them in a new folder under ``out``
(never an existing one), named in ``run_dir_``. These folders hold training files only;
they are not harlab run directories (``harlab train`` makes those).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from harlab.config import TaskConfig, check_precision
from harlab.data.datamodule import WindowDataModule
from harlab.data.normalize import Normalizer
from harlab.runs import first_free
from harlab.tasks.classifier import WindowClassifier
from harlab.tasks.predict import predict_heads
from harlab.training import fit_module


class HarClassifier(ClassifierMixin, BaseEstimator):
    """A registered harlab model as a scikit-learn classifier of windows (n, time, channels).

    ``model``/``model_options``: a registered model and its options; ``max_epochs``,
    ``batch_size``, ``lr``, ``weight_decay``, ``optimizer``, ``patience`` (early stopping
    on validation macro-F1; None: off), ``class_weights``, ``precision``, ``accelerator``
    and ``limit_train_batches`` as in ``train.*``; ``val_fraction``: windows held out for
    model selection; ``normalize``: per-channel standardisation fitted on the training
    part; ``random_state``: seeds the split, the initial weights and the batch order;
    ``out``: keep the training folder under this directory.
    """

    def __init__(self, model: str = "cnn", model_options: dict[str, Any] | None = None,
                 max_epochs: int = 10, batch_size: int = 64, lr: float = 1e-3,
                 weight_decay: float = 0.0, optimizer: str = "adam",
                 patience: int | None = None, val_fraction: float = 0.2,
                 normalize: bool = True, class_weights: bool = False,
                 precision: str = "32-true", accelerator: str = "cpu",
                 limit_train_batches: int | float = 1.0, random_state: Any = None,
                 out: str | Path | None = None) -> None:
        self.model = model
        self.model_options = model_options
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.patience = patience
        self.val_fraction = val_fraction
        self.normalize = normalize
        self.class_weights = class_weights
        self.precision = precision
        self.accelerator = accelerator
        self.limit_train_batches = limit_train_batches
        self.random_state = random_state
        self.out = out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # --- what a subclass changes: the targets and the task of the module --------------

    def _targets(self, y: Any, n: int) -> np.ndarray:
        """``y`` -> integer labels (n,) or (n, heads); sets ``classes_``."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes in y; got 1 class "
                             f"({self.classes_[0]!r})")
        return codes.astype(np.int64)

    def _head_classes(self) -> list[np.ndarray]:
        return [self.classes_]

    def _task(self) -> dict[str, Any] | None:
        return None

    # --- fit and predict ----------------------------------------------------------------

    def _windows(self, X: Any, reset: bool) -> np.ndarray:
        """``X`` checked (finite, numeric, 2 or 3 dimensions) as float32 (n, time, channels)."""
        X = validate_data(self, X, reset=reset, allow_nd=True, dtype=[np.float32, np.float64],
                          ensure_min_samples=2 if reset else 1)
        if X.ndim == 2:
            X = X[:, :, None]
        if X.ndim != 3:
            raise ValueError(f"{type(self).__name__} takes windows shaped (n, time, channels) "
                             f"or (n, time); got {X.ndim} dimensions")
        if not reset and list(X.shape[1:]) != self.input_shape_:
            raise ValueError(f"X has windows of shape {list(X.shape[1:])} (time, channels), "
                             f"but {type(self).__name__} was fitted on {self.input_shape_}")
        return np.asarray(X, np.float32)

    def _split(self, y: np.ndarray, groups: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, validation) indices: by ``groups`` when given, else stratified by the
        first label where every class has two windows."""
        idx = np.arange(len(y))
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if groups is not None:
            groups = column_or_1d(groups)
            if len(groups) != len(y):
                raise ValueError(f"groups has {len(groups)} entries, y has {len(y)}")
            if len(np.unique(groups)) < 2:
                raise ValueError("groups: at least 2 groups are needed to hold out validation")
            gss = GroupShuffleSplit(n_splits=1, test_size=self.val_fraction, random_state=seed)
            return next(gss.split(idx, groups=groups))
        first = y if y.ndim == 1 else y[:, 0]
        stratify = first if np.bincount(first).min() >= 2 else None
        n_val = max(1, round(self.val_fraction * len(y)))
        if stratify is not None:
            n_val = max(n_val, len(np.unique(first)))
        if n_val >= len(y):
            raise ValueError(f"{len(y)} samples are too few to hold out val_fraction="
                             f"{self.val_fraction} for validation")
        tr, va = train_test_split(idx, test_size=n_val, random_state=seed, stratify=stratify)
        return np.sort(tr), np.sort(va)

    def fit(self, X: Any, y: Any, groups: Any = None) -> HarClassifier:
        """Train on windows ``X`` with labels ``y``; ``groups`` (e.g. recording or subject
        ids) keep each group in either the training or the validation part."""
        x = self._windows(X, reset=True)
        targets = self._targets(y, len(x))
        if len(targets) != len(x):
            raise ValueError(f"X has {len(x)} samples, y has {len(targets)}")
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        tr, va = self._split(targets, groups, seed)
        self.normalizer_ = Normalizer.fit(x[tr]) if self.normalize else Normalizer.identity(
            x.shape[2])
        self.input_shape_ = list(x.shape[1:])
        xn = self.normalizer_.apply(x)
        L.seed_everything(seed, workers=True, verbose=False)
        module = self._build(targets[tr])
        dm = WindowDataModule({"train": xn[tr], "val": xn[va]},
                              {"train": targets[tr], "val": targets[va]},
                              batch_size=int(self.batch_size), seed=seed)
        self.module_ = self._train(module, dm, seed)
        return self

    def _build(self, train_targets: np.ndarray) -> WindowClassifier:
        """The untrained module: the registered model with this estimator's heads."""
        first = train_targets if train_targets.ndim == 1 else train_targets[:, 0]
        k = len(self.classes_ if train_targets.ndim == 1 else self.classes_[0])
        weights = None
        if self.class_weights:
            counts = np.bincount(first, minlength=k).astype(np.float64)
            weights = np.where(counts > 0, counts.sum() / (k * np.maximum(counts, 1)), 0.0)
        return WindowClassifier(
            model_name=self.model, model_options=dict(self.model_options or {}),
            input_shape=self.input_shape_,
            class_names=[str(c) for c in self._head_classes()[0]], lr=float(self.lr),
            weight_decay=float(self.weight_decay), optimizer=self.optimizer,
            class_weights=None if weights is None else weights.tolist(),
            harlab={"normalization": self.normalizer_.to_dict()}, task=self._task())

    def _train(self, module: WindowClassifier, dm: WindowDataModule, seed: int
               ) -> WindowClassifier:
        """Fit ``module`` in a temporary (or the ``out``) folder; the best model, detached
        from its Trainer, on the CPU."""
        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
        with tempfile.TemporaryDirectory(prefix="harlab-estimator-") as tmp:
            if self.out is not None:
                root = Path(self.out)
                root.mkdir(parents=True, exist_ok=True)
                stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
                self.run_dir_ = first_free(root, f"{stamp}_{self.model}-estimator", Path.mkdir)
            elif hasattr(self, "run_dir_"):  # refitted without out=: no folder is kept
                del self.run_dir_
            run_dir = self.run_dir_ if self.out is not None else Path(tmp)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", ".*(LeafSpec|Checkpoint directory).*")
                fit = fit_module(module, dm, run_dir, max_epochs=int(self.max_epochs),
                                 patience=self.patience, accelerator=self.accelerator,
                                 devices=1, precision=check_precision(self.precision),
                                 limit_train_batches=self.limit_train_batches, seed=seed)
            state = torch.load(fit.best.best_model_path, map_location="cpu",
                               weights_only=True)["state_dict"]
        best = WindowClassifier(**dict(module.hparams))
        best.load_state_dict(state, strict=True)
        return best.eval()

    def _probabilities(self, X: Any) -> dict[str, np.ndarray]:
        check_is_fitted(self, "module_")
        x = self._windows(X, reset=False)
        return predict_heads(self.module_, self.normalizer_.apply(x))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, classes), columns in the order of ``classes_``."""
        return self._probabilities(X)["activity"]

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each window."""
        best = self.predict_proba(X).argmax(1)
        return self.classes_[best]


class MultitaskHarClassifier(HarClassifier):
    """Activity and identity heads on one model: ``y`` shaped (n, 2) = (activity, person).

    ``loss_weighting``: ``equal``, ``fixed`` (``fixed_ratio``), ``uncertainty`` or ``flwl``
    as in ``task.*``; model selection on the mean of the heads' validation macro-F1.
    ``classes_`` is [activity classes, persons]; ``predict`` returns (n, 2),
    ``predict_proba`` one array per head, ``score`` the fraction of windows with both heads
    right (scikit-learn's multi-output convention). Every person to identify needs windows
    in the training data: split by session or recording, not by person.
    """

    def __init__(self, model: str = "cnn", model_options: dict[str, Any] | None = None,
                 loss_weighting: str = "equal", fixed_ratio: float = 0.75,
                 max_epochs: int = 10, batch_size: int = 64, lr: float = 1e-3,
                 weight_decay: float = 0.0, optimizer: str = "adam",
                 patience: int | None = None, val_fraction: float = 0.2,
                 normalize: bool = True, class_weights: bool = False,
                 precision: str = "32-true", accelerator: str = "cpu",
                 limit_train_batches: int | float = 1.0, random_state: Any = None,
                 out: str | Path | None = None) -> None:
        super().__init__(model, model_options, max_epochs, batch_size, lr, weight_decay,
                         optimizer, patience, val_fraction, normalize, class_weights,
                         precision, accelerator, limit_train_batches, random_state, out)
        self.loss_weighting = loss_weighting
        self.fixed_ratio = fixed_ratio

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    def _targets(self, y: Any, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 2 or y.shape[1] != 2:
            raise ValueError(f"{type(self).__name__} takes y shaped (n, 2) = (activity, "
                             f"person); got shape {y.shape}")
        codes, classes = [], []
        for j, head in enumerate(("activity", "identity")):
            check_classification_targets(y[:, j])
            names, code = np.unique(y[:, j], return_inverse=True)
            if len(names) < 2:
                raise ValueError(f"the {head} column of y needs at least 2 classes; got 1")
            classes.append(names)
            codes.append(code)
        self.classes_ = classes
        return np.stack(codes, 1).astype(np.int64)

    def _head_classes(self) -> list[np.ndarray]:
        return list(self.classes_)

    def _task(self) -> dict[str, Any]:
        task = dataclasses.asdict(TaskConfig(heads=["activity", "identity"],
                                             loss_weighting=self.loss_weighting,
                                             fixed_ratio=float(self.fixed_ratio)))
        task["identity_names"] = [str(p) for p in self.classes_[1]]
        return task

    def predict_proba(self, X: Any) -> list[np.ndarray]:
        """[activity probabilities (n, activities), identity probabilities (n, persons)]."""
        probs = self._probabilities(X)
        return [probs["activity"], probs["identity"]]

    def predict(self, X: Any) -> np.ndarray:
        """(n, 2): the most probable activity and person of each window."""
        pa, pi = self.predict_proba(X)
        a, p = self.classes_[0][pa.argmax(1)], self.classes_[1][pi.argmax(1)]
        return np.stack([a, p], 1) if a.dtype == p.dtype else np.stack(
            [a.astype(object), p.astype(object)], 1)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Fraction of windows whose activity and person are both right."""
        right = np.all(self.predict(X) == np.asarray(y), axis=1).astype(np.float64)
        return float(np.average(right, weights=sample_weight))


__all__ = ["HarClassifier", "MultitaskHarClassifier"]
