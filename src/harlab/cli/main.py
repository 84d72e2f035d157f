"""The ``harlab`` command line (Typer + Rich).

User errors (:class:`harlab.errors.HarlabError`) are printed as one line, without a
traceback, and the process exits with a non-zero code.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harlab.cli import danhar as _danhar_cli
from harlab.cli.ablate import ablate_app as _ablate_app
from harlab.cli.common import (
    AllowUnfinished,
    BatchSize,
    DataPath,
    Dataset,
    Devices,
    Epochs,
    Loggers,
    Lr,
    Model,
    NoProgress,
    NumNodes,
    OutputDir,
    Overrides,
    Precision,
    Seeds,
    Split,
    Strategy,
    StudyMerge,
    StudyResume,
    Threads,
)
from harlab.cli.data import app as _data_app
from harlab.cli.export import export as _export_cmd
from harlab.cli.mranet import search_ratio
from harlab.cli.radar import app as _radar_app
from harlab.cli.reproduce import app as _reproduce_app
from harlab.cli.simulate import app as _simulate_app
from harlab.cli.zoo import app as _zoo_app
from harlab.errors import ConfigError, HarlabError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="harlab: human activity recognition and person identification (DanHAR, MRA-Net).",
)
console = Console()
err_console = Console(stderr=True)


@app.command()
def datasets() -> None:
    """List the datasets harlab can load and whether their data are found here."""
    from harlab.cli.common import in_cli_words
    from harlab.data.sources import list_sources

    table = Table(title="datasets")
    table.add_column("name", no_wrap=True)
    table.add_column("description")
    table.add_column("data here")
    notes: list[str] = []  # why a dataset is not found: printed in full below the table
    for s in list_sources():
        if s.name == "custom":
            found = "your files (--path)"
        elif s.name == "weak":
            found = "built from another source (option base=...)"
        else:
            try:
                s.fingerprint(None)
                found = "[green]found[/green]"
            except HarlabError as exc:
                notes.append(f"{len(notes) + 1}. {s.name}: {in_cli_words(str(exc))}")
                found = f"[red]not found[/red] ({len(notes)})"
        table.add_row(s.name, s.summary, found)
    console.print(table)
    for note in notes:
        console.print(note, markup=False, highlight=False)
    if notes:
        console.print("`harlab data info NAME` has each dataset's facts and download.",
                      markup=False, highlight=False)


@app.command()
def models() -> None:
    """List the registered models."""
    from harlab.models import list_models

    table = Table(title="models")
    table.add_column("name")
    table.add_column("description")
    table.add_column("defaults")
    for m in list_models():
        table.add_row(m.name, m.summary, ", ".join(f"{k}={v}" for k, v in m.defaults))
    console.print(table)



def _say(line: str) -> None:
    """A run's progress line, printed as plain text (no Rich markup)."""
    console.print(line, markup=False, highlight=False)

