"""The MRA-Net reproduction's report: every measured number next to the paper's.

:func:`write_report` turns the rows of a reproduction (one per trained model, from its run
directory), the test predictions pooled over folds, the SNR sweep and the timings into
``report.md`` and the figures of Tables 4-6 and Figs. 8-12, plus what the paper does not
have: paired differences and decisions over several frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harlab.evaluation.decisions import span_label, whole_decision
from harlab.evaluation.metrics import compute_metrics, mean_std
from harlab.evaluation.paired import (
    format_difference,
    interval_count,
    multiple_note,
    paired_difference,
    verdict,
)
from harlab.evaluation.plots import plot_confusion_matrix, plot_metric_curves
from harlab.evaluation.radar_plots import plot_grouped_bars, plot_loss_weights, plot_snr_curves
from harlab.evaluation.report import hardware_line
from harlab.experiments.mranet_paper import (
    ABLATION_KEYS,
    FLWL_KEYS,
    NEEDS,
    PAPER_FIG9,
    PAPER_FIG10,
    PAPER_FIG11,
    PAPER_SOURCE,
    PAPER_TABLE4,
    PAPER_TABLE5,
    PAPER_TABLE6,
    RATIO_KEYS,
    SPECS,
)
from harlab.hardware import cpu_note, report_cpu
from harlab.papers import MRANET_BASELINES
from harlab.tasks.multitask import plot_rw_histogram

Pooled = dict[str, dict[str, list[np.ndarray]]]
Sweep = dict[str, dict[float, list[dict[str, float]]]]


def run_stats(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    """``{key: {mean, std, n} or None}`` over ``rows`` (runs, folds)."""

    return {k: mean_std([r.get(k) for r in rows]) for k in keys}


def decision_summary(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per head and span: mean ± std over runs of the multi-frame decision scores."""

    out: dict[str, list[dict[str, Any]]] = {}
    heads = dict.fromkeys(h for r in rows for h in r.get("decisions", {}))
    for head in heads:
        curves = [r["decisions"][head] for r in rows if head in r.get("decisions", {})]
        entries = []
        for i, first in enumerate(curves[0]):
            same = [c[i] for c in curves if len(c) > i and c[i]["frames"] == first["frames"]]
            entries.append({
                "frames": first["frames"], "runs": len(same),
                "seconds": mean_std([e["seconds"] for e in same]),
                "decisions": int(sum(e["decisions"] for e in same)),
                "too_short": int(sum(e["too_short"] for e in same)),
                "mixed_labels": int(sum(e["mixed_labels"] for e in same)),
                "macro_f1": mean_std([e["macro_f1"] for e in same]),
                "accuracy": mean_std([e["accuracy"] for e in same]),
            })
        out[head] = entries
    return out


# Table 4's question, asked of paired runs: (multitask model, single-task model, head)
TABLE4_PAIRS = (("mranet_flwl", "mranet_identity", "identity"),
                ("mranet_flwl", "mranet_activity", "activity"))


def table4_pairs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Multitask minus single-task macro-F1 per head, paired by (fold, seed).

    Per frame, and with one decision per whole test recording where decisions were scored.
    Runs of one fold and seed share their test recordings and training seed, so the paired
    difference is what Table 4 claims ("joint learning helps identification").
    """

    def by_run(model: str, head: str, whole: bool) -> dict[tuple[int, int], float | None]:
        out: dict[tuple[int, int], float | None] = {}
        for r in runs:
            if r["model"] != model:
                continue
            if not whole:
                out[(r["fold"], r["seed"])] = r.get(f"{head}_macro_f1")
                continue
            last = whole_decision(r.get("decisions"), head)
            if last.get("frames") == "recording":
                out[(r["fold"], r["seed"])] = last.get("macro_f1")
        return out

    pairs = []
    for multi, single, head in TABLE4_PAIRS:
        for whole in (False, True):
            diff = paired_difference(by_run(multi, head, whole), by_run(single, head, whole))
            if diff is None and whole:
                continue  # decisions not scored (paper protocol)
            pairs.append({"multitask": multi, "single": single, "head": head,
                          "score": "whole recording" if whole else "per frame",
                          "difference": diff,
                          "verdict": verdict(diff, f"joint learning helps {head}",
                                             f"joint learning hurts {head}")})
    return pairs


def _trained_cell(rows: list[dict[str, Any]]) -> str:
    """When a table row's models were trained (first - last) and the 5-minute load average."""
    when = sorted(r["trained_at"][:16].replace("T", " ") for r in rows if r.get("trained_at"))
    if not when:
        return "n/a"
    cell = when[0] if when[0] == when[-1] else f"{when[0]} - {when[-1]}"
    loads = [r["load_average"][1] for r in rows if r.get("load_average")]
    return cell + (f" ({min(loads):.1f}-{max(loads):.1f})" if len(set(loads)) > 1
                   else f" ({loads[0]:.1f})" if loads else " (load not recorded)")


