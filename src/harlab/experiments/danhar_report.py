"""The DanHAR reproduction's table, paired attention differences and bar chart.

Built from the run records of :mod:`harlab.experiments.reproduce_danhar` (one per finished
run, from its ``metrics.json``); nothing here trains or reads run directories.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from harlab.evaluation.metrics import mean_std
from harlab.evaluation.paired import (
    format_difference,
    interval_count,
    multiple_note,
    paired_difference,
    verdict,
)
from harlab.evaluation.report import hardware_line
from harlab.experiments.paper_numbers import DANHAR_NOT_IN_HARLAB
from harlab.fileio import save_png
from harlab.hardware import cpu_note, report_cpu


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over the successful runs of one (dataset, protocol, model)."""
    ok = [r for r in runs if r.get("error") is None]
    return {
        "n_runs": len(ok),
        "n_failed": len(runs) - len(ok),
        "accuracy": mean_std([r["accuracy"] for r in ok]),
        "macro_f1": mean_std([r["macro_f1"] for r in ok]),
        # one decision per test segment (evaluation.decisions.window_decisions); None where
        # the split scatters recordings (paper protocol)
        "segment_macro_f1": mean_std([r.get("segment_macro_f1") for r in ok]),
        "parameters": ok[0]["parameters"] if ok else None,
        "train_seconds": mean_std([r["train_seconds"] for r in ok]),
        "epochs": mean_std([r["epochs_trained"] for r in ok]),
    }


def _fmt(ms: dict[str, float] | None, digits: int = 4) -> str:
    if ms is None:
        return "—"
    return f"{ms['mean']:.{digits}f} ± {ms['std']:.{digits}f}"


def _segment_cell(s: dict[str, Any]) -> str:
    """The per-segment mean ± std, saying over how many runs where that is fewer than all."""
    seg = s.get("segment_macro_f1")
    if seg is None or seg["n"] == s["n_runs"]:
        return _fmt(seg)
    return f"{_fmt(seg)} ({seg['n']} of {s['n_runs']} runs scored)"


