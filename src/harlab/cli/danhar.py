"""DanHAR commands: ``harlab attention`` (export/plot attention) and ``harlab ablate danhar``.

Heavy imports stay inside the commands so ``harlab --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
ablate_app = typer.Typer(
    no_args_is_help=True, help="Ablation studies that train several runs and compare them."
)


def attention(
    run_dir: Annotated[Path, typer.Argument(help="a DanHAR run directory (harlab train)")],
    part: Annotated[str, typer.Option(help="train | val | test")] = "test",
    n: Annotated[int, typer.Option("--n", help="example windows to plot")] = 8,
    out: Annotated[
        Path | None, typer.Option(help="output folder (default RUN_DIR/attention-PART-i)")
    ] = None,
) -> None:
    """Export and plot DanHAR's temporal/channel attention; localisation on weak data."""
    from harlab.evaluation.attention import export_attention

    target, info = export_attention(run_dir, part, n, out)
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


@ablate_app.command("danhar")
def ablate_danhar(
    config: Annotated[Path, typer.Argument(help="YAML config of a DanHAR run")],
    seeds: Annotated[str, typer.Option(help="comma-separated seeds")] = "0",
    arrangements: Annotated[
        str | None,
        typer.Option(help="comma-separated subset of none,channel,temporal,"
                          "temporal_channel,channel_temporal (default: all)"),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="maximum epochs")] = None,
    output_dir: Annotated[str | None, typer.Option(help="where run directories go")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no progress bar")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override key.path=value")] = None,
) -> None:
    """Train DanHAR with every attention arrangement (same config, split, seeds); compare."""
    from harlab.cli.common import load_with_overrides, parse_list, parse_names
    from harlab.experiments.ablation import run_ablation

    cfg = load_with_overrides(config, set_, epochs, output_dir, no_progress)
    seed_list = parse_list(seeds, "--seeds")
    parent, _ = run_ablation(cfg, seed_list, parse_names(arrangements), console=console)
    if (parent / "ablation.md").is_file():
        console.print((parent / "ablation.md").read_text())
    console.print(f"ablation directory: [bold]{parent}[/bold]")
