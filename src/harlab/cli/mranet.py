"""``harlab search-ratio``: greedy search of the fixed activity/identity loss-weight ratio.

The MRA-Net paper initialises its loss weights by a greedy search over ratios
``r_w = w_activity / w_identity`` (Sect. 3.3, Table 5). This command trains one run per
ratio with ``task.loss_weighting=fixed`` and picks the ratio by the monitored validation
score only (``best_val_macro_f1``: by default the mean of both heads' validation
macro-F1s); test scores are reported next to it but never used for the choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harlab.cli.common import (
    NoProgress,
    OutputDir,
    Overrides,
    StudyMerge,
    StudyResume,
    Threads,
)

console = Console()


def search_ratio(
    config: Annotated[Path, typer.Argument(help="YAML config, task.heads [activity, identity]")],
    ratios: Annotated[
        str | None,
        typer.Option(help="comma-separated ratios (default: the paper's 2/3,3/4,11/14,12/13,1)"),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="maximum epochs per run")] = None,
    out: OutputDir = None,
    no_progress: NoProgress = False,
    threads: Threads = None,
    set_: Overrides = None,
    resume: StudyResume = None,
    merge: StudyMerge = None,
) -> None:
    """Greedy search of the fixed loss-weight ratio (MRA-Net Table 5), chosen on validation."""
    import sys

    from harlab.cli.common import load_with_overrides, parse_list, study_events
    from harlab.experiments.ratio_search import ratio_search
    from harlab.tasks.losses import PAPER_RATIOS

    cfg = load_with_overrides(config, set_, epochs, out, no_progress, threads=threads)
    grid = parse_list(ratios, "--ratios", float) if ratios else list(PAPER_RATIOS)
    parent, _ = ratio_search(cfg, grid, study_events(console), resume, list(merge or []),
                               " ".join(sys.argv))
    console.print((parent / "ratio_search.md").read_text())
    console.print(f"ratio search directory: [bold]{parent}[/bold]")
