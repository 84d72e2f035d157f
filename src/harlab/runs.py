"""Run directories and checkpoints.

A run directory is created once with a unique name and never overwritten. Checkpoints
are read with ``torch.load(weights_only=True)``: no arbitrary objects are unpickled,
and a file that is not a harlab checkpoint gives a clear CheckpointError.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from harlab.errors import CheckpointError

RUN_ENV = "HARLAB_RUN_DIR"
MARKER = "harlab-run"


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-") or "run"


def _numbered(root: Path, base: str, i: int, ext: str = "") -> Path:
    """Attempt ``i`` of ``base``: ``base``, then ``base-2``, ``base-3``..."""
    return root / f"{base}{'' if i == 1 else f'-{i}'}{ext}"


def attempts(root: Path, base: str, ext: str = "") -> list[Path]:
    """The paths :func:`first_free` has created for ``base``, oldest first."""
    out: list[Path] = []
    while (p := _numbered(root, base, len(out) + 1, ext)).exists():
        out.append(p)
    return out


def first_free(root: Path, base: str, create: Callable[[Path], object], ext: str = "") -> Path:
    """Create ``root/<base><ext>``, or ``<base>-2<ext>``, ``-3``... if taken; never reuse.

    ``create(path)`` must raise FileExistsError when the path exists (``Path.mkdir``,
    ``open(path, "xb")``), so two processes never get the same name.
    """
    for i in range(1, 1000):
        path = _numbered(root, base, i, ext)
        try:
            create(path)
        except FileExistsError:
            continue
        return path
    raise CheckpointError(f"could not create a new {base}{ext} under {root}")


def keep_before_resume(path: Path, data: bytes | None = None) -> Path:
    """Copy an aggregate (``results.json``) to ``results.before-resume-<time>.json`` beside
    it before a resume rewrites it; never overwrites an earlier copy. ``data``: the bytes
    already read (default: read ``path``)."""
    content = path.read_bytes() if data is None else data

    def keep(target: Path) -> None:
        with target.open("xb") as fh:  # "x": FileExistsError if taken
            fh.write(content)

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return first_free(path.parent, f"{path.stem}.before-resume-{stamp}", keep, path.suffix)


def copy_finished_run(src: Path, dest: Path) -> None:
    """Copy run directory ``src`` into the (new, empty) ``dest``, ``metrics.json`` last, so
    an interrupted copy is never taken for a finished run."""
    shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("metrics.json"))
    shutil.copy2(src / "metrics.json", dest / "metrics.json")


def create_run_dir(output_dir: str | Path, name: str) -> Path:
    """Create ``output_dir/<timestamp>_<name>`` (suffix -2, -3... if taken); never reuse."""
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = first_free(root, f"{stamp}_{_slug(name)}", Path.mkdir)
    (path / ".harlab-run").write_text(MARKER + "\n")
    return path


# Set by the launchers harlab can run under: Lightning's own DDP launcher (LOCAL_RANK,
# NODE_RANK), torchrun (RANK, LOCAL_RANK) and SLURM (SLURM_PROCID).
RANK_VARS = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


def _nonzero_rank() -> str | None:
    """The first non-zero rank a launcher set for this process, if any."""
    for v in RANK_VARS:
        value = os.environ.get(v, "0").strip()
        if value not in ("", "0"):
            return value
    return None


def is_main_process() -> bool:
    """True unless a launcher marked this process as a non-zero rank."""
    return _nonzero_rank() is None


def inherited_run_dir() -> Path | None:
    """Where a non-main DDP process works; None in the main process (it creates the run).

    Processes started by Lightning inherit ``HARLAB_RUN_DIR`` from rank 0. Processes started
    by torchrun or SLURM on other nodes cannot see rank 0's new directory; they only need a
    valid location (rank 0 alone writes logs, checkpoints and results, and Lightning
    broadcasts the checkpoint directory), so they get a private scratch directory.
    """
    rank = _nonzero_rank()
    if rank is None:
        return None
    env = os.environ.get(RUN_ENV)
    if env:
        return Path(env)
    return Path(tempfile.mkdtemp(prefix=f"harlab-rank{_slug(rank)}-"))


def check_run_dir(run_dir: str | Path) -> Path:
    p = Path(run_dir)
    if not p.is_dir():
        raise CheckpointError(f"run directory not found: {p}")
    if not (p / "config.yaml").is_file():
        raise CheckpointError(f"{p} is not a harlab run directory (no config.yaml)")
    return p


def best_checkpoint(run_dir: Path) -> Path:
    for name in ("best.ckpt", "last.ckpt"):
        ck = run_dir / "checkpoints" / name
        if ck.is_file():
            return ck
    raise CheckpointError(f"{run_dir}: no checkpoint found in {run_dir / 'checkpoints'}")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a harlab/Lightning checkpoint safely (weights only) and check it is ours."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{p}: not a readable checkpoint (corrupt, truncated or containing non-weight "
            f"objects): {first[:200]}"
        ) from None
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if (
        not isinstance(hp, dict)
        or not isinstance(hp.get("harlab"), dict)
        or "state_dict" not in ckpt
    ):
        raise CheckpointError(f"{p}: not a harlab checkpoint (no harlab hyperparameters)")
    return ckpt


def load_module(path: str | Path) -> Any:
    """Rebuild the WindowClassifier stored in a checkpoint, in eval mode."""
    from harlab.tasks.classifier import WindowClassifier

    ckpt = read_checkpoint(path)
    hp = dict(ckpt["hyper_parameters"])
    try:
        module = WindowClassifier(**hp)
        module.load_state_dict(ckpt["state_dict"], strict=True)
    except (TypeError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path}: checkpoint does not match its model: {exc}") from None
    return module.eval()
