"""Run configuration: YAML files under ``configs/`` plus ``key.path=value`` overrides.

Unknown keys are errors (a typo must not silently fall back to a default). The resolved
config is written into every run directory so a run can be evaluated and repeated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harlab.data.splits import SplitConfig
from harlab.data.windows import WindowConfig
from harlab.errors import ConfigError, suggest

PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "bf16-true", "16-mixed", "64-true")


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


@dataclass
class ModelConfig:
    name: str = "danhar"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Optimisation and Lightning Trainer settings (devices/strategy/num_nodes pass through)."""

    max_epochs: int = 30
    min_epochs: int = 1
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_step: int | None = None
    lr_gamma: float = 0.1
    patience: int | None = 10
    seed: int = 0
    precision: str = "auto"
    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    max_time: str | None = None
    limit_train_batches: float | int = 1.0
    threads: int | None = None
    progress: bool = True
    class_weights: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"train.optimizer must be adam, adamw or sgd; got {self.optimizer!r}")
        if str(self.precision) not in PRECISIONS:
            raise ConfigError(
                f"train.precision {self.precision!r} is not one of {', '.join(PRECISIONS)}"
            )
        for name in ("max_epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"train.{name} must be >= 1")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")


@dataclass
class RunConfig:
    name: str | None = None
    description: str = ""
    output_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AMX or AVX512-BF16).

    Without them bf16 autocast is emulated and runs several times slower than fp32.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in ("amx_bf16", "avx512_bf16"))


def resolve_precision(precision: str, accelerator: str = "cpu") -> str:
    """``auto`` -> ``bf16-mixed`` where bf16 pays (AMX/AVX512-BF16 CPU, or a GPU), else fp32."""
    if str(precision) != "auto":
        return str(precision)
    if accelerator not in ("cpu",):
        return "bf16-mixed"
    return "bf16-mixed" if cpu_has_fast_bf16() else "32-true"


def _build(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``data`` recursively, rejecting unknown keys."""
    data = dict(data or {})
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
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
        }.get(key)
        if sub is not None and isinstance(ftype, str) and sub.__name__ in ftype:
            kwargs[key] = _build(sub, value, f"{where}.{key}" if where else key)
        else:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"invalid {where or 'config'}: {exc}") from None


def from_dict(data: dict[str, Any]) -> RunConfig:
    return _build(RunConfig, data, "")


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {exc}") from None
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
    """Load a YAML config (or defaults when ``path`` is None) and apply overrides."""
    data = load_yaml(path) if path else {}
    return from_dict(apply_overrides(data, overrides or []))


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
