"""The one CPU description: /proc/cpuinfo parsing, bf16 decision, report line."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from harlab import hardware as hwmod
from harlab.config import resolve_precision

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu avx512f avx512_vnni {extra}

processor\t: 1
model name\t: Other CPU
flags\t\t: fpu
"""


@pytest.fixture
def fake_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Returns a writer: the module then reads that cpuinfo text instead of the machine's."""
    parse = hwmod._cpuinfo.__wrapped__  # the uncached parser

    def write(extra: str) -> None:
        p = tmp_path / "cpuinfo"
        p.write_text(CPUINFO.format(extra=extra))
        monkeypatch.setattr(hwmod, "_cpuinfo", lambda: parse(str(p)))

    return write


def test_amx_cpu_is_fast_bf16(fake_cpuinfo) -> None:
    fake_cpuinfo("amx_bf16 amx_tile amx_int8")
    assert hwmod.cpu_model() == "Intel(R) Xeon(R) Platinum 8480+"  # first CPU's name
    flags = hwmod.matrix_flags()
    assert flags["amx_bf16"] and flags["avx512_vnni"] and not flags["avx512_bf16"]
    assert hwmod.cpu_has_fast_bf16()
    assert resolve_precision("auto", "cpu") == "bf16-mixed"


def test_vnni_only_cpu_emulates_bf16(fake_cpuinfo) -> None:
    fake_cpuinfo("avx512_bf16x")  # a longer word that only contains a flag's name
    assert not hwmod.cpu_has_fast_bf16()
    assert resolve_precision("auto", "cpu") == "32-true"
    assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"  # explicit wins
    line = hwmod.hardware_line({**hwmod.hardware(), "cpus": 2})
    assert "Platinum 8480+ (2 CPUs, bf16: emulated" in line


def test_unreadable_cpuinfo_means_no_flags(tmp_path: Path) -> None:
    model, flags = hwmod._cpuinfo.__wrapped__(str(tmp_path / "absent"))
    assert model == "" and flags == frozenset()


def test_native_bf16_is_named_in_the_line() -> None:
    rec = {"cpu": "X", "cpus": 16, "torch": "2.13.0", "torch_threads": 16,
           "cpu_matrix_flags": {"amx_bf16": True, "avx512_bf16": True}}
    assert hwmod.hardware_line(rec) == (
        "X (16 CPUs, bf16: native (AMX, AVX512-BF16)), torch 2.13.0 (16 threads)")
    assert hwmod.hardware_line({**rec, "malloc_reuse": True}).endswith(
        "(16 threads), freed memory kept for reuse")


_FAULTS = """
import ctypes, resource
from harlab.hardware import reuse_freed_memory
on = reuse_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 128 << 20
def touch():
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)  # write every page, as a tensor's first use does
    return p
libc.free(touch())
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
libc.free(touch())  # the same size again
print(int(on), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
@pytest.mark.parametrize("env", ["1", "0"])
def test_reuse_freed_memory_stops_page_faults_on_reallocation(env: str) -> None:
    """With reuse on, a second 128 MB block comes from the kept heap (no page faults);
    glibc's default mmaps it afresh and faults in every page (~32k); the variable opts out."""
    out = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True,
                         env={**os.environ, "HARLAB_MALLOC_REUSE": env}, check=True)
    on, faults = map(int, out.stdout.split())
    if env == "1":
        assert on == 1 and faults < 2000
    else:
        assert on == 0 and faults > 20000


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_process_pool_workers_keep_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers of process_pool() report reuse in effect, with fork and with spawn (where
    nothing is inherited and only the initializer can switch it on)."""
    import multiprocessing

    monkeypatch.delenv(hwmod.MALLOC_ENV, raising=False)
    with hwmod.process_pool(1) as ex:
        assert ex.submit(hwmod.malloc_reuse_active).result() is True
    with hwmod.process_pool(1, multiprocessing.get_context("spawn")) as ex:
        assert ex.submit(hwmod.malloc_reuse_active).result() is True


def test_cpu_note_names_the_cpus_only_when_they_are_not_all_this_one() -> None:
    from harlab.hardware import cpu_note

    a, b = {"cpu": "CPU A"}, {"cpu": "CPU B"}
    assert cpu_note([a, a, {}], "CPU A") is None  # a run without a record says nothing
    assert cpu_note([], "CPU A") is None
    assert cpu_note([a, b], "CPU A") == (
        "Runs were trained on different CPUs (CPU A; CPU B), this report was written on CPU A.")
    # all on one machine, the table rewritten (a resume with nothing new) on another
    assert cpu_note([a], "CPU B", "Rows") == (
        "Rows were trained on CPU A, this report was written on CPU B.")


def test_vector_tier_tells_same_named_cpus_apart(fake_cpuinfo) -> None:
    # the two "AMD EPYC" VMs this project has run on: AVX512-BF16, and AVX2 only
    assert hwmod.isa_level(frozenset({"fpu", "avx", "avx2", "fma"})) == "AVX2"
    assert hwmod.isa_level({"avx2", "avx512f", "avx512_bf16"}) == "AVX512-BF16"
    assert hwmod.isa_level({"avx512f", "amx_tile"}) == "AMX"
    assert hwmod.isa_level({"avx512_bf16x"}) == ""  # whole flags only; none known
    fake_cpuinfo("avx2")
    assert hwmod.cpu_id() == "Intel(R) Xeon(R) Platinum 8480+ [AVX512]"
    hw = hwmod.hardware()
    assert hw["cpu_id"] == hwmod.cpu_id() and hwmod.report_cpu(hw) == hw["cpu_id"]
    assert hwmod.training_conditions()["cpu"] == hwmod.cpu_id()
    assert ", vector: AVX512)" in hwmod.hardware_line({**hw, "cpus": 2})


def test_cpu_note_compares_name_and_vector_tier() -> None:
    from harlab.hardware import cpu_note, same_cpu

    fast, slow = {"cpu": "AMD EPYC [AVX512-BF16]"}, {"cpu": "AMD EPYC [AVX2]"}
    assert cpu_note([fast, fast], "AMD EPYC [AVX512-BF16]") is None
    assert cpu_note([fast], "AMD EPYC [AVX2]", "Rows") == (
        "Rows were trained on AMD EPYC [AVX512-BF16], this report was written on "
        "AMD EPYC [AVX2].")
    assert cpu_note([fast, slow], "AMD EPYC [AVX2]") == (
        "Runs were trained on different CPUs (AMD EPYC [AVX2]; AMD EPYC [AVX512-BF16]), this "
        "report was written on AMD EPYC [AVX2].")
    # one name, two vector tiers: two kinds of machine (cloud VMs differ 2-3x in speed)
    assert not same_cpu("AMD EPYC [AVX512-BF16]", "AMD EPYC [AVX2]")
    assert same_cpu("AMD EPYC [AVX2]", "AMD EPYC [AVX2]")


_PREDICT = """
import numpy as np, torch
from harlab import hardware
from harlab.tasks.predict import predict_heads
before = hardware.malloc_reuse_active()
probs = predict_heads(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)),
                      np.zeros((5, 4, 3), np.float32))
