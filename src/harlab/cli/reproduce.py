"""``harlab reproduce ...``: re-run a paper's result tables (heavy imports inside commands)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from harlab.cli.common import NoProgress

app = typer.Typer(
    no_args_is_help=True,
    help="Reproduce published result tables under the paper's and an honest protocol.",
)
console = Console()


def _progress(no_progress: bool) -> Any:
    """The progress bar both reproductions show (one task, added on their "plan" event)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=no_progress,
    )


def _command_line() -> str:
    """The command as typed, recorded in the results."""
    return " ".join(["harlab", *map(shlex.quote, sys.argv[1:])])


def _danhar_events(progress: Any) -> Any:
    """Progress bar and one line per run of ``harlab reproduce danhar``'s events."""
    task: list[Any] = []

    def say(text: str) -> None:
        progress.console.print(text, markup=False, highlight=False)

    def on_event(kind: str, info: dict[str, Any]) -> None:
        if kind == "plan":
            task.append(progress.add_task("reproduce danhar", total=info["total"]))
            return
        if kind == "merged":
            say(f"merged {info['from']}: {info['copied']} runs copied, "
                f"{info['already_there']} already here, {info['not_planned']} not asked for")
            return
        if kind == "skip":
            say(f"skipped {info['dataset']}/{info['protocol']}: {info['note']}")
            return
        fold = f" fold {info['fold']}" if info["fold"] is not None else ""
        head = f"{info['dataset']}/{info['protocol']}/{info['model']} seed {info['seed']}{fold}"
        if kind == "start":
            progress.update(task[0], description=head)
            return
        progress.advance(task[0])
        if kind == "failed":
            say(f"failed {head}: {info['error']}")
        elif info["reused"]:
            say(f"{head}: finished before, reused (macro-F1 {info['macro_f1']:.4f})")
        else:
            say(f"{head}: acc {info['accuracy']:.4f}, macro-F1 {info['macro_f1']:.4f}, "
                f"{info['epochs_trained']} epochs in {info['train_seconds']:.0f} s")

    return on_event


# options of `reproduce danhar` spelled once at module level
DanharDatasets = Annotated[str | None, typer.Option(
    help="comma-separated: wisdm,unimib,pamap2,opportunity,weak,hapt,uci_har,"
         "uci_har_inertial,usc_had (default: all; absent data are skipped)")]
DanharResume = Annotated[Path | None, typer.Option(
    help="continue (or extend with more seeds/folds/datasets/models) a reproduction in this "
         "directory: same --epochs/--max-time-per-run/--set/--split-seed; finished runs are "
         "reused, failed ones trained again; --out is ignored")]
DanharMerge = Annotated[list[Path] | None, typer.Option(
    metavar="<path>", help="with --resume: first copy in the finished runs of this other "
    "reproduction (same training options; each run's config and data are checked against "
    "this machine's; repeatable)")]
DanharThreads = Annotated[int | None, typer.Option(
    min=1, help="torch CPU threads for training (train.threads of every run; a --resume may "
    "use another number)")]


@app.command()
def danhar(
    datasets: DanharDatasets = None,
    protocols: Annotated[
        str, typer.Option(help="comma-separated: paper,honest")
    ] = "paper,honest",
    models: Annotated[
        str, typer.Option(help="comma-separated: cnn,danhar_cnn,resnet,danhar (the table "
                          "rows), deepconvlstm (a compared method)")
    ] = "cnn,danhar_cnn,resnet,danhar,deepconvlstm",
    seeds: Annotated[int, typer.Option(help="seeds 0..N-1 per row")] = 2,
    split_seed: Annotated[
        int | None, typer.Option(help="one seed that draws the folds/split of every run "
                                 "(default: each seed draws its own, i.e. repeated "
                                 "cross-validation)")
    ] = None,
    folds: Annotated[
        int | None, typer.Option(help="honest protocol: first N folds (default: all)")
    ] = None,
    only_folds: Annotated[
        str | None, typer.Option(help="honest protocol: only these fold ids, 0-based (e.g. "
                                 "0,1 on one machine, 2,3 on another; join them with "
                                 "--merge)")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="train.max_epochs of every run (default: the preset's)")
    ] = None,
    max_time_per_run: Annotated[
        float | None, typer.Option(help="cap each run's training time, seconds")
    ] = None,
    out: Annotated[Path, typer.Option(help="parent folder of the new run directory")] = Path(
        "runs"
    ),
    presets: Annotated[
        Path | None, typer.Option(help="preset folder (default: configs/danhar)")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override key.path=value in every run")
    ] = None,
    no_progress: NoProgress = False,
    threads: DanharThreads = None,
    resume: DanharResume = None,
    merge: DanharMerge = None,
) -> None:
    """Train the DanHAR table rows on each dataset under both protocols; write one table."""
    from harlab.cli.common import parse_list, parse_names
    from harlab.experiments.reproduce_danhar import reproduce_danhar

    progress = _progress(no_progress)
    on_event = _danhar_events(progress)
    with progress:
        parent, result = reproduce_danhar(
            datasets=parse_names(datasets),
            protocols=parse_names(protocols),
            models=parse_names(models),
            seeds=seeds,
            folds=folds,
            only_folds=None if only_folds is None else parse_list(only_folds, "--only-folds"),
            epochs=epochs,
            max_time_per_run=max_time_per_run,
            overrides=list(set_ or []),
            threads=threads,
            out=out,
            preset_dir=presets,
            command=_command_line(),
            on_event=on_event,
            resume=resume,
            merge=list(merge or []),
            split_seed=split_seed,
        )
    console.print((parent / "results.md").read_text(), markup=False, highlight=False)
    console.print(f"[bold]results[/bold] {parent / 'results.md'}, {parent / 'results.json'}")