@app.command()
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config (see configs/)")] = None,
    dataset: Dataset = None,
    path: DataPath = None,
    model: Model = None,
    split: Split = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    lr: Lr = None,
    seed: Annotated[int | None, typer.Option(help="seed for split and training")] = None,
    precision: Precision = None,
    devices: Devices = None,
    strategy: Strategy = None,
    num_nodes: NumNodes = None,
    out: OutputDir = None,
    resume: Annotated[
    Path | None,
        typer.Option(help="continue the unfinished (killed or failed) run RUN_DIR from its "
                     "last.ckpt, in its directory, with its own config.yaml: only --epochs "
                     "(raise its max_epochs) and --no-progress may be given with it; a "
                     "complete run is never changed"),
    ] = None,
    force_resume: Annotated[
        bool,
        typer.Option("--force-resume",
                     help="with --resume: continue a run still marked running by ANOTHER host "
                     "(harlab cannot check a process there); only when you know it is dead: "
                     "two machines training into one directory would corrupt it"),
    ] = False,
    no_progress: NoProgress = False,
    threads: Threads = None,
    loggers: Loggers = None,
    set_: Overrides = None,
) -> None:
    """Train a model; writes a new run directory with metrics, plots and checkpoints."""
    from harlab.cli.common import load_with_overrides
    from harlab.training import resume as run_resume
    from harlab.training import train as run_train

    if resume is not None:
        given = {"CONFIG": config, "--dataset": dataset, "--path": path, "--model": model,
                 "--split": split, "--batch-size": batch_size, "--lr": lr, "--seed": seed,
                 "--precision": precision, "--devices": devices, "--strategy": strategy,
                 "--num-nodes": num_nodes, "--out": out, "--threads": threads,
                 "--loggers": loggers, "--set": set_ or None}
        refused = [name for name, value in given.items() if value is not None]
        if refused:
            raise ConfigError(f"--resume continues {resume} with its own settings "
                              f"({resume / 'config.yaml'}); {', '.join(refused)} would change "
                              "them: only --epochs and --no-progress (and --force-resume) "
                              "may be given with it")
        result = run_resume(resume, epochs, False if no_progress else None, say=_say,
                            force=force_resume)
        max_epochs = None
    else:
        if force_resume:
            raise ConfigError("--force-resume is given only with --resume RUN_DIR")
        cfg = load_with_overrides(
            config, set_, epochs, out, no_progress, dataset=dataset, path=path, model=model,
            split=split, batch_size=batch_size, lr=lr, seed=seed, precision=precision,
            devices=devices, strategy=strategy, num_nodes=num_nodes, threads=threads,
            loggers=loggers,
        )
        if cfg.description:
            console.print(f"[bold cyan]{cfg.description}[/bold cyan]")
        result = run_train(cfg, say=_say)
        max_epochs = cfg.train.max_epochs
    if result.is_main:
        _print_trained(result, max_epochs)


def _print_trained(result: Any, max_epochs: int | None) -> None:
    """A finished run's test metrics, how its training went, warnings and directory."""
    from harlab.config import load_yaml
    from harlab.evaluation.decisions import decisions_line
    from harlab.evaluation.report import rich_metrics_table
    from harlab.training import training_notes

    if max_epochs is None:  # a resume: the run's own (possibly raised) setting
        max_epochs = int(load_yaml(result.run_dir / "config.yaml")["train"]["max_epochs"])
    m = result.metrics
    console.print(
        rich_metrics_table(m["test"], f"test metrics: {m['model']} on {m['dataset']}")
    )
    console.print(
        f"best val macro-F1 {m['best_val_macro_f1']:.4f} | {m['epochs_trained']} epochs | "
        f"train {m['train_seconds']:.1f}s | {m['parameters']:,} parameters"
    )
    for note in training_notes(m, max_epochs):
        console.print(note, markup=False, highlight=False)
    line = decisions_line(m.get("decisions"))
    if line:
        console.print(line, highlight=False)
    for w in m.get("warnings", []):
        console.print(f"[bold yellow]WARNING[/bold yellow] {w}")
    console.print(f"run directory: [bold]{result.run_dir}[/bold]")


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="run directory, or a folder of runs (cv, ablation, "
                                      "reproduce danhar/mranet), searched 3 folders down")],
    b: Annotated[Path, typer.Argument(help="the other side, the same way")],
    where_a: Annotated[
        list[str] | None,
        typer.Option("--where-a", help="keep A's runs whose config has key.path=value "
                     "(repeatable, e.g. model.name=danhar_cnn)"),
    ] = None,
    where_b: Annotated[
        list[str] | None, typer.Option("--where-b", help="the same for B's runs")
    ] = None,
    out: Annotated[
        str, typer.Option("--out", help="parent folder of the new comparison directory")
    ] = "runs",
) -> None:
    """A minus B, runs paired by data split and seed: interval, wins, paired tests."""
    from harlab.experiments.compare import write_comparison

    parent, _ = write_comparison(a, b, where_a, where_b, out)
    console.print((parent / "compare.md").read_text(), markup=False, highlight=False)
    console.print(f"comparison directory: [bold]{parent}[/bold]")


