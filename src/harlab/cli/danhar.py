"""DanHAR command ``harlab attention`` (export/plot attention; ``harlab ablate`` is cli.ablate).

Heavy imports stay inside the commands so ``harlab --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harlab.cli.common import AllowUnfinished

console = Console()


def attention(
    run_dir: Annotated[Path, typer.Argument(help="a DanHAR run directory (harlab train)")],
    part: Annotated[str, typer.Option(help="train | val | test")] = "test",
    n: Annotated[int, typer.Option("--n", help="example windows to plot")] = 8,
    out: Annotated[
        Path | None, typer.Option(help="output folder (default RUN_DIR/attention-PART-i)")
    ] = None,
    allow_unfinished: AllowUnfinished = False,
) -> None:
    """Export and plot DanHAR's temporal/channel attention; localisation on weak data.

    Only a complete run; a running, killed or failed one needs --allow-unfinished."""
    from harlab.evaluation.attention import export_attention

    target, info = export_attention(run_dir, part, n, out, allow_unfinished=allow_unfinished)
    for w in info["warnings"]:
        console.print(f"[bold yellow]WARNING[/bold yellow] {w}")
    console.print(f"{info['windows']} {part} windows, accuracy {info['accuracy']:.4f}, "
                  f"attention arrangement {info['attention']}")
    loc = info.get("localisation")
    if loc:
        from harlab.evaluation.attention import localisation_markdown

        console.print(localisation_markdown(loc["combined"], "attention localisation"),
                      soft_wrap=True)
    elif "localisation" in info:
        console.print(info.get("note", ""))
    console.print(f"written: [bold]{target}[/bold]")
