"""Human-readable reports of metrics (markdown, rich console tables) and atomic JSON files."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich.table import Table

from harlab.evaluation.metrics import summarize_runs
from harlab.fileio import natural_key
from harlab.hardware import hardware, hardware_line  # noqa: F401  (re-exported for reports)

_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "weighted_f1": "weighted-F1",
          "segment_macro_f1": "macro-F1, one decision per segment"}


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return f"{float(v):.{digits}f}"


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _mean_std(s: Mapping[str, Any] | None) -> str:
    return "–" if s is None else f"{s['mean']:.4f} ± {s['std']:.4f}"


def metrics_markdown(
    metrics: Mapping[str, Any],
    class_names: Sequence[str] | None,
    title: str,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Markdown summary of a ``compute_metrics`` result.

    Order: title, the ``extra`` facts (dataset, model, split protocol, seed, notes or a
    leakage warning) as a bullet list, overall table, per-class table, then one table per
    ``per_<group>`` entry in natural id order with the unweighted mean ± std over groups.
    ``class_names`` override the names stored in ``per_class`` when their count matches.
    """
    lines = [f"# {title}", ""]
    if extra:
        lines += [f"- **{_cell(k)}**: {_cell(v)}" for k, v in extra.items()] + [""]
    lines += ["## Overall", ""]
    lines += _table(
        ["metric", "value"],
        [
            ["accuracy", _fmt(metrics.get("accuracy"))],
            ["macro-F1", _fmt(metrics.get("macro_f1"))],
            ["weighted-F1", _fmt(metrics.get("weighted_f1"))],
            ["n", _fmt(metrics.get("n"))],
        ],
    )
    per_class = metrics.get("per_class") or []
    if per_class:
        names = (
            list(class_names)
            if class_names and len(class_names) == len(per_class)
            else [r["class"] for r in per_class]
        )
        lines += ["## Per class", ""]
        lines += _table(
            ["class", "precision", "recall", "F1", "support"],
            [
                [name, _fmt(r["precision"]), _fmt(r["recall"]), _fmt(r["f1"]), _fmt(r["support"])]
                for name, r in zip(names, per_class, strict=True)
            ],
        )
    for key, per in metrics.items():
        if not key.startswith("per_") or key == "per_class" or not isinstance(per, Mapping):
            continue
        group = key[4:]
        ids = sorted(per, key=natural_key)
        spread = summarize_runs([per[g] for g in ids], ("accuracy", "macro_f1")) if ids else {}
        lines += [f"## Per {group}", ""]
        rows = [
            [g, _fmt(per[g].get("n")), _fmt(per[g].get("accuracy")), _fmt(per[g].get("macro_f1"))]
            for g in ids
        ]
        rows.append(
            [
                f"**mean ± std** ({len(ids)} groups)",
                "",
                _mean_std(spread.get("accuracy")),
                _mean_std(spread.get("macro_f1")),
            ]
        )
        lines += _table([group, "n", "accuracy", "macro-F1"], rows)
    return "\n".join(lines)


def seeds_markdown(summary: Mapping[str, Mapping[str, Any]], title: str = "") -> str:
    """Markdown table (mean ± std, min, max, runs) of a ``summarize_runs`` result."""
    lines = [f"## {title}", ""] if title else []
    lines += _table(
        ["metric", "mean ± std", "min", "max", "runs"],
        [
            [_NAMES.get(k, k), _mean_std(s), _fmt(s["min"]), _fmt(s["max"]), _fmt(s["n"])]
            for k, s in summary.items()
        ],
    )
    return "\n".join(lines)


def rich_metrics_table(metrics: Mapping[str, Any], title: str = "") -> Table:
    """Console table laid out like sklearn's classification report: per-class rows, then
    accuracy / macro-F1 / weighted-F1 in the F1 column with ``n`` as their support."""
    table = Table(title=title or None)
    table.add_column("class")
    for col in ("precision", "recall", "F1", "support"):
        table.add_column(col, justify="right")
    for r in metrics.get("per_class") or []:
        table.add_row(
            str(r["class"]),
            _fmt(r["precision"]),
            _fmt(r["recall"]),
            _fmt(r["f1"]),
            _fmt(r["support"]),
            style=None if r["support"] else "dim",
        )
    table.add_section()
    n = _fmt(metrics.get("n"))
    for key, label in (
        ("accuracy", "accuracy"),
        ("macro_f1", "macro-F1"),
        ("weighted_f1", "weighted-F1"),
    ):
        table.add_row(label, "", "", _fmt(metrics.get(key)), n, style="bold")
    return table