# options of `reproduce mranet` spelled once at module level (keeps the command readable)
Experiments = Annotated[str, typer.Option(
    help="comma-separated: table4,fig8,fig9,fig10,fig11,fig12,table5,table6")]
MranetModels = Annotated[str | None, typer.Option(
    help="comma-separated model keys: train only these of the models the experiments need "
         "(e.g. dcnn3_activity,lstm_activity); the rest read n/a until a --resume adds them "
         "(default: all)")]
Protocol = Annotated[str, typer.Option(
    help="recording (honest: folds by recording) or paper (random frames, leaks)")]
OnlyFolds = Annotated[str | None, typer.Option(
    help="train only these folds: comma-separated fold ids, 0-based as printed (e.g. 2,3 on "
         "one machine, 4 on another; join them with --merge)")]
SplitSeed = Annotated[int | None, typer.Option(
    help="seed that draws the folds (default: the first of --seeds); give the same one where "
         "other seeds of the same folds train in parallel")]
MranetPrecision = Annotated[str, typer.Option(
    help="training precision: auto (bf16-mixed where the CPU has AMX/AVX512-BF16, else "
         "32-true), 32-true or bf16-mixed; test scoring is fp32")]
MranetResume = Annotated[Path | None, typer.Option(
    help="continue (or extend with more folds, seeds, experiments or models) a reproduction "
         "in this directory: same training options and data; finished runs are reused")]
MranetMerge = Annotated[list[Path] | None, typer.Option(
    metavar="<path>", help="with --resume: first copy in the finished runs of this other "
    "reproduction (same options, same data; repeatable), e.g. folds trained in parallel "
    "with --only-folds")]


@app.command()
def mranet(
    data: Annotated[
        Path | None, typer.Option(help="frame dataset folder (harlab simulate radar --out)")
    ] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="simulate the default dataset into the run dir")
    ] = False,
    quick: Annotated[
        bool, typer.Option(help="with --simulate: a tiny dataset (2 persons, CI-sized)")
    ] = False,
    experiments: Experiments = "table4,fig8,fig9,fig10,fig11,fig12,table5,table6",
    models: MranetModels = None,
    protocol: Protocol = "recording",
    folds: Annotated[int, typer.Option(help="K of the K-fold cross-validation")] = 5,
    run_folds: Annotated[
        int | None, typer.Option(help="train only the first N folds (default: all)")
    ] = None,
    only_folds: OnlyFolds = None,
    seeds: Annotated[str, typer.Option(help="comma-separated training seeds")] = "0",
    split_seed: SplitSeed = None,
    epochs: Annotated[int, typer.Option(help="maximum epochs per model")] = 30,
    max_time_per_run: Annotated[
        float | None, typer.Option(help="cap each model's training time, seconds")
    ] = None,
    patience: Annotated[int, typer.Option(help="early-stopping patience (0 = none)")] = 10,
    batch_size: Annotated[int, typer.Option(help="training batch size")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate")] = 1e-3,
    channels: Annotated[str, typer.Option(help="MRA-Net block channels")] = "32,64,128",
    snrs: Annotated[str, typer.Option(help="Fig. 11 SNR levels, dB")] = "0,5,10,15,20,25,30",
    snr_recordings: Annotated[
        int, typer.Option(help="Fig. 11: test recordings per activity x person cell")
    ] = 2,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads")] = None,
    precision: MranetPrecision = "auto",
    init: Annotated[
        str, typer.Option(help="weight initialisation: default (PyTorch's) or orthogonal "
                          "(the paper's)")
    ] = "default",
    workers: Annotated[int, typer.Option(help="processes for radar simulation")] = 1,
    out: Annotated[Path, typer.Option(help="parent folder of the new run directory")] = Path(
        "runs"
    ),
    no_progress: NoProgress = False,
    resume: MranetResume = None,
    merge: MranetMerge = None,
) -> None:
    """MRA-Net paper experiments (Tables 4-6, Figs. 8-12) on radar frames; one report."""
    from harlab.cli.common import parse_list, parse_names, study_events
    from harlab.experiments.reproduce_mranet import (
        Settings,
        reproduce_mranet,
        training_overrides,
    )

    settings = Settings(
        experiments=parse_names(experiments) or [], protocol=protocol, folds=folds,
        run_folds=run_folds, seeds=parse_list(seeds, "--seeds"),
        only_folds=None if only_folds is None else parse_list(only_folds, "--only-folds"),
        split_seed=split_seed, models=None if models is None else (parse_names(models) or []),
        channels=parse_list(channels, "--channels"), snrs=parse_list(snrs, "--snrs", float),
        snr_recordings=snr_recordings, workers=workers,
    )
    overrides = training_overrides(epochs, max_time_per_run, patience, batch_size, lr,
                                   threads, precision, init)
    overrides.append(f"train.progress={'false' if no_progress else 'true'}")
    parent, _ = reproduce_mranet(
        data=data, simulate=simulate, quick=quick, settings=settings, overrides=overrides,
        out=out, command=_command_line(), on_event=study_events(console), resume=resume,
        merge=list(merge or []),
    )
    console.print(f"[bold]report[/bold] {parent / 'report.md'}, {parent / 'results.json'}")
