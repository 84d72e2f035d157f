"""``harlab export``: a trained run as an ONNX model plus its preprocessing JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harlab.cli.common import AllowUnfinished

console = Console()


def export(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by harlab train")],
    format: Annotated[str, typer.Option("--format", "-f", help="export format: onnx")] = "onnx",
    checkpoint: Annotated[str, typer.Option(help="best | last")] = "best",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="output .onnx path (default RUN_DIR/export/<ckpt>.onnx)"),
    ] = None,
    quantize: Annotated[
        str,
        typer.Option(help="none | int8: also write <name>.int8.onnx (static int8, QDQ)"),
    ] = "none",
    calibration_windows: Annotated[
        int, typer.Option(help="training windows used to calibrate int8 ranges")
    ] = 512,
    allow_unfinished: AllowUnfinished = False,
) -> None:
    """Export a run's checkpoint to ONNX (dynamic batch) with a parity check and metadata JSON.

    Only a complete run is exported; a running, killed or failed one needs --allow-unfinished
    (warned about, and recorded in the metadata's source.unfinished)."""
    from harlab.deploy.export import QUANTIZATIONS, export_run, quantize_export
    from harlab.errors import ConfigError

    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    path, json_path, meta = export_run(run_dir, format, checkpoint, out, allow_unfinished)
    par = meta["parity"]
    heads = ", ".join(f"{h['name']} ({len(h['classes'])} classes)" for h in meta["heads"])
    console.print(f"exported [bold]{path}[/bold] (opset {meta['opset']}; heads: {heads})")
    console.print(f"metadata {json_path}")
    console.print(
        f"parity with PyTorch on {par['windows']} windows: max abs diff "
        f"{par['max_abs_diff']:.2e}, argmax {'identical' if par['argmax_equal'] else 'DIFFERENT'}"
    )
    if quantize == "int8":
        q_path, _, q_meta = quantize_export(path, meta, Path(run_dir), calibration_windows)
        q = q_meta["quantization"]
        console.print(
            f"int8 [bold]{q_path}[/bold]: agrees with fp32 on {q['agreement_with_fp32']:.1%} of "
            f"{q['checked_on']}; accuracy fp32 {q['accuracy_fp32']:.4f}, "
            f"int8 {q['accuracy_int8']:.4f}"
        )



def stream_predict(
    model_path: Path, stdin: bool, follow: Path | None, hop: int | None, poll: float,
    max_idle: float | None, max_gap: float, smooth: int | None = None,
    allow_unfinished: bool = False,
) -> None:
    """``harlab predict MODEL --stream | --follow FILE``: JSON lines out, summary on stderr."""
    import sys

    from harlab.deploy.streaming import (
        MAX_POLL,
        check_max_gap,
        check_seconds,
        follow_lines,
        load_window_model,
        run_stream,
    )
    from harlab.errors import ConfigError

    if stdin and follow is not None:
        raise ConfigError("use either --stream (stdin) or --follow FILE, not both")
    check_seconds(poll, "--poll", zero_ok=False, high=MAX_POLL)
    check_seconds(max_idle, "--max-idle", zero_ok=True)
    check_max_gap(max_gap)  # before loading the model: bad options fail fast
    model = load_window_model(model_path, allow_unfinished=allow_unfinished)

    def out(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def err(msg: str) -> None:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()

    # bytes, decoded per line: a line that is not UTF-8 is counted and dropped, whatever the
    # locale, and the lines before it are not lost in the same read buffer
    lines = (sys.stdin.buffer if follow is None
             else follow_lines(follow, poll, max_idle, warn=err))
    run_stream(model, lines, hop=hop, max_gap=max_gap, out=out, err=err, smooth=smooth)
