"""``harlab radar ...``: run the radar processing chain on real recordings, import your own
spectrograms as a frame folder and score a trained radar run under added noise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harlab.cli.common import AllowUnfinished

app = typer.Typer(no_args_is_help=True,
                  help="Radar recordings: process real files, import spectrograms.")
console = Console()


@app.command("process")
def process_file(
    file: Annotated[Path, typer.Argument(help="a Glasgow radar .dat file")],
    out: Annotated[Path, typer.Option(help="spectrogram PNG to write (must not exist)")],
    processing: Annotated[
        Path | None, typer.Option(help="YAML of radar processing options (ProcessingConfig) "
                                       "over the Glasgow defaults")
    ] = None,
    frames_out: Annotated[
        Path | None, typer.Option("--frames", help="also save the 100x150 frames as .npy")
    ] = None,
) -> None:
    """Process one radar file: spectrogram PNG (+ range-time PNG beside it, optional frames)."""
    from harlab.config import load_yaml
    from harlab.errors import DataError
    from harlab.radar.glasgow import read_dat
    from harlab.radar.glasgow_import import glasgow_processing
    from harlab.radar.processing import (
        frames,
        plot_range_time,
        plot_spectrogram,
        process,
    )

    rt_path = out.with_name(out.stem + "_range_time.png")
    for p in (out, rt_path, frames_out):
        if p is not None and p.exists():
            raise DataError(f"{p} exists; choose another output file")
    cfg = glasgow_processing(load_yaml(processing) if processing else None)
    raw = read_dat(file)
    spec = process(raw, cfg)
    plot_spectrogram(spec, out)
    plot_range_time(spec, rt_path)
    stack = frames(spec, cfg)
    if frames_out is not None:
        import numpy as np

        frames_out.parent.mkdir(parents=True, exist_ok=True)
        np.save(frames_out, stack)
    p = raw.params
    console.print(
        f"{file}: {raw.n_pulses} sweeps x {p.samples_per_sweep} samples, PRF {p.prf_hz:g} Hz, "
        f"v_max {p.v_max_ms:.2f} m/s, activity {raw.activity}, person {raw.person}; "
        f"{len(stack)} frames; wrote {out} and {rt_path}"
    )


@app.command("frames-from-images")
def frames_from_images(
    src: Annotated[Path, typer.Argument(help="folder of spectrogram .png / .npy files")],
    labels: Annotated[Path, typer.Option(help="CSV: file (relative to SRC), activity, person "
                                              "and optional recording/session/repetition/...")],
    out: Annotated[Path, typer.Option(help="frame folder to write (must not exist or be empty)")],
    frame_s: Annotated[float | None, typer.Option(help="seconds one spectrogram covers")] = None,
    row0: Annotated[str, typer.Option(help="velocity of the top row: +v_max or -v_max")
                    ] = "+v_max",
    classes: Annotated[str | None, typer.Option(help="activity order, comma-separated "
                                                     "(default: natural sort)")] = None,
    db_range: Annotated[float | None, typer.Option(
        help="the files hold dB values: normalise each frame to its maximum over this many dB "
        "(default: values are already in [0, 1])")] = None,
) -> None:
    """Make a frame folder (labels.csv, .npy frames, dataset.json) from your spectrograms."""
    from harlab.cli.common import parse_names
    from harlab.radar.frames_import import import_frames

    s = import_frames(src, labels, out, frame_s=frame_s, row0=row0,
                      classes=parse_names(classes), db_range=db_range)
    h, w = s["frame_shape"]
    dropped = s["dropped"]["files_not_in_table"]
    console.print(
        f"wrote {s['path']}: {s['n_frames']} frames of {h}x{w} (Doppler x time) from "
        f"{s['n_recordings']} files, {len(s['classes'])} activities, {len(s['persons'])} "
        f"persons; {dropped} file(s) in {src} not in the label table were left out"
        + ("" if frame_s else "; no --frame-s: reports give no seconds")
    )


@app.command("frames-from-glasgow")
def frames_from_glasgow(
    src: Annotated[Path, typer.Argument(help="folder of Glasgow .dat files (the extracted "
                                             "archive; campaign folders below it)")],
    out: Annotated[Path, typer.Option(help="frame folder to write (must not exist or be empty)")],
    processing: Annotated[
        Path | None, typer.Option(help="YAML of radar processing options over the Glasgow "
                                       "defaults (person's range bins by energy)")
    ] = None,
    no_progress: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Make a frame folder from the Glasgow dataset: campaign-qualified persons, copies
    dropped, K as the label, the person's range bins found per recording, MTI applied."""
    from harlab.config import load_yaml
    from harlab.radar.glasgow_import import frames_from_glasgow as convert
    from harlab.radar.glasgow_import import glasgow_processing

    cfg = glasgow_processing(load_yaml(processing) if processing else None)
    s = convert(src, out, cfg, progress=not no_progress)
    g = s["glasgow"]
    h, w = s["frame_shape"]
    console.print(
        f"wrote {s['path']}: {s['n_frames']} frames of {h}x{w} (Doppler x time) from "
        f"{s['n_recordings']} recordings, {len(s['classes'])} activities, "
        f"{len(s['persons'])} persons; {g['dat_files']} .dat files, "
        f"{g['duplicates_dropped']} byte-identical copies dropped, "
        f"{s['dropped']['recordings_too_short']} too short for a frame dropped, "
        f"{g['label_disagreements']} labelled by K where K and Ayy disagree "
        f"(see {s['path']}/glasgow.json)"
    )


