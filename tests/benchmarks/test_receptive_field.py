"""``benchmarks/receptive_field.py``: the receptive field measured by back-propagation
equals the closed form of kernel sizes and strides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "receptive_field.py"


def measure(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


def closed_form(kernels: list[int]) -> int:
    """Each block: a k x k stride-1 conv then a 2 x 2 stride-2 max-pool."""
    rf, jump = 1, 1
    for k in kernels:
        rf += (k - 1) * jump + jump  # the conv, then the pool (kernel 2)
        jump *= 2
    return rf


@pytest.mark.parametrize("model, options, kernels", [
    ("dcnn5", {}, [3] * 5),
    ("dcnn3", {"channels": [4, 4]}, [5, 5]),
    ("mranet", {"channels": [4, 4, 4], "attention": False}, [5, 5, 5]),  # coarse 5x5
    ("mranet", {"channels": [4, 4, 4], "attention": False, "coarse": False}, [3, 3, 3]),
])
def test_measured_field_is_the_closed_form(model, options, kernels):
    res = measure(model, "--options", json.dumps(options), "--frame", "200,160")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["rf_time"] == got["rf_doppler"] == closed_form(kernels)


def test_attention_masks_widen_what_mranet_sees_and_five_blocks_see_the_frame():
    three = json.loads(measure("mranet", "--options", '{"channels": [4, 4, 4]}').stdout)
    assert three["rf_doppler"] > closed_form([5, 5, 5]) and three["feature_map"] == [4, 12, 18]
    five = json.loads(measure("mranet", "--options", '{"channels": [4, 4, 4, 4, 4]}').stdout)
    assert (five["rf_doppler"], five["rf_time"]) == (100, 150)  # the whole 100 x 150 frame


@pytest.mark.parametrize("args, message", [
    (["lstm"], "has no conv trunk"), (["mranet", "--frame", "150"], "--frame must be T,C"),
    (["mranet", "--options", "{x"], "--options is not JSON"), (["nosuch"], "unknown model"),
])
def test_bad_input_is_one_line(args, message):
    res = measure(*args)
    assert res.returncode == 2 and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