@app.command()
def cv(
    config: Annotated[Path | None, typer.Argument(help="YAML config (see configs/)")] = None,
    dataset: Dataset = None,
    path: DataPath = None,
    model: Model = None,
    split: Split = None,
    folds: Annotated[str | None, typer.Option(help="folds, e.g. 0,1,2 (default: all)")] = None,
    seeds: Seeds = "0",
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    lr: Lr = None,
    precision: Precision = None,
    devices: Devices = None,
    strategy: Strategy = None,
    num_nodes: NumNodes = None,
    out: OutputDir = None,
    no_progress: NoProgress = False,
    threads: Threads = None,
    loggers: Loggers = None,
    set_: Overrides = None,
    resume: StudyResume = None,
    merge: StudyMerge = None,
) -> None:
    """Cross-validate: train every fold (x seeds) and report mean ± std of the test scores."""
    from harlab.cli.common import load_with_overrides, parse_list, study_events
    from harlab.experiments.cv import cross_validate

    cfg = load_with_overrides(
        config, set_, epochs, out, no_progress, dataset=dataset, path=path, model=model,
        split=split, batch_size=batch_size, lr=lr, precision=precision, devices=devices,
        strategy=strategy, num_nodes=num_nodes, threads=threads, loggers=loggers,
    )
    fold_list = parse_list(folds, "--folds") if folds else None
    seed_list = parse_list(seeds, "--seeds")
    parent, _ = cross_validate(cfg, fold_list, seed_list, on_event=study_events(console),
                               resume=resume, merge=list(merge or []),
                               command=" ".join(sys.argv))
    console.print((parent / "cv_summary.md").read_text())
    console.print(f"cross-validation directory: [bold]{parent}[/bold]")


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by harlab train")],
    part: Annotated[str, typer.Option(help="train | val | test")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best | last")] = "best",
    allow_unfinished: AllowUnfinished = False,
) -> None:
    """Re-score a run's best checkpoint on its split and print the metrics.

    Only a complete run is scored; a running, killed or failed one needs --allow-unfinished
    (then the result carries a warning saying why the run is not complete)."""
    from harlab.evaluation.decisions import decisions_line
    from harlab.evaluation.report import rich_metrics_table
    from harlab.training import evaluate as run_evaluate
    from harlab.training import write_evaluation

    result = run_evaluate(run_dir, part, checkpoint, allow_unfinished)
    console.print(rich_metrics_table(result["metrics"], f"{part} metrics: {run_dir}"))
    line = decisions_line(result.get("decisions"))
    if line:
        console.print(line.replace("test segment", f"{part} segment"), highlight=False)
    for w in result["warnings"]:
        console.print(f"[bold yellow]WARNING[/bold yellow] {w}")
    out = write_evaluation(run_dir, result)
    console.print(f"written: {out}")


Pretrained = Annotated[
    str | None,
    typer.Option(help="a model shipped with harlab (harlab zoo list) instead of RUN_DIR"),
]
Units = Annotated[
    str | None,
    typer.Option(help="with --pretrained: the file's units where they are not the model's, "
                 "e.g. acc=m/s^2,gyro=deg/s (g, m/s^2, rad/s, deg/s)"),
]
Stream = Annotated[
    bool,
    typer.Option("--stream", help="read CSV sample lines from stdin (JSON lines out); a "
                 "header line names the columns, else a leading timestamp column is "
                 "optional; lines that are not UTF-8 or not numbers, wrong column counts "
                 "and rows with NaN/inf/overflowing values are dropped, reported on stderr "
                 "with their line number and counted in the summary"),
]
Follow = Annotated[
    Path | None,
    typer.Option(help="follow a growing CSV file like tail -F (reopened when replaced "
                 "by log rotation, reread when truncated); lines as for --stream"),
]
Int8 = Annotated[bool, typer.Option("--int8", help="with --pretrained: the int8 model")]


