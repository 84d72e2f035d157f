"""``harlab compare``: A minus B over finished runs paired by data split and seed.

Finds the finished runs under two folders (single runs or studies, three folders down),
keeps those a ``--where key.path=value`` selects, pairs them by their data settings and
training seed, and reports each head's paired differences per window and per segment
(:mod:`harlab.evaluation.paired`) in ``compare.json``, ``compare.md`` and ``compare.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harlab.evaluation.paired import (
    format_difference,
    interval_count,
    multiple_note,
    paired_difference,
    smallest_wilcoxon_p,
    verdict,
)


# ------------------------------------------------------------------ run directories
def _is_run(p: Path) -> bool:
    """A finished harlab run (config.yaml + metrics.json)."""
    return (p / "config.yaml").is_file() and (p / "metrics.json").is_file()


def _run_dirs(root: Path, depth: int = 3) -> list[Path]:
    """Finished runs at or below ``root``, searched ``depth`` folders down (studies hold
    their runs one folder down); a run is not searched inside."""
    if _is_run(root):
        return [root]
    if depth == 0:
        return []
    return [r for p in sorted(root.iterdir()) if p.is_dir() for r in _run_dirs(p, depth - 1)]


def head_scores(heads: dict[str, dict[str, Any]], dec: dict[str, Any] | None
                ) -> dict[str, dict[str, Any]]:
    """Per head: test macro-F1 and accuracy per window, and the macro-F1 and count of one
    decision per test segment or recording (None where not scored)."""
    from harlab.evaluation.decisions import whole_decision

    out = {}
    for head, m in heads.items():
        whole = whole_decision(dec, head)
        out[head] = {"macro_f1": m.get("macro_f1"), "accuracy": m.get("accuracy"),
                     "segment_macro_f1": whole.get("macro_f1"),
                     "n_segments": whole.get("decisions")}
    return out


def _parse_where(where: list[str]) -> list[tuple[tuple[str, ...], Any, str]]:
    """``key.path=value`` filters -> (key path, value read as YAML as ``--set`` does, text)."""
    import yaml

    from harlab.errors import ConfigError

    out = []
    for item in where:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--where {item!r}: expected key.path=value")
        try:
            want = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--where {item!r}: the value is not valid YAML "
                              f"({str(exc).splitlines()[0]})") from None
        out.append((tuple(key.strip().split(".")), want, value.strip()))
    return out


def _matches(settings: dict[tuple[str, ...], Any],
             where: list[tuple[tuple[str, ...], Any, str]]) -> bool:
    """Every parsed ``where`` filter holds for a run's computed settings."""
    return all(settings.get(k) == want or str(settings.get(k)) == text
               for k, want, text in where)


