"""``harlab zoo``: the pretrained models shipped inside the package, and how to build one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, help="Pretrained models shipped with harlab.")
console = Console()


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


@app.command("list")
def list_models() -> None:
    """The shipped models: task, dataset, classes, cross-validated score, size."""
    from harlab.deploy.zoo import load_card, zoo_names

    table = Table(title="pretrained models (harlab zoo show NAME)", box=box.SIMPLE_HEAD)
    for col in ("name", "data", "classes", "CV macro-F1", "fp32+int8"):
        table.add_column(col, no_wrap=True)
    for name in zoo_names():
        card = load_card(name)
        s = card["score"]
        heads = " + ".join(str(len(c)) for c in card["classes"].values())
        size = sum(f["bytes"] for f in card["files"].values())
        table.add_row(name, card["dataset"]["name"], heads,
                      f"{s['mean']:.3f} ± {s['std']:.3f}", _size(size))
    console.print(table)
    console.print("classes: activity (+ identity); CV macro-F1: the first head's test score "
                  "over the recipe's folds, mean ± std (every head's: harlab zoo show NAME)",
                  markup=False, highlight=False)


def card_lines(card: dict[str, Any]) -> list[str]:
    """The card as readable lines (the JSON is ``harlab zoo show NAME --json``)."""
    s, inp, rec = card["score"], card["input"], card["recipe"]
    lines = [f"{card['name']}: {card['title']}",
             f"task        {card['task']}",
             f"model       {card['model']['name']} {json.dumps(card['model']['options'])} "
             f"({card['model']['parameters']:,} parameters)",
             f"data        {card['dataset']['name']}; licence: {card['dataset']['licence']}",
             f"score       {s['metric']}: {s['mean']:.4f} ± {s['std']:.4f} over {s['folds']} "
             f"folds {s['per_fold']} ({s['protocol']}); accuracy {s['accuracy_mean']:.4f} ± "
             f"{s['accuracy_std']:.4f}",
             *[f"            {h} macro-F1 {v['mean']:.4f} ± {v['std']:.4f}"
               for h, v in s.get("heads", {}).items()],
             f"recipe      {rec['train']}",
             f"score from  {rec['cv']}",
             f"budget      {rec['budget']}",
             f"shipped     {rec['shipped_run']}",
             "trained     " + ", ".join(f"{t['epochs']} epochs ({t['stopped_by']})"
                                        for t in rec.get("trained", [])) + " per fold",
             *_input_lines(inp)]
    lines += [f"converts    {c}" for c in inp.get("conversions", [])]
    for head, names in card["classes"].items():
        lines.append(f"classes     {head}: {', '.join(names)}")
    for kind, f in card["files"].items():
        ver = card["verification"].get(kind, {})
        agree = ", ".join(f"{h} agreement {v['argmax_agreement']:.4f}, max prob diff "
                          f"{v['max_abs_prob_diff']:.2g}" for h, v in ver.items())
        lines.append(f"file        {kind} {f['path']} {_size(f['bytes'])} sha256 {f['sha256']}")
        lines.append(f"            vs checkpoint on {card['verification']['windows']} test "
                     f"windows: {agree}")
    h = card["harlab"]
    lines.append(f"built       harlab {h['version']} commit {h['commit']} at {h['built']}")
    return lines


def _input_lines(inp: dict[str, Any]) -> list[str]:
    units = ", ".join(dict.fromkeys(inp["units"]))
    if inp["kind"] == "radar_frames":
        bins, t = inp["frame_shape"]
        return [f"input       radar frames of {bins} Doppler bins x {t} time columns ({units}),"
                " one window each", f"            {inp['axes']}"]
    return [f"input       {', '.join(inp['channels'])} in {units}",
            f"            {inp['rate']:g} Hz, window {inp['window_length']} samples "
            f"({inp['window_seconds']:g} s), step {inp['window_step']}; axes: {inp['axes']}"]


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="a model name (harlab zoo list)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the card's JSON")] = False,
) -> None:
    """A model's card: data and licence, recipe, score, input contract, files."""
    from harlab.deploy.zoo import load_card

    card = load_card(name)
    if as_json:
        typer.echo(json.dumps(card, indent=2))
        return
    for line in card_lines(card):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command("build")
def build(
    recipe: Annotated[Path, typer.Argument(help="a recipe config, e.g. configs/zoo/X.yaml")],
    name: Annotated[str, typer.Option(help="the model's name in the zoo")],
    out: Annotated[Path, typer.Option(help="new folder for card.json and the ONNX files")],
    study: Annotated[
        Path | None,
        typer.Option(help="a finished harlab cv study of this recipe to reuse (else one is "
                     "trained)"),
    ] = None,
    path: Annotated[str | None, typer.Option(help="dataset location, if not the default")
                    ] = None,
    title: Annotated[str, typer.Option(help="one-line title (default: the description)")] = "",
) -> None:
    """Cross-validate a recipe, export its fold-0 run to fp32 and int8 ONNX, verify both
    against the checkpoint on held-out windows and write the model card (never overwrites)."""
    from harlab.cli.common import study_events
    from harlab.experiments.zoo_build import build_zoo_model

    card = build_zoo_model(recipe, name, out, title, study, path, study_events(console))
    console.print(f"built {out}: score {card['score']['mean']:.4f} ± {card['score']['std']:.4f}")
