"""A restricted unpickler for dataset pickles (numpy arrays and pandas DataFrames only).

Unpickling runs whatever callables the file names, so a downloaded or packaged pickle
could execute arbitrary code. :func:`safe_load_pickle` resolves only an allow-list of
numpy/pandas reconstruction classes and functions; any other global raises
:class:`~harlab.errors.DataError` naming the file and the forbidden global.

It also loads pickles written by old pandas (e.g. the KCC2020 HAPT pickle): those use
``copy_reg._reconstructor`` on ``BlockManager``, which fails under current pandas with
"object.__new__(BlockManager) is not safe". Here ``_reconstructor`` is replaced by a
safe version that calls ``cls.__new__(cls)`` and only for allow-listed classes.
"""

from __future__ import annotations

import _codecs
import gzip
import importlib
import io
import pickle
import zlib
from pathlib import Path
from typing import Any

from harlab.errors import DataError

# Python 2 module names written by protocol <= 2 pickles.
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}

# Old module paths that moved; mapped to their current homes.
_RENAMED = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("pandas.core.indexes.numeric", "Int64Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.numeric", "UInt64Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.numeric", "Float64Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.core.internals.blocks", "new_block"): ("pandas._libs.internals", "_unpickle_block"),
}

# Classes that may be instantiated (via REDUCE, NEWOBJ or the safe _reconstructor).
_ALLOWED_CLASSES = {
    ("builtins", "object"),
    ("builtins", "slice"),
    ("builtins", "bytearray"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("pandas", "DataFrame"),
    ("pandas", "Series"),
    ("pandas", "Index"),
    ("pandas", "RangeIndex"),
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.series", "Series"),
    ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "SingleBlockManager"),
}

# Reconstruction functions (none of them can run arbitrary code).
_ALLOWED_FUNCTIONS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas._libs.internals", "_unpickle_block"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` only resolves allow-listed globals."""

    def __init__(self, file: io.BufferedIOBase, where: str) -> None:
        super().__init__(file, encoding="latin1")
        self._where = where
        self._allowed_types: set[type] = set()

    def _forbidden(self, what: str) -> DataError:
        return DataError(
            f"{self._where}: refusing to unpickle forbidden global '{what}' "
            "(only numpy/pandas data classes are allowed)"
        )

    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        if (module, name) == ("copyreg", "_reconstructor"):
            return self._reconstructor
        if (module, name) == ("_codecs", "encode"):
            return self._encode
        module, name = _RENAMED.get((module, name), (module, name))
        if (module, name) not in _ALLOWED_CLASSES | _ALLOWED_FUNCTIONS:
            raise self._forbidden(f"{module}.{name}")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:  # numpy < 2 names numpy._core "numpy.core"
            mod = importlib.import_module(module.replace("numpy._core", "numpy.core", 1))
        obj = getattr(mod, name)
        if isinstance(obj, type):
            self._allowed_types.add(obj)
        return obj

    def _reconstructor(self, cls: Any, base: Any, state: Any) -> Any:
        """Safe ``copyreg._reconstructor``: ``cls.__new__(cls)`` for allowed classes only."""
        for t in (cls, base):
            if not (isinstance(t, type) and t in self._allowed_types):
                raise self._forbidden(f"copyreg._reconstructor({t!r})")
        if base is object:
            return cls.__new__(cls)
        obj = base.__new__(cls, state)
        if base.__init__ is not object.__init__:
            base.__init__(obj, state)
        return obj

    def _encode(self, obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        """``_codecs.encode`` as used by protocol-2 pickles for bytes (latin-1 only)."""
        if encoding.replace("_", "-").lower() not in ("latin1", "latin-1") or not isinstance(
            obj, str
        ):
            raise self._forbidden(f"_codecs.encode(..., {encoding!r})")
        return _codecs.encode(obj, "latin1", errors)


def safe_load_pickle(path: str | Path) -> object:
    """Load a (possibly gzip-compressed) pickle of numpy/pandas objects, refusing others."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read pickle file ({e.strerror or e})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt gzip data ({e})") from None
    try:
        return _RestrictedUnpickler(io.BytesIO(raw), str(path)).load()
    except DataError:
        raise
    except Exception as e:  # any failure here means the file is corrupt or foreign
        raise DataError(f"{path}: cannot unpickle ({type(e).__name__}: {e})") from None