def run_scores(run_dir: Path, metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per head of a finished run: test macro-F1 and accuracy per window, and the macro-F1
    and count of one decision per test segment (None where not scored)."""
    dec = metrics.get("decisions")
    return head_scores(metrics.get("test_heads") or {"activity": metrics["test"]}, dec)


# data settings that scale the same windows and change no split: runs that differ only in
# them saw the same data, so they pair
_SCALING_ONLY = {("frame_scale",), ("frame_ceiling_percentile",), ("frame_range_db",)}


def collect_runs(root: str | Path, where: list[str] | None = None) -> list[dict[str, Any]]:
    """The finished runs under ``root`` that match ``where``.

    ``root`` is one run, or a folder holding runs up to three folders down (a study: cv,
    ablation, reproduction; or a folder of studies). Each is ``{run, pair_key, model,
    scores}``: the pairing key is the run's data settings (dataset, windows, split with its
    seed and fold; not paths, nor the frame scaling of radar frames) plus its training
    seed, so two runs pair exactly when they saw the same train/validation/test data and
    seed. ``scores`` are per head: per-window test
    macro-F1 and, where scored, the macro-F1 of one decision per test segment (from
    ``metrics.json``).
    """
    from harlab.config import computed_settings, from_dict, load_yaml
    from harlab.errors import ConfigError, HarlabError
    from harlab.runs import check_format

    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: no such directory")
    filters = _parse_where(list(where or []))
    try:
        found = _run_dirs(root)
    except OSError as exc:
        raise ConfigError(f"{root}: cannot search it for runs ({exc})") from None
    out = []
    for run in found:
        try:
            check_format(run)
            settings = computed_settings(from_dict(load_yaml(run / "config.yaml")).to_dict())
            if not _matches(settings, filters):
                continue
            scores = run_scores(run, json.loads((run / "metrics.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, HarlabError) as exc:
            raise ConfigError(f"{run}: not a readable run ({type(exc).__name__}: {exc})"
                              ) from None
        data = {k: v for k, v in settings.items()
                if k[0] == "data" and k[1:] not in _SCALING_ONLY}
        key = json.dumps(sorted((".".join(k), v) for k, v in data.items()), default=str)
        out.append({"run": str(run), "pair_key": (key, settings.get(("train", "seed"))),
                    "seed": settings.get(("train", "seed")),
                    "fold": settings.get(("data", "split", "fold")),
                    "model": settings.get(("model", "name")), "scores": scores})
    if not out:
        raise ConfigError(f"{root}: no finished harlab run (config.yaml + metrics.json)"
                          + (f" matching {' and '.join(where or [])}" if where else ""))
    return out


def _side_scores(side: dict[Any, dict[str, Any]], shared: list[Any], head: str, score: str
                 ) -> dict[tuple[Any, ...], Any]:
    """``{(fold, seed, pair index): score}`` of one side's paired runs."""
    return {(side[k]["fold"], side[k]["seed"], i): side[k]["scores"].get(head, {}).get(score)
            for i, k in enumerate(shared)}


def compare_runs(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any]:
    """A minus B per head and score, runs paired by their data settings and seed."""
    from harlab.errors import ConfigError

    sides = {}
    for name, runs in (("A", a), ("B", b)):
        seen: dict[Any, str] = {}
        for r in runs:
            if r["pair_key"] in seen:
                raise ConfigError(
                    f"side {name}: {seen[r['pair_key']]} and {r['run']} trained on the same "
                    "data with the same seed, so pairs would be ambiguous; narrow the side "
                    "down with --where-a/--where-b (e.g. model.name=cnn)")
            seen[r["pair_key"]] = r["run"]
        sides[name] = {r["pair_key"]: r for r in runs}
    shared = [k for k in sides["A"] if k in sides["B"]]
    if not shared:
        raise ConfigError(f"no run of A ({len(a)}) shares its data and seed with a run of B "
                          f"({len(b)}): nothing to pair")
    heads = [h for h in ("activity", "identity")
             if any(h in sides["A"][k]["scores"] and h in sides["B"][k]["scores"]
                    for k in shared)]
    comparisons = []
    for head in heads:
        for score in ("macro_f1", "segment_macro_f1"):
            va, vb = (_side_scores(sides[side], shared, head, score) for side in ("A", "B"))
            diff = paired_difference(va, vb)
            if diff is not None:
                keys = [tuple(k) for k in diff["keys"]]
                comparisons.append({"head": head, "score": score, "difference": diff,
                                    "a": [va[k] for k in keys], "b": [vb[k] for k in keys],
                                    "verdict": verdict(diff, "A is better", "B is better")})
    return {"pairs": len(shared), "unpaired_a": len(a) - len(shared),
            "unpaired_b": len(b) - len(shared),
            "models": {"A": sorted({str(r["model"]) for r in a}),
                       "B": sorted({str(r["model"]) for r in b})},
            "paired_runs": [[sides["A"][k]["run"], sides["B"][k]["run"]] for k in shared],
            "comparisons": comparisons}


SCORE_LABELS = {"macro_f1": "macro-F1 per window",
                "segment_macro_f1": "macro-F1, one decision per test segment"}