def results_markdown(result: dict[str, Any]) -> str:
    """The results table (one row per dataset/protocol/model, or per skipped preset)."""
    lim = result["limits"]
    drawn = (f"every seed on the folds/split drawn by split seed {lim['split_seed']}"
             if lim.get("split_seed") is not None
             else "each seed draws its own folds/split (repeated cross-validation)")
    lines = [
        "# DanHAR reproduction",
        "",
        f"Run directory `{result['run_dir']}`, {result['started']} to "
        f"{result['finished'] or '(still running / interrupted: partial results)'}, "
        f"on {hardware_line(result['hardware'])}.",
        f"Limits: epochs {lim['epochs'] or 'preset'}, seeds {lim['seeds']}, folds "
        + (f"with ids {', '.join(map(str, result['only_folds']))}"
           if result.get("only_folds") else f"{lim['folds'] or 'all'}")
        + ", max time per run "
        f"{str(lim['max_time_per_run']) + ' s' if lim['max_time_per_run'] else 'none'}"
        + (f", overrides {lim['overrides']}" if lim["overrides"] else "") + f"; {drawn}.",
        "Accuracy and macro-F1 on the test part: mean ± std over the runs (seeds, and folds "
        "for the honest protocol). Paper column: the DanHAR table's test accuracy for the "
        "paper protocol, the published WHAR-Arena subject-wise macro-F1 for the honest one. "
        "'One decision per segment' (beyond both papers): the mean class probability over "
        "each run of test windows of one recording with one true label decides once (an "
        "oracle segmentation); only where test recordings are whole, so not for the paper "
        "protocol's random windows.",
        *[f"Resumed {r['at']} ({r['reused_runs']} finished runs reused"
          + "".join(f"; {m['copied']} merged from `{m['from']}`" for m in r.get("merged", []))
          + f"): `{r['command']}`." for r in result.get("resumed", [])],
        "",
        "| dataset | protocol | model | accuracy | macro-F1 | macro-F1, one decision per "
        "segment | n runs | parameters | train s/run | epochs/run | paper | data |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row_line(row) for row in result["rows"]]
    return "\n".join(lines + _notes(result)) + "\n"


def _row_line(row: dict[str, Any]) -> str:
    """One line of the results table (a skipped preset says why)."""
    if row.get("skipped"):
        return (f"| {row['dataset']} | {row['protocol']} | — | — | — | — | 0 | — | — | — | — "
                f"| {_cell(row['note'])} |")
    s = row["summary"]
    ref = row["reference"]
    failed = f" ({s['n_failed']} failed)" if s["n_failed"] else ""
    params = f"{s['parameters']:,}" if s["parameters"] is not None else "—"
    secs = f"{s['train_seconds']['mean']:.0f}" if s["train_seconds"] else "—"
    eps = f"{s['epochs']['mean']:.1f}" if s["epochs"] else "—"
    cells = [
        row["dataset"], row["protocol"], row["model"], _fmt(s["accuracy"]),
        _fmt(s["macro_f1"]), _segment_cell(s), f"{s['n_runs']}{failed}",
        params, secs, eps,
        _cell(ref["text"]) if ref else "—", _cell(row["note"]),
    ]
    return "| " + " | ".join(cells) + " |"


def _notes(result: dict[str, Any]) -> list[str]:
    """Paired attention differences, training conditions, warnings and failures."""
    lines: list[str] = []
    pairs = attention_pairs(result["runs"])
    if pairs:
        lines += ["", "Attention minus the plain backbone, paired by (seed, fold): mean ± std "
                  "of the macro-F1 differences [95 % t interval], how many pairs went up, "
                  "paired t-test and Wilcoxon signed-rank p-values.", "",
                  "| dataset | protocol | attention − plain | scored | difference | verdict |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {p['dataset']} | {p['protocol']} | {p['attention']} − {p['plain']} | "
                  f"{p['score']} | {format_difference(p['difference'])} | {p['verdict']} |"
                  for p in pairs]
        if note := multiple_note(interval_count(p["difference"] for p in pairs)):
            lines += ["", note]
    lines += _not_in_harlab(result)
    if mixes_sessions(result):
        lines += ["", "Training times (train s/run) come from more than one session: compare "
                  "them only between runs trained under similar conditions (each run's "
                  "`trained_at`, `cpu`, `threads` and `load_average` are in `results.json`)."]
    done = [r for r in result["runs"] if not r.get("error")]
    if (other := cpu_note(done, report_cpu(result["hardware"]))) is not None:
        lines += ["", other]
    warn = sorted({w for r in result["runs"] for w in r.get("warnings", [])})
    if warn:
        lines += ["", "Warnings recorded by the runs:", ""] + [f"- {w}" for w in warn]
    errors = [r for r in result["runs"] if r.get("error")]
    if errors:
        lines += ["", "Failed runs:", ""] + [
            f"- {r['dataset']}/{r['protocol']}/{r['model']} seed {r['seed']} fold {r['fold']}: "
            f"{r['error']}" for r in errors
        ]
    return lines


# the paper's claim, per backbone: (with attention, without)
ATTENTION_PAIRS = (("danhar_cnn", "cnn"), ("danhar", "resnet"))


def _scores(runs: list[dict[str, Any]], row: tuple[str, str, str], key: str
            ) -> dict[tuple[Any, ...], Any]:
    """``{(seed, fold): run[key]}`` of one (dataset, protocol, model)."""
    return {(r["seed"], r["fold"]): r.get(key) for r in runs
            if (r["dataset"], r["protocol"], r["model"]) == row}


def attention_pairs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attention minus plain backbone macro-F1 per dataset/protocol, paired by (seed, fold).

    Runs of one seed and fold share their split and training seed, so the paired difference
    is the honest form of the paper's "attention helps" (per window, and with one decision
    per test segment where that was scored).
    """

    ok = [r for r in runs if r.get("error") is None]
    out = []
    for ds, proto in dict.fromkeys((r["dataset"], r["protocol"]) for r in ok):
        for with_att, plain in ATTENTION_PAIRS:
            for key, label in (("macro_f1", "per window"), ("segment_macro_f1", "per segment")):
                diff = paired_difference(_scores(ok, (ds, proto, with_att), key),
                                         _scores(ok, (ds, proto, plain), key))
                if diff is None:
                    continue
                out.append({"dataset": ds, "protocol": proto, "attention": with_att,
                            "plain": plain, "score": label, "difference": diff,
                            "verdict": verdict(diff, "attention helps", "attention hurts")})
    return out


def _not_in_harlab(result: dict[str, Any]) -> list[str]:
    """The paper's compared methods harlab does not implement, for the tables shown."""
    shown = dict.fromkeys(r["dataset"] for r in result["rows"]
                          if r["protocol"] == "paper" and r["dataset"] in DANHAR_NOT_IN_HARLAB)
    if not shown:
        return []
    return ["", "Compared in the paper's tables but not implemented in harlab (published "
            "test accuracy): " + "; ".join(
                f"{ds}: " + ", ".join(f"{name} {acc:.2%}" for name, acc in
                                      DANHAR_NOT_IN_HARLAB[ds]) for ds in shown) + "."]


def mixes_sessions(result: dict[str, Any]) -> bool:
    """Whether the finished runs were trained in more than one session (first run, resumes):
    each run is placed by its ``trained_at`` among the session starts."""
    starts = [result["started"], *[r["at"] for r in result.get("resumed", [])]]
    runs = [r for r in result["runs"] if not r.get("error") and r.get("trained_at")]
    if len(starts) == 1 or not runs:
        return False
    return len({bisect.bisect_right(starts, r["trained_at"]) for r in runs}) > 1


def _cell(text: str) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def plot_results(result: dict[str, Any], path: Path) -> Path | None:
    """Bar chart of test macro-F1 (mean ± std) per dataset/protocol and model."""
    rows = [r for r in result["rows"] if not r.get("skipped") and r["summary"]["macro_f1"]]
    if not rows:
        return None
    groups = list(dict.fromkeys(f"{r['dataset']}\n{r['protocol']}" for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    width = 0.8 / len(models)
    fig = Figure(figsize=(max(6.0, 1.6 * len(groups)), 4.0))
    ax = fig.add_subplot()
    for i, m in enumerate(models):
        xs, ys, es = [], [], []
        for r in rows:
            if r["model"] == m:
                xs.append(groups.index(f"{r['dataset']}\n{r['protocol']}") + i * width)
                ys.append(r["summary"]["macro_f1"]["mean"])
                es.append(r["summary"]["macro_f1"]["std"])
        ax.bar(xs, ys, width, yerr=es, capsize=2, label=m)
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2)
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylabel("test macro-F1")
    ax.set_ylim(0, 1)
    ax.set_title("DanHAR reproduction (mean ± std over runs)")
    ax.legend(fontsize=8, ncol=len(models))
    return save_png(fig, path)
