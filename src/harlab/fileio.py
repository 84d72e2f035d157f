"""Small file and ordering helpers every layer shares: strict atomic JSON, natural order.

One owner for each: results are written as strict JSON (no NaN), atomically, so a reader
never sees half a file; ids sort naturally ("s2" before "s10") wherever they are listed;
temporary folders a killed writer left behind are recognised by name and owner process.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def natural_key(value: Any) -> tuple:
    """Sort key ordering ids naturally ("2" before "10", "s2" before "s10")."""
    parts = re.split(r"(\d+)", str(value))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)


def to_jsonable(obj: Any) -> Any:
    """Recursively convert numpy scalars/arrays, tuples, sets and paths to JSON types.

    Non-finite floats become None (strict JSON has no NaN/Infinity); mapping keys become str.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def write_bytes_atomic(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder + os.replace.

    The data are flushed to disk before the rename and the folder after it, so readers
    see the old file or the whole new one, even if the process dies mid-write or the
    power goes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)  # the rename itself
    return path


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (a rename into it, a new file) to disk; a no-op where the
    platform cannot open folders."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(prefix: str) -> str:
    """A temporary folder name ``PREFIX-PID-RANDOM`` that :func:`remove_stale_temps` can tie
    to the process writing it."""
    return f"{prefix}-{os.getpid()}-{os.urandom(4).hex()}"


def pid_running(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (one that is not ours to signal counts
    as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0
    return True


STALE_AFTER_S = 86_400.0  # a temp folder this old is stale even if its pid was reused


def remove_stale_temps(folder: str | Path, prefix: str) -> list[Path]:
    """Delete the folders named by :func:`temp_name` in ``folder`` whose prefix matches the
    regular expression ``prefix`` and whose writer is gone: its process no longer runs on
    this machine, or the folder is older than a day (a reused pid). Nothing else is
    touched; returns what was removed."""
    pattern = re.compile(f"(?:{prefix})" + r"-(\d+)-[0-9a-f]{8}")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if not pid_running(int(m.group(1))) or age > STALE_AFTER_S:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


PNG_DPI = 120  # every figure harlab saves


def save_png(fig: Any, path: str | Path) -> Path:
    """Render a matplotlib ``Figure`` (Agg, no display needed) to ``path`` as PNG; clear it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=PNG_DPI, format="png", bbox_inches="tight", pad_inches=0.1)
    fig.clear()
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented strict JSON, atomically (:func:`write_bytes_atomic`)."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"))


def folder_sha256(folder: str | Path) -> str:
    """sha256 over the relative paths and bytes of every file under ``folder``: the same
    data give the same checksum on any machine, wherever the folder lies."""
    import hashlib

    root = Path(folder)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