def conditions_note(by_key: dict[str, list[dict[str, Any]]], cpu: str | None) -> list[str]:
    """Say when training times in one table were measured under different conditions.

    Rows reloaded by ``--resume`` keep the time measured in their own session, and a
    resume may run on another machine or under another load; the reader must know before
    comparing seconds per epoch between rows.
    """
    rows = [r for rs in by_key.values() for r in rs]
    notes = []
    reloaded = sorted({k for k, rs in by_key.items() if any(r.get("reloaded") for r in rs)})
    fresh = sorted({k for k, rs in by_key.items() if any(not r.get("reloaded") for r in rs)})
    if reloaded and fresh:
        notes.append(f"Training times come from different sessions: {', '.join(reloaded)} "
                     "were reloaded from an earlier session and keep the time measured there; "
                     f"{', '.join(fresh)} were trained in this one. Compare seconds per epoch "
                     "only between rows trained under similar load (last column: 5-minute "
                     "load average at the end of training).")
    elif reloaded:
        notes.append("Every row was reloaded from earlier sessions and keeps the training "
                     "time measured there (last column: when, and the 5-minute load average "
                     "at the end of training).")
    if (other := cpu_note(rows, cpu, "Rows")) is not None:
        notes.append(other)
    return notes or ["Every row was trained in this run, on this CPU."]


def protocol_note(protocol: str) -> str:
    if protocol == "recording":
        return ("honest: StratifiedGroupKFold over activity x person with group = recording "
                "(frames of one recording overlap by 0.36 s and never straddle train/test); "
                "validation = whole training recordings")
    return ("paper protocol: frames split at random (stratified K-fold over frames). LEAKAGE: "
            "frames of one recording overlap by 0.36 s, so test frames have near-copies in "
            "training; scores are optimistic")


