"""Attention geometry, localisation scores on hand-made maps, and export on a tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from harlab.evaluation.attention import (
    block_geometry,
    localisation_scores,
    segment_mask,
    summarize_localisation,
    upsample,
)


def test_block_geometry_matches_the_real_receptive_fields() -> None:
    """Centre and width of each block's output step, found by back-propagating one step."""
    from harlab.models.danhar import DanHAR

    torch.manual_seed(0)
    model = DanHAR((200, 1), 2, backbone="resnet", attention="none", channels=(8, 8, 8),
                   head="gap").eval()
    geo = block_geometry(3, 6, 2, 0)
    assert geo[0] == {"scale": 2.0, "offset": 2.5, "receptive_field": 10.0}
    x = torch.randn(1, 200, 1, requires_grad=True)
    h = x.transpose(1, 2).reshape(1, 200, 1)
    for b, block in enumerate(model.blocks):
        h = block(h, 1)
        t = h.shape[1] // 2
        (g,) = torch.autograd.grad(h[0, t].sum(), x, retain_graph=True)
        support = np.flatnonzero(g[0, :, 0].abs().numpy() > 0)
        centre = geo[b]["scale"] * t + geo[b]["offset"]
        half = (geo[b]["receptive_field"] - 1) / 2
        assert support.min() >= centre - half and support.max() <= centre + half
        assert (support.min() + support.max()) / 2 == pytest.approx(centre)
        assert support.max() - support.min() + 1 == geo[b]["receptive_field"]


def test_upsample_interpolates_between_centres_and_holds_edges() -> None:
    att = np.array([[0.0, 1.0, 0.0]], np.float32)
    up = upsample(att, scale=4.0, offset=2.0, length=14)  # centres at 2, 6, 10
    np.testing.assert_allclose(up[0, [0, 1, 2, 4, 6, 8, 10, 13]],
                               [0, 0, 0, 0.5, 1, 0.5, 0, 0])


def test_segment_mask_clips_to_the_window() -> None:
    m = segment_mask(np.array([0, 0, 1, 2]), np.array([2, 8, -3, 5]), np.array([4, 12, 2, 5]),
                     3, 10)
    want = np.zeros((3, 10), bool)
    want[0, 2:4] = want[0, 8:10] = want[1, 0:2] = True
    np.testing.assert_array_equal(m, want)


def test_localisation_scores_known_answers() -> None:
    mask = np.zeros((4, 10), bool)
    mask[:, 2:5] = True
    att = np.stack([
        mask[0] * 1.0,                # perfect: all mass inside
        np.full(10, 0.5),             # flat: mass = chance, AUROC 0.5
        (~mask[2]) * 1.0,             # inverted
        np.where(mask[3], 0.6, 0.2),  # inside higher, mass 1.8 / (1.8 + 1.4)
    ])
    s = localisation_scores(att, mask)
    np.testing.assert_allclose(s["mass"], [1.0, 0.3, 0.0, 1.8 / 3.2])
    np.testing.assert_allclose(s["chance"], 0.3)
    np.testing.assert_allclose(s["pointing"], [1, 0, 0, 1])  # flat: arg-max is sample 0
    np.testing.assert_allclose(s["auroc"], [1.0, 0.5, 0.0, 1.0])
    empty = localisation_scores(np.ones((1, 5)), np.zeros((1, 5), bool))
    assert np.isnan(empty["auroc"][0]) and empty["mass"][0] == 0


def test_auroc_equals_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    att = rng.integers(0, 5, (6, 40)).astype(float)  # many ties
    mask = rng.random((6, 40)) < 0.3
    s = localisation_scores(att, mask)
    want = [roc_auc_score(m, a) for a, m in zip(att, mask, strict=True)]
    np.testing.assert_allclose(s["auroc"], want)


def test_summary_per_class_and_overall() -> None:
    scores = {"mass": np.array([1.0, 0.0, 0.5, np.nan])}
    out = summarize_localisation(scores, np.array([0, 0, 1, 1]), ["a", "b"],
                                 correct=np.array([True, False, True, True]))
    assert out["per_class"]["a"]["mass"] == {"mean": 0.5, "std": pytest.approx(2**0.5 / 2),
                                             "n": 2}
    assert out["per_class"]["b"]["mass"] == {"mean": 0.5, "std": 0.0, "n": 1}
    assert out["overall"]["mass"]["n"] == 3
    assert out["correct_only"]["mass"]["mean"] == 0.75


