"""``reproduce mranet``'s models: every needed model is a registered model with a config that
resolves, and the Fig. 10/11 report sections show every baseline with its caveat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from harlab.config import apply_overrides, from_dict
from harlab.experiments.mranet_paper import EXPERIMENTS, NEEDS, SPECS, model_options
from harlab.experiments.mranet_report import _fig10, _fig11, head_keys
from harlab.experiments.reproduce_mranet import (
    DEFAULTS,
    Settings,
    mranet_plan,
    training_overrides,
)
from harlab.models.registry import get_model_spec
from harlab.papers import MRANET_BASELINES
from harlab.tasks.multitask import build_multitask_model

CHANNELS = [4, 8, 8]


def _plan() -> Any:
    tree = apply_overrides(DEFAULTS, training_overrides(epochs=1))
    tree["data"]["path"] = "frames"  # never read: only the configs are built
    tree["data"]["window"] = {"length": 1, "step": 1, "unit": "frames"}
    return mranet_plan(from_dict(tree), Settings(channels=CHANNELS), "sha")


def test_needs_and_specs_agree() -> None:
    assert set(NEEDS) == set(EXPERIMENTS)
    needed = {k for keys in NEEDS.values() for k in keys}
    assert needed == set(SPECS)  # every spec is trained by some experiment, none is missing
    for key, spec in SPECS.items():
        assert spec.key == key and spec.heads
        get_model_spec(spec.model)  # registered (ConfigError otherwise)
    # the paper's baselines are there, and the old JMI-CNN stand-in is gone
    assert {"cae_activity", "dcnn3_activity", "lstm_activity"} <= set(NEEDS["fig10"])
    assert NEEDS["fig11"] == ["mranet_flwl", "jmi_cnn_mt_equal"]
    assert not any(s.model == "dcnn3" and len(s.heads) > 1 for s in SPECS.values())


@pytest.mark.parametrize("key", sorted(SPECS))
def test_every_spec_resolves_to_a_run_config_and_a_model(key: str) -> None:
    plan = _plan()
    (v,) = [v for v in plan.variants if v.name == key]
    cfg = plan.config(v, 0, 0)
    spec = SPECS[key]
    assert cfg.model.name == spec.model and list(cfg.task.heads) == list(spec.heads)
    assert cfg.model.options == model_options(spec, CHANNELS)
    sizes = {"activity": 5, "identity": 3}
    model = build_multitask_model(spec.model, dict(cfg.model.options), (30, 20),
                                  {h: sizes[h] for h in spec.heads},
                                  flwl=cfg.task.loss_weighting == "flwl" and len(spec.heads) > 1)
    out = model(torch.rand(2, 30, 20))
    outs = out if isinstance(out, dict) else {spec.heads[0]: out}
    for head in spec.heads:
        assert outs[head].shape == (2, sizes[head])


def test_jmi_cnn_gets_mranet_widths() -> None:
    """Fig. 11 compares two multitask trunks: --channels sets both."""
    opts = model_options(SPECS["jmi_cnn_mt_equal"], [8, 16, 16])
    assert opts["channels"] == [8, 16, 16] == model_options(SPECS["mranet_flwl"],
                                                            [8, 16, 16])["channels"]
    assert model_options(SPECS["cae_activity"], [8, 16, 16]) == {"pretrain_epochs": 5}


def _summary(keys: list[str]) -> dict[str, Any]:
    def ms(v: float) -> dict[str, float]:
        return {"mean": v, "std": 0.01, "n": 2}

    out = {}
    for i, k in enumerate(keys):
        heads = SPECS[k].heads
        out[k] = {"activity_macro_f1": ms(0.5 + i / 100) if "activity" in heads else None,
                  "identity_macro_f1": ms(0.4 + i / 100) if "identity" in heads else None,
                  "parameters": 1000 + i, "epochs_trained": ms(3.0)}
    return out


def test_fig10_and_fig11_sections_show_every_baseline(tmp_path: Path) -> None:
    assert head_keys(NEEDS["fig10"], "identity") == ["dcnn5_identity", "mranet_flwl"]
    assert head_keys(NEEDS["fig10"], "activity") == [
        "dcnn3_activity", "cae_activity", "lstm_activity", "mranet_flwl"]
    res = {"summary": _summary(list(SPECS)), "limits": {}, "sweep_note": "skipped: no noise"}
    text = "\n".join(_fig10(tmp_path, res))
    for k in NEEDS["fig10"]:
        assert f"| {SPECS[k].label} | {SPECS[k].paper_model or 'MRA-Net'} | " in text, k
    assert "| CAE (activity) | CAE [9] | " in text
    assert "`cae_activity` (CAE [9]): " in text and "pre-training is reproduced as 5 epochs" in text
    assert MRANET_BASELINES["[9]"].citation in text and "doi:10.1109/TAES.2018.2799758" in text
    assert "JMI" not in text  # Fig. 10 has no multitask baseline
    assert (tmp_path / "fig10a_identity.png").is_file()
    text = "\n".join(_fig11(tmp_path, res, {}))
    assert "| JMI-CNN (multitask, equal weights) | JMI-CNN [32] | " in text
    assert "| MRA-Net multitask (FLWL) | MRA-Net | " in text
    assert "title, authors, venue and year not found" in text  # [32] is unverified
    assert "skipped: no noise" in text
