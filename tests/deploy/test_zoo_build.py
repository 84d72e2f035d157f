"""``harlab zoo build`` end to end on a tiny synthetic recipe (3 subject folds, 1 epoch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harlab.deploy.zoo import card_problems, load_card, predict_pretrained
from tests.deploy.conftest import synthetic_recording

pytestmark = pytest.mark.slow  # trains three tiny folds

ROOT = Path(__file__).resolve().parents[2]
RECIPE = """\
name: zoo_tiny
description: tiny synthetic recipe
data:
  dataset: custom
  options: {units: {acc_x: g, acc_y: g, acc_z: g}}
  window: {length: 32, step: 16, unit: samples}
  split: {kind: subject, folds: 3, fold: 0, val_fraction: 0.25, seed: 0}
model:
  name: danhar
  options: {channels: [8, 16], head: gap}
train: {max_epochs: 1, precision: 32-true, patience: null, seed: 0}
"""


def test_build_writes_a_valid_card_and_never_overwrites(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(6):
        df = synthetic_recording(24, seed=i)
        df.insert(0, "session", "1")
        df.insert(0, "subject", f"s{i}")
        df.to_csv(data / f"s{i}.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    env = {**os.environ, "HARLAB_CACHE": str(tmp_path / "cache"),  # this checkout's harlab:
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "harlab.cli.main", "zoo", "build", "recipe.yaml", "--name",
           "tiny", "--path", str(data)]
    proc = subprocess.run([*cmd, "--out", "zoo/tiny"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((tmp_path / "zoo" / "tiny" / "card.json").read_text())
    assert card_problems(card) == []
    assert card["score"]["folds"] == 3 and len(card["score"]["per_fold"]) == 3
    assert card["recipe"]["train"] == "harlab train recipe.yaml --path DATA"
    assert card["input"]["units"] == ["g", "g", "g"]
    assert card["verification"]["fp32"]["activity"]["argmax_agreement"] == 1.0
    assert load_card("tiny", tmp_path / "zoo") == card
    # the built model predicts a file in m/s² like the same file in g
    rec = synthetic_recording(12, seed=9)
    rec.to_csv(tmp_path / "g.csv", index=False)
    rec[["acc_x", "acc_y", "acc_z"]] *= 9.80665
    rec.to_csv(tmp_path / "si.csv", index=False)
    a, _ = predict_pretrained("tiny", tmp_path / "g.csv", root=tmp_path / "zoo")
    b, info = predict_pretrained("tiny", tmp_path / "si.csv", units="acc=m/s^2",
                                 root=tmp_path / "zoo")
    assert [r["label"] for r in a] == [r["label"] for r in b] and len(a) > 10
    assert info["converted"] == dict.fromkeys(["acc_x", "acc_y", "acc_z"], 1 / 9.80665)
    # an existing folder is refused, untouched
    before = sorted(p.name for p in (tmp_path / "zoo" / "tiny").iterdir())
    proc = subprocess.run([*cmd, "--out", "zoo/tiny"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300, check=False)
    assert proc.returncode == 2 and "exists" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in (tmp_path / "zoo" / "tiny").iterdir()) == before
