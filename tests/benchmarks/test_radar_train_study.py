"""``benchmarks/radar_train_study.sh`` with a stand-in ``harlab`` that logs its calls: which
sets it simulates, with which processing, and which studies it trains under ``ONLY``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "radar_train_study.sh"
STUB = """#!/usr/bin/env bash
echo "$*" >> "$STUDY_CALLS"
if [ "$1 $2" = "simulate radar" ]; then  # make the --out folder, as the real command does
  while [ $# -gt 0 ]; do [ "$1" = --out ] && mkdir -p "$2"; shift; done
fi
"""


def run_study(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess,
                                                               list[str]]:
    stub = tmp_path / "harlab"
    stub.write_text(STUB)
    stub.chmod(0o755)
    calls = tmp_path / "calls.txt"
    calls.touch()
    full_env = {**os.environ, "HARLAB": str(stub), "PYTHON": "true",
                "STUDY_CALLS": str(calls), **env}
    proc = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out"), *args], cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=120)
    return proc, calls.read_text().splitlines()


def test_only_trains_the_jobs_it_names_on_the_sets_they_use(tmp_path: Path) -> None:
    proc, calls = run_study(tmp_path, "30", "0,1", "0", "1", "small",
                            ONLY=r"^realistic(_dr40)?\|(mranet_lr1e-3|jmi_cnn)\|")
    assert proc.returncode == 0, proc.stderr
    cv = [c for c in calls if c.startswith("cv ")]
    trained = sorted(c.split("--out ")[1].split()[0].split("/runs/")[1] for c in cv)
    assert trained == ["realistic/jmi_cnn", "realistic/mranet_lr1e-3",
                       "realistic_dr40/mranet_lr1e-3"]
    assert all("--epochs 30 " in c and "--seeds 0,1 " in c for c in cv)
    simulated = sorted(c.split("--out ")[1].split()[0].rsplit("/", 1)[1]
                       for c in calls if c.startswith("simulate radar"))
    assert simulated == ["realistic", "realistic_dr40"]  # not the sets no job uses
    out = tmp_path / "out"
    assert "--recordings 3" in next(c for c in calls if c.startswith("simulate radar"))
    main = (out / "processing_realistic.yaml").read_text()
    assert "dynamic_range_db: 60.0" in main and "frame_height: 50" in main
    assert "dynamic_range_db: 40.0" in (out / "processing_realistic_dr40.yaml").read_text()


def test_db_and_size_options(tmp_path: Path) -> None:
    proc, calls = run_study(tmp_path, "2", "0", "0", "1", "lowres", DB="40",
                            ONLY=r"^default\|dcnn5\|")
    assert proc.returncode == 0, proc.stderr
    sim = [c for c in calls if c.startswith("simulate radar")]
    assert len(sim) == 1 and "--recordings" not in sim[0]  # lowres: the Table 3 counts
    text = (tmp_path / "out" / "processing_default.yaml").read_text()
    assert "dynamic_range_db: 40" in text and "frame_width: 75" in text


@pytest.mark.parametrize("size", ["huge", "Small"])
def test_unknown_size_is_refused(tmp_path: Path, size: str) -> None:
    proc, calls = run_study(tmp_path, "2", "0", "0", "1", size)
    assert proc.returncode == 2 and "SIZE must be small, full or lowres" in proc.stderr
    assert calls == []


def test_depth_variants_change_only_the_channels(tmp_path: Path) -> None:
    proc, calls = run_study(tmp_path, "30", "0,1,2", "0", "1", "full",
                            ONLY=r"\|(mranet_5blocks|dcnn5_3blocks|mranet_wide)\|")
    assert proc.returncode == 0, proc.stderr
    cv = {c.split("--out ")[1].split()[0].split("/runs/")[1]: c
          for c in calls if c.startswith("cv ")}
    assert sorted(cv) == ["realistic/dcnn5_3blocks", "realistic/mranet_5blocks",
                          "realistic/mranet_wide"]
    assert "model.options.channels=[8,16,32,32,32]" in cv["realistic/mranet_5blocks"]
    assert "model.options.channels=[16,32,64]" in cv["realistic/mranet_wide"]
    dcnn = cv["realistic/dcnn5_3blocks"]
    assert "baseline_dcnn5_identity.yaml" in dcnn and "channels=[16,32,64]" in dcnn
    assert "frame_height: 100" in (tmp_path / "out" / "processing_realistic.yaml").read_text()
