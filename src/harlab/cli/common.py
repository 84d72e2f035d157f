"""Small pieces shared by the command modules (no heavy imports: harlab.config is light)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from harlab.config import SPLIT_KINDS

T = TypeVar("T")

# options several commands share, spelled once
NoProgress = Annotated[bool, typer.Option("--no-progress", help="no progress bar")]
AllowUnfinished = Annotated[bool, typer.Option(
    "--allow-unfinished", help="use the checkpoint of a run that is not complete (running, "
    "killed or failed); refused without it, and warned about with it")]
Overrides = Annotated[list[str] | None, typer.Option("--set", help="override key.path=value")]
Seeds = Annotated[str, typer.Option(help="comma-separated seeds")]
Epochs = Annotated[int | None, typer.Option(help="maximum epochs")]
OutputDir = Annotated[str | None, typer.Option(
    "--out", help="parent folder of the new run directory (default: the config's output_dir)")]
Threads = Annotated[int | None, typer.Option(
    min=1, help="torch CPU threads for training (sets train.threads; default: torch's)")]

Loggers = Annotated[str | None, typer.Option(
    help="comma-separated Lightning loggers: csv (always written), tensorboard, mlflow "
         "(sets train.loggers; the last two need pip install 'harlab[tracking]')")]

# the shortcuts of the commands that train from one config (train, cv): each sets config keys
LOSO = "loso"  # --split loso: subject-wise, one fold per subject (leave one subject out)
Dataset = Annotated[str | None, typer.Option(help="dataset name (harlab datasets)")]
DataPath = Annotated[str | None, typer.Option(help="dataset location, if not the default")]
Model = Annotated[str | None, typer.Option(help="model name (harlab models)")]
Split = Annotated[str | None, typer.Option(
    help=f"{' | '.join(SPLIT_KINDS)} | {LOSO} (subject-wise, leave one subject out)")]
BatchSize = Annotated[int | None, typer.Option(help="batch size")]
Lr = Annotated[float | None, typer.Option(help="learning rate")]
Precision = Annotated[str | None, typer.Option(help="32-true | bf16-mixed | ...")]
Devices = Annotated[str | None, typer.Option(help="Trainer devices (e.g. 2)")]
Strategy = Annotated[str | None, typer.Option(help="Trainer strategy (e.g. ddp)")]
NumNodes = Annotated[int | None, typer.Option(help="Trainer num_nodes")]

StudyResume = Annotated[Path | None, typer.Option(
    help="continue the study in this directory (same config, --set and variants; finished "
         "runs are reused); --seeds it lacks are added")]
StudyMerge = Annotated[list[Path] | None, typer.Option(metavar="<path>",
    help="with --resume: first copy in the finished runs of this other study of the same "
         "config (e.g. seeds trained on another machine); repeatable")]


# shortcut option -> the config keys it sets (``split`` and ``no_progress`` are special)
SHORTCUT_KEYS: dict[str, tuple[str, ...]] = {
    "dataset": ("data.dataset",),
    "path": ("data.path",),
    "model": ("model.name",),
    "split": ("data.split.kind",),
    "epochs": ("train.max_epochs",),
    "batch_size": ("train.batch_size",),
    "lr": ("train.lr",),
    "seed": ("train.seed", "data.split.seed"),
    "precision": ("train.precision",),
    "devices": ("train.devices",),
    "strategy": ("train.strategy",),
    "num_nodes": ("train.num_nodes",),
    "threads": ("train.threads",),
    "loggers": ("train.loggers",),
    "output_dir": ("output_dir",),
}
# options whose text is read as YAML like a --set value (--devices 2 is the number 2);
# any other text is taken as it stands (a path may hold '#' or ': ')
_YAML_TEXT = frozenset({"devices"})


def _yaml_value(option: str, value: Any) -> str:
    """``value`` written so that the override parser reads it back unchanged."""
    import yaml

    if isinstance(value, str) and option in _YAML_TEXT:
        return value
    text = yaml.safe_dump(value, allow_unicode=True, width=float("inf"),
                          default_style='"' if isinstance(value, str) else None)
    return text.removesuffix("...\n").strip()  # 1e-05 is 1.0e-05: YAML reads it as a float


def split_overrides(split: str) -> list[str]:
    """``--split KIND`` -> the split overrides; ``loso`` is subject-wise with folds=loso."""
    from harlab.errors import ConfigError, suggest

    if split == LOSO:
        return ["data.split.kind=subject", f"data.split.folds={LOSO}"]
    if split not in SPLIT_KINDS:
        kinds = (*SPLIT_KINDS, LOSO)
        hint = suggest(split, kinds)
        raise ConfigError(f"--split must be one of {', '.join(kinds)}; got {split!r}"
                          + (f".{hint}" if hint else ""))
    return [f"data.split.kind={split}"]


def shortcut_overrides(no_progress: bool = False, **options: Any) -> list[str]:
    """The ``key.path=value`` overrides the shortcut options stand for (None: not given).

    ``options`` are named as in :data:`SHORTCUT_KEYS` (e.g. ``seed=1`` sets ``train.seed``
    and ``data.split.seed``); one command line maps to one list, whichever command it is.
    """
    overrides = []
    for option, value in options.items():
        if option not in SHORTCUT_KEYS:
            raise TypeError(f"no shortcut option {option!r}")
        if value is None:
            continue
        if option == "split":
            overrides += split_overrides(value)
            continue
        if option == "loggers":  # csv,tensorboard -> [csv, tensorboard]: YAML's flow list
            value = [name.strip() for name in value.split(",") if name.strip()]
            overrides.append(f"train.loggers=[{', '.join(value)}]")
            continue
        overrides += [f"{key}={_yaml_value(option, value)}" for key in SHORTCUT_KEYS[option]]
    if no_progress:
        overrides.append("train.progress=false")
    return overrides


def load_with_overrides(
    config: Path | None,
    set_: list[str] | None,
    epochs: int | None = None,
    output_dir: str | None = None,
    no_progress: bool = False,
    **options: Any,
) -> Any:
    """The RunConfig of a command: YAML + ``--set`` overrides + the shortcut options.

    A shortcut wins over a ``--set`` of the same key; ``options`` as in
    :func:`shortcut_overrides` (``threads=2``, ``dataset="hapt"``, ...).
    """
    from harlab.config import load_config

    shortcuts = shortcut_overrides(no_progress, epochs=epochs, output_dir=output_dir, **options)
    return load_config(config, [*(set_ or []), *shortcuts])


def in_cli_words(message: str) -> str:
    """A data source's message as the command line says it: its ``path=`` is ``--path``."""
    import re

    return re.sub(r"(?<![\w.-])path= ?", "--path ", message)


