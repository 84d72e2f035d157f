"""``benchmarks/throughput.py --shapes``: the many-channel shapes, their names and the
measurement of one shape (tiny, on the CPU)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import throughput as tp  # noqa: E402


def test_shapes_match_the_paper_presets_and_bad_names_exit_2(capsys) -> None:
    assert tp.SHAPES["dsads45"].window == (125, 45) and tp.SHAPES["dsads45"].batch == 128
    assert tp.SHAPES["opportunity113"].window == (64, 113)
    assert tp.parse_shapes("wisdm, dsads45") == ["wisdm", "dsads45"]
    with pytest.raises(SystemExit) as stop:
        tp.parse_shapes("wisdm,dsads")
    assert stop.value.code == 2
    assert "unknown shape dsads" in capsys.readouterr().err


def test_one_shape_reports_windows_per_s_and_fraction_of_peak() -> None:
    shape = tp.Shape("tiny", (40, 5), 3, 4, tp.PRESET, "tiny")
    args = argparse.Namespace(warmup=0, iters=1, quick=True)
    out = tp.danhar_shape(shape, args, {"fp32": 100.0}, False, False)
    assert out["config"]["window"] == [40, 5] and out["config"]["batch"] == 4
    assert set(out["results"]) == {"reference_fp32", "harlab_fp32"}
    for r in out["results"].values():
        assert r["train_windows_per_s"] > 0
        assert r["train_fraction_of_peak"] == pytest.approx(r["train_gflops_per_s"] / 100.0,
                                                            abs=1e-3)


def test_both_paths_adds_harlab_forced_onto_each_path() -> None:
    shape = tp.Shape("tiny", (40, 5), 3, 4, tp.PRESET, "tiny")
    variants = tp.danhar_variants(shape, True, False, True)
    env = {name: v[3] for name, v in variants.items()}
    assert env == {"reference_fp32": "auto", "reference_bf16_autocast": "auto",
                   "harlab_fp32": "auto", "harlab_bf16_autocast": "auto",
                   "harlab_fp32_gemm": "gemm", "harlab_bf16_autocast_gemm": "gemm",
                   "harlab_fp32_onednn": "onednn", "harlab_bf16_autocast_onednn": "onednn"}
    assert [v[1] for v in variants.values()] == [False, True, False, True] * 2
    assert set(tp.danhar_variants(shape, False, False, False)) == {"reference_fp32",
                                                                  "harlab_fp32"}
