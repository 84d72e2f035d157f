"""Run configuration: YAML files under ``configs/`` plus ``key.path=value`` overrides.

Unknown keys are errors (a typo must not silently fall back to a default). The resolved
config is written into every run directory so a run can be evaluated and repeated.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from harlab.errors import ConfigError, suggest

INITS = ("default", "orthogonal")  # weight initialisations, see harlab.models.weight_init
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "bf16-true", "16-mixed", "64-true")


def check_precision(precision: Any, where: str = "train.precision") -> str:
    """``precision`` as a string if it is one of :data:`PRECISIONS`; else a ConfigError."""
    if str(precision) not in PRECISIONS:
        raise ConfigError(f"{where} {precision!r} is not one of {', '.join(PRECISIONS)}")
    return str(precision)


def uses_bf16(precision: Any) -> bool:
    """True for a resolved precision that computes in bfloat16 (bf16-mixed, bf16-true)."""
    return str(precision).startswith("bf16")


def check_init(init: str, where: str = "init") -> str:
    """``init`` if it names a scheme of :data:`INITS`; else a ConfigError naming ``where``
    (``train.init``, ``--init``)."""
    if init not in INITS:
        raise ConfigError(f"{where} must be one of {', '.join(INITS)}; got {init!r}")
    return init


LabelPolicy = Literal["majority", "centre"]


@dataclass
class WindowConfig:
    """How recordings become windows.

    ``length``/``step`` are in samples (``unit='samples'``) or seconds (``unit='seconds'``),
    counted at ``target_rate`` when resampling. ``unit='frames'`` (with length = step = 1)
    makes every recording exactly one window whatever its length: pre-cut data such as
    radar micro-Doppler frames (one recording per frame), so one config fits every frame
    width. ``label_policy``: ``majority`` = most
    frequent per-sample label (unlabelled samples count as a label of their own),
    ``centre`` = label of the centre sample. Windows whose label is unlabelled are dropped
    unless ``keep_unlabelled``; windows whose chosen label covers less than
    ``min_purity`` of the samples are dropped as mixed. Every drop is counted.
    """

    length: float = 128
    step: float = 64
    unit: Literal["samples", "seconds", "frames"] = "samples"
    target_rate: float | None = None
    label_policy: LabelPolicy = "majority"
    min_purity: float = 0.0
    keep_unlabelled: bool = False

    def __post_init__(self) -> None:
        if self.unit not in ("samples", "seconds", "frames"):
            raise ConfigError(
                f"window.unit must be 'samples', 'seconds' or 'frames', got {self.unit!r}"
            )
        if self.unit == "frames" and (self.length != 1 or self.step != 1):
            raise ConfigError(
                "window.unit=frames makes each recording (frame) one window: set "
                f"window.length=1 and window.step=1, got {self.length}/{self.step}"
            )
        if self.label_policy not in ("majority", "centre"):
            raise ConfigError(
                f"window.label_policy must be 'majority' or 'centre', got {self.label_policy!r}"
            )
        if not self.length > 0 or not self.step > 0:
            raise ConfigError(
                f"window length and step must be positive, got {self.length}/{self.step}"
            )
        if not 0.0 <= self.min_purity <= 1.0:
            raise ConfigError(f"window.min_purity must be in [0, 1], got {self.min_purity}")
        if self.target_rate is not None and not self.target_rate > 0:
            raise ConfigError(f"window.target_rate must be positive, got {self.target_rate}")

    def samples(self, rate: float) -> tuple[int, int]:
        """Window length and step in samples at ``rate`` Hz (not for ``unit='frames'``,
        whose length is the recordings' own, see :func:`harlab.data.windows.make_windows`)."""
        if self.unit == "frames":
            raise ConfigError("window.unit=frames has no length in samples; it is each "
                              "recording's own")
        if self.unit == "samples":
            length, step = int(round(self.length)), int(round(self.step))
        else:
            length, step = int(round(self.length * rate)), int(round(self.step * rate))
        if length < 1 or step < 1:
            raise ConfigError(
                f"window of {self.length}/{self.step} {self.unit} is shorter than one sample "
                f"at {rate} Hz"
            )
        return length, step

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SplitKind = Literal["random", "subject", "session", "recording", "given"]
SPLIT_KINDS: tuple[str, ...] = get_args(SplitKind)  # validation and the CLI's help read these


@dataclass
class SplitConfig:
    """Which protocol and its parameters (see module docstring)."""

    kind: SplitKind = "subject"
    seed: int = 0
    folds: int | str = 5
    fold: int = 0
    val_fraction: float = 0.2
    test_fraction: float = 0.3
    test_subjects: list[str] | None = None
    test_sessions: list[str] | None = None
    # session split only: train (and validate) on these sessions alone, e.g. train ["1"],
    # test ["2"]; windows of the remaining sessions are left out (counted in the description)
    train_sessions: list[str] | None = None
    # recording split only: the meta field whose value makes a group that never straddles
    # train/val/test (e.g. "repetition"); None: the source recording (subject, session);
    # "window": every window its own group (the MRA-Net paper's random frame split, leaks)
    group_by: str | None = None
    # recording split only: stratified K-fold over activity x person (folds, fold) instead of
    # one shuffled test_fraction draw; validation = one inner fold of the training groups
    stratify: bool = False

    def __post_init__(self) -> None:
        if self.kind not in SPLIT_KINDS:
            raise ConfigError(
                f"split.kind must be one of {', '.join(SPLIT_KINDS)}; got {self.kind!r}"
            )
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"split.val_fraction must be in [0, 1), got {self.val_fraction}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"split.test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.folds != "loso" and (not isinstance(self.folds, int) or self.folds < 2):
            raise ConfigError(f"split.folds must be an integer >= 2 or 'loso', got {self.folds!r}")
        if self.test_subjects is not None:
            self.test_subjects = [str(s) for s in self.test_subjects]
        if self.test_sessions is not None:
            self.test_sessions = [str(s) for s in self.test_sessions]
        if self.train_sessions is not None:
            self.train_sessions = [str(s) for s in self.train_sessions]
            if self.kind != "session":
                raise ConfigError("split.train_sessions only applies to split.kind=session")
            if set(self.train_sessions) & set(self.test_sessions or []):
                raise ConfigError("split.train_sessions and split.test_sessions overlap")
        self._check_recording_options()

    def _check_recording_options(self) -> None:
        """group_by and stratify shape the recording split and nothing else."""
        if (self.group_by is not None or self.stratify) and self.kind != "recording":
            raise ConfigError("split.group_by and split.stratify only apply to "
                              "split.kind=recording")
        if self.group_by is not None and (not isinstance(self.group_by, str)
                                          or not self.group_by.strip()):
            raise ConfigError(f"split.group_by must be a meta field name, got {self.group_by!r}")
        if not isinstance(self.stratify, bool):
            raise ConfigError(f"split.stratify must be true or false, got {self.stratify!r}")
        if self.stratify and self.folds == "loso":
            raise ConfigError("split.stratify needs an integer split.folds (K of the K-fold)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class DataConfig:
    """Which dataset, which classes, and how it is windowed, split and normalised."""

    dataset: str = "hapt"
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    labels: list[int] | None = None
    window: WindowConfig = field(default_factory=WindowConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    normalize: bool = True
    cache: bool = True
    # radar frames (radar_frames): "stored" = the [0, 1] frames as the folder stores them
    # (harlab's: each frame to its own maximum); "train" = the frames' absolute level (dB)
    # mapped to [0, 1] by a ceiling at frame_ceiling_percentile of the training values and a
    # floor frame_range_db below it, fitted on the training part (harlab.data.normalize);
    # 60 dB: on simulated data without clutter suppression p99 over 40 dB bought nothing,
    # over 60 dB +0.15-0.20 macro-F1 (docs/results/mranet.md)
    frame_scale: Literal["stored", "train"] = "stored"
    frame_ceiling_percentile: float = 99.0
    frame_range_db: float = 60.0

    def __post_init__(self) -> None:
        if self.frame_scale not in ("stored", "train"):
            raise ConfigError("data.frame_scale must be stored or train, got "
                              f"{self.frame_scale!r}")
        if not 0 < self.frame_ceiling_percentile <= 100:
            raise ConfigError("data.frame_ceiling_percentile must be in (0, 100], got "
                              f"{self.frame_ceiling_percentile!r}")
        if not (math.isfinite(self.frame_range_db) and self.frame_range_db > 0):
            raise ConfigError(f"data.frame_range_db must be a positive number of dB, got "
                              f"{self.frame_range_db!r}")


@dataclass
class ModelConfig:
    name: str = "danhar"
    options: dict[str, Any] = field(default_factory=dict)


LOGGERS: tuple[str, ...] = ("csv", "tensorboard", "mlflow")  # harlab.tracking


def check_loggers(names: Sequence[str], where: str = "train.loggers") -> list[str]:
    """``names`` as a list when each is a known logger, given once; else ConfigError."""
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where} must be a list of logger names ({', '.join(LOGGERS)}), "
                          f"got {names!r}")
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ConfigError(f"{where}: unknown logger {unknown[0]!r}; choose from "
                          f"{', '.join(LOGGERS)}")
    if len(set(names)) < len(names):
        raise ConfigError(f"{where} names a logger twice: {list(names)}")
    return list(names)



LR_SCHEDULES: tuple[str, ...] = ("step", "cosine", "none")


@dataclass
class TrainConfig:
    """Optimisation and Lightning Trainer settings (devices/strategy/num_nodes pass through).

    Learning rate: ``lr`` with ``lr_schedule`` -- ``step`` (default; StepLR, ``lr * lr_gamma``
    every ``lr_step`` epochs, constant while ``lr_step`` is null), ``cosine``
    (CosineAnnealingLR from ``lr`` to 0 over ``max_epochs``) or ``none``; schedules step once
    an epoch. ``label_smoothing`` (default 0, in [0, 1)) is torch's cross-entropy label
    smoothing, applied to every head's loss. Dropout is a model option (``mranet``,
    ``jmi_cnn``: ``dropout``, before the classifier and the multitask heads).
    """

    max_epochs: int = 30
    min_epochs: int | None = None  # Lightning ignores max_time until min_epochs are done
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    # learning-rate schedule (torch's schedulers, stepped once an epoch): "step" (StepLR:
    # lr * lr_gamma every lr_step epochs; constant while lr_step is null), "cosine"
    # (CosineAnnealingLR over max_epochs, down to 0) or "none" (constant)
    lr_schedule: str = "step"
    lr_step: int | None = None
    lr_gamma: float = 0.1
    # cross-entropy label smoothing of every head (torch's CrossEntropyLoss), in [0, 1)
    label_smoothing: float = 0.0
    patience: int | None = 10
    seed: int = 0
    precision: str = "auto"
    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    max_time: str | None = None
    limit_train_batches: float | int = 1.0
    limit_val_batches: float | int = 1.0  # quick runs: select on part of validation
    threads: int | None = None
    progress: bool = True
    class_weights: bool = False
    # weight initialisation: "default" (PyTorch's) or "orthogonal" (the MRA-Net paper's);
    # see harlab.models.weight_init
    init: str = "default"
    # experiment tracking (harlab.tracking): csv is always written; tensorboard and mlflow
    # need the tracking extra
    loggers: list[str] = field(default_factory=lambda: ["csv"])
    # augmentation of the training windows (harlab.data.augment): time_shift (fraction of
    # the window), doppler_shift (channels = Doppler bins of radar frames), noise_std
    augment: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_init(self.init, "train.init")
        check_augment(self.augment)
        self.loggers = check_loggers(self.loggers)
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"train.optimizer must be adam, adamw or sgd; got {self.optimizer!r}")
        self.precision = check_precision(self.precision)
        if self.min_epochs is not None and (
            isinstance(self.min_epochs, bool) or not isinstance(self.min_epochs, int)
            or not 0 <= self.min_epochs <= self.max_epochs
        ):
            raise ConfigError(f"train.min_epochs must be an integer in 0..max_epochs "
                              f"({self.max_epochs}), got {self.min_epochs!r}")
        for name in ("limit_train_batches", "limit_val_batches"):
            v = getattr(self, name)
            ok = (not isinstance(v, bool) and isinstance(v, (int, float))
                  and (v >= 1 if isinstance(v, int) else 0.0 < v <= 1.0))
            if not ok:
                raise ConfigError(f"train.{name} must be a fraction in (0, 1] or a number of "
                                  f"batches >= 1, got {v!r}")
        for name in ("max_epochs", "batch_size", "num_nodes"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name, least in (("patience", 0), ("lr_step", 1)):  # None: no early stop / steps
            if getattr(self, name) is not None and getattr(self, name) < least:
                raise ConfigError(f"train.{name} must be null or >= {least}, got "
                                  f"{getattr(self, name)}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ConfigError(f"train.weight_decay must be a finite number >= 0, got "
                              f"{self.weight_decay}")
        if not (self.lr_gamma > 0 and math.isfinite(self.lr_gamma)):
            raise ConfigError(f"train.lr_gamma must be a positive finite number, got "
                              f"{self.lr_gamma}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"train.lr must be a positive finite number, got {self.lr}")
        self._check_schedule()
        self._check_devices()
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"train.threads must be >= 1, got {self.threads}")
        if self.max_time is not None and not re.fullmatch(r"\d+:\d\d:\d\d:\d\d",
                                                          str(self.max_time)):
            raise ConfigError(f"train.max_time must be DD:HH:MM:SS (e.g. 00:00:10:00), got "
                              f"{self.max_time!r}")

    def _check_schedule(self) -> None:
        """``lr_schedule`` known (``lr_step`` with ``step`` only); label_smoothing in [0, 1)."""
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}; "
                              f"got {self.lr_schedule!r}")
        if self.lr_step is not None and self.lr_schedule != "step":
            raise ConfigError(f"train.lr_step applies to train.lr_schedule=step only; got "
                              f"lr_schedule={self.lr_schedule} with lr_step={self.lr_step}")
        v = self.label_smoothing
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise ConfigError(f"train.label_smoothing must be a number in [0, 1), got {v!r}")
        self.label_smoothing = float(v)

    def _check_devices(self) -> None:
        """``devices`` as Lightning takes it: a count, -1 (every GPU), "auto", or GPU ids."""
        d = self.devices
        if isinstance(d, str) and re.fullmatch(r"-?\d+", d.strip()):
            d = self.devices = int(d)
        if isinstance(d, int):
            ok = d >= 1 or (d == -1 and self.accelerator != "cpu")
        else:
            ok = d == "auto" or (self.accelerator != "cpu"
                                 and re.fullmatch(r"\d+(\s*,\s*\d+)*\s*,?", str(d)))
        if not ok:
            raise ConfigError(f"train.devices must be a number of devices >= 1, 'auto', or (on "
                              f"a GPU) -1 or GPU ids like '0,1'; got {self.devices!r}")


