"""Training-window augmentation (``train.augment``): shapes, what each option does,
determinism by seed, training part only, and off = the unaugmented batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harlab.config import load_config
from harlab.data.augment import augment_batch, batch_generator
from harlab.data.datamodule import WindowDataModule
from harlab.errors import ConfigError


def _frames(n: int = 12, t: int = 20, c: int = 10) -> np.ndarray:
    return np.random.default_rng(0).random((n, t, c), dtype=np.float32) + 0.5


def _batches(dm: WindowDataModule, part: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader = {"train": dm.train_dataloader, "val": dm.val_dataloader}[part]()
    return list(loader)


def test_time_shift_moves_whole_windows_and_fills_with_zero() -> None:
    x = torch.from_numpy(_frames())
    out = augment_batch(x, {"time_shift": 0.25}, batch_generator(0, range(12)))
    assert out.shape == x.shape and not torch.equal(out, x)
    for i in range(len(x)):
        zero_rows = (out[i] == 0).all(dim=1)
        k = int(zero_rows.sum())
        assert k <= 5  # round(0.25 * 20)
        if k and bool(zero_rows[0]):  # shifted later in time
            assert torch.equal(out[i, k:], x[i, :-k])
        elif k:
            assert torch.equal(out[i, :-k], x[i, k:])
        else:
            assert torch.equal(out[i], x[i])


def test_doppler_shift_moves_channels_and_noise_adds_its_std() -> None:
    x = torch.from_numpy(_frames(n=64))
    out = augment_batch(x, {"doppler_shift": 2}, batch_generator(1, range(64)))
    shifts = set()
    for i in range(len(x)):
        for s in range(-2, 3):
            ref = torch.zeros_like(x[i])
            if s >= 0:
                ref[:, s:] = x[i, :, :x.shape[2] - s]
            else:
                ref[:, :s] = x[i, :, -s:]
            if torch.equal(out[i], ref):
                shifts.add(s)
                break
        else:
            raise AssertionError(f"window {i} is not a shift of at most 2 channels")
    assert shifts == {-2, -1, 0, 1, 2}
    noisy = augment_batch(x, {"noise_std": 0.1}, batch_generator(1, range(64)))
    assert float((noisy - x).std()) == pytest.approx(0.1, rel=0.05)
    assert torch.equal(x, torch.from_numpy(_frames(n=64)))  # the input is not changed


def test_augmented_loader_is_deterministic_by_seed_and_leaves_validation_alone() -> None:
    x = {"train": _frames(), "val": _frames(6)}
    y = {"train": np.arange(12) % 3, "val": np.arange(6) % 3}
    aug = {"time_shift": 0.2, "doppler_shift": 1, "noise_std": 0.05}
    plain = WindowDataModule(x, y, batch_size=4, seed=3)
    a = WindowDataModule(x, y, batch_size=4, seed=3, augment=aug)
    b = WindowDataModule(x, y, batch_size=4, seed=3, augment=aug)
    c = WindowDataModule(x, y, batch_size=4, seed=4, augment=aug)
    for (xa, ya), (xb, yb), (xp, yp) in zip(_batches(a, "train"), _batches(b, "train"),
                                            _batches(plain, "train"), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(ya, yp)
        assert xa.shape == xp.shape and not torch.equal(xa, xp)
    assert not torch.equal(_batches(a, "train")[0][0], _batches(c, "train")[0][0])
    for (xa, _), (xp, _) in zip(_batches(a, "val"), _batches(plain, "val"), strict=True):
        assert torch.equal(xa, xp)
    # another epoch draws other batches, so other augmentations
    first = [xb for xb, _ in _batches(a, "train")]
    loader = a.train_dataloader()
    loader.sampler.set_epoch(1)
    second = [xb for xb, _ in loader]
    assert not any(torch.equal(p, q) for p, q in zip(first, second, strict=True))


def test_augment_off_gives_the_unaugmented_batches() -> None:
    x = {"train": _frames(), "val": _frames(6)}
    y = {"train": np.arange(12) % 3, "val": np.arange(6) % 3}
    ref = WindowDataModule(x, y, batch_size=5, seed=1)
    for off in (None, {}):
        dm = WindowDataModule(x, y, batch_size=5, seed=1, augment=off)
        for (xa, ya), (xr, yr) in zip(_batches(dm, "train"), _batches(ref, "train"), strict=True):
            assert torch.equal(xa, xr) and torch.equal(ya, yr)
    assert load_config(None).train.augment == {}


def test_augment_settings_load_from_set() -> None:
    cfg = load_config(None, ["train.augment={time_shift: 0.1, doppler_shift: 2, noise_std: 0.02}"])
    assert cfg.train.augment == {"time_shift": 0.1, "doppler_shift": 2, "noise_std": 0.02}


@pytest.mark.parametrize("override, message", [
    ("train.augment={time_shft: 0.1}", "unknown config key 'train.augment.time_shft'"),
    ("train.augment={time_shift: 1.0}", "train.augment.time_shift must be a fraction"),
    ("train.augment={time_shift: -0.1}", "train.augment.time_shift must be a fraction"),
    ("train.augment={doppler_shift: 1.5}", "train.augment.doppler_shift must be a whole"),
    ("train.augment={doppler_shift: true}", "train.augment.doppler_shift must be a whole"),
    ("train.augment={noise_std: .nan}", "train.augment.noise_std must be a number >= 0"),
    ("train.augment={noise_std: -1}", "train.augment.noise_std must be a number >= 0"),
    ("train.augment=[1]", "train.augment must be a mapping"),
])
def test_bad_augment_settings_are_one_line_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value) and "\n" not in str(err.value)
