"""The device-agnostic side of GPU support, on the CPU: which device and precision a run
gets, that CPU-only tweaks stay on the CPU, and that scoring follows the module's device.

``tests/gpu/test_cuda.py`` runs the same code on a real CUDA device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harlab import hardware
from harlab.config import load_config, resolve_precision
from harlab.tasks.predict import module_device, predict_heads


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch):
    """Pretend a CUDA device is present; the argument says whether it has native bf16."""

    def install(bf16: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda **_: bf16)

    return install


@pytest.mark.parametrize("accelerator", ["gpu", "cuda", "auto"])
@pytest.mark.parametrize("gpu_bf16", [True, False])
@pytest.mark.parametrize("cpu_bf16", [True, False])
def test_auto_precision_on_a_gpu_is_the_gpus_answer_not_the_cpus(
    fake_cuda, monkeypatch: pytest.MonkeyPatch, accelerator: str, gpu_bf16: bool,
    cpu_bf16: bool,
) -> None:
    fake_cuda(gpu_bf16)
    monkeypatch.setattr(hardware, "cpu_has_fast_bf16", lambda: cpu_bf16)
    assert hardware.on_cuda(accelerator)
    assert resolve_precision("auto", accelerator) == ("bf16-mixed" if gpu_bf16 else "32-true")
    # CPU training on the same machine still asks the CPU
    assert not hardware.on_cuda("cpu")
    assert resolve_precision("auto", "cpu") == ("bf16-mixed" if cpu_bf16 else "32-true")
    assert resolve_precision("32-true", accelerator) == "32-true"  # explicit wins


@pytest.mark.parametrize("cpu_bf16", [True, False])
def test_without_cuda_auto_is_the_cpu_and_gpu_is_not_cuda(
    monkeypatch: pytest.MonkeyPatch, cpu_bf16: bool
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(hardware, "cpu_has_fast_bf16", lambda: cpu_bf16)
    assert not any(hardware.on_cuda(a) for a in ("cpu", "auto", "gpu", "cuda", "mps"))
    assert not hardware.cuda_has_bf16()
    want = "bf16-mixed" if cpu_bf16 else "32-true"
    assert resolve_precision("auto", "auto") == resolve_precision("auto", "cpu") == want
    assert resolve_precision("auto", "mps") == "bf16-mixed"  # another accelerator: as before


def test_cuda_bf16_answer_on_torch_without_the_emulation_flag(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    def old_api(**kwargs: object) -> bool:  # torch < 2.5: no including_emulation
        if kwargs:
            raise TypeError("unexpected keyword argument 'including_emulation'")
        return True

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", old_api)
    assert hardware.cuda_has_bf16()


def test_module_device_and_scoring_stay_on_the_cpu_for_cpu_modules() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    assert module_device(model) == torch.device("cpu")
    assert module_device(nn.Flatten()) == torch.device("cpu")  # no parameters at all
    x = np.random.default_rng(0).standard_normal((600, 4, 3)).astype(np.float32)
    probs = predict_heads(model, x, batch_size=256)["activity"]
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
    assert probs.shape == (600, 3) and np.allclose(probs, want, atol=1e-6)


def test_a_cpu_run_scores_its_module_where_it_is() -> None:
    from harlab.training import scoring_module

    cfg = load_config(None, ["train.accelerator=cpu"])
    model = nn.Linear(2, 2)
    assert scoring_module(model, cfg) is model  # type: ignore[arg-type]


def test_fit_module_leaves_the_allocator_alone_on_a_gpu(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path
                                                        ) -> None:
    """The glibc tweak is for CPU activations; fit_module skips it for a CUDA accelerator
    (the Trainer itself is stubbed: there is no GPU here)."""
    import harlab.training as training

    calls: list[str] = []
    monkeypatch.setattr(training, "reuse_freed_memory", lambda: calls.append("reuse"))

    class _Stop(Exception):
        pass

    def no_trainer(**kwargs: object) -> None:
        calls.append(str(kwargs["accelerator"]))
        raise _Stop

    monkeypatch.setattr(training.L, "Trainer", no_trainer)
    for accelerator, cuda in (("cpu", True), ("gpu", True), ("gpu", False)):
        monkeypatch.setattr(torch.cuda, "is_available", lambda c=cuda: c)
        with pytest.raises(_Stop):
            training.fit_module(nn.Linear(1, 1), None, tmp_path,
                                max_epochs=1, accelerator=accelerator)
    assert calls == ["reuse", "cpu", "gpu", "reuse", "gpu"]