AUGMENT_KEYS = ("time_shift", "doppler_shift", "noise_std")


def check_augment(options: dict[str, Any]) -> None:
    """ConfigError (one line) unless ``options`` are valid ``train.augment`` settings:
    ``time_shift`` in [0, 1), ``doppler_shift`` a whole number >= 0, ``noise_std`` >= 0."""
    for key, value in options.items():
        if key not in AUGMENT_KEYS:
            raise ConfigError(f"unknown config key 'train.augment.{key}'."
                              f"{suggest(key, AUGMENT_KEYS)} Valid keys: "
                              f"{', '.join(AUGMENT_KEYS)}")
        number = (not isinstance(value, bool) and isinstance(value, int | float)
                  and math.isfinite(value))
        if key == "time_shift" and not (number and 0 <= value < 1):
            raise ConfigError(f"train.augment.time_shift must be a fraction of the window in "
                              f"[0, 1), got {value!r}")
        if key == "doppler_shift" and not (number and value >= 0 and float(value).is_integer()):
            raise ConfigError(f"train.augment.doppler_shift must be a whole number of bins "
                              f">= 0, got {value!r}")
        if key == "noise_std" and not (number and value >= 0):
            raise ConfigError(f"train.augment.noise_std must be a number >= 0, got {value!r}")