@pytest.mark.slow
def test_export_on_a_tiny_weak_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harlab.config import from_dict
    from harlab.errors import ConfigError
    from harlab.evaluation.attention import export_attention
    from harlab.training import train
    from tests.data.test_weak import opts, write_base

    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)
    csv = write_base(tmp_path / "base.csv", subjects=("a", "b", "d"))
    cfg = from_dict({
        "output_dir": str(tmp_path / "runs"),
        "data": {"dataset": "weak", "options": opts(csv, n_per_class=6),
                 "window": {"length": 400, "step": 400},
                 "split": {"kind": "subject", "test_subjects": ["d"], "val_fraction": 0.5}},
        "model": {"name": "danhar", "options": {"channels": [4, 8, 8], "head": "gap",
                                                "reduction": 4}},
        "train": {"max_epochs": 1, "batch_size": 8, "precision": "32-true",
                  "progress": False, "patience": None},
    })
    run = train(cfg).run_dir
    out, info = export_attention(run, "test", n_examples=3)
    assert out == run / "attention-test-1"
    for name in ("attention.npz", "attention.json", "temporal_attention.png",
                 "sensor_attention.png", "channel_attention.png", "localisation.json",
                 "localisation.md", "localisation.png", "segments.json"):
        assert (out / name).stat().st_size > 0, name
    z = np.load(out / "attention.npz")
    assert z["example_x"].shape == (3, 400, 3)
    assert z["example_temporal_input"].shape == (3, 3, 400)
    assert z["sensor_attention"].shape == (3, 2, 3)  # block x class x sensor
    assert z["channel_block3"].shape == (2, 8)
    assert ((z["example_temporal_input"] > 0) & (z["example_temporal_input"] < 1)).all()
    segs = json.loads((out / "segments.json").read_text())["segments"]
    assert {s["window"] for s in segs} == set(range(12))  # 12 test windows of subject d
    # the exported masks are the builder's own segments
    m = z["example_segment_mask"]
    assert m.shape == (3, 400) and m.any(1).all()
    loc = json.loads((out / "localisation.json").read_text())
    chance = loc["combined"]["overall"]["chance"]
    assert loc["combined"]["overall"]["mass"]["n"] == 12 and 0 < chance["mean"] < 1
    # a second export never overwrites the first; a non-empty --out is refused
    assert export_attention(run, "test", 2)[0] == run / "attention-test-2"
    with pytest.raises(ConfigError, match="not empty"):
        export_attention(run, "test", 2, out=out)


def test_export_attention_of_the_attention_cnn_and_refusal_for_other_families(
    tmp_path, monkeypatch
) -> None:
    """danhar_cnn (dual attention on the plain CNN) exports like danhar; the plain ``cnn``
    row exports no maps; a model family without attention is a ConfigError naming it."""
    import yaml

    from harlab.config import from_dict
    from harlab.errors import ConfigError
    from harlab.evaluation.attention import export_attention
    from harlab.training import train
    from tests.e2e.test_ablation_cli import tiny_config

    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARLAB_RUN_DIR", raising=False)
    base = yaml.safe_load(tiny_config(tmp_path).read_text())
    base["train"].update(max_epochs=1, progress=False)
    base["output_dir"] = str(tmp_path / "runs")
    runs = {}
    for name, options in (("danhar_cnn", {"channels": [4, 8, 8], "head": "gap",
                                          "reduction": 4}),
                          ("cnn", {"channels": [4, 8, 8], "head": "gap"}),
                          ("lstm", {"hidden": 8, "layers": 1})):
        cfg = from_dict({**base, "model": {"name": name, "options": options}})
        runs[name] = train(cfg).run_dir
    out, info = export_attention(runs["danhar_cnn"], "test", n_examples=2)
    assert info["attention"] == "channel_temporal" and len(info["block_geometry"]) == 3
    z = np.load(out / "attention.npz")
    assert z["example_temporal_input"].shape == (2, 3, 40)  # examples x blocks x time
    assert z["channel_block3"].shape == (2, 8)  # classes x feature channels
    assert (out / "temporal_attention.png").is_file() and (out / "channel_attention.png").is_file()
    _, info = export_attention(runs["cnn"], "test", n_examples=2)
    assert info["attention"] == "none" and "block_geometry" not in info
    with pytest.raises(ConfigError, match="'lstm' has no attention"):
        export_attention(runs["lstm"], "test")
    # a run that is not complete, or a checkpoint of another run, is refused in one line
    from harlab.errors import CheckpointError
    from harlab.runs import set_run_state

    set_run_state(runs["cnn"], "failed", error="test: stopped")
    with pytest.raises(CheckpointError, match="is a failed run.*--allow-unfinished"):
        export_attention(runs["cnn"], "test", n_examples=2)
    _, info = export_attention(runs["cnn"], "test", n_examples=2, allow_unfinished=True)
    assert len(info["warnings"]) == 1 and "failed" in info["warnings"][0]
    ckpts = runs["danhar_cnn"] / "checkpoints"
    for name in ("best.ckpt", "last.ckpt"):
        (ckpts / name).write_bytes((runs["cnn"] / "checkpoints" / name).read_bytes())
    with pytest.raises(CheckpointError, match="does not belong to run"):
        export_attention(runs["danhar_cnn"], "test", n_examples=2)


def test_temporal_example_titles_clear_the_strip_above() -> None:
    """Each window's title sits below the heat strip of the window above, not on it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from harlab.evaluation.attention import temporal_examples_figure

    rng = np.random.default_rng(0)
    n = 4
    fig = temporal_examples_figure(rng.normal(size=(n, 100, 3)), rng.random((n, 100)),
                                   [f"window {i}: walking (p 0.93)" for i in range(n)],
                                   ["x", "y", "z"], 50.0)
    renderer = FigureCanvasAgg(fig).get_renderer()
    axes = fig.axes  # signal, strip, signal, strip, ...
    for i in range(1, n):
        title = axes[2 * i].title.get_window_extent(renderer)
        strip_above = axes[2 * i - 1].get_tightbbox(renderer)  # with its tick labels
        assert title.y1 < strip_above.y0, f"title {i} overlaps the strip of window {i - 1}"