print(int(before), int(hardware.malloc_reuse_active()), probs["activity"].shape)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_batch_inference_keeps_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """predict_heads (used to re-score reloaded models and by evaluate) turns reuse on:
    scoring radar frames with glibc's default allocator was 2.5x slower, mostly page faults."""
    monkeypatch.delenv(hwmod.MALLOC_ENV, raising=False)
    out = subprocess.run([sys.executable, "-c", _PREDICT], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["0", "1", "(5,", "3)"]


@pytest.mark.parametrize(
    ("model", "flags", "expected"),
    [("Intel(R) Xeon(R) Platinum 8480+", "avx2 avx512f amx_bf16", "gemm"),
     ("AMD EPYC", "avx2 avx512f avx512_bf16", "onednn"),  # MKL runs AVX2 kernels there
     ("AMD EPYC", "avx2", "gemm"),
     ("", "avx512f", "gemm")],  # unknown CPU: keep the GEMM path
)
def test_time_conv_path_follows_the_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        model: str, flags: str, expected: str) -> None:
    p = tmp_path / "cpuinfo"
    p.write_text(f"processor\t: 0\nmodel name\t: {model}\nflags\t\t: fpu {flags}\n")
    parse = hwmod._cpuinfo.__wrapped__
    monkeypatch.setattr(hwmod, "_cpuinfo", lambda: parse(str(p)))
    monkeypatch.delenv(hwmod.TIME_CONV_ENV, raising=False)
    assert hwmod.time_conv_path() == expected
    monkeypatch.setenv(hwmod.TIME_CONV_ENV, "onednn" if expected == "gemm" else "gemm")
    assert hwmod.time_conv_path() != expected


def _fake_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, flags: str) -> None:
    p = tmp_path / "cpuinfo"
    p.write_text(f"processor\t: 0\nmodel name\t: {model}\nflags\t\t: fpu {flags}\n")
    parse = hwmod._cpuinfo.__wrapped__
    monkeypatch.setattr(hwmod, "_cpuinfo", lambda: parse(str(p)))
    monkeypatch.delenv(hwmod.TIME_CONV_ENV, raising=False)


@pytest.mark.parametrize(
    ("steps", "stride", "bf16", "expected"),
    [(4, 2, True, "gemm"), (12, 2, True, "gemm"),  # short strided bf16 convs: GEMM path
     (13, 2, True, "onednn"), (98, 2, True, "onednn"),
     (4, 1, True, "onednn"),  # stride 1 stays on oneDNN
     (4, 2, False, "onednn"),  # fp32 stays on oneDNN
     (0, 2, True, "onednn")],  # unknown length: the CPU's choice
)
def test_time_conv_path_by_shape_on_amd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        steps: int, stride: int, bf16: bool,
                                        expected: str) -> None:
    _fake_cpu(tmp_path, monkeypatch, "AMD EPYC", "avx2 avx512f avx512_bf16")
    assert hwmod.time_conv_path(steps, stride, bf16) == expected
    for forced in ("gemm", "onednn"):  # the variable overrides the shape rule too
        monkeypatch.setenv(hwmod.TIME_CONV_ENV, forced)
        assert hwmod.time_conv_path(steps, stride, bf16) == forced


def test_time_conv_path_shape_rule_only_where_the_cpu_picks_onednn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cpu(tmp_path, monkeypatch, "Intel(R) Xeon(R) Platinum 8480+", "avx512f amx_bf16")
    assert {hwmod.time_conv_path(s, 2, b) for s in (4, 13, 98) for b in (False, True)} == {
        "gemm"}


def test_bad_time_conv_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from harlab.errors import ConfigError
    from harlab.models.danhar import build_danhar

    monkeypatch.setenv(hwmod.TIME_CONV_ENV, "mkl")
    with pytest.raises(ConfigError, match=r"\$HARLAB_TIME_CONV: invalid value 'mkl'"):
        build_danhar((64, 5), 4, channels=(8, 8, 8))
