"""Small pieces shared by the command modules (kept free of heavy imports)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")

# options several commands share, spelled once
NoProgress = Annotated[bool, typer.Option("--no-progress", help="no progress bar")]
Overrides = Annotated[list[str] | None, typer.Option("--set", help="override key.path=value")]
Seeds = Annotated[str, typer.Option(help="comma-separated seeds")]
Epochs = Annotated[int | None, typer.Option(help="maximum epochs")]
OutputDir = Annotated[str | None, typer.Option(
    "--out", help="parent folder of the new run directory (default: the config's output_dir)")]
Threads = Annotated[int | None, typer.Option(
    min=1, help="torch CPU threads for training (sets train.threads; default: torch's)")]
StudyResume = Annotated[Path | None, typer.Option(
    help="continue the study in this directory (same config, --set and variants; finished "
         "runs are reused); --seeds it lacks are added")]
StudyMerge = Annotated[list[Path] | None, typer.Option(metavar="<path>",
    help="with --resume: first copy in the finished runs of this other study of the same "
         "config (e.g. seeds trained on another machine); repeatable")]


def shortcut_overrides(
    epochs: int | None = None,
    output_dir: str | None = None,
    no_progress: bool = False,
    threads: int | None = None,
) -> list[str]:
    """The ``key.path=value`` overrides the common shortcut options stand for."""
    overrides = []
    if epochs is not None:
        overrides.append(f"train.max_epochs={epochs}")
    if output_dir is not None:
        overrides.append(f"output_dir={output_dir}")
    if no_progress:
        overrides.append("train.progress=false")
    if threads is not None:
        overrides.append(f"train.threads={threads}")
    return overrides


def load_with_overrides(
    config: Path | None,
    set_: list[str] | None,
    epochs: int | None = None,
    output_dir: str | None = None,
    no_progress: bool = False,
    threads: int | None = None,
) -> Any:
    """The RunConfig of a command: YAML + ``--set`` overrides + the common shortcut options."""
    from harlab.config import load_config

    shortcuts = shortcut_overrides(epochs, output_dir, no_progress, threads)
    return load_config(config, [*(set_ or []), *shortcuts])


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