TASK_HEADS = ("activity", "identity")
LOSS_WEIGHTINGS = ("flwl", "equal", "fixed", "uncertainty")
MONITORS = ("mean", "activity", "identity")
FLWL_GRADS = ("head", "full", "none")
FLWL_INPUTS = ("raw", "unit")


@dataclass
class TaskConfig:
    """Which heads to train and how their losses are combined (multitask learning).

    ``heads``: ``[activity]`` (default, single task), ``[identity]`` (person identification
    only) or ``[activity, identity]``. The identity label is the subject, mapped to 0..P-1
    over the subjects of the training part, so identity needs a split that is not
    subject-wise (``random`` or ``session``). ``loss_weighting``: ``equal``, ``fixed``
    (``fixed_ratio`` = weight_activity / weight_identity), ``uncertainty`` (Kendall et al.
    2018) or ``flwl`` (MRA-Net, needs a model exposing its embedding: any registered one).
    ``flwl_grad``: what the FLWL weight branch learns from -- ``head`` (its own FC learns
    from the loss, the shared embedding is detached), ``full`` (also back-propagates into
    the backbone, the paper read literally) or ``none`` (fixed random branch; ablation).
    ``flwl_larger``: which task gets ``2 + max(w)`` (``activity`` = Eq. 5 as printed).
    ``flwl_input``: what P_w's FC sees -- ``raw`` (the embedding X_n, Eq. 4) or ``unit``
    (X_n / ||X_n||; harlab's variant: the embedding's norm grows during training, which
    drives softmax(FC(X_n)) into saturation where the loss can no longer move w).
    ``monitor``: validation quantity for checkpointing and early stopping -- the mean of
    the heads' macro-F1s (``mean``) or one head's macro-F1.
    """

    heads: list[str] = field(default_factory=lambda: ["activity"])
    loss_weighting: str = "equal"
    fixed_ratio: float = 0.75
    flwl_grad: str = "head"
    flwl_larger: str = "activity"
    flwl_input: str = "raw"
    monitor: str = "mean"

    def __post_init__(self) -> None:
        heads = list(self.heads) if isinstance(self.heads, (list, tuple)) else [self.heads]
        if not heads or any(h not in TASK_HEADS for h in heads) or len(set(heads)) != len(heads):
            raise ConfigError(
                f"task.heads must be a non-empty list of distinct names from "
                f"{', '.join(TASK_HEADS)}; got {self.heads!r}"
            )
        self.heads = [h for h in TASK_HEADS if h in heads]  # canonical order
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise ConfigError(
                f"task.loss_weighting must be one of {', '.join(LOSS_WEIGHTINGS)}; "
                f"got {self.loss_weighting!r}"
            )
        if isinstance(self.fixed_ratio, bool) or not isinstance(self.fixed_ratio, (int, float)) \
                or not self.fixed_ratio > 0:
            raise ConfigError(f"task.fixed_ratio must be a positive number, got "
                              f"{self.fixed_ratio!r}")
        if self.flwl_grad not in FLWL_GRADS:
            raise ConfigError(f"task.flwl_grad must be head, full or none; got "
                              f"{self.flwl_grad!r}")
        if self.flwl_input not in FLWL_INPUTS:
            raise ConfigError(f"task.flwl_input must be raw or unit; got {self.flwl_input!r}")
        if self.flwl_larger not in TASK_HEADS:
            raise ConfigError(f"task.flwl_larger must be activity or identity; got "
                              f"{self.flwl_larger!r}")
        if self.monitor not in MONITORS:
            raise ConfigError(f"task.monitor must be one of {', '.join(MONITORS)}; got "
                              f"{self.monitor!r}")
        if self.monitor != "mean" and self.monitor not in self.heads:
            raise ConfigError(f"task.monitor={self.monitor} but that head is not in "
                              f"task.heads {self.heads}")
        if self.loss_weighting == "flwl" and len(self.heads) != 2:
            raise ConfigError("task.loss_weighting=flwl needs task.heads: [activity, identity]")

    @property
    def is_multitask(self) -> bool:
        """True unless this is the plain single-task activity classifier."""
        return self.heads != ["activity"]


