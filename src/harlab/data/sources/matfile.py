"""Safe reading of MATLAB v5 ``.mat`` files (UniMiB-SHAR, USC-HAD).

``scipy.io.loadmat`` trusts the sizes written in the file, and its compiled reader can
crash the interpreter on a corrupt one; :func:`read_mat` first walks the element tree in
Python so that any inconsistency is a :class:`DataError` naming the file.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from harlab.errors import DataError

_V73 = "MATLAB v7.3 (HDF5) files are not supported; re-save it with save(..., '-v7')"

# MAT-file v5 element types -> item size (miINT8 .. miUINT64, miUTF8/16/32)
_MI_SIZE = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4}
_MX_CELL, _MX_CHAR = 1, 4
_MX_NUMERIC = set(range(6, 16))  # double, single, int8 .. uint64


class _Corrupt(Exception):
    pass


def _tag(buf: bytes, pos: int, end: int, e: str) -> tuple[int, int, int, int]:
    """(type, data start, data bytes, next element position) of the element at ``pos``."""
    if pos + 8 > end:
        raise _Corrupt(f"element header at byte {pos} runs past the end")
    first = struct.unpack_from(e + "I", buf, pos)[0]
    if first >> 16:  # small data element: 2 bytes size, 2 bytes type, 4 bytes data
        if first >> 16 > 4:
            raise _Corrupt(f"bad small element at byte {pos}")
        return first & 0xFFFF, pos + 4, first >> 16, pos + 8
    n = struct.unpack_from(e + "I", buf, pos + 4)[0]
    if pos + 8 + n > end:
        raise _Corrupt(f"element at byte {pos} declares {n} bytes, past the end")
    return first, pos + 8, n, min(end, pos + 8 + n + (-n % 8))


def _sub(buf: bytes, pos: int, end: int, e: str, types, what: str) -> tuple[int, int, int, int]:
    typ, start, size, nxt = _tag(buf, pos, end, e)
    if typ not in types:
        raise _Corrupt(f"{what} at byte {pos} has element type {typ}")
    return typ, start, size, nxt


def _matrix(buf: bytes, pos: int, end: int, e: str, depth: int) -> None:
    """Check the body of a miMATRIX element (``pos`` .. ``end``) without trusting sizes."""
    if pos == end:
        return  # an empty matrix
    if depth > 4:
        raise _Corrupt("cells nested too deeply")
    _, start, size, pos = _sub(buf, pos, end, e, {6}, "array flags")
    if size != 8:
        raise _Corrupt("array flags must be 8 bytes")
    flags = struct.unpack_from(e + "I", buf, start)[0]
    cls, complex_ = flags & 0xFF, bool(flags & 0x800)
    _, start, size, pos = _sub(buf, pos, end, e, {5}, "dimensions")
    if size < 8 or size % 4:
        raise _Corrupt("bad dimensions element")
    dims = struct.unpack_from(f"{e}{size // 4}i", buf, start)
    if min(dims) < 0:
        raise _Corrupt(f"negative dimension {dims}")
    count = int(np.prod(dims, dtype=object))
    _, _, _, pos = _sub(buf, pos, end, e, {1, 2}, "array name")
    if cls == _MX_CELL:
        for _ in range(count):
            typ, start, size, nxt = _tag(buf, pos, end, e)
            if typ != 14:
                raise _Corrupt(f"cell element at byte {pos} has type {typ}")
            _matrix(buf, start, start + size, e, depth + 1)
            pos = nxt
    elif cls in _MX_NUMERIC or cls == _MX_CHAR:
        for _ in range(2 if complex_ else 1):
            typ, _, size, pos = _sub(buf, pos, end, e, _MI_SIZE, "array data")
            if typ not in (16, 17, 18) and size != count * _MI_SIZE[typ]:
                raise _Corrupt(f"array data of {size} bytes for {count} values")
    else:
        raise _Corrupt(f"unsupported MATLAB array class {cls}")


def mat5_problem(raw: bytes) -> str | None:
    """What is wrong with the bytes of a MAT v5 file, or None if its element tree is sound.

    Walks every element so that corrupt sizes are caught here, not in scipy's compiled
    reader (which can crash the interpreter on them).
    """
    if len(raw) < 128:
        return f"not a MATLAB file (only {len(raw)} bytes)"
    if raw[124:126] in (b"\x00\x02", b"\x02\x00"):
        return _V73
    e = {b"IM": "<", b"MI": ">"}.get(raw[126:128])
    if e is None or struct.unpack_from(e + "H", raw, 124)[0] != 0x0100:
        return "not a MATLAB v5 file (bad header)"
    pos = 128
    try:
        while pos < len(raw):
            typ, start, size, _ = _tag(raw, pos, len(raw), e)
            if typ == 15:
                try:
                    inner = zlib.decompress(raw[start : start + size])
                except zlib.error as err:
                    raise _Corrupt(f"compressed element at byte {pos}: {err}") from None
                ityp, istart, isize, _ = _tag(inner, 0, len(inner), e)
                if ityp != 14:
                    raise _Corrupt(f"compressed element at byte {pos} holds type {ityp}")
                _matrix(inner, istart, istart + isize, e, 0)
            elif typ == 14:
                _matrix(raw, start, start + size, e, 0)
            else:
                raise _Corrupt(f"unexpected element type {typ} at byte {pos}")
            pos = start + size
    except (_Corrupt, struct.error) as err:
        return f"corrupt MATLAB file ({err})"
    return None


def read_mat(p: Path, prefix: str = "") -> dict[str, Any]:
    """All variables of the MATLAB v5 (-v6/-v7) file ``p``, read with ``scipy.io.loadmat``
    after :func:`mat5_problem` passes. Any read problem is a DataError
    ``"<p>: <prefix><problem>"``."""
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise DataError(f"{p}: cannot read file ({e.strerror or e})") from None
    problem = mat5_problem(raw)
    if problem is not None:
        raise DataError(f"{p}: {prefix}{problem}")
    try:
        return scipy.io.loadmat(io.BytesIO(raw))
    except NotImplementedError:
        raise DataError(f"{p}: {prefix}{_V73}") from None
    except Exception as e:  # scipy raises many types for corrupt/foreign files
        raise DataError(f"{p}: cannot read MATLAB file ({type(e).__name__}: {e})") from None
