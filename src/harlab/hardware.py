"""What machine is this: CPU model and matrix instruction sets, read once from /proc/cpuinfo.

One place for the CPU description so that precision choice (``precision: auto``), the
benchmarks and every reproduction report agree on what the machine can do. Off Linux
(no /proc/cpuinfo) the model falls back to :mod:`platform` and every flag is False.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from harlab.errors import ConfigError

#: Instruction sets that decide whether bf16 / int8 matrix maths is native on a CPU.
MATRIX_FLAGS = ("amx_bf16", "amx_tile", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f")


@functools.cache
def _cpuinfo(path: str = "/proc/cpuinfo") -> tuple[str, frozenset[str]]:
    """(model name, flags of the first CPU listed); ("", {}) where the file is unreadable."""
    try:
        text = Path(path).read_text()
    except OSError:
        return "", frozenset()
    model, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
        if model and flags:
            break
    return model, flags


def cpu_model() -> str:
    """The CPU's marketing name, or what :mod:`platform` knows where /proc/cpuinfo is absent."""
    return _cpuinfo()[0] or platform.processor() or platform.machine() or "unknown"


def matrix_flags() -> dict[str, bool]:
    """Which of :data:`MATRIX_FLAGS` the CPU lists (all False off Linux)."""
    flags = _cpuinfo()[1]
    return {f: f in flags for f in MATRIX_FLAGS}


#: Vector/matrix tiers, fastest first: (label, any of these /proc/cpuinfo flags).
ISA_TIERS = (("AMX", ("amx_bf16", "amx_tile")), ("AVX512-BF16", ("avx512_bf16",)),
             ("AVX512", ("avx512f",)), ("AVX2", ("avx2",)), ("AVX", ("avx",)))


def isa_level(flags: frozenset[str] | set[str] | None = None) -> str:
    """The fastest vector/matrix tier the CPU lists (``AMX`` ... ``AVX``); "" if none/unknown.

    Two machines with one marketing name (cloud VMs report just "AMD EPYC") can differ
    here, and with it in training speed by 2-3x, so reports compare CPUs by name and tier.
    """
    have = _cpuinfo()[1] if flags is None else flags
    return next((label for label, names in ISA_TIERS if any(f in have for f in names)), "")


def cpu_id() -> str:
    """The CPU's name and vector tier, e.g. ``AMD EPYC [AVX2]``: what a training time means."""
    isa = isa_level()
    return cpu_model() + (f" [{isa}]" if isa else "")


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AMX or AVX512-BF16).

    Without them bf16 autocast is emulated and runs several times slower than fp32.
    """
    flags = matrix_flags()
    return flags["amx_bf16"] or flags["avx512_bf16"]


#: ``gemm`` / ``onednn`` force how DanHAR's time convolutions run on the CPU; ``auto`` picks
TIME_CONV_ENV = "HARLAB_TIME_CONV"
TIME_CONV_PATHS = ("auto", "gemm", "onednn")
#: Under bf16, strided time convs with at most this many output steps stay on the GEMM path.
SHORT_STRIDED_STEPS = 12


def time_conv_path(steps_out: int = 0, stride: int = 1, bf16: bool = False) -> str:
    """How (k, 1) time convolutions run on the CPU: ``gemm`` (GEMMs on rows) or ``onednn``
    (oneDNN convolutions on the same memory); ``$HARLAB_TIME_CONV`` overrides the choice.

    By CPU: MKL runs its AVX2 kernels on AVX-512 CPUs that are not Intel's, so there
    oneDNN's convolutions are about 2x faster (measured on an AVX512-BF16 AMD EPYC, see
    docs/performance.md); on Intel CPUs and AVX2-only CPUs MKL's GEMMs measured faster.
    By shape, where the CPU picks ``onednn``: a conv of ``stride`` > 1 whose output has
    ``steps_out`` <= :data:`SHORT_STRIDED_STEPS` steps runs on ``gemm`` when ``bf16``
    (autocast or bf16 tensors). There the GEMMs run in oneDNN too, the strided conv and its
    shortcut share one im2col, and oneDNN's strided backward over so few steps is slow:
    per layer (forward + backward, conv + shortcut) the GEMM path took 0.71x the time at
    4 steps and 0.91x at 12, 0.95-1.04x at 13-28; in fp32 and for stride 1 oneDNN won at
    every measured shape. ``steps_out`` 0 (unknown) gives the CPU's choice.
    A bad ``$HARLAB_TIME_CONV`` raises ConfigError naming the variable.
    """
    choice = os.environ.get(TIME_CONV_ENV, "auto").strip() or "auto"
    if choice not in TIME_CONV_PATHS:
        raise ConfigError(f"${TIME_CONV_ENV}: invalid value {choice!r}; valid: "
                          + ", ".join(TIME_CONV_PATHS))
    if choice != "auto":
        return choice
    if not _mkl_runs_narrow():
        return "gemm"
    short = 0 < steps_out <= SHORT_STRIDED_STEPS
    return "gemm" if bf16 and stride > 1 and short else "onednn"


def _mkl_runs_narrow() -> bool:
    model, flags = _cpuinfo()
    return "avx512f" in flags and bool(model) and "intel" not in model.lower()


def on_cuda(accelerator: str) -> bool:
    """Whether a Lightning ``accelerator`` setting trains on a CUDA GPU in this process:
    ``gpu``/``cuda``, or ``auto`` (Lightning's choice), where ``torch.cuda`` has a device.

    The CPU-only tweaks (:func:`reuse_freed_memory`) and the CPU's bf16 test stay off that
    path, and scoring after training runs on the same device.
    """
    if str(accelerator) not in ("gpu", "cuda", "auto"):
        return False
    import torch

    return torch.cuda.is_available()


def cuda_has_bf16() -> bool:
    """True when the current CUDA device computes bf16 natively (Ampere or later)."""
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.5 has no emulation flag and answers for native bf16
        return bool(torch.cuda.is_bf16_supported())


#: glibc ``mallopt`` parameters (``<malloc.h>``)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4
#: set to ``0`` to keep glibc's default allocator behaviour in training processes
MALLOC_ENV = "HARLAB_MALLOC_REUSE"
_malloc_reuse: bool | None = None  # None until reuse_freed_memory() has been called


def reuse_freed_memory() -> bool:
    """Make glibc's malloc keep and reuse freed memory; True when it is in effect.

    By default glibc serves every block above a few MB with a fresh ``mmap`` and returns
    it to the OS on free, so each training step page-faults its large activations in
    again (tens of thousands of faults per DanHAR step, 5-10 % of the step on a 2-vCPU
    VM). Serving them from the heap and never trimming it stops that, at the price of
    the process keeping its peak memory until it exits -- the same trade that the
    jemalloc / tcmalloc preloads of PyTorch's CPU tuning guide make. Called by training
    (``fit_module``), batch inference (``predict_heads``), radar simulation
    (:func:`process_pool` workers included) and the benchmarks, never at import; later
    calls return the first call's answer. Off glibc, or with ``HARLAB_MALLOC_REUSE=0``,
    it changes nothing and returns False.
    """
    global _malloc_reuse
    if _malloc_reuse is None:
        _malloc_reuse = _set_mallopt()
    return _malloc_reuse


def malloc_reuse_active() -> bool:
    """Whether :func:`reuse_freed_memory` has taken effect in this process (changes nothing)."""
    return bool(_malloc_reuse)


def _set_mallopt() -> bool:
    if os.environ.get(MALLOC_ENV, "1").strip() in ("0", "false", "no", "off"):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # heap only (no mmap'd blocks), never give the top of the heap back, grow it in 64 MB
    return bool(libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
                and libc.mallopt(_M_TOP_PAD, 64 << 20))


def process_pool(workers: int, mp_context: Any = None) -> ProcessPoolExecutor:
    """A process pool whose workers keep freed memory too, whatever the start method (a
    forked worker inherits the parent's setting, a spawned one would not)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp_context,
                               initializer=reuse_freed_memory)


def hardware() -> dict[str, Any]:
    """What ran an experiment: CPU model and matrix flags, CPUs, OS, torch threads, GPUs.

    One record for every reproduction report and benchmark, so tables from different
    machines say which machine made them and whether bf16 could have been native there.
    """
    import torch

    gpus = ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if torch.cuda.is_available() else [])
    return {"cpu": cpu_model(), "cpu_id": cpu_id(), "cpu_tier": isa_level(),
            "cpus": os.cpu_count(),
            "cpu_matrix_flags": matrix_flags(),
            "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
            "malloc_reuse": malloc_reuse_active(),
            "torch": torch.__version__, "python": platform.python_version(), "gpus": gpus}


