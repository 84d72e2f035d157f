"""Run directories and checkpoints.

A run directory is created once with a unique name and never overwritten. Checkpoints
are read with ``torch.load(weights_only=True)``: no arbitrary objects are unpickled,
and a file that is not a harlab checkpoint gives a clear CheckpointError.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from harlab.errors import CheckpointError
from harlab.fileio import fsync_dir, pid_running, write_bytes_atomic

RUN_ENV = "HARLAB_RUN_DIR"
MARKER_FILE = ".harlab-run"
# Version of the run-directory layout (config.yaml, metrics.json, checkpoints/...). Bumped
# when a file changes meaning; directories of another format are refused, not converted.
RUN_FORMAT = 3  # 3: run state and attempts in .harlab-run; frame windows


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


def copy_finished_run(src: Path, dest: Path) -> None:
    """Copy run directory ``src`` into the (new, empty) ``dest``, ``metrics.json`` last, so
    an interrupted copy is never taken for a finished run."""
    shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("metrics.json"))
    shutil.copy2(src / "metrics.json", dest / "metrics.json")


def create_run_dir(output_dir: str | Path, name: str) -> Path:
    """Create ``output_dir/<timestamp>_<name>`` (suffix -2, -3... if taken); never reuse.

    Its marker records state ``running`` and this process's first training attempt.
    """
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = first_free(root, f"{stamp}_{_slug(name)}", Path.mkdir)
    mark_run_dir(path)
    fsync_dir(root)  # the new directory's entry
    return path


# A run's life: ``running`` from creation (and while a resume trains it), ``complete`` once
# metrics.json is written, ``failed`` (with the error) when training raised. A killed run
# stays ``running``.
RUN_STATES = ("running", "complete", "failed")


def mark_run_dir(path: Path) -> None:
    """Record in ``path`` that harlab wrote it, its run format and state ``running``."""
    _write_marker(path, {"harlab_run_format": RUN_FORMAT, "state": "running",
                         "attempts": [_attempt_record()]})


def _attempt_record(**facts: Any) -> dict[str, Any]:
    return {"started": datetime.now().isoformat(timespec="seconds"), "pid": os.getpid(),
            "host": socket.gethostname(), **facts}


def _write_marker(path: Path, record: dict[str, Any]) -> None:
    """Replace the marker atomically: a kill leaves the old marker or the new one."""
    write_bytes_atomic(path / MARKER_FILE, (json.dumps(record, indent=1) + "\n").encode())


def read_marker(path: Path) -> dict[str, Any]:
    """The marker of run directory ``path`` (``{}`` where unreadable)."""
    try:
        record = json.loads((path / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def run_state(path: Path) -> str | None:
    """``running``, ``complete`` or ``failed``; None where the marker records none."""
    state = read_marker(path).get("state")
    return state if state in RUN_STATES else None


def set_run_state(path: Path, state: str, error: str | None = None) -> None:
    """Record ``state`` (and for ``failed`` the error) in ``path``'s marker."""
    if state not in RUN_STATES:
        raise ValueError(f"unknown run state {state!r}")
    record = read_marker(path)
    record["state"] = state
    record["attempts"] = record.get("attempts") or [_attempt_record()]
    record["attempts"][-1].update({"ended": datetime.now().isoformat(timespec="seconds"),
                                   "outcome": state})
    if error is not None:
        record["attempts"][-1]["error"] = error
    _write_marker(path, record)


def start_attempt(path: Path, **facts: Any) -> int:
    """Record a new training attempt (a resume) in ``path``'s marker, state ``running``;
    returns its number (the first attempt, at creation, is 1)."""
    record = read_marker(path)
    record["state"] = "running"
    record["attempts"] = [*(record.get("attempts") or []), _attempt_record(**facts)]
    _write_marker(path, record)
    return len(record["attempts"])


def attempt_count(path: Path) -> int:
    """How many training attempts ``path``'s marker records (at least 1)."""
    return max(1, len(read_marker(path).get("attempts") or []))


def _alive_here(attempt: dict[str, Any]) -> bool:
    """Whether the process of ``attempt`` still runs on this host."""
    pid = attempt.get("pid")
    if attempt.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    return pid_running(pid)


def running_elsewhere(path: Path) -> str | None:
    """The host whose training attempt ``path`` is still marked ``running`` by, when that is
    another machine (whose processes this one cannot see); else None."""
    last = (read_marker(path).get("attempts") or [{}])[-1]
    host = last.get("host")
    if run_state(path) != "running" or not host or host == socket.gethostname():
        return None
    return str(host)


def describe_unfinished(path: Path) -> str | None:
    """Why ``path`` is not a complete run (None when it is): its state and what to do."""
    record = read_marker(path)
    state = run_state(path)
    if state == "complete":
        return None
    if state is None:
        return f"{path} records no run state (an older harlab wrote it): train it again"
    last = (record.get("attempts") or [{}])[-1]
    if state == "failed":
        return (f"{path} is a failed run (its training raised: {last.get('error', '?')}); "
                f"`harlab train --resume {path}` continues it from checkpoints/last.ckpt")
    if _alive_here(last):
        return f"{path} is still training (process {last.get('pid')})"
    if (host := running_elsewhere(path)) is not None:
        return (f"{path} is still marked running by host {host} (process {last.get('pid')}); "
                f"harlab cannot check another machine: if it is dead there, `harlab train "
                f"--resume {path} --force-resume` continues it here")
    return (f"{path} is an unfinished run (state running, but its process is gone: killed?); "
            f"`harlab train --resume {path}` continues it")


def check_complete(path: Path, allow_unfinished: bool = False) -> str | None:
    """Refuse (one line) a run that is not complete, unless ``allow_unfinished``: then the
    reason is returned for the caller to warn with. None for a complete run."""
    why = describe_unfinished(path)
    if why is not None and not allow_unfinished:
        raise CheckpointError(f"{why}; pass --allow-unfinished to use its checkpoint anyway")
    return why


def run_format(path: Path) -> int | None:
    """The run format recorded in ``path``'s marker; None where there is no marker.

    Directories written before formats were recorded hold the text ``harlab-run``: format 1.
    """
    try:
        text = (path / MARKER_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    try:
        value = json.loads(text).get("harlab_run_format")
    except (ValueError, AttributeError):
        return 1
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def check_format(path: Path) -> Path:
    """``path`` if it was written in this harlab's run format; else a one-line error."""
    found = run_format(path)
    if found is None:
        raise CheckpointError(f"{path} is not a harlab run directory (no {MARKER_FILE})")
    if found != RUN_FORMAT:
        raise CheckpointError(f"{path} was written in run format {found}; this harlab reads "
                              f"format {RUN_FORMAT} only: train it again")
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
    return check_format(p)


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
    found = hp["harlab"].get("version")
    if found != RUN_FORMAT:
        raise CheckpointError(f"{p} was written in run format {found}; this harlab reads "
                              f"format {RUN_FORMAT} only: train it again")
    return ckpt


