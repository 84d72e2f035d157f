"""Where harlab finds shared data and keeps its cache and runs."""

from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir() -> Path | None:
    """The shared real-data folder: ``$HARLAB_SHARED_DATA``, else ``../shared/data``.

    ``../shared/data`` is looked up beside the current directory and beside the source
    checkout, so tests and CLI runs from the repository root both find it. Returns None
    when no such folder exists (callers turn that into a clear 'missing dataset' error).
    """
    env = os.environ.get("HARLAB_SHARED_DATA")
    if env:
        p = Path(env).expanduser()
        return p if p.is_dir() else None
    candidates = [Path.cwd().parent / "shared" / "data"]
    repo_root = Path(__file__).resolve().parents[2]
    candidates.append(repo_root.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return None


def cache_dir() -> Path:
    """Cache root for processed windows: ``$HARLAB_CACHE`` or ``~/.cache/harlab``."""
    env = os.environ.get("HARLAB_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "harlab"
    return root


def default_dest(name: str) -> Path:
    """Where ``harlab data download NAME`` puts a dataset: ``$HARLAB_SHARED_DATA/<name>``
    when that is set (the loaders look there without ``--path``), else
    ``<cache dir>/datasets/<name>``."""
    env = os.environ.get("HARLAB_SHARED_DATA")
    if env:
        return Path(env).expanduser() / name
    return cache_dir() / "datasets" / name
