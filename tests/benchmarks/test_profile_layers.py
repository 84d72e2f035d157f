"""``benchmarks/profile_step.py --layers``: per-layer times on both time-conv paths (tiny)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import profile_step  # noqa: E402
from harlab.hardware import TIME_CONV_ENV  # noqa: E402


def test_layers_time_every_conv_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIME_CONV_ENV, "auto")
    out = profile_step.main(["--shape", "opportunity113", "--batch", "1", "--iters", "1",
                             "--layers", "--threads", "1"])
    layers = out["layers"]
    assert [row["steps_out"] for row in layers] == [30, 30, 13, 13, 4, 4]
    assert [row["layer"] for row in layers[:2]] == ["strided+shortcut 1->128",
                                                   "stride 1 128->128"]
    for row in layers:
        assert row["gemm_ms"] > 0 and row["onednn_ms"] > 0
        assert row["gemm_over_onednn"] == pytest.approx(row["gemm_ms"] / row["onednn_ms"],
                                                        rel=0.1, abs=0.05)
    assert os.environ[TIME_CONV_ENV] == "auto"  # restored