@app.command("snr-sweep")
def snr_sweep(
    run_dir: Annotated[Path, typer.Argument(help="a run trained on a radar frame folder")],
    snrs: Annotated[str, typer.Option(help="comma-separated SNRs in dB")] = "0,5,10,15,20,25,30",
    part: Annotated[str, typer.Option(help="train | val | test")] = "test",
    seed: Annotated[int, typer.Option(help="seed of the noise draws")] = 0,
    out: Annotated[Path | None, typer.Option(help="also write the scores as JSON here "
                                                  "(must not exist)")] = None,
    allow_unfinished: AllowUnfinished = False,
) -> None:
    """Score a radar run on its frames with white Gaussian noise at set SNRs (MRA-Net Fig. 11).

    The noise is added in linear power to the frames (SNR = mean frame power / noise
    variance), so it works on any frame folder whose dataset.json gives dynamic_range_db.
    """
    from rich.table import Table

    from harlab.cli.common import parse_list
    from harlab.errors import ConfigError, DataError
    from harlab.evaluation.snr import run_snr_sweep
    from harlab.fileio import write_json

    if part not in ("train", "val", "test"):
        raise ConfigError(f"--part must be train, val or test; got {part!r}")
    if out is not None and out.exists():
        raise DataError(f"{out} exists; choose another output file")
    res = run_snr_sweep(run_dir, parse_list(snrs, "--snrs", float), part, seed,
                        allow_unfinished)
    for w in res["warnings"]:
        console.print(f"[bold yellow]WARNING[/bold yellow] {w}")
    heads = [k for k in res["clean"] if k.endswith("_macro_f1")]
    table = Table(title=f"{part} macro-F1 of {res['frames']} frames under noise: {run_dir}")
    table.add_column("SNR")
    for h in heads:
        table.add_column(h.removesuffix("_macro_f1"), justify="right")
    for snr, row in res["snr"].items():
        table.add_row(f"{float(snr):g} dB", *(f"{row[h]:.4f}" for h in heads))
    table.add_row("no noise", *(f"{res['clean'][h]:.4f}" for h in heads))
    console.print(table)
    if out is not None:
        write_json(out, res)
        console.print(f"written: {out}")
