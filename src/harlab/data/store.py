"""Row-wise ``.npy`` files: append rows as they are produced, read rows back on demand.

``NpyAppender`` writes an ``.npy`` whose header is rewritten in place with the final row
count when it is closed (numpy pads headers for exactly that), so a dataset's windows can
be written recording by recording without ever being in memory together. ``NpyRows``
reads rows of such a file with positioned reads (``os.pread``) into fresh arrays: unlike a
memory map, pages read once do not stay mapped into the process, so its resident memory
does not grow with the file while training sweeps over it epoch after epoch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format


class NpyAppender:
    """Append rows of one dtype and row shape to a new ``.npy`` file; ``close`` fixes its
    header's row count."""

    def __init__(self, path: Path, dtype: np.dtype, row_shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.row_shape = path, np.dtype(dtype), tuple(row_shape)
        self.rows = 0
        self._fh = path.open("wb")
        self._header_len = self._write_header()

    def _write_header(self) -> int:
        self._fh.seek(0)
        npy_format.write_array_header_1_0(self._fh, {
            "descr": npy_format.dtype_to_descr(self.dtype), "fortran_order": False,
            "shape": (self.rows, *self.row_shape)})
        return self._fh.tell()

    def append(self, rows: np.ndarray) -> None:
        """Write ``rows`` (n, *row_shape) at the end of the file."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {rows.shape[1:]}, expected "
                             f"{self.row_shape}")
        self._fh.write(rows.tobytes())
        self.rows += rows.shape[0]

    def close(self) -> None:
        """Rewrite the header with the final row count (same length), flush and fsync."""
        end = self._fh.tell()
        if self._write_header() != self._header_len:  # numpy pads row counts to 21 digits
            raise ValueError(f"{self.path.name}: the .npy header changed length")
        self._fh.seek(end)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def abandon(self) -> None:
        self._fh.close()


class NpyRows:
    """Rows of an ``.npy`` file read on demand; indexes like a read-only array along axis 0
    (an int, a slice, integer indices or a boolean mask) and returns in-memory arrays."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with self.path.open("rb") as fh:
            version = npy_format.read_magic(fh)
            read = (npy_format.read_array_header_1_0 if version == (1, 0)
                    else npy_format.read_array_header_2_0)
            shape, fortran, dtype = read(fh)
            self.offset = fh.tell()
        if fortran or not shape:
            raise ValueError(f"{self.path.name}: expected a C-ordered array of rows")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd: int | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def _fileno(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def __getstate__(self) -> dict[str, Any]:  # descriptors do not cross processes
        return {**self.__dict__, "_fd": None}

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def __getitem__(self, key: Any) -> np.ndarray:
        n = self.shape[0]
        if isinstance(key, int | np.integer):
            k = int(key) + (n if key < 0 else 0)
            if not 0 <= k < n:
                raise IndexError(f"row {key} out of range for {n} rows")
            return self._read(k, 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                return self._read(start, max(stop - start, 0))
            return self._gather(np.arange(start, stop, step))
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"boolean index of shape {idx.shape} for {n} rows")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False)
        idx = np.where(idx < 0, idx + n, idx)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        return self._gather(idx.reshape(-1)).reshape(*idx.shape, *self.shape[1:])

    def _read(self, start: int, count: int) -> np.ndarray:
        out = np.empty((count, *self.shape[1:]), self.dtype)
        self._readinto(out, start)
        return out

    def _readinto(self, out: np.ndarray, start: int) -> None:
        view = memoryview(out.reshape(-1).view(np.uint8))
        pos, want = 0, out.shape[0] * self.row_bytes
        while pos < want:
            got = os.preadv(self._fileno(), [view[pos:]], self.offset + start * self.row_bytes
                            + pos)
            if got <= 0:
                raise OSError(f"{self.path}: file ended at row {start} + {pos} bytes")
            pos += got

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` in that order: each run of consecutive rows is one read."""
        out = np.empty((idx.size, *self.shape[1:]), self.dtype)
        if not idx.size:
            return out
        order = np.argsort(idx, kind="stable")
        rows = idx[order]
        cut = np.flatnonzero(np.diff(rows) != 1) + 1
        bounds = np.r_[0, cut, rows.size]
        buf = np.empty_like(out) if np.any(order != np.arange(idx.size)) else out
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            self._readinto(buf[a:b], int(rows[a]))
        if buf is not out:
            out[order] = buf
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self[:]
        return arr if dtype is None else arr.astype(dtype, copy=False)
