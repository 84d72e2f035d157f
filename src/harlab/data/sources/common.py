"""Helpers every dataset source shares: where to look, option checks, cache fingerprints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harlab.errors import ConfigError, DataError, unknown_name
from harlab.paths import shared_data_dir


def candidate_root(path: str | Path | None, *subdirs: str) -> tuple[Path | None, str]:
    """The folder a loader searches: ``path`` if given, else ``<shared data>/<subdirs>``.

    Also returns how to name that place in a 'not found' message (None when there is no
    shared data folder at all).
    """
    if path is not None:
        root = Path(path).expanduser()
        return root, str(root)
    shared = shared_data_dir()
    rel = "/".join(subdirs)
    if shared is None:
        return None, f"../shared/data/{rel} (no shared data folder found)"
    root = shared.joinpath(*subdirs)
    return root, str(root)


def check_options(name: str, options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Reject option names a source does not know, suggesting the closest valid one."""
    allowed = tuple(allowed)
    for key in options:
        if key not in allowed:
            raise unknown_name(f"{name} option", key, allowed)


def int_list(name: str, options: Mapping[str, Any], key: str, what: str) -> list[int] | None:
    """Option ``key`` (one value or an iterable) as ints; None when unset.

    A value that is not a whole number raises ConfigError "<name>: <key> must be <what>".
    """
    value = options.get(key)
    if value is None:
        return None
    try:
        return [int(s) for s in ([value] if isinstance(value, str | int) else value)]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {key} must be {what}, got {value!r}") from None


def file_entry(p: Path, root: Path | None = None) -> dict[str, Any]:
    """Name (relative to ``root`` if given), size and mtime of one input file."""
    st = p.stat()
    name = str(p.relative_to(root)) if root is not None else str(p)
    return {"name": name, "size": st.st_size, "mtime": st.st_mtime}


def files_fingerprint(
    name: str, root: Path, files: Iterable[Path], options: Mapping[str, Any]
) -> dict[str, Any]:
    """The cache identity of a source read from ``files`` under ``root`` with ``options``."""
    return {
        "source": name,
        "root": str(root),
        "files": [file_entry(p, root) for p in files],
        "options": {k: options[k] for k in sorted(options)},
    }


def check_time_order(path: Path, t: Any, what: str = "timestamp") -> None:
    """DataError unless the ``what`` column ``t`` is finite and strictly increasing.

    Real recordings of these datasets are in time order; a row out of order means a
    reordered, concatenated or corrupt file, and windows cut from it would silently mix
    moments (the error names the first data row, 1-based, that breaks the order).
    """
    t = np.asarray(t, dtype=np.float64)
    bad = ~np.isfinite(t)
    if bad.any():
        raise DataError(f"{path}: {what} is missing in data row {int(np.flatnonzero(bad)[0]) + 1}")
    back = np.flatnonzero(np.diff(t) <= 0)
    if back.size:
        r = int(back[0]) + 1
        raise DataError(f"{path}: data row {r + 1} has {what} {t[r]:g}, not after row {r}'s "
                        f"{t[r - 1]:g}; rows are out of time order (reordered or corrupt file)")
