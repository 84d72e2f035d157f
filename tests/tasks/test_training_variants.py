"""Training variants: ``train.lr_schedule``, ``train.label_smoothing`` (and MRA-Net's dropout).

The defaults must train exactly as before (no scheduler without ``lr_step``, StepLR with
it, plain cross-entropy), so existing configs such as ``configs/demo.yaml`` give the same
results; the new values must reach torch's schedulers and loss through a real run.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from harlab.config import LR_SCHEDULES, load_config
from harlab.errors import ConfigError
from harlab.runs import RUN_FORMAT
from harlab.tasks.classifier import WindowClassifier
from tests.deploy.conftest import synthetic_recording

DEMO = Path(__file__).parents[2] / "configs" / "demo.yaml"


def _module(task: dict | None = None, **train: object) -> WindowClassifier:
    return WindowClassifier(
        model_name="mranet", model_options={"channels": [2, 2]}, input_shape=[12, 8],
        class_names=["a", "b", "c"], harlab={"version": RUN_FORMAT}, task=task, **train,
    )


class _Trainer:  # what configure_optimizers reads of the Lightning trainer
    max_epochs = 7


def _optimizers(module: WindowClassifier) -> object:
    module._trainer = _Trainer()  # type: ignore[assignment]
    return module.configure_optimizers()


def _yaml(v: float) -> str:
    """``v`` exactly, as a YAML float (YAML 1.1 reads ``5e-324`` as text: fixed point)."""
    return {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}.get(
        str(v), np.format_float_positional(v, unique=True))


@settings(max_examples=40, deadline=None)
@given(v=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_label_smoothing_in_unit_interval_loads(v: float) -> None:
    text = _yaml(v)
    cfg = load_config(None, [f"train.label_smoothing={text}"])
    assert cfg.train.label_smoothing == float(text)


@settings(max_examples=40, deadline=None)
@given(v=st.one_of(st.floats(max_value=0.0, exclude_max=True, allow_nan=False),
                   st.floats(min_value=1.0), st.just(math.nan)))
def test_label_smoothing_outside_is_one_line_error(v: float) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"train.label_smoothing={_yaml(v)}"])
    assert "train.label_smoothing" in str(err.value) and "\n" not in str(err.value)


@settings(max_examples=30, deadline=None)
@given(name=st.text(min_size=1, max_size=10).filter(lambda s: s not in LR_SCHEDULES))
def test_unknown_lr_schedule_is_one_line_error(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"train.lr_schedule={name!r}"])
    assert "train.lr_schedule" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("schedule", ["cosine", "none"])
def test_lr_step_only_with_the_step_schedule(schedule: str) -> None:
    with pytest.raises(ConfigError, match="train.lr_step applies to train.lr_schedule=step"):
        load_config(None, [f"train.lr_schedule={schedule}", "train.lr_step=5"])


def test_demo_config_keeps_its_optimizer_and_no_scheduler() -> None:
    t = load_config(DEMO).train
    assert (t.lr_schedule, t.lr_step, t.label_smoothing) == ("step", None, 0.0)
    module = _module(lr=t.lr, weight_decay=t.weight_decay, optimizer=t.optimizer,
                     lr_step=t.lr_step, lr_gamma=t.lr_gamma, lr_schedule=t.lr_schedule,
                     label_smoothing=t.label_smoothing)
    opt = _optimizers(module)
    assert type(opt) is torch.optim.Adam  # a bare optimizer: Lightning steps no scheduler
    assert opt.defaults["lr"] == 1e-3 and opt.defaults["weight_decay"] == 0.0


@pytest.mark.parametrize(("train", "kind", "check"), [
    ({"lr_step": 3, "lr_gamma": 0.5}, torch.optim.lr_scheduler.StepLR,
     lambda s: (s.step_size, s.gamma) == (3, 0.5)),
    ({"lr_schedule": "cosine"}, torch.optim.lr_scheduler.CosineAnnealingLR,
     lambda s: (s.T_max, s.eta_min) == (7, 0.0)),
])
def test_schedules_are_torchs(train: dict, kind: type, check: object) -> None:
    out = _optimizers(_module(**train))
    sched = out["lr_scheduler"]
    assert type(sched["scheduler"]) is kind and sched["interval"] == "epoch"
    assert check(sched["scheduler"])  # type: ignore[operator]


def test_none_and_step_without_lr_step_keep_the_lr_constant() -> None:
    for train in ({"lr_schedule": "none"}, {"lr_schedule": "step"}):
        assert isinstance(_optimizers(_module(**train)), torch.optim.Optimizer)


@pytest.mark.parametrize("task", [None, {"heads": ["activity", "identity"],
                                         "identity_names": ["p", "q"],
                                         "loss_weighting": "equal"}])
def test_label_smoothing_zero_is_plain_cross_entropy(task: dict | None) -> None:
    torch.manual_seed(0)
    x = torch.randn(6, 12, 8)
    y = torch.tensor([[0, 1], [1, 0], [2, 1], [0, 0], [1, 1], [2, 0]])
    plain, smooth = _module(task), _module(task, label_smoothing=0.2)
    smooth.load_state_dict(plain.state_dict())
    plain.eval(), smooth.eval()
    batch = (x, y if task else y[:, 0])
    loss0 = plain.training_step(batch, 0)
    out = plain(x)
    logits = out["activity"] if task else out
    expected = F.cross_entropy(logits, y[:, 0])
    if task:
        expected = expected + F.cross_entropy(out["identity"], y[:, 1])
    assert torch.equal(loss0, expected)  # bit for bit: the default changes nothing
    logp = logits.log_softmax(1)
    want = 0.8 * F.nll_loss(logp, y[:, 0]) + 0.2 * (-logp.mean(1)).mean()
    if task:
        lp = out["identity"].log_softmax(1)
        want = want + 0.8 * F.nll_loss(lp, y[:, 1]) + 0.2 * (-lp.mean(1)).mean()
    assert torch.allclose(smooth.training_step(batch, 0), want, atol=1e-6)


def test_a_run_passes_schedule_and_smoothing_to_torch(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from harlab.training import train

    data = tmp_path / "data"
    data.mkdir()
    for i, subject in enumerate(["s1", "s2", "s3"]):
        df = synthetic_recording(20, seed=i)
        df.insert(0, "session", "1")
        df.insert(0, "subject", subject)
        df.to_csv(data / f"{subject}.csv", index=False)
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    base = ["data.dataset=custom", f"data.path={data}", "data.window.length=32",
            "data.window.step=16", "data.split.kind=random", "model.name=danhar",
            "model.options.channels=[4]", "model.options.head=gap", "train.max_epochs=3",
            "train.precision=32-true", "train.progress=false", "train.patience=null",
            f"output_dir={tmp_path / 'runs'}"]
    runs = {}
    for name, extra in (("default", []), ("cosine", ["train.lr_schedule=cosine",
                                                    "train.label_smoothing=0.1"])):
        run_dir = train(load_config(None, [*base, f"name={name}", *extra])).run_dir
        runs[name] = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert runs["default"]["lr_schedulers"] == []
    assert runs["default"]["hyper_parameters"]["label_smoothing"] == 0.0
    sched = runs["cosine"]["lr_schedulers"][0]
    assert sched["T_max"] == 3 and sched["last_epoch"] == 3
    assert np.isclose(sched["_last_lr"][0], 0.0, atol=1e-12)  # cosine reached its end
    assert runs["cosine"]["hyper_parameters"]["label_smoothing"] == 0.1
