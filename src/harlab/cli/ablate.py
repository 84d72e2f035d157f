"""``harlab ablate ...``: studies that train several runs of one config and compare them.

Heavy imports stay inside the commands so ``harlab --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harlab.cli.common import (
    Epochs,
    NoProgress,
    OutputDir,
    Overrides,
    Seeds,
    StudyMerge,
    StudyResume,
    Threads,
)

console = Console()
ablate_app = typer.Typer(
    no_args_is_help=True, help="Ablation studies that train several runs and compare them."
)


@ablate_app.command("danhar")
def ablate_danhar(
    config: Annotated[Path, typer.Argument(help="YAML config of a DanHAR run")],
    seeds: Seeds = "0",
    arrangements: Annotated[
        str | None,
        typer.Option(help="comma-separated subset of none,channel,temporal,"
                          "temporal_channel,channel_temporal (default: all)"),
    ] = None,
    epochs: Epochs = None,
    out: OutputDir = None,
    no_progress: NoProgress = False,
    threads: Threads = None,
    set_: Overrides = None,
    resume: StudyResume = None,
    merge: StudyMerge = None,
) -> None:
    """Train DanHAR with every attention arrangement (same config, split, seeds); compare."""
    import sys

    from harlab.cli.common import load_with_overrides, parse_list, parse_names, study_events
    from harlab.experiments.ablation import run_ablation

    cfg = load_with_overrides(config, set_, epochs, out, no_progress, threads=threads)
    seed_list = parse_list(seeds, "--seeds")
    parent, _ = run_ablation(cfg, seed_list, parse_names(arrangements), study_events(console),
                             resume=resume, merge=merge, command=" ".join(sys.argv))
    if (parent / "ablation.md").is_file():
        console.print((parent / "ablation.md").read_text())
    console.print(f"ablation directory: [bold]{parent}[/bold]")


@ablate_app.command("tasks")
def ablate_tasks(
    config: Annotated[Path, typer.Argument(help="YAML config of a multitask run (two heads)")],
    seeds: Seeds = "0,1,2",
    weightings: Annotated[
        str | None,
        typer.Option(help="comma-separated loss weightings of the joint models: flwl,equal,"
                          "fixed,uncertainty (default: the config's)"),
    ] = None,
    epochs: Epochs = None,
    out: OutputDir = None,
    no_progress: NoProgress = False,
    threads: Threads = None,
    set_: Overrides = None,
    resume: StudyResume = None,
    merge: StudyMerge = None,
) -> None:
    """Joint vs single-task learning: every head alone and together, paired by seed."""
    import sys

    from harlab.cli.common import load_with_overrides, parse_list, parse_names, study_events
    from harlab.experiments.tasks_ablation import run_tasks_ablation

    cfg = load_with_overrides(config, set_, epochs, out, no_progress, threads=threads)
    seed_list = parse_list(seeds, "--seeds")
    parent, _ = run_tasks_ablation(cfg, seed_list, parse_names(weightings),
                                   study_events(console), resume=resume, merge=merge,
                                   command=" ".join(sys.argv))
    if (parent / "tasks.md").is_file():
        console.print((parent / "tasks.md").read_text(), markup=False, highlight=False)
    console.print(f"task ablation directory: [bold]{parent}[/bold]")