@dataclass
class RunConfig:
    name: str | None = None
    description: str = ""
    output_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    task: TaskConfig = field(default_factory=TaskConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def run_name(self) -> str:
        """``name``, or ``<dataset>_<model>`` when the config has none (run directory names)."""
        return self.name or f"{self.data.dataset}_{self.model.name}"


# settings that may differ between machines without changing what a run computes
RUNTIME_KEYS = frozenset({("name",), ("description",), ("output_dir",), ("data", "path"),
                          ("data", "cache"), ("train", "threads"), ("train", "progress"),
                          ("train", "loggers")})


def computed_settings(tree: dict[str, Any], at: tuple[str, ...] = ()
                      ) -> dict[tuple[str, ...], Any]:
    """Nested config dict -> {key path: leaf value}, the runtime-only settings left out.

    Two runs whose computed settings are equal trained the same thing, wherever they ran
    (used to check runs before a reproduction or ablation reuses or merges them).
    """
    out: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        where = (*at, str(key))
        if where in RUNTIME_KEYS:
            continue
        if isinstance(value, dict) and value:
            out.update(computed_settings(value, where))
        else:
            out[where] = value
    return out


def settings_difference(there: dict[str, Any], here: dict[str, Any], here_word: str = "here"
                        ) -> str | None:
    """``"train.lr: 0.001 there, 0.01 here; 2 more differences"`` or None when equal.

    Compares the computed settings of two config dicts (runtime-only settings ignored).
    """
    a, b = computed_settings(there), computed_settings(here)
    diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    if not diff:
        return None
    k = diff[0]
    return (f"{'.'.join(k)}: {a.get(k)!r} there, {b.get(k)!r} {here_word}"
            + (f"; {len(diff) - 1} more differences" if len(diff) > 1 else ""))


def resolve_precision(precision: str, accelerator: str = "cpu") -> str:
    """``auto`` -> ``bf16-mixed`` where bf16 pays, else fp32 (``32-true``).

    On a CUDA GPU (``gpu``/``cuda``, or ``auto`` where one is present) that is the GPU's
    answer (:func:`harlab.hardware.cuda_has_bf16`: Ampere or later), never the CPU's; on
    the CPU, AMX or AVX512-BF16 (:func:`harlab.hardware.cpu_has_fast_bf16`). Other
    accelerators (``mps``, or ``gpu`` without CUDA) get ``bf16-mixed``.
    """
    if str(precision) != "auto":
        return str(precision)
    from harlab.hardware import cpu_has_fast_bf16, cuda_has_bf16, on_cuda

    if on_cuda(accelerator):
        return "bf16-mixed" if cuda_has_bf16() else "32-true"
    if accelerator in ("cpu", "auto"):  # auto without a CUDA device trains on the CPU
        return "bf16-mixed" if cpu_has_fast_bf16() else "32-true"
    return "bf16-mixed"


def _matches(value: Any, hint: Any, in_list: bool = False) -> bool:
    """Whether a config value has its field's type (YAML gives plain Python values)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a, in_list) for a in args)
    if origin is Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0], True) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if hint is str:  # ids in lists (test_subjects: [12]) are made strings by the config
        return isinstance(value, str) or (in_list and isinstance(value, int)
                                           and not isinstance(value, bool))
    return True


def _describe(hint: Any) -> str:
    """``int``, ``a finite number``, ``one of 'a', 'b'``, ``a list of int`` ... for messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return "a mapping"
    names = {int: "an integer", float: "a finite number", bool: "true or false", str: "text",
             type(None): "null"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _build(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``data`` recursively, rejecting unknown keys."""
    if data is not None and not isinstance(data, dict):  # before dict(), which may raise
        raise ConfigError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(
                f"unknown config key '{where + '.' if where else ''}{key}'."
                f"{suggest(key, fields)} Valid keys: {', '.join(fields)}"
            )
        ftype = fields[key].type
        sub = {
            "window": WindowConfig,
            "split": SplitConfig,
            "data": DataConfig,
            "model": ModelConfig,
            "train": TrainConfig,
            "task": TaskConfig,
        }.get(key)
        if sub is not None and isinstance(ftype, str) and sub.__name__ in ftype:
            kwargs[key] = _build(sub, value, f"{where}.{key}" if where else key)
        else:
            hint = typing.get_type_hints(cls)[key]
            if not _matches(value, hint):
                raise ConfigError(f"{where + '.' if where else ''}{key} must be "
                                  f"{_describe(hint)}, got {value!r}")
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"invalid {where or 'config'}: {exc}") from None


def from_dict(data: dict[str, Any]) -> RunConfig:
    return _build(RunConfig, data, "")


def run_config(path: str | Path) -> RunConfig:
    """The config saved at ``path`` (a run's ``config.yaml``); a wrong value names the file."""
    data = load_yaml(path)
    try:
        return from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (it keeps the last,
    so the first setting would be ignored without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; a one-line ConfigError for a missing, unreadable,
    non-UTF-8, invalid or empty file (an empty config would silently train the defaults)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#x})"
                          ) from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read it ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}: invalid YAML{where}: {what}") from None
    if data is None:
        raise ConfigError(f"{p}: the config file is empty (leave it out to use the defaults)")
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings (value parsed as YAML) to a nested dict copy."""
    import copy

    out = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key.path=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a section")
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """Load a YAML config (or defaults when ``path`` is None) and apply overrides.

    Where the overrides change ``model.name`` (``--model``) but not ``name`` or
    ``description``, those name the new model instead of the YAML's (see
    :func:`rename_for_model`), so a run directory and its report never name a model the
    run did not train.
    """
    data = load_yaml(path) if path else {}
    return from_dict(rename_for_model(data, apply_overrides(data, overrides or [])))


def rename_for_model(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``after`` with ``name``/``description`` rewritten when the model changed from
    ``before``'s and they were left as they were: the old model's name, as a whole word,
    becomes the new one, or the new model is appended where the old one is not named."""
    def model(tree: dict[str, Any]) -> Any:
        return tree["model"].get("name") if isinstance(tree.get("model"), dict) else None

    old, new = model(before), model(after)
    if not old or not new or old == new:
        return after
    word = re.compile(rf"(?<![A-Za-z0-9]){re.escape(str(old))}(?![A-Za-z0-9])")
    out = dict(after)
    for key, tail in (("name", f"_{new}"), ("description", f" (model {new}, not {old})")):
        text = before.get(key)
        if isinstance(text, str) and text and after.get(key) == text:
            out[key] = word.sub(str(new), text) if word.search(text) else text + tail
    return out


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