def comparison_markdown(result: dict[str, Any], a_name: str, b_name: str) -> str:
    """The A-minus-B table with what was paired."""
    lines = [f"# {a_name} minus {b_name}", "",
             f"A: `{a_name}` (models {', '.join(result['models']['A'])}); B: `{b_name}` "
             f"(models {', '.join(result['models']['B'])}). {result['pairs']} pairs of runs "
             "with the same data settings (dataset, windows, split, its seed and fold) and "
             f"training seed; unpaired runs: {result['unpaired_a']} of A, "
             f"{result['unpaired_b']} of B (left out).", "",
             "Mean ± std of the differences [95 % t interval], pairs where A was higher, "
             "paired t-test and Wilcoxon signed-rank p-values (with n pairs the smallest "
             f"two-sided Wilcoxon p is 2/2^n = {smallest_wilcoxon_p(result['pairs']):.3g} "
             "here).", "",
             "| head | score | A − B | verdict |", "|---|---|---|---|"]
    for c in result["comparisons"]:
        lines.append(f"| {c['head']} | {SCORE_LABELS[c['score']]} | "
                     f"{format_difference(c['difference'])} | {c['verdict']} |")
    if note := multiple_note(interval_count(c["difference"] for c in result["comparisons"])):
        lines += ["", note]
    lines += pairs_markdown(result["comparisons"])
    return "\n".join(lines) + "\n"


def pairs_markdown(comparisons: list[dict[str, Any]]) -> list[str]:
    """Per head, one row per pair (fold, seed): A, B and A − B of each score."""
    def cell(v: Any) -> str:
        return "—" if v is None else f"{v:.4f}"

    out: list[str] = []
    for head in dict.fromkeys(c["head"] for c in comparisons):
        cs = [c for c in comparisons if c["head"] == head]
        rows: dict[tuple[Any, Any], dict[str, tuple[Any, Any]]] = {}
        for c in cs:
            for key, va, vb in zip(c["difference"]["keys"], c["a"], c["b"], strict=True):
                rows.setdefault((key[0], key[1]), {})[c["score"]] = (va, vb)
        short = {"macro_f1": "per window", "segment_macro_f1": "per segment"}
        head_cells = " | ".join(f"A {short[c['score']]} | B {short[c['score']]} | A − B"
                                for c in cs)
        out += ["", f"Pairs, {head} macro-F1:", "", f"| fold | seed | {head_cells} |",
                "|---|---|" + "---|" * (3 * len(cs))]
        for (fold, seed), by in rows.items():
            cells = []
            for c in cs:
                va, vb = by.get(c["score"], (None, None))
                cells += [cell(va), cell(vb),
                          "—" if va is None or vb is None else f"{va - vb:+.4f}"]
            out.append(f"| {'—' if fold is None else fold} | {seed} | {' | '.join(cells)} |")
    return out


def write_comparison(
    a: str | Path, b: str | Path, where_a: list[str] | None = None,
    where_b: list[str] | None = None, output_dir: str | Path = "runs",
) -> tuple[Path, dict[str, Any]]:
    """Pair the runs under ``a`` and ``b``; write compare.json/md/png into a new directory."""
    from harlab.evaluation.plots import plot_paired_scores
    from harlab.fileio import write_json
    from harlab.runs import create_run_dir

    def name(path: str | Path, where: list[str] | None) -> str:
        return Path(path).name + (f" [{', '.join(where)}]" if where else "")

    def label(path: str | Path, where: list[str] | None) -> str:  # short, for the axes
        return ", ".join(where) if where else Path(path).name

    result = compare_runs(collect_runs(a, where_a), collect_runs(b, where_b))
    a_name, b_name = name(a, where_a), name(b, where_b)
    result = {"a": str(a), "b": str(b), "where_a": list(where_a or []),
              "where_b": list(where_b or []), **result}
    parent = create_run_dir(output_dir, "compare")
    write_json(parent / "compare.json", result)
    (parent / "compare.md").write_text(comparison_markdown(result, a_name, b_name))
    plot_paired_scores(parent / "compare.png",
                       [(f"{c['head']}: {SCORE_LABELS[c['score']]}", c["a"], c["b"])
                        for c in result["comparisons"]], label(a, where_a), label(b, where_b))
    return parent, result
