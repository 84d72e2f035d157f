"""On-disk cache of windowed datasets.

A cache entry is a folder named by the SHA-256 of the source identity (name, path,
options, fingerprint of the input files) and the preprocessing config. It holds one
``.npy`` per array and ``manifest.json`` with shapes, dtypes, byte sizes, the sha256 of
each array file and everything else needed to rebuild the dataset object. Windows are
appended to their file as they are cut (``EntryWriter``), so writing an entry never needs
the whole dataset in memory, and ``x`` is read back row by row on demand. Entries are
written into a temporary folder, flushed to disk and renamed into place, so a crash never
leaves a half-written entry under the final name; the temporary folder of a killed writer
is removed by the next reader or writer. An entry that fails validation (missing file,
wrong size, shape or checksum, unreadable manifest) is deleted and rebuilt, with a
one-line warning. Checksums are verified once per process and entry, and again when a
file's size, mtime, ctime or inode changed (a change in place within the filesystem's
timestamp granularity after a check goes unseen until the next process).
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

from harlab.data.store import NpyAppender, NpyRows
from harlab.fileio import fsync_dir, remove_stale_temps, temp_name

log = logging.getLogger("harlab")

FORMAT_VERSION = 2  # 2: sha256 of every array file in the manifest
ARRAYS = ("x", "y", "recording", "start", "purity")


def cache_key(identity: dict[str, Any]) -> str:
    """Stable hash of a JSON-serialisable identity dict."""
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


# entries whose checksums this process verified, with the files' identities then: an
# entry is hashed once per process (a study reads one entry once per run), and again
# whenever one of its files changed (size, mtime, ctime or inode)
_VERIFIED: dict[Path, tuple] = {}


def _identity(entry: Path) -> tuple:
    stats = [(entry / f).stat() for f in ("manifest.json", *(f"{n}.npy" for n in ARRAYS))]
    return tuple((s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns) for s in stats)


def _validate(entry: Path) -> dict[str, Any]:
    """The manifest, after checking every array's size, shape, dtype and sha256 (the
    file is hashed in chunks: memory stays flat however large it is)."""
    manifest = json.loads((entry / "manifest.json").read_text())
    ident = _identity(entry)
    verified = _VERIFIED.get(entry.resolve()) == ident
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
        if not verified and _sha256(path) != spec["sha256"]:
            raise ValueError(f"{path.name} does not match its sha256 (its contents changed)")
    _VERIFIED[entry.resolve()] = ident
    return manifest


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


TEMP_PREFIX = r"\.[0-9a-f]{32}\.tmp"  # regex of the temporary folders' prefix (see save_entry)


def _remove_orphans(root: Path) -> None:
    """Delete the temporary folders that writers killed mid-write left under ``root``."""
    for path in remove_stale_temps(root, TEMP_PREFIX):
        log.warning("removed %s, left by a cache writer that was killed", path)


def load_entry(root: Path, key: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Return (arrays, manifest) or None when absent or corrupt. ``x`` is read on demand
    (:class:`~harlab.data.store.NpyRows`); the per-window index arrays are read into
    memory (they are small)."""
    _remove_orphans(root)
    entry = root / key
    if not entry.is_dir():
        return None
    try:
        manifest = _validate(entry)
        arrays: dict[str, Any] = {"x": NpyRows(entry / "x.npy")}
        for name in ARRAYS[1:]:
            arrays[name] = np.load(entry / f"{name}.npy", allow_pickle=False)
    except Exception as exc:  # any defect means: rebuild
        log.warning("cache entry %s is corrupt or stale (%s); rebuilding it", entry, exc)
        shutil.rmtree(entry, ignore_errors=True)
        return None
    return arrays, manifest


class EntryWriter:
    """Writes one entry into a temporary folder, rows appended array by array as they are
    produced (e.g. recording by recording); ``commit`` renames it into place atomically.
    Used as a context manager, an exception removes the temporary folder."""

    def __init__(self, root: Path, key: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        _remove_orphans(root)
        self.root, self.key = root, key
        self.tmp = root / temp_name(f".{key}.tmp")
        self.tmp.mkdir()
        self.files: dict[str, NpyAppender] = {}

    def append(self, name: str, rows: np.ndarray) -> None:
        """Append ``rows`` to array ``name`` (created with their dtype and row shape)."""
        if name not in self.files:
            rows = np.asarray(rows)
            self.files[name] = NpyAppender(self.tmp / f"{name}.npy", rows.dtype, rows.shape[1:])
        self.files[name].append(rows)

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Close the arrays, write the manifest and move the entry under its final name."""
        missing = [n for n in ARRAYS if n not in self.files]
        if missing:
            raise ValueError(f"cache entry without array(s) {missing}")
        specs = {}
        for name in ARRAYS:
            self.files[name].close()
            specs[name] = _spec(self.tmp / f"{name}.npy")
        manifest = dict(manifest, format_version=FORMAT_VERSION, key=self.key, arrays=specs)
        with (self.tmp / "manifest.json").open("w") as fh:
            fh.write(json.dumps(manifest, indent=1, default=str))
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(self.tmp)
        final = self.root / self.key
        if final.exists():  # another process won the race; keep theirs
            shutil.rmtree(self.tmp, ignore_errors=True)
            return final
        try:
            os.replace(self.tmp, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(self.tmp, ignore_errors=True)  # lost a race to a complete entry
        fsync_dir(self.root)
        return final

    def abort(self) -> None:
        for f in self.files.values():
            f.abandon()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> EntryWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None:
            self.abort()


def save_entry(
    root: Path, key: str, arrays: dict[str, np.ndarray], manifest: dict[str, Any]
) -> Path:
    """Write an entry of whole arrays atomically (temp folder + rename); its path."""
    with EntryWriter(root, key) as writer:
        for name in ARRAYS:
            writer.append(name, np.ascontiguousarray(arrays[name]))
        return writer.commit(manifest)


def _spec(path: Path) -> dict[str, Any]:
    """The manifest entry of one written array: shape, dtype, bytes, sha256 of the file."""
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    return {
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "bytes": path.stat().st_size,
        "sha256": _sha256(path),
    }
