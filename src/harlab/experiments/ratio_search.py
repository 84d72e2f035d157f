"""Greedy search of the fixed activity/identity loss-weight ratio (MRA-Net Sect. 3.3).

The MRA-Net paper initialises its loss weights by a greedy search over ratios
``r_w = w_activity / w_identity`` (Table 5). :func:`ratio_search` trains one run per ratio
with ``task.loss_weighting=fixed`` and picks the ratio by the monitored validation score
only (``best_val_macro_f1``: by default the mean of both heads' validation macro-F1s);
test scores are reported next to it but never used for the choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console


def ratio_search(
    cfg: Any, ratios: list[float], console: Console | None = None
) -> tuple[Path, dict[str, Any]]:
    """Train ``cfg`` once per ratio into one new parent directory; write JSON + markdown."""
    import copy

    from harlab.errors import ConfigError
    from harlab.fileio import write_json
    from harlab.runs import create_run_dir
    from harlab.training import train

    if cfg.task.heads != ["activity", "identity"]:
        raise ConfigError("search-ratio needs task.heads: [activity, identity]")
    if not ratios or any(not r > 0 for r in ratios):
        raise ConfigError(f"ratios must be positive numbers, got {ratios}")
    name = cfg.run_name()
    parent = create_run_dir(cfg.output_dir, f"ratio_search_{name}")
    rows = []
    for r in ratios:
        run_cfg = copy.deepcopy(cfg)
        run_cfg.task.loss_weighting = "fixed"
        run_cfg.task.fixed_ratio = float(r)
        run_cfg.output_dir = str(parent)
        run_cfg.name = f"{name}_r{r:.4f}"
        if console is not None:
            console.print(f"[bold]ratio r = w_activity / w_identity = {r:.4f}[/bold]")
        res = train(run_cfg, console=console)
        if not res.is_main:
            continue
        heads = res.metrics["test_heads"]
        rows.append({
            "ratio": float(r),
            "val_score": res.metrics.get("best_val_macro_f1"),
            "test_activity_macro_f1": heads["activity"]["macro_f1"],
            "test_identity_macro_f1": heads["identity"]["macro_f1"],
            "test_activity_accuracy": heads["activity"]["accuracy"],
            "test_identity_accuracy": heads["identity"]["accuracy"],
            "run": res.run_dir.name,
        })
    scored = [r for r in rows if r["val_score"] is not None]
    best = max(scored, key=lambda r: r["val_score"]) if scored else None
    out = {"config": cfg.to_dict(), "monitor": cfg.task.monitor, "runs": rows,
           "best_ratio": best["ratio"] if best else None}
    write_json(parent / "ratio_search.json", out)
    lines = [
        f"# Loss-weight ratio search: {name}",
        "",
        f"Selected by validation score ({cfg.task.monitor} macro-F1) only; test shown for "
        "reference.",
        "",
        "| r = w_act / w_id | val score | test activity macro-F1 | test identity macro-F1 "
        "| run |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        mark = " **(selected)**" if best is r else ""
        val = "n/a" if r["val_score"] is None else f"{r['val_score']:.4f}"
        lines.append(
            f"| {r['ratio']:.4f}{mark} | {val} | {r['test_activity_macro_f1']:.4f} | "
            f"{r['test_identity_macro_f1']:.4f} | {r['run']} |"
        )
    (parent / "ratio_search.md").write_text("\n".join(lines) + "\n")
    return parent, out
