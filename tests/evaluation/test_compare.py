"""Paired comparisons (evaluation.paired, experiments.compare) against scipy and by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from harlab.evaluation.paired import (
    format_difference,
    paired_difference,
    smallest_wilcoxon_p,
    verdict,
)


def test_paired_difference_matches_scipy_and_the_t_interval() -> None:
    a = {(0, 1): 0.80, (0, 2): 0.70, (1, 10): 0.90, (1, 2): 0.75, "x": None}
    b = {(0, 1): 0.70, (0, 2): 0.72, (1, 10): 0.85, (1, 2): 0.70, (3, 3): 0.10}
    d = paired_difference(a, b)
    assert d is not None
    keys = [(0, 1), (0, 2), (1, 2), (1, 10)]  # numeric order, not string order
    assert [tuple(k) for k in d["keys"]] == keys
    diffs = np.array([a[k] - b[k] for k in keys])
    assert d["diffs"] == pytest.approx(diffs.tolist())
    assert d["n"] == 4 and d["unpaired"] == 1  # (3, 3) only in b; "x" has no score
    assert d["mean"] == pytest.approx(diffs.mean()) and d["std"] == pytest.approx(
        diffs.std(ddof=1))
    half = stats.t.ppf(0.975, 3) * diffs.std(ddof=1) / 2
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((diffs.mean() - half,
                                                         diffs.mean() + half))
    ya, yb = [a[k] for k in keys], [b[k] for k in keys]
    assert d["p_t"] == pytest.approx(stats.ttest_rel(ya, yb).pvalue)
    assert d["p_wilcoxon"] == pytest.approx(stats.wilcoxon(ya, yb).pvalue)
    assert (d["wins"], d["losses"], d["ties"]) == (3, 1, 0)
    text = format_difference(d)
    assert text.startswith("+0.0450 ± 0.0493 [-0.0335, +0.1235], 3/4 up, p_t 0.166")
    assert verdict(d, "helps", "hurts").startswith("no difference shown")


def test_paired_difference_edge_cases() -> None:
    assert paired_difference({0: 1.0}, {1: 0.5}) is None  # nothing paired
    assert paired_difference({0: float("nan")}, {0: 0.5}) is None
    one = paired_difference({0: 0.9}, {0: 0.5})
    assert one is not None and one["n"] == 1 and one["std"] == 0.0
    assert one["ci_low"] is None and one["p_t"] is None
    assert "too few" in verdict(one, "helps", "hurts")
    assert format_difference(one).startswith("+0.4000, 1/1 up")  # one pair has no spread
    same = paired_difference({0: 1.0, 1: 1.0}, {0: 0.5, 1: 0.5})  # identical differences
    assert same is not None and same["ci_low"] is None and same["p_t"] is None
    assert verdict(same, "helps", "hurts") == "the same difference in all 2 pairs: no interval"
    rounded = paired_difference({0: 0.7, 1: 0.1 + 0.2}, {0: 0.4, 1: 0.0})  # 0.3 up to rounding
    assert rounded is not None and rounded["std"] == 0.0 and rounded["p_t"] is None
    ties = paired_difference({0: 0.5, 1: 0.5}, {0: 0.5, 1: 0.5})
    assert ties is not None and ties["ties"] == 2 and ties["p_wilcoxon"] is None
    assert verdict(ties, "helps", "hurts") == "no difference (equal scores in all 2 pairs)"
    up = paired_difference({s: 0.8 + 0.01 * s for s in range(5)}, {s: 0.5 for s in range(5)})
    assert up is not None and up["ci_low"] > 0 and verdict(up, "helps", "hurts").startswith(
        "helps")
    assert up["p_wilcoxon"] == pytest.approx(0.0625) == smallest_wilcoxon_p(5)
    down = paired_difference({s: 0.5 for s in range(5)}, {s: 0.8 + 0.01 * s for s in range(5)})
    assert down is not None and verdict(down, "helps", "hurts").startswith("hurts")
    assert format_difference(None) == "—" and "no pair" in verdict(None, "a", "b")
    from harlab.evaluation.paired import multiple_note

    assert multiple_note(0) == multiple_note(1) == ""
    assert multiple_note(8).startswith("8 intervals are shown. At 95 % each, about one in")
    with pytest.raises(ValueError, match="confidence"):
        paired_difference({0: 1.0}, {0: 0.5}, confidence=1.5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=12))
def test_paired_difference_is_antisymmetric(pairs: list[tuple[float, float]]) -> None:
    a = {i: x for i, (x, _) in enumerate(pairs)}
    b = {i: y for i, (_, y) in enumerate(pairs)}
    ab, ba = paired_difference(a, b), paired_difference(b, a)
    assert ab is not None and ba is not None
    assert ab["n"] == len(pairs) == ab["wins"] + ab["losses"] + ab["ties"]
    assert ab["mean"] == pytest.approx(-ba["mean"], abs=1e-12)
    assert (ab["wins"], ab["losses"]) == (ba["losses"], ba["wins"])
    if ab["ci_low"] is not None:
        assert ab["ci_low"] <= ab["mean"] <= ab["ci_high"]
        assert ab["ci_low"] == pytest.approx(-ba["ci_high"], abs=1e-12)
        assert ab["p_t"] == pytest.approx(ba["p_t"]) and 0 <= ab["p_t"] <= 1
    assert ab["p_wilcoxon"] is None or (0 < ab["p_wilcoxon"] <= 1 and math.isclose(
        ab["p_wilcoxon"], ba["p_wilcoxon"]))


# ------------------------------------------------------------------ harlab compare
def make_run(where: Path, model: str, seed: int, fold: int, f1: float,
             seg: float | None = None,
             data_path: str = "/data/a.csv") -> Path:
    """A finished run directory as harlab train writes it (config.yaml + metrics.json)."""
    from harlab.config import dump_yaml, from_dict
    from harlab.runs import mark_run_dir

    run = where / f"{model}_seed{seed}_fold{fold}"
    run.mkdir(parents=True)
    mark_run_dir(run)
    cfg = from_dict({"name": run.name, "data": {
        "dataset": "custom", "path": data_path,
        "split": {"kind": "subject", "folds": 4, "fold": fold, "seed": 0}},
        "model": {"name": model}, "train": {"seed": seed}})
    (run / "config.yaml").write_text(dump_yaml(cfg))
    decisions = {"activity": [{"frames": 1, "macro_f1": f1},
                              {"frames": "segment", "macro_f1": seg}]}
    metrics = {"test": {"macro_f1": f1}, "decisions": decisions}
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_compare_pairs_runs_by_split_and_seed(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harlab.cli import main as cli

    a, b = tmp_path / "a", tmp_path / "b"
    f1 = {}
    for seed in (0, 1):
        for fold in (0, 1):
            f1[(seed, fold)] = 0.6 + 0.05 * fold + 0.01 * seed
            make_run(a, "danhar_cnn", seed, fold, f1[(seed, fold)] + 0.03, seg=0.9,
                     data_path="/elsewhere/a.csv")  # another machine's path still pairs
            make_run(b, "cnn", seed, fold, f1[(seed, fold)], seg=0.8)
    make_run(b, "cnn", 0, 2, 0.5)  # no partner in A
    out = tmp_path / "cmp"
    res = CliRunner().invoke(cli.app, ["compare", str(a), str(b), "--out", str(out)])
    assert res.exit_code == 0, f"{res.output}\n{res.exception!r}"
    (parent,) = list(out.iterdir())
    got = json.loads((parent / "compare.json").read_text())
    assert got["pairs"] == 4 and (got["unpaired_a"], got["unpaired_b"]) == (0, 1)
    assert got["models"] == {"A": ["danhar_cnn"], "B": ["cnn"]}
    window, segment = got["comparisons"]
    assert window["score"] == "macro_f1" and window["difference"]["diffs"] == pytest.approx(
        [0.03] * 4)
    assert window["verdict"] == "the same difference in all 4 pairs: no interval"
    assert sorted(window["b"]) == pytest.approx(sorted(f1.values()))
    assert segment["difference"]["n"] == 4 and segment["difference"]["mean"] == pytest.approx(
        0.1)
    md = (parent / "compare.md").read_text()
    assert "4 pairs of runs" in md and "1 of B (left out)" in md
    # equal differences give no interval per window (nor, here, per segment): no note that
    # claims intervals are shown
    shown = sum(c["difference"]["ci_low"] is not None for c in (window, segment))
    assert shown < 2 and "intervals are shown" not in md
    assert "| activity | macro-F1 per window | +0.0300 ± 0.0000, 4/4 up, p_W 0.125 |" in md
    # one row per pair: fold, seed, both scores and their difference, per window and segment
    assert "| fold | seed | A per window | B per window | A − B | A per segment |" in md
    assert "| 1 | 1 | 0.6900 | 0.6600 | +0.0300 | 0.9000 | 0.8000 | +0.1000 |" in md
    assert (parent / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "comparison directory" in res.output


def test_compare_selects_runs_and_refuses_what_it_cannot_pair(tmp_path: Path) -> None:
    from harlab.errors import ConfigError
    from harlab.experiments.compare import collect_runs, compare_runs

    mixed = tmp_path / "reproduction"
    for seed in (0, 1, 2):
        make_run(mixed, "cnn", seed, 0, 0.6 + 0.01 * seed)
        make_run(mixed, "danhar_cnn", seed, 0, 0.62 + 0.02 * seed)
    a = collect_runs(mixed, ["model.name=danhar_cnn"])
    b = collect_runs(mixed, ["model.name=cnn", "train.seed=1"])
    assert {r["model"] for r in a} == {"danhar_cnn"} and [r["seed"] for r in b] == [1]
    one = compare_runs(a, b)
    assert one["pairs"] == 1 and one["comparisons"][0]["difference"]["diffs"] == (
        pytest.approx([0.03]))
    single = collect_runs(mixed / "cnn_seed2_fold0")  # a run directory is a side of one run
    assert len(single) == 1 and single[0]["seed"] == 2
    with pytest.raises(ConfigError, match="ambiguous; narrow the side down with --where"):
        compare_runs(collect_runs(mixed), b)  # cnn and danhar_cnn share data and seed
    other_fold = tmp_path / "other"
    make_run(other_fold, "cnn", 0, 3, 0.7)
    with pytest.raises(ConfigError, match="nothing to pair"):
        compare_runs(a, collect_runs(other_fold))
    with pytest.raises(ConfigError, match="no finished harlab run .* matching model.name=x"):
        collect_runs(mixed, ["model.name=x"])
    with pytest.raises(ConfigError, match="expected key.path=value"):
        collect_runs(mixed, ["model.name"])
    with pytest.raises(ConfigError, match="the value is not valid YAML"):
        collect_runs(mixed, ["model.name=[unclosed"])
    foreign = tmp_path / "foreign"  # a metrics.json without test scores: one-line error
    make_run(foreign, "cnn", 0, 0, 0.5)
    (foreign / "cnn_seed0_fold0" / "metrics.json").write_text('{"loss": 1.0}')
    with pytest.raises(ConfigError, match="not a readable run .KeyError"):
        collect_runs(foreign)
    with pytest.raises(ConfigError, match="no such directory"):
        collect_runs(tmp_path / "absent")
    (mixed / "broken").mkdir()
    (mixed / "broken" / "config.yaml").write_text("model: {name: [unclosed")
    (mixed / "broken" / "metrics.json").write_text("{}")
    with pytest.raises(ConfigError, match="broken: not a readable run"):
        collect_runs(mixed)
