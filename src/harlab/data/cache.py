"""On-disk cache of windowed datasets.

A cache entry is a folder named by the SHA-256 of the source identity (name, path,
options, fingerprint of the input files) and the preprocessing config. It holds one
``.npy`` per array (opened as memory maps) and ``manifest.json`` with shapes, dtypes,
byte sizes, the sha256 of each array file and everything else needed to rebuild the
dataset object. Entries are written into a temporary folder, flushed to disk and renamed
into place, so a crash never leaves a half-written entry under the final name; the
temporary folder of a killed writer is removed by the next reader or writer. An entry
that fails validation (missing file, wrong size, shape or checksum, unreadable manifest)
is deleted and rebuilt, with a one-line warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from harlab.fileio import fsync_dir, remove_stale_temps, temp_name

log = logging.getLogger("harlab")

FORMAT_VERSION = 2  # 2: sha256 of every array file in the manifest
ARRAYS = ("x", "y", "recording", "start", "purity")


def cache_key(identity: dict[str, Any]) -> str:
    """Stable hash of a JSON-serialisable identity dict."""
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _validate(entry: Path) -> dict[str, Any]:
    manifest = json.loads((entry / "manifest.json").read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"format version {manifest.get('format_version')}")
    for name in ARRAYS:
        spec = manifest["arrays"][name]
        path = entry / f"{name}.npy"
        if path.stat().st_size != spec["bytes"]:
            raise ValueError(
                f"{path.name} has {path.stat().st_size} bytes, expected {spec['bytes']}"
            )
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        if list(arr.shape) != spec["shape"] or str(arr.dtype) != spec["dtype"]:
            raise ValueError(f"{path.name} has shape {arr.shape} {arr.dtype}, expected {spec}")
        if _sha256(path) != spec["sha256"]:
            raise ValueError(f"{path.name} does not match its sha256 (its contents changed)")
    return manifest


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


TEMP_PREFIX = r"\.[0-9a-f]{32}\.tmp"  # regex of the temporary folders' prefix (see save_entry)


def _remove_orphans(root: Path) -> None:
    """Delete the temporary folders that writers killed mid-write left under ``root``."""
    for path in remove_stale_temps(root, TEMP_PREFIX):
        log.warning("removed %s, left by a cache writer that was killed", path)


def load_entry(root: Path, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """Return (arrays as read-only memmaps, manifest) or None when absent or corrupt."""
    _remove_orphans(root)
    entry = root / key
    if not entry.is_dir():
        return None
    try:
        manifest = _validate(entry)
    except Exception as exc:  # any defect means: rebuild
        log.warning("cache entry %s is corrupt or stale (%s); rebuilding it", entry, exc)
        shutil.rmtree(entry, ignore_errors=True)
        return None
    arrays = {
        name: np.load(entry / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in ARRAYS
    }
    return arrays, manifest


def save_entry(
    root: Path, key: str, arrays: dict[str, np.ndarray], manifest: dict[str, Any]
) -> Path:
    """Write an entry atomically (temp folder + rename) and return its path."""
    root.mkdir(parents=True, exist_ok=True)
    _remove_orphans(root)
    final = root / key
    tmp = root / temp_name(f".{key}.tmp")
    tmp.mkdir()
    try:
        specs = {name: _write_array(tmp / f"{name}.npy", arrays[name]) for name in ARRAYS}
        manifest = dict(manifest, format_version=FORMAT_VERSION, key=key, arrays=specs)
        with (tmp / "manifest.json").open("w") as fh:
            fh.write(json.dumps(manifest, indent=1, default=str))
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(tmp)
        if final.exists():  # another process won the race; keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
            return final
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # lost a race to a complete entry
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_array(path: Path, arr: np.ndarray) -> dict[str, Any]:
    """Save ``arr`` to ``path``, flushed to disk; its manifest entry (shape, dtype, bytes,
    sha256 of the file)."""
    arr = np.ascontiguousarray(arr)
    with path.open("wb") as fh:
        np.save(fh, arr, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    return {
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "bytes": path.stat().st_size,
        "sha256": _sha256(path),
    }
