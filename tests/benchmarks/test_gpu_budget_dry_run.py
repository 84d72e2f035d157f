"""``benchmarks/gpu_budget.py --dry-run``: every step of the GPU session at tiny size on the
CPU, through the same code, writing the same JSON and markdown (so ``make test`` runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_budget.py"


@pytest.mark.slow
def test_dry_run_runs_every_step_and_reports_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")
    env.pop("HARLAB_RUN_DIR", None)
    env.pop("OUT", None)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out),
                           "--work", str(tmp_path / "work")], env=env, capture_output=True,
                          text=True, timeout=400, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = json.loads(proc.stdout)
    report = json.loads((out / "gpu_budget.json").read_text())
    assert printed == report and report["dry_run"]
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == ["gpu_tests", "throughput", "danhar_hapt", "danhar_usc_had", "mranet"]
    log = (out / "gpu_budget.log").read_text()
    for name, s in steps.items():
        assert s["status"] in ("ok", "capped"), (name, s, log[-3000:])
        assert 0 < s["seconds"] <= s["budget_s"] + 30
    # no CUDA here: every gpu test is collected and skipped, none fails
    gt = steps["gpu_tests"]["result"]
    assert gt["skipped"] >= 20 and "failed" not in gt and "passed" not in gt
    tp = steps["throughput"]["result"]
    assert set(tp["batches"]) == {"1", "2"}
    for rows in tp["batches"].values():
        assert set(rows) == {"reference_fp32", "reference_bf16", "harlab_fp32", "harlab_bf16"}
        assert all(r["train_windows_per_s"] > 0 and r["fraction_of_bf16_peak"] > 0
                   for r in rows.values())
    hapt, usc = steps["danhar_hapt"]["result"], steps["danhar_usc_had"]["result"]
    assert (hapt["folds_done"], hapt["folds_total"]) == (2, 10)  # the resume path: 2 folds
    assert (usc["folds_done"], usc["folds_total"]) == (1, 10)
    assert [r["fold"] for r in hapt["runs"]] == [0, 1]
    assert all(r["epochs_trained"] == 1 and r["stopped_by"] == "max_epochs"
               for r in hapt["runs"] + usc["runs"])
    assert "configs/danhar/hapt_honest.yaml" in hapt["command"]
    mr = steps["mranet"]["result"]
    assert {r["model"] for r in mr["runs"]} == {"mranet_flwl", "mranet_identity"}
    assert mr["limits"]["lr"] == 5e-5 and mr["limits"]["init"] == "orthogonal"
    assert mr["limits"]["patience"] is None
    assert all(0 <= (mr["identity_macro_f1"][m] or 0) <= 1 for m in mr["identity_macro_f1"])
    md = (out / "gpu_budget.md").read_text()
    for name in steps:
        assert f"## {name}: " in md
    assert "| mranet_identity | 1 |" in md and "folds 2 of 10" in md
    assert sorted(p.name for p in out.iterdir()) == ["gpu_budget.json", "gpu_budget.log",
                                                     "gpu_budget.md"]