def sweep_summary(sweep: dict[str, dict[float, list[dict[str, float]]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, by_snr in sweep.items():
        out[key] = {str(s): run_stats(rows, ("activity_macro_f1", "identity_macro_f1"))
                    | {"n_frames": rows[0]["n"]} for s, rows in sorted(by_snr.items())}
    return out


# ------------------------------------------------------------------ report
def flwl_task_weights(w: np.ndarray, larger: str) -> tuple[np.ndarray, np.ndarray]:
    """(activity, identity) loss weights of FLWL outputs ``w`` (N, 2): 2 + max(w) goes to
    the ``larger`` task and 2 + min(w) to the other (see :class:`harlab.tasks.losses.FLWL`)."""
    hi, lo = 2 + w.max(1), 2 + w.min(1)
    return (hi, lo) if larger == "activity" else (lo, hi)


def _pct(s: dict[str, Any] | None) -> str:
    return "n/a" if not s else f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"


def _mean(s: dict[str, Any] | None, fmt: str) -> str:
    return "n/a" if not s else format(s["mean"], fmt)


def _paper(v: float | None) -> str:
    return "×" if v is None else f"{v:.2f}"


def _ms(s: dict[str, Any] | None) -> tuple[float, float] | None:
    return None if not s else (s["mean"], s["std"])


def _span_name(e: dict[str, Any]) -> str:

    return span_label(e["frames"], e["seconds"]["mean"] if e.get("seconds") else None)


def decisions_section(parent: Path, summ: dict[str, Any], plot: Callable[..., Any]
                      ) -> list[str]:
    """Report lines + PNG of the multi-frame decisions (empty when none were scored)."""
    keys = [k for k, s in summ.items() if s.get("decisions")]
    if not keys:
        return []
    first = summ[keys[0]]["decisions"]
    spans = next(iter(first.values()))
    lines = [
        "## Beyond the paper: one decision over several frames", "",
        "The paper decides on every 1 s frame alone (all numbers above). A system that "
        "watches a person for a few seconds can decide once over several consecutive frames "
        "of the same recording. Here the class probabilities of every run of k consecutive "
        "test frames (sliding by one frame), or of a whole test recording, are averaged and "
        "the mean decides (`harlab.evaluation.decisions`; same trained models, nothing "
        "retrained). Test macro-F1 in %, mean ± std over runs. Only scored under the "
        "recording protocol, where every test recording is whole and unseen in training.", "",
        "| model | head | " + " | ".join(_span_name(e) for e in spans) + " |",
        "|---|---|" + "---|" * len(spans),
    ]
    curves = {}
    for key in keys:
        for head, entries in summ[key]["decisions"].items():
            cells = [_pct(e["macro_f1"]) for e in entries]
            lines.append(f"| {SPECS[key].label} | {head} | " + " | ".join(cells) + " |")
            pts = [(e["seconds"]["mean"] if e.get("seconds") else float(i + 1),
                    e["macro_f1"]["mean"], e["macro_f1"]["std"])
                   for i, e in enumerate(entries) if e["macro_f1"]]
            if pts:
                curves[f"{SPECS[key].label}: {head}"] = tuple(zip(*pts, strict=True))
    short = [f"{_span_name(e)}: {e['too_short']}" for e in spans
             if e["too_short"] and e["frames"] != "recording"]
    mixed = max((e["mixed_labels"] for e in spans), default=0)
    lines += ["", f"Decisions scored ({SPECS[keys[0]].label}, {next(iter(first))}, all runs): "
              + ", ".join(f"{_span_name(e)} {e['decisions']}" for e in spans) + "."]
    if short:
        lines.append("Test recordings too short for a span (left out of that column, summed "
                     "over runs): " + ", ".join(short) + ".")
    if mixed:
        lines.append(f"{mixed} test recording(s) whose frames carry different labels were "
                     "left out (summed over runs).")
    timed = all(e.get("seconds") for e in spans)
    if curves:
        plot(parent / "decisions_vs_span.png", curves,
             "seconds one decision covers" if timed else "span (frames; last = whole recording)",
             "Test macro-F1 vs frames per decision (beyond the paper)")
        lines += ["", "![decisions](decisions_vs_span.png)"]
    return [*lines, ""]


def table4_pairs_lines(pairs: list[dict[str, Any]]) -> list[str]:
    """Report lines: multitask minus single-task, paired by (fold, seed)."""

    if not any(p["difference"] for p in pairs):
        return []
    lines = ["Multitask minus single-task, paired by (fold, seed): mean ± std of the "
             "differences in macro-F1 points [95 % t interval], how many pairs went up, "
             "paired t-test and Wilcoxon signed-rank p-values (the paper gives one number per "
             "model, no spread).", "",
             "| head | multitask − single-task | scored | difference (points) | verdict | "
             "paper (per frame) |",
             "|---|---|---|---|---|---|"]
    for p in pairs:
        i = 0 if p["head"] == "activity" else 1
        ref = (PAPER_TABLE4[p["multitask"]][i], PAPER_TABLE4[p["single"]][i])
        paper = (f"{ref[0] - ref[1]:+.2f}" if None not in ref and p["score"] == "per frame"
                 else "—")
        lines.append(f"| {p['head']} | {SPECS[p['multitask']].label} − "
                     f"{SPECS[p['single']].label} | {p['score']} | "
                     f"{format_difference(p['difference'], digits=2, scale=100)} | "
                     f"{p['verdict']} | {paper} |")
    note = multiple_note(interval_count(p["difference"] for p in pairs))
    return [*lines, *(["", note] if note else []), ""]


def _table4(res: dict[str, Any]) -> list[str]:
    """Table 4: multitask vs single-task MRA-Net, and the paired differences."""
    summ = res["summary"]
    lines: list[str] = []
    lines += ["## Table 4: multitask vs single-task MRA-Net", "",
              "| model | activity F1 (ours) | activity F1 (paper) | identity F1 (ours) | "
              "identity F1 (paper) | epochs | train s |", "|---|---|---|---|---|---|---|"]
    for key in NEEDS["table4"]:
        s, (pa, pi) = summ[key], PAPER_TABLE4[key]
        lines.append(f"| {SPECS[key].label} | {_pct(s['activity_macro_f1'])} | "
                     f"{_paper(pa)} | {_pct(s['identity_macro_f1'])} | {_paper(pi)} | "
                     f"{_mean(s['epochs_trained'], '.1f')} | "
                     f"{_mean(s['train_seconds'], '.0f')} |")
    lines.append("")
    lines += table4_pairs_lines(res.get("table4_pairs") or [])
    return lines


def _fig8(parent: Path, res: dict[str, Any], flwl: dict[str, list[np.ndarray]]) -> list[str]:
    """Fig. 8: confusion matrices of the multitask model, test folds pooled."""
    lines: list[str] = []
    lines += ["## Fig. 8: confusion matrices (MRA-Net multitask, all test folds pooled)", "",
              "Colour = log(recall) as in the paper; cells show counts and row shares.", ""]
    for head, names, tag in (("identity", res["data"]["persons"], "a"),
                             ("activity", res["data"]["activities"], "b")):
        t, p = np.concatenate(flwl[f"{head}_true"]), np.concatenate(flwl[f"{head}_pred"])
        m = compute_metrics(t, p, names, labels=range(len(names)))
        name = f"fig8{tag}_confusion_{head}.png"
        plot_confusion_matrix(np.asarray(m["confusion_matrix"]), names, parent / name,
                              normalize="true", log_scale=True,
                              title=f"{head}: recall (log colour), n={m['n']}")
        rec = ", ".join(f"{c['class']} {100 * c['recall']:.1f}" for c in m["per_class"])
        lines += [f"![{head}]({name})", "", f"{head} recall (%): {rec}", ""]
    return lines


def _fig9(parent: Path, res: dict[str, Any], flwl: dict[str, list[np.ndarray]]) -> list[str]:
    """Fig. 9: identification F1 per activity, test folds pooled."""
    lines: list[str] = []
    t = np.concatenate(flwl["identity_true"])
    p = np.concatenate(flwl["identity_pred"])
    acts = np.asarray(res["data"]["activities"])[np.concatenate(flwl["test_activity"])]
    m = compute_metrics(t, p, res["data"]["persons"], {"activity": acts},
                        labels=range(len(res["data"]["persons"])))
    per = m["per_activity"]
    plot_grouped_bars(parent / "fig9_identity_f1_per_activity.png", list(per),
                      {"MRA-Net multitask": [(v["macro_f1"], 0.0) for v in per.values()]},
                      "identification macro-F1", "Fig. 9: identification per activity")
    lines += ["## Fig. 9: identification F1 per activity (pooled test folds)", "",
              "| activity | frames | identity F1 (ours) |", "|---|---|---|"]
    lines += [f"| {a} | {v['n']} | {100 * v['macro_f1']:.2f} |" for a, v in per.items()]
    lines += ["", f"Paper: {PAPER_FIG9}.", "", "![fig9](fig9_identity_f1_per_activity.png)",
              ""]
    return lines


def head_keys(keys: list[str], head: str) -> list[str]:
    """The models of ``keys`` that have ``head`` (:data:`SPECS` order kept)."""
    return [k for k in keys if head in SPECS[k].heads]


def score_table(summ: dict[str, Any], keys: list[str]) -> list[str]:
    """Report lines: test macro-F1 per head, parameters and epochs of ``keys``, each with
    the paper's model it plays."""
    lines = ["| model | paper's model | activity F1 | identity F1 | parameters | epochs |",
             "|---|---|---|---|---|---|"]
    for k in keys:
        s = summ[k]
        lines.append(f"| {SPECS[k].label} | {SPECS[k].paper_model or 'MRA-Net'} | "
                     f"{_pct(s['activity_macro_f1'])} | {_pct(s['identity_macro_f1'])} | "
                     f"{'n/a' if s['parameters'] is None else format(s['parameters'], ',')} | "
                     f"{_mean(s['epochs_trained'], '.1f')} |")
    return lines


def caveat_lines(keys: list[str]) -> list[str]:
    """One line per model of ``keys`` that differs from the paper's model it plays, and
    the citation of that model where harlab checked it (:data:`MRANET_BASELINES`)."""
    lines = []
    for k in keys:
        spec = SPECS[k]
        if not spec.caveat:
            continue
        refs = [r for n, r in MRANET_BASELINES.items() if n in spec.paper_model]
        cited = "".join(f" {r.number}: {r.citation} (unverified: {r.unverified})."
                        for r in refs)
        lines.append(f"- `{k}` ({spec.paper_model}): {spec.caveat}.{cited}")
    return lines


def _fig10(parent: Path, res: dict[str, Any]) -> list[str]:
    """Fig. 10: the baselines against MRA-Net (the models of ``NEEDS["fig10"]``)."""
    summ = res["summary"]
    keys = NEEDS["fig10"]
    for tag, head in (("a", "identity"), ("b", "activity")):
        ks = head_keys(keys, head)
        plot_grouped_bars(parent / f"fig10{tag}_{head}.png", [SPECS[k].label for k in ks],
                          {"test macro-F1": [_ms(summ[k][f"{head}_macro_f1"]) for k in ks]},
                          f"{head} macro-F1", f"Fig. 10{tag}: {head}, baselines vs MRA-Net")
    return ["## Fig. 10: baselines vs MRA-Net", "", *score_table(summ, keys), "",
            f"Paper (text): {PAPER_FIG10}. None of the paper's baselines is given layer by "
            "layer; how each row differs from the model it plays (docs/fidelity/mranet.md "
            "has every detail):", "", *caveat_lines(keys), "",
            "![fig10a](fig10a_identity.png) ![fig10b](fig10b_activity.png)", ""]


def _sweep_text(res: dict[str, Any], lim: dict[str, Any], frames: int, on_frames: bool) -> str:
    """What Fig. 11's noise is and what it was scored on."""
    if on_frames:
        return ("Noise: white Gaussian noise added to the micro-Doppler frames (the paper: "
                "\"added on the MD signatures\") in linear power, before the frames' dB "
                "scaling (SNR = mean frame power / noise variance), each frame normalised "
                "again; every test frame of every fold, one seeded noise draw per fold and "
                f"SNR ({frames} frames over all folds).")
    return ("Noise: complex white Gaussian noise added to the *raw* baseband radar data "
            "before MTI and STFT (the test recordings are re-simulated with identical "
            "motion and clutter, only the noise level changes; SNR = mean target power over "
            "the range window / noise power per sample). The models were trained on the "
            f"dataset's recordings ({res['data']['snr_range']}). Evaluated on the first "
            f"{lim['snr_recordings']} test recording(s) of every activity x person cell "
            f"({frames} frames over all folds).")


def _fig11(parent: Path, res: dict[str, Any], sweep: Sweep) -> list[str]:
    """Fig. 11: test macro-F1 against the SNR of noisy test frames."""
    lim = res["limits"]
    keys = NEEDS["fig11"]
    lines = ["## Fig. 11: robustness to noise", "",
             "Without added noise (the test frames as they are):", "",
             *score_table(res["summary"], keys), "", *caveat_lines(keys), ""]
    if not sweep:
        lines += [res["sweep_note"], ""]
    else:
        snrs = sorted(next(iter(sweep.values())))
        curves = {}
        for key, by_snr in sweep.items():
            for head in ("activity", "identity"):
                m = f"{head}_macro_f1"
                vals = [run_stats(by_snr[s], (m,))[m] for s in snrs]
                if all(v is not None for v in vals):
                    curves[f"{SPECS[key].label}: {head}"] = [v["mean"] for v in vals]
        on_frames = res.get("sweep_method") == "frames"
        plot_snr_curves(parent / "fig11_snr.png", snrs, curves,
                        "Fig. 11: test macro-F1 vs SNR (noise on the frames)" if on_frames
                        else "Fig. 11: test macro-F1 vs SNR (noise on raw radar data)")
        n = next(iter(next(iter(sweep.values())).values()))
        frames = sum(r["n"] for r in n)
        lines += [_sweep_text(res, lim, frames, on_frames), "",
            "| model: head | " + " | ".join(f"{s:g} dB" for s in snrs) + " |",
            "|---" * (len(snrs) + 1) + "|"]
        for name, vals in curves.items():
            lines.append(f"| {name} | " + " | ".join(f"{100 * v:.1f}" for v in vals) + " |")
        lines += ["", f"Paper (text): {PAPER_FIG11}.", "", "![fig11](fig11_snr.png)", ""]
    return lines


def _fig12(parent: Path, pooled: Pooled) -> list[str]:
    """Fig. 12: the FLWL loss weights and the r_w histogram of every FLWL reading."""
    lines: list[str] = []
    lines += ["## Fig. 12: FLWL loss weights", "",
              "Eq. 5 as printed gives activity the weight 2 + max(w) (`mranet_flwl`); Eq. 6, "
              "the Fig. 12b text (\"w_r increases from 2.0 to 2.5\") and the Table 5 grid "
              "give it 2 + min(w) (`mranet_flwl_id`); `mranet_flwl_id_unit` is the latter "
              "with P_w fed the unit-norm embedding (harlab's variant: the raw embedding's "
              "norm grows during training and saturates P_w's softmax). Each is shown "
              "where trained. "
              "r_w = (2 + min w)/(2 + max w) is the quantity of the paper's histogram; "
              "w_a / w_i = activity weight / identity weight is Table 5's ratio. Paper "
              "(Fig. 12b caption): most r_w between 2.3/2.7 = 0.852 and 2.4/2.6 = 0.923.",
              ""]
    for key in FLWL_KEYS:
        if not pooled.get(key, {}).get("w"):
            continue
        w = np.concatenate(pooled[key]["w"])
        w_a, w_i = flwl_task_weights(w, SPECS[key].flwl_larger)
        rw = (2 + w.min(1)) / (2 + w.max(1))
        tag = {"mranet_flwl": "", "mranet_flwl_id": "_eq6"}.get(key, "_eq6_unit")
        plot_loss_weights(parent / f"fig12a_loss_weights{tag}.png", w_a[:64], w_i[:64],
                          f"Fig. 12a: FLWL loss weights of the first {min(64, len(w_a))} test "
                          f"frames ({key})")
        plot_rw_histogram(rw, parent / f"fig12b_rw_histogram{tag}.png")
        q = np.percentile(rw, [5, 50, 95])
        lines += [f"**{SPECS[key].label}** (`{key}`, {SPECS[key].flwl_larger} gets "
                  f"2 + max w): over {len(rw)} test frames r_w mean {rw.mean():.4f}, "
                  f"5/50/95th percentiles {q[0]:.4f} / {q[1]:.4f} / {q[2]:.4f}; activity "
                  f"weight in [{w_a.min():.3f}, {w_a.max():.3f}], mean w_a / w_i "
                  f"{(w_a / w_i).mean():.4f}.", "",
                  f"![fig12a](fig12a_loss_weights{tag}.png) "
                  f"![fig12b](fig12b_rw_histogram{tag}.png)", ""]
    return lines


def _table5(res: dict[str, Any], pooled: Pooled) -> list[str]:
    """Table 5: fixed loss-weight ratios (chosen on validation) against FLWL."""
    summ = res["summary"]
    lines: list[str] = []
    scored = [(summ[k]["best_val"]["mean"], k) for k in RATIO_KEYS if summ[k]["best_val"]]
    chosen = max(scored)[1] if scored else None
    lines += ["## Table 5: fixed loss-weight ratios vs FLWL", "",
              "The fixed ratio r_w = w_activity / w_identity (paper grid, as in "
              "`harlab search-ratio`) is chosen by validation score only.", "",
              "| r_w | val score | activity F1 (ours) | activity F1 (paper) | identity F1 "
              "(ours) | identity F1 (paper) |", "|---|---|---|---|---|---|"]
    for r, k in zip(PAPER_TABLE5, RATIO_KEYS, strict=True):
        s, (pa, pi) = summ[k], PAPER_TABLE5[r]
        mark = " **(selected)**" if k == chosen else ""
        lines.append(f"| {r:.4f}{mark} | {_pct(s['best_val'])} | "
                     f"{_pct(s['activity_macro_f1'])} | {pa:.2f} | "
                     f"{_pct(s['identity_macro_f1'])} | {pi:.2f} |")
    for key in FLWL_KEYS:
        s = summ.get(key)
        if not s or not s["best_val"]:
            continue
        w = pooled.get(key, {}).get("w")
        ratio = ""
        if w:
            w_a, w_i = flwl_task_weights(np.concatenate(w), SPECS[key].flwl_larger)
            ratio = f" (mean w_a / w_i {(w_a / w_i).mean():.4f})"
        lines.append(f"| FLWL, {SPECS[key].flwl_larger} gets 2 + max w{ratio} | "
                     f"{_pct(s['best_val'])} | {_pct(s['activity_macro_f1'])} | 98.29 | "
                     f"{_pct(s['identity_macro_f1'])} | 95.87 |")
    lines.append("")
    return lines


def _table6(res: dict[str, Any]) -> list[str]:
    """Table 6: the ablation rows with parameters, CPU inference and training time."""
    summ = res["summary"]
    lines: list[str] = []
    tm = res["timing"]
    base = summ["mranet_abl1"]["seconds_per_epoch"]
    lines += ["## Table 6: ablation (coarse / fine / attention)", "",
              "Inference time: CPU, median ms per frame at batch 1 and batch 64 "
              "(`torch.inference_mode`, fp32). Training time per epoch relative to row (1) "
              "is what the paper's 'execution time' measures (one pass over the data).", "",
              "| row | coarse | fine | att. | activity F1 (ours / paper) | identity F1 "
              "(ours / paper) | params | ms/frame b1 | ms/frame b64 | train s/epoch (vs "
              "(1)) | paper time | trained (load) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    paper_size = []
    by_key = {k: [r for r in res["runs"] if r["model"] == k] for k in ABLATION_KEYS}
    for i, (key, ((c, f, a), pa, pi, pt)) in enumerate(zip(ABLATION_KEYS, PAPER_TABLE6,
                                                          strict=True), start=1):
        s, t = summ[key], tm[key]["trained"]
        spe = s["seconds_per_epoch"]
        rel = ("n/a" if not spe else f"{spe['mean']:.2f}" if i == 1 or not base
               else f"{spe['mean']:.2f} ({100 * (spe['mean'] / base['mean'] - 1):+.1f}%)")
        yes = {True: "√", False: "×"}
        lines.append(
            f"| ({i}) | {yes[c]} | {yes[f]} | {yes[a]} | {_pct(s['activity_macro_f1'])} / "
            f"{pa:.2f} | {_pct(s['identity_macro_f1'])} / {pi:.2f} | "
            f"{t['parameters']:,} | {t['ms_per_frame_b1']:.2f} | "
            f"{t['ms_per_frame_b64']:.2f} | {rel} | {pt} | "
            f"{_trained_cell(by_key.get(key, []))} |")
        if "paper_size" in tm[key]:
            ps = tm[key]["paper_size"]
            paper_size.append(f"| ({i}) | {ps['parameters']:,} | "
                              f"{ps['ms_per_frame_b1']:.2f} | {ps['ms_per_frame_b64']:.2f} |")
    labelled = {f"({i})": by_key[k] for i, k in enumerate(ABLATION_KEYS, start=1)}
    lines += ["", *conditions_note(labelled, report_cpu(res["hardware"]))]
    if paper_size:
        lines += ["", "The same rows at harlab's full size (channels [32, 64, 128], "
                  "untrained, timing only):", "",
                  "| row | params | ms/frame b1 | ms/frame b64 |", "|---|---|---|---|",
                  *paper_size]
    lines.append("")
    return lines



def _header(res: dict[str, Any]) -> list[str]:
    """Title, command, data, protocol, limits, hardware and resumes of the reproduction."""
    lim = res["limits"]
    d = res["data"]
    runs_per = len(res["fold_sizes"]) * len(lim["seeds"])
    ids = res.get("fold_ids") or list(range(len(res["fold_sizes"])))
    which = "" if ids == list(range(len(ids))) else f"; fold ids {ids}"
    lines = [
        "# MRA-Net reproduction (harlab)", "",
        f"Paper: {PAPER_SOURCE}. Paper numbers are test F1-scores in %; ours are test "
        f"macro-F1 in %, mean ± std over {runs_per} runs ({len(res['fold_sizes'])} of "
        f"{lim['folds']} folds x seeds {lim['seeds']}{which}).", "",
        f"- command: `{res['command']}`",
        f"- data: {d['frames']} frames from {d['recordings']} recordings, "
        f"{len(d['persons'])} persons x {len(d['activities'])} activities "
        f"({'simulated by this run' if d['simulated_here'] else d['folder']}"
        f"{', quick tiny set' if d['quick'] else ''})",
        f"- protocol: {res['protocol_note']}",
        f"- fold sizes (train/val/test frames): {res['fold_sizes']}"
        + (f", folds drawn with seed {res['fold_seed']}" if "fold_seed" in res else ""),
        f"- training limits: at most {lim['epochs']} epochs"
        + (f", at most {lim['max_time']} (DD:HH:MM:SS) per model" if lim["max_time"] else "")
        + f", early-stopping patience {lim['patience']}, batch {lim['batch_size']}, Adam lr "
        f"{lim['lr']}, weight decay {lim['weight_decay']}, MRA-Net channels {lim['channels']}, "
        f"precision {lim.get('precision', '32-true')}, {lim.get('init', 'default')} weight "
        "initialisation (paper: 400 epochs, lr 5e-5, batch 128, orthogonal initialisation, "
        "4 GPUs)",
        f"- hardware: {hardware_line(res['hardware'])}; wall time {res['wall_seconds']} s",
        "- model selection: the epoch with the best validation macro-F1 (mean of both heads "
        "for multitask models); test data never chooses anything",
        *([f"- not run (`--models` left them out): {', '.join(res['not_run'])}; their rows "
           "read n/a"] if res.get("not_run") else []),
        *[f"- resumed {r['at']} with `{r['command']}`" for r in res.get("resumes") or []],
        *[f"- merged {m['from']}: {m['copied']} runs copied" for m in res.get("merged") or []],
        *([f"- {sum(bool(r.get('reloaded')) for r in res['runs'])} of {len(res['runs'])} "
           "models were finished before and reused (their test scores are read from their "
           "run directories); the wall time counts this invocation only"]
          if res.get("resumes") else []),
        "",
    ]
    return lines



def write_report(parent: Path, res: dict[str, Any], pooled: Pooled, sweep: Sweep) -> Path:
    """``report.md`` + PNG figures of the experiments in ``res["experiments"]``."""
    exps = res["experiments"]
    flwl = pooled.get("mranet_flwl", {})
    lines = _header(res)
    if "table4" in exps:
        lines += _table4(res)
    if "fig8" in exps and flwl:
        lines += _fig8(parent, res, flwl)
    if "fig9" in exps and flwl:
        lines += _fig9(parent, res, flwl)
    if "fig10" in exps:
        lines += _fig10(parent, res)
    if "fig11" in exps:
        lines += _fig11(parent, res, sweep)
    if "fig12" in exps and any(pooled.get(k, {}).get("w") for k in FLWL_KEYS):
        lines += _fig12(parent, pooled)
    if "table5" in exps:
        lines += _table5(res, pooled)
    if "table6" in exps:
        lines += _table6(res)
    lines += decisions_section(parent, res["summary"], plot_metric_curves)
    lines += ["## Files", "", "`results.json` holds every run's numbers (per fold and seed), "
              "the limits and the hardware; each model is an ordinary run directory here "
              "(checkpoints, metrics, predictions; `harlab evaluate`, `predict`, `export` and "
              "`compare` read it), listed in `study.json`.", ""]
    path = parent / "report.md"
    path.write_text("\n".join(lines))
    return path