def training_conditions() -> dict[str, Any]:
    """When, on which CPU, with how many threads and under what load a model was trained.

    Training times compare only between models trained under the same conditions; a resumed
    reproduction mixes models from several sessions, so every run keeps its own record
    (load average: 1, 5 and 15 minutes, read at the end of training).
    """
    import torch

    load = ([round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg")
            else None)  # not on Windows
    return {"trained_at": datetime.now().isoformat(timespec="seconds"), "cpu": cpu_id(),
            "threads": torch.get_num_threads(), "load_average": load}


def same_cpu(a: str, b: str) -> bool:
    """Whether two CPU records (:func:`cpu_id`: name and vector tier) name one kind of
    machine."""
    return a == b


def report_cpu(hw: Mapping[str, Any]) -> str | None:
    """The CPU of a :func:`hardware` record in :func:`cpu_id` form."""
    return hw.get("cpu_id")


def cpu_note(runs: list[dict[str, Any]], cpu: str | None, noun: str = "Runs") -> str | None:
    """A sentence when ``runs`` were not all trained on ``cpu`` (the CPU writing the report):
    their training times then come from another machine. None when they were.

    CPUs are compared by name and vector tier (:func:`same_cpu`): two cloud VMs both called
    "AMD EPYC", one with AVX512-BF16 and one with AVX2 only, are different machines."""
    cpus = sorted({r["cpu"] for r in runs if r.get("cpu")})
    pool = cpus + ([cpu] if cpu else [])
    if all(same_cpu(x, y) for x in pool for y in pool):
        return None
    where = (f"different CPUs ({'; '.join(cpus)})" if len(cpus) > 1 else cpus[0])
    return f"{noun} were trained on {where}, this report was written on {cpu or 'an unknown CPU'}."


def hardware_line(hw: Mapping[str, Any]) -> str:
    """One readable line of a :func:`hardware` record."""
    cpu = hw.get("cpu") or "unknown CPU"
    cpus = hw.get("cpus", "?")
    gpus = hw.get("gpus") or []
    flags = hw.get("cpu_matrix_flags")
    bf16 = ""
    if flags:
        native = [n for f, n in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"))
                  if flags.get(f)]
        bf16 = ", bf16: " + ("native (" + ", ".join(native) + ")" if native else "emulated")
    tier = f", vector: {hw['cpu_tier']}" if hw.get("cpu_tier") else ""
    return (f"{cpu} ({cpus} CPUs" + bf16 + tier
            + (f", GPU: {', '.join(gpus)}" if gpus else "") + ")"
            + (f", {hw['platform']}" if hw.get("platform") else "")
            + f", torch {hw.get('torch', '?')} ({hw.get('torch_threads', '?')} threads)"
            + (", freed memory kept for reuse" if hw.get("malloc_reuse") else ""))
