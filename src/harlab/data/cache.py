"""On-disk cache of windowed datasets.

A cache entry is a folder named by the SHA-256 of the source identity (name, path,
options, fingerprint of the input files) and the preprocessing config. It holds one
``.npy`` per array (opened as memory maps) and ``manifest.json`` with shapes, dtypes,
byte sizes and everything else needed to rebuild the dataset object. Entries are
written into a temporary folder and renamed into place, so a crash never leaves a
half-written entry under the final name; an entry that fails validation (missing
file, wrong size or shape, unreadable manifest) is deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("harlab")

FORMAT_VERSION = 1
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
    return manifest


def load_entry(root: Path, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """Return (arrays as read-only memmaps, manifest) or None when absent or corrupt."""
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
    final = root / key
    tmp = root / f".{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        specs = {}
        for name in ARRAYS:
            arr = np.ascontiguousarray(arrays[name])
            path = tmp / f"{name}.npy"
            np.save(path, arr, allow_pickle=False)
            specs[name] = {
                "shape": list(arr.shape),
                "dtype": str(arr.dtype),
                "bytes": path.stat().st_size,
            }
        manifest = dict(manifest, format_version=FORMAT_VERSION, key=key, arrays=specs)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
        if final.exists():  # another process won the race; keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
            return final
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # lost a race to a complete entry
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