def parse_list(text: str, option: str, kind: Callable[[str], T] = int) -> list[T]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; anything else is a one-line ConfigError naming the option."""
    from harlab.errors import ConfigError

    try:
        return [kind(v) for v in text.split(",")]
    except ValueError:
        what = "integers" if kind is int else "numbers"
        raise ConfigError(f"{option} must be comma-separated {what}, got {text!r}") from None


def parse_names(text: str | None) -> list[str] | None:
    """``"a, b,"`` -> ``["a", "b"]``; None (the command's default) for None or no names."""
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()] or None


def study_events(console: Any) -> Callable[[str, dict[str, Any]], None]:
    """Print a study's events (:mod:`harlab.experiments.engine`) as they happen: the study
    directory, merges, and each run's test score when it finishes."""

    def on_event(kind: str, info: dict[str, Any]) -> None:
        if kind == "study":
            what = "resuming study" if info["resumed"] else "study directory"
            extra = f" ({info['finished']} finished runs)" if info["resumed"] else ""
            console.print(f"[bold]{what}[/bold] {info['directory']}{extra}")
        elif kind == "stage":
            console.print(info["what"], markup=False, highlight=False)
        elif kind == "merged":
            console.print(f"merged {info['from']}: {info['copied']} runs copied, "
                          f"{info['already_there']} already here, {info['not_planned']} not "
                          f"asked for, {info['unfinished']} unfinished there (not copied)",
                          highlight=False)
        elif kind == "start":
            console.print(f"[bold cyan][{info['index']}/{info['total']}] {info['run']}"
                          "[/bold cyan]")
        elif kind == "failed":
            console.print(f"[{info['index']}/{info['total']}] {info['run']} failed: "
                          f"{info['error']}", markup=False, highlight=False)
        elif kind == "done":
            test = info["metrics"].get("test") or {}
            how = "finished before, reused" if info["reused"] else (
                f"{info['metrics'].get('train_seconds', 0):.0f} s")
            console.print(f"[{info['index']}/{info['total']}] {info['run']}: test macro-F1 "
                          f"{test.get('macro_f1', float('nan')):.4f}, accuracy "
                          f"{test.get('accuracy', float('nan')):.4f} ({how})",
                          markup=False, highlight=False)

    return on_event
