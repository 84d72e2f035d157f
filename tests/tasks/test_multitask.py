"""Multitask model/module: FLWL gradient modes, identity labels, split checks, checkpoints."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from harlab.config import SplitConfig, from_dict
from harlab.data.datamodule import WindowDataModule
from harlab.data.prepare import person_labels
from harlab.data.recording import RecordingMeta
from harlab.data.splits import make_split
from harlab.data.windows import Windows
from harlab.errors import ConfigError
from harlab.runs import RUN_FORMAT
from harlab.tasks.checkpoint import load_module
from harlab.tasks.classifier import WindowClassifier
from harlab.tasks.multitask import build_multitask_model
from harlab.tasks.predict import head_classes, predict_heads
from harlab.training import check_task_split

TINY_DANHAR = {"channels": [4, 4, 4], "head": "gap"}


def _grads(model: torch.nn.Module, loss: torch.Tensor) -> tuple[bool, bool]:
    model.zero_grad()
    loss.backward()
    bb = any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())
    wh = model.weight_head.weight.grad is not None and model.weight_head.weight.grad.abs().sum() > 0
    return bool(bb), bool(wh)


@pytest.mark.parametrize(
    ("mode", "backbone_grad", "head_grad"),
    [("head", False, True), ("full", True, True), ("none", False, False)],
)
def test_flwl_gradient_modes(mode: str, backbone_grad: bool, head_grad: bool) -> None:
    torch.manual_seed(0)
    model = build_multitask_model("danhar", TINY_DANHAR, (40, 3), {"activity": 3, "identity": 4},
                                  flwl=True, flwl_grad=mode)
    out = model(torch.randn(4, 40, 3))
    assert out["w"].shape == (4, 2)
    assert torch.allclose(out["w"].sum(1), torch.ones(4))
    # a loss through w only: does it reach the backbone / the weight branch?
    loss = (out["w"][:, 0] * torch.arange(4.0)).sum() + 0 * out["activity"].sum()
    bb, wh = _grads(model, loss)
    assert (bb, wh) == (backbone_grad, head_grad)


def test_flwl_unit_input_is_immune_to_the_embedding_scale() -> None:
    """With ``raw`` input, a larger embedding norm (as training produces) saturates w; with
    ``unit`` input w depends only on the embedding's direction."""
    torch.manual_seed(0)
    raw = build_multitask_model("danhar", TINY_DANHAR, (40, 3), {"activity": 3, "identity": 4},
                                flwl=True, flwl_input="raw")
    unit = build_multitask_model("danhar", TINY_DANHAR, (40, 3), {"activity": 3, "identity": 4},
                                 flwl=True, flwl_input="unit")
    unit.load_state_dict(raw.state_dict())
    e = torch.randn(8, raw.embedding_dim)
    for model in (raw, unit):
        model.weight_head.weight.data.normal_(0, 1)  # a trained-like head

    class Fixed(torch.nn.Module):  # stands in for the backbone: a chosen embedding
        def __init__(self, scale: float) -> None:
            super().__init__()
            self.scale = scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return e * self.scale

    w = {}
    for name, model in (("raw", raw), ("unit", unit)):
        for scale in (1.0, 100.0):
            model.backbone = Fixed(scale)
            w[name, scale] = model(torch.zeros(8, 40, 3))["w"].detach()
    assert w["raw", 100.0].max(1).values.min() > 0.999  # saturated
    assert not torch.allclose(w["raw", 1.0], w["raw", 100.0])
    assert torch.allclose(w["unit", 1.0], w["unit", 100.0], atol=1e-6)
    with pytest.raises(ConfigError, match="flwl_input must be raw or unit"):
        from_dict({"data": {"dataset": "hapt"}, "task": {"heads": ["activity", "identity"],
                                                          "flwl_input": "norm"}})


def test_person_labels_map_training_subjects_and_flag_unseen() -> None:
    labels, names = person_labels({
        "train": np.array(["10", "2", "2", "1"]),
        "val": np.array(["1", "10"]),
        "test": np.array(["2", "7"]),
    })
    assert names == ["1", "2", "10"]  # natural order
    assert labels["train"].tolist() == [2, 1, 1, 0]
    assert labels["val"].tolist() == [0, 2]
    assert labels["test"].tolist() == [1, -1]