@app.command()
def predict(
    run_dir: Annotated[
    Path | None,
        typer.Argument(help="a run directory, or an .onnx file from harlab export; with "
                       "--pretrained: the recording file")
    ] = None,
    input: Annotated[
        Path | None, typer.Option("--input", "-i", help="CSV/Parquet recording file")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write CSV here")] = None,
    rate: Annotated[
        float | None, typer.Option(help="Hz, if the file has no timestamp")
    ] = None,
    resample: Annotated[
        bool, typer.Option(help="resample to the model's rate if different")
    ] = False,
    step: Annotated[
        int | None,
        typer.Option(help="hop in samples, 1 to one day of samples (default: the run's step)"),
    ] = None,
    stream: Stream = False,
    follow: Follow = None,
    hop: Annotated[int | None, typer.Option(help="same as --step")] = None,
    poll: Annotated[
        float, typer.Option(help="--follow poll interval in seconds (0 < poll <= 60)")
    ] = 0.2,
    max_idle: Annotated[
        float | None, typer.Option(help="--follow: stop after this many idle seconds")
    ] = None,
    max_gap: Annotated[
        float,
        typer.Option(help="streaming: reset on a time jump > this many sample periods "
                     "(finite, > 1)"),
    ] = 3.0,
    smooth: Annotated[
        int | None,
        typer.Option(help="also decide over the last K windows (mean probability; restarts "
                     "at each recording, NaN gap or stream reset): *_smoothed columns"),
    ] = None,
    allow_unfinished: AllowUnfinished = False,
    pretrained: Pretrained = None,
    units: Units = None,
    int8: Int8 = False,
) -> None:
    """Window a recording file (or a live stream) and output one label per window.

    A run directory must hold a complete run; a running, killed or failed one needs
    --allow-unfinished (then a warning says why it is not complete). `harlab predict
    --pretrained NAME FILE` uses a shipped model (harlab zoo)."""
    from harlab.deploy.predictor import PredictorError, check_smooth

    try:  # one check for files, ONNX and streams: a bad --smooth is a one-line error
        check_smooth(smooth)
    except PredictorError as exc:
        raise ConfigError(str(exc)) from None
    if step is not None and hop is not None and step != hop:
        raise ConfigError(f"--step {step} and --hop {hop} differ; give one of them")
    step = hop if hop is not None else step  # range checked once the model's rate is known
    if pretrained is not None or units is not None or int8:
        rows, info = _predict_pretrained(pretrained, run_dir, input, units, rate, resample,
                                         step, smooth, int8, stream or follow is not None)
        _write_predictions(rows, info, output)
        return
    if run_dir is None:
        raise ConfigError("give RUN_DIR (a run directory or an .onnx file) or --pretrained NAME")
    from harlab.cli.export import stream_predict  # torch: only for run directories
    from harlab.deploy.predict import predict_file, predict_file_onnx
    if stream or follow is not None:
        stream_predict(run_dir, stream, follow, step, poll, max_idle, max_gap, smooth,
                       allow_unfinished)
        return
    if input is None:
        raise HarlabError("give --input FILE, or --stream (stdin) or --follow FILE")
    _check_rate(rate)
    if run_dir.suffix == ".onnx":
        rows, info = predict_file_onnx(run_dir, input, rate=rate, step=step, smooth=smooth)
    else:
        rows, info = predict_file(run_dir, input, rate=rate, resample=resample, step=step,
                                  smooth=smooth, allow_unfinished=allow_unfinished)
    _write_predictions(rows, info, output)


def _check_rate(rate: float | None) -> None:
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise ConfigError(f"--rate must be a finite number of Hz > 0, got {rate}")


def _predict_pretrained(
    name: str | None, file: Path | None, input: Path | None, units: str | None,
    rate: float | None, resample: bool, step: int | None, smooth: int | None, int8: bool,
    streaming: bool,
) -> tuple[list[dict], dict]:
    """``predict --pretrained NAME FILE``: the recording is the argument or --input."""
    from harlab.deploy.zoo import predict_pretrained

    if name is None:
        raise ConfigError("--units and --int8 apply to --pretrained NAME only")
    if streaming:
        raise ConfigError("--pretrained takes a recording file, not --stream or --follow")
    if file is not None and input is not None:
        raise ConfigError("with --pretrained give the recording once: FILE or --input")
    path = file if file is not None else input
    if path is None:
        raise ConfigError("--pretrained needs a recording FILE")
    _check_rate(rate)
    rows, info = predict_pretrained(name, path, units=units, rate=rate, resample=resample,
                                    step=step, smooth=smooth, int8=int8)
    if info.get("assumed_units"):
        err_console.print(f"units: {info['assumed_units']} taken as the model's (say otherwise "
                          "with --units)", highlight=False, soft_wrap=True)
    return rows, info


def _write_predictions(rows: list[dict], info: dict, output: Path | None) -> None:
    """Rows as CSV to ``output`` (never overwritten) or JSON lines to stdout; drops counted."""
    if output is not None:
        if output.exists():
            raise HarlabError(f"{output} exists; choose another output file")
        with output.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        err_console.print(f"{len(rows)} windows written to {output}")
    else:
        for r in rows:
            sys.stdout.write(json.dumps(r, allow_nan=False) + "\n")
    if info["dropped"]:
        err_console.print("dropped: " + ", ".join(f"{k}={v}" for k, v in info["dropped"].items()))


# Command groups defined in other modules (harlab.cli.*); each keeps its heavy imports inside
# its commands so that `harlab --help` stays fast.
app.add_typer(_reproduce_app, name="reproduce")
app.command("search-ratio")(search_ratio)
app.command("attention")(_danhar_cli.attention)
app.add_typer(_ablate_app, name="ablate")
app.command("export")(_export_cmd)
app.add_typer(_data_app, name="data")
app.add_typer(_simulate_app, name="simulate")
app.add_typer(_radar_app, name="radar")
app.add_typer(_zoo_app, name="zoo")


def _configure_logging() -> None:
    """harlab warnings to stderr once; Lightning's banner/tips silenced, its warnings kept."""
    import warnings

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    hl = logging.getLogger("harlab")
    if not hl.handlers:
        hl.addHandler(handler)
    hl.setLevel(logging.INFO)
    hl.propagate = False
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")


def _command_path(argv: list[str]) -> str:
    """``harlab`` and the (sub)command names that lead ``argv``, e.g. ``harlab data info``."""
    words = ["harlab"]
    group: Any = typer.main.get_command(app)
    for arg in argv:
        commands = getattr(group, "commands", None)
        if not commands or arg not in commands:
            break
        words.append(arg)
        group = commands[arg]
    return " ".join(words)


def _usage_line(exc: typer.TyperException, argv: list[str]) -> str:
    """A Click usage error as one line naming the command, e.g. ``harlab predict: ...``."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else _command_path(argv)
    message = " ".join(exc.format_message().split())
    return f"{path}: {message} (see '{path} --help')"


def _print_error(message: str) -> None:
    """``error: message`` on stderr, the message printed as it is (never read as markup)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False,
                      soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning user errors into one line.

    Usage errors (bad option values, missing arguments, unknown options or commands) are
    one line on stderr naming the command, exit code 2, instead of Click's usage box."""
    _configure_logging()
    try:
        code = app(args=argv, prog_name="harlab", standalone_mode=False)
    except typer.TyperException as exc:  # Typer's own (vendored) Click usage errors
        if type(exc).__name__ != "NoArgsIsHelpError":  # else the help is already printed
            _print_error(_usage_line(exc, sys.argv[1:] if argv is None else argv))
        sys.exit(exc.exit_code)
    except typer.Abort:
        _print_error("aborted")
        sys.exit(1)
    except HarlabError as exc:
        _print_error(" ".join(str(exc).splitlines()))
        sys.exit(exc.exit_code)
    except OSError as exc:  # unreadable/unwritable paths, full disk: the user's to fix
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        _print_error(f"{exc.strerror or exc}{where}")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
