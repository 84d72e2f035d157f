"""Greedy search of the fixed activity/identity loss-weight ratio (MRA-Net Sect. 3.3).

The MRA-Net paper initialises its loss weights by a greedy search over ratios
``r_w = w_activity / w_identity`` (Table 5). :func:`ratio_search` is a study on the engine
(:mod:`harlab.experiments.engine`): one variant per ratio with ``task.loss_weighting=fixed``,
resumable and mergeable. The ratio is picked by the monitored validation score only
(``best_val_macro_f1``: by default the mean of both heads' validation macro-F1s); test
scores are reported next to it but never used for the choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harlab.config import RunConfig
from harlab.errors import ConfigError
from harlab.experiments.engine import Event, Plan, RunResult, Variant, open_study, run_study
from harlab.fileio import write_json


def ratio_plan(cfg: RunConfig, ratios: list[float]) -> Plan:
    """One fixed-ratio variant per ratio of ``cfg`` (which must have both heads)."""
    if cfg.task.heads != ["activity", "identity"]:
        raise ConfigError("search-ratio needs task.heads: [activity, identity]")
    if not ratios or any(not r > 0 for r in ratios) or len(set(ratios)) != len(ratios):
        raise ConfigError(f"ratios must be distinct positive numbers, got {ratios}")
    variants = [Variant(f"r{r:.4f}", ("task.loss_weighting=fixed", f"task.fixed_ratio={r!r}"))
                for r in ratios]
    return Plan("ratio_search", cfg, variants, None, [cfg.train.seed])


def ratio_search(
    cfg: RunConfig, ratios: list[float], on_event: Event | None = None,
    resume: str | Path | None = None, merge: list[str | Path] | None = None,
    command: str = "",
) -> tuple[Path, dict[str, Any]]:
    """Train (or reuse) one run per ratio; write ``ratio_search.json`` and ``.md``."""
    plan = ratio_plan(cfg, ratios)
    parent, record = open_study(plan, cfg.output_dir, command, resume, merge, on_event)
    results = run_study(parent, plan, record, on_event)
    return parent, write_search(parent, cfg, results)


def _row(res: RunResult) -> dict[str, Any]:
    heads = res.metrics["test_heads"]
    return {"ratio": float(res.planned.cfg.task.fixed_ratio),
            "val_score": res.metrics.get("best_val_macro_f1"),
            "test_activity_macro_f1": heads["activity"]["macro_f1"],
            "test_identity_macro_f1": heads["identity"]["macro_f1"],
            "test_activity_accuracy": heads["activity"]["accuracy"],
            "test_identity_accuracy": heads["identity"]["accuracy"],
            "run": res.run_dir.name}


def write_search(parent: Path, cfg: RunConfig, results: list[RunResult]) -> dict[str, Any]:
    """The search's JSON and markdown: every ratio, the one validation chose marked."""
    rows = [_row(r) for r in results]
    scored = [r for r in rows if r["val_score"] is not None]
    best = max(scored, key=lambda r: r["val_score"]) if scored else None
    out = {"config": cfg.to_dict(), "monitor": cfg.task.monitor, "runs": rows,
           "best_ratio": best["ratio"] if best else None}
    write_json(parent / "ratio_search.json", out)
    lines = [f"# Loss-weight ratio search: {cfg.run_name()}", "",
             f"Selected by validation score ({cfg.task.monitor} macro-F1) only; test shown for "
             "reference.", "",
             "| r = w_act / w_id | val score | test activity macro-F1 | test identity macro-F1 "
             "| run |", "|---|---|---|---|---|"]
    for r in rows:
        mark = " **(selected)**" if best is r else ""
        val = "n/a" if r["val_score"] is None else f"{r['val_score']:.4f}"
        lines.append(f"| {r['ratio']:.4f}{mark} | {val} | {r['test_activity_macro_f1']:.4f} | "
                     f"{r['test_identity_macro_f1']:.4f} | {r['run']} |")
    (parent / "ratio_search.md").write_text("\n".join(lines) + "\n")
    return out