def test_identity_head_rejects_subject_wise_split() -> None:
    cfg = from_dict({"task": {"heads": ["activity", "identity"]},
                     "data": {"split": {"kind": "subject"}}})
    with pytest.raises(ConfigError, match="split.kind=session"):
        check_task_split(cfg)
    check_task_split(from_dict({"task": {"heads": ["identity"]},
                                "data": {"split": {"kind": "session"}}}))


def test_session_split_train_sessions() -> None:
    """Train on session 1 only, test on session 2; session 3 of subject 'b' is left out."""
    recs = [RecordingMeta(s, sess, 100, 10.0) for s, sess in
            [("a", "1"), ("a", "2"), ("b", "1"), ("b", "2"), ("b", "3")]]
    starts = np.tile(np.arange(0, 100, 10), 5)
    rec = np.repeat(np.arange(5), 10)
    w = Windows(np.zeros((50, 10, 1), np.float32), np.zeros(50, np.int64), rec, starts,
                np.ones(50), 10.0, 10, 10)
    split = make_split(w, recs, SplitConfig(kind="session", test_sessions=["2"],
                                            train_sessions=["1"], val_fraction=0.2))
    sess = np.array([r.session for r in recs])[rec]
    assert set(sess[split.train]) == {"1"} and set(sess[split.val]) == {"1"}
    assert set(sess[split.test]) == {"2"}
    assert "10 windows of other sessions left out" in split.description
    with pytest.raises(ConfigError, match="only applies"):
        SplitConfig(kind="subject", train_sessions=["1"])


def _module(task: dict | None, **kw) -> WindowClassifier:
    return WindowClassifier(
        model_name="mranet", model_options={"channels": [2, 2, 2]}, input_shape=[30, 20],
        class_names=["a", "b", "c"], lr=3e-3, harlab={"version": RUN_FORMAT}, task=task, **kw,
    )


@pytest.mark.slow
@pytest.mark.parametrize("weighting", ["flwl", "uncertainty"])
def test_multitask_module_trains_logs_and_roundtrips(weighting: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 48
    x = {p: rng.normal(size=(n, 30, 20)).astype(np.float32) for p in ("train", "val")}
    y = {p: np.stack([rng.integers(0, 3, n), rng.integers(0, 4, n)], 1) for p in x}
    task = {"heads": ["activity", "identity"], "loss_weighting": weighting, "fixed_ratio": 0.75,
            "flwl_grad": "head", "flwl_larger": "activity", "monitor": "mean",
            "identity_names": ["p1", "p2", "p3", "p4"]}
    module = _module(task, class_weights=[1.0, 2.0, 1.0])
    trainer = L.Trainer(max_epochs=2, logger=L.pytorch.loggers.CSVLogger(str(tmp_path)),
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0,
                        use_distributed_sampler=False, log_every_n_steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=WindowDataModule(x, y, batch_size=16))
    logged = trainer.callback_metrics
    for key in ("val_macro_f1", "val_activity_macro_f1", "val_identity_macro_f1",
                "train_loss", "val_loss", "train_identity_accuracy"):
        assert key in logged, key
    mean = (logged["val_activity_macro_f1"] + logged["val_identity_macro_f1"]) / 2
    assert float(logged["val_macro_f1"]) == pytest.approx(float(mean), abs=1e-6)
    if weighting == "flwl":
        rw = float(logged["train_flwl_rw"])
        assert 2 / 3 <= rw <= 1
    else:
        assert "train_weight_identity" in logged
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = load_module(ckpt)  # weights_only=True, rebuilt from hyperparameters
    assert head_classes(loaded) == {"activity": ["a", "b", "c"],
                                    "identity": ["p1", "p2", "p3", "p4"]}
    got, want = predict_heads(loaded, x["val"]), predict_heads(module, x["val"])
    for key in want:
        np.testing.assert_allclose(got[key], want[key], atol=1e-5)
    assert ("w" in got) == (weighting == "flwl")


def test_single_task_module_unchanged() -> None:
    module = _module(None)
    assert not module.multitask
    out = module(torch.randn(2, 30, 20))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3)
    assert head_classes(module) == {"activity": ["a", "b", "c"]}
    ident = _module({"heads": ["identity"], "loss_weighting": "equal",
                     "identity_names": ["p1", "p2"]})
    assert set(ident(torch.randn(2, 30, 20))) == {"identity"}
    assert list(head_classes(ident)) == ["identity"]
