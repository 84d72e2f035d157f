"""BasicMotions (UEA multivariate archive): smartwatch acc + gyro, 4 activities, 10 Hz.

The data are two sktime/aeon ``.ts`` files, ``BasicMotions_TRAIN.ts`` and
``BasicMotions_TEST.ts`` (40 cases each, 10 per class). The format: ``#`` comment lines,
then header lines ``@problemName``, ``@timeStamps false``, ``@missing false``,
``@univariate false``, ``@dimensions 6``, ``@equalLength true``, ``@seriesLength 100``,
``@classLabel true Standing Running Walking Badminton``, ``@data``; then one case per
line: the 6 dimensions separated by ``:``, each 100 comma-separated values, the class
label last (``...,0.1:...:-0.3:Walking``). Dimensions 0-2 are the accelerometer x/y/z,
3-5 the gyroscope x/y/z (the file gives no units). Each case is 10 s at 10 Hz.

One :class:`Recording` per case (100 samples, all labelled with its class); class ids
follow the order of ``@classLabel`` in the TRAIN file (0 Standing, 1 Running, 2 Walking,
3 Badminton). The TRAIN/TEST files are the official split.

**Subjects:** the files do not say who wore the watch (four students took part), so
every case is its own pseudo-subject ``"train-0"`` .. ``"test-39"`` with
``meta["subject_unknown"] = True``. ``official_split`` maps each pseudo-subject to its
file, so ``split: {kind: given}`` works (validation cases drawn from TRAIN);
``split.kind=subject`` raises a ConfigError (it could not be person-independent), and
``random`` splits cases at random.

``path``: a folder holding the two files (or a ``BasicMotions/`` folder inside it), the
official ``BasicMotions.zip``, or an aeon wheel/zip containing
``aeon/datasets/data/BasicMotions/``. ``path=None`` looks in
``shared_data_dir()/basicmotions``, the ``harlab data download`` destination and the
installed ``aeon`` package's data folder (found without importing aeon).
Options: ``splits`` (default ``("train", "test")``).
"""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from harlab.data.recording import Recording, RecordingSet
from harlab.data.sources.common import check_options, files_fingerprint
from harlab.errors import ConfigError, DataError
from harlab.paths import cache_dir, shared_data_dir

NAME = "basicmotions"
RATE = 10.0
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
UNITS = ("unknown",) * 6
SPLITS = ("train", "test")
FILES = {"train": "BasicMotions_TRAIN.ts", "test": "BasicMotions_TEST.ts"}
URL = "https://timeseriesclassification.com/description.php?Dataset=BasicMotions"
CITATION = (
    "A. Bagnall et al. The UEA multivariate time series classification archive, 2018. "
    "arXiv:1811.00075 (BasicMotions)."
)
INFO: dict[str, Any] = {
    "summary": "BasicMotions smartwatch acc+gyro, 80 cases of 10 s, 4 activities, 10 Hz",
    "subjects": None,
    "subjects_note": "not recorded in the files (4 students took part); each case is its "
    "own pseudo-subject, subject-wise splits are refused",
    "classes": 4,
    "class_ids": {0: "Standing", 1: "Running", 2: "Walking", 3: "Badminton"},
    "channels": CHANNELS,
    "rate": RATE,
    "size": "80 series of 100 samples x 6 channels (40 train, 40 test)",
    "cases": {"train": 40, "test": 40},
    "citation": CITATION,
    "licence": f"UEA/UCR time series classification archive, free for research ({URL})",
    "download": {  # the archive publishes no checksum
        "url": "https://timeseriesclassification.com/aeon-toolkit/BasicMotions.zip",
        "sha256": None,
        "page": URL,
    },
}
_OPTIONS = ("splits",)
_HEADER_KEYS = (
    "@problemname",
    "@timestamps",
    "@missing",
    "@univariate",
    "@dimensions",
    "@equallength",
    "@serieslength",
    "@classlabel",
    "@data",
)


# ----------------------------------------------------------------------------- parser
def _bool(where: str, key: str, value: str) -> bool:
    v = value.strip().lower()
    if v not in ("true", "false"):
        raise DataError(f"{where}: {key} must be true or false, got {value.strip()!r}")
    return v == "true"


def _int(where: str, key: str, value: str) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        raise DataError(f"{where}: {key} must be an integer, got {value.strip()!r}") from None
    if n < 1:
        raise DataError(f"{where}: {key} must be at least 1, got {n}")
    return n


def _read_header(lines: list[str], where: str) -> tuple[dict[str, str], int]:
    """The header lines before ``@data`` (lower-cased key -> value) and the index of the
    first line after ``@data``; comments and blank lines are skipped, anything else
    that is not a known, unrepeated header is a DataError."""
    header: dict[str, str] = {}
    data_at = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("@"):
            raise DataError(f"{where}: line {i + 1}: expected a header line (@...) before @data")
        key, _, value = line.partition(" ")
        key = key.lower()
        if key not in _HEADER_KEYS:
            raise DataError(f"{where}: line {i + 1}: unknown header {key!r}")
        if key in header:
            raise DataError(f"{where}: line {i + 1}: duplicate header {key!r}")
        header[key] = value
        if key == "@data":
            data_at = i + 1
            break
    if data_at is None:
        raise DataError(f"{where}: no @data line (truncated or not a .ts file)")
    return header, data_at


def _header_classes(header: dict[str, str], where: str) -> list[str]:
    """The class labels of ``@classLabel``: it must be present, 'true' and list each
    label once (only labelled files are supported)."""
    if "@classlabel" not in header:
        raise DataError(f"{where}: no @classLabel header; only labelled .ts files are supported")
    flag, *classes = header["@classlabel"].split()
    if not _bool(where, "@classLabel", flag or "") or not classes:
        raise DataError(f"{where}: @classLabel must be 'true' followed by the class labels")
    if len(set(classes)) != len(classes):
        raise DataError(f"{where}: @classLabel lists a label twice: {classes}")
    return classes


def _header_shape(header: dict[str, str], where: str) -> tuple[int | None, int | None]:
    """(dimensions, series length) the header announces, None where it does not say;
    time stamps and ragged series are refused (not supported)."""
    if "@timestamps" in header and _bool(where, "@timeStamps", header["@timestamps"]):
        raise DataError(f"{where}: @timeStamps true is not supported")
    if "@equallength" in header and not _bool(where, "@equalLength", header["@equallength"]):
        raise DataError(f"{where}: @equalLength false (ragged series) is not supported")
    dims = _int(where, "@dimensions", header["@dimensions"]) if "@dimensions" in header else None
    if "@univariate" in header and _bool(where, "@univariate", header["@univariate"]):
        if dims not in (None, 1):
            raise DataError(f"{where}: @univariate true but @dimensions {dims}")
        dims = 1
    length = (
        _int(where, "@seriesLength", header["@serieslength"]) if "@serieslength" in header else None
    )
    return dims, length


def _split_cases(
    rows: list[tuple[int, str]],
    classes: list[str],
    dims: int | None,
    length: int | None,
    where: str,
) -> tuple[list[str], list[str], int, int]:
    """Split each case line (line number, text) into its label and its comma-joined
    values; returns (labels, bodies, dimensions, length), the last two taken from the
    first case where the header did not give them. Every case must have that shape."""
    labels: list[str] = []
    bodies: list[str] = []
    known = set(classes)
    for n, ln in rows:
        parts = ln.strip().split(":")
        if dims is None:
            dims = len(parts) - 1
        if len(parts) != dims + 1:
            raise DataError(
                f"{where}: line {n}: {len(parts) - 1} dimensions before the label, expected {dims}"
            )
        label = parts[-1].strip()
        if label not in known:
            raise DataError(f"{where}: line {n}: class label {label!r} is not one of {classes}")
        counts = [p.count(",") + 1 for p in parts[:-1]]
        if length is None:
            length = counts[0]
        if any(c != length for c in counts):
            d = next(k for k, c in enumerate(counts) if c != length)
            raise DataError(
                f"{where}: line {n}: dimension {d} has {counts[d]} values, expected {length} "
                "(ragged or truncated case)"
            )
        labels.append(label)
        bodies.append(",".join(parts[:-1]))
    return labels, bodies, dims, length  # type: ignore[return-value]


def _case_values(
    rows: list[tuple[int, str]], bodies: list[str], dims: int, length: int, where: str
) -> np.ndarray:
    """The cases' values as float64 (cases, dims, length); a missing value '?', a word
    that is not a number or a non-finite value is a DataError naming its line."""
    if "?" in "".join(bodies):
        n = rows[next(k for k, b in enumerate(bodies) if "?" in b)][0]
        raise DataError(f"{where}: line {n}: missing value '?' is not supported")
    try:
        flat = np.array(",".join(bodies).split(","), dtype=np.float64)
    except ValueError:
        for (n, _), body in zip(rows, bodies, strict=True):
            try:
                np.array(body.split(","), dtype=np.float64)
            except ValueError as e:
                raise DataError(f"{where}: line {n}: not a number ({e})") from None
        raise  # pragma: no cover (the loop above finds the line)
    x = flat.reshape(len(rows), dims, length)
    bad = ~np.isfinite(x).all(axis=(1, 2))
    if bad.any():
        raise DataError(f"{where}: line {rows[int(np.argmax(bad))][0]}: non-finite value")
    return x


def parse_ts(text: str, where: str) -> tuple[np.ndarray, list[str], list[str]]:
    """Parse an equal-length, labelled ``.ts`` file.

    Returns (X of shape (cases, dimensions, length) float64, class labels in
    ``@classLabel`` order, one label per case). Header lines may come in any order
    before ``@data``; anything malformed raises DataError naming ``where`` and the line.
    """
    lines = text.splitlines()
    header, data_at = _read_header(lines, where)
    classes = _header_classes(header, where)
    dims, length = _header_shape(header, where)
    rows = [(i + 1, ln) for i, ln in enumerate(lines[data_at:], start=data_at) if ln.strip()]
    rows = [(n, ln) for n, ln in rows if not ln.lstrip().startswith("#")]
    if not rows:
        raise DataError(f"{where}: no cases after @data")
    labels, bodies, dims, length = _split_cases(rows, classes, dims, length, where)
    x = _case_values(rows, bodies, dims, length, where)
    return x, classes, labels


# ----------------------------------------------------------------------------- files
def _aeon_data_dir() -> Path | None:
    """``aeon/datasets/data/BasicMotions`` of an installed aeon, without importing it."""
    try:
        spec = importlib.util.find_spec("aeon")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "BasicMotions"
    return d if d.is_dir() else None


def _candidates() -> list[Path]:
    from harlab.paths import default_dest

    out = []
    shared = shared_data_dir()
    if shared is not None:
        out.append(shared / "basicmotions")
    out.append(default_dest(NAME))
    aeon = _aeon_data_dir()
    if aeon is not None:
        out.append(aeon)
    out.extend(aeon_wheels())
    return out


def aeon_wheels() -> list[Path]:
    """aeon wheels fetched without installing aeon (its pins clash with ours).

    ``make setup`` runs ``pip download --no-deps aeon==1.6.0`` into
    ``<venv>/share/harlab/wheels``; a wheel in ``<cache>/wheels`` is used too.
    """
    dirs = [Path(sys.prefix) / "share" / "harlab" / "wheels", cache_dir() / "wheels"]
    return [w for d in dirs if d.is_dir() for w in sorted(d.glob("aeon-*.whl"))]


class _Files:
    """The two .ts files, in a folder or inside a zip/wheel."""

    def __init__(self, root: Path, members: dict[str, str], archive: bool) -> None:
        self.root = root
        self.members = members  # split -> relative path (folder) or member name (zip)
        self.archive = archive

    def where(self, split: str) -> str:
        return (
            f"{self.root}!{self.members[split]}"
            if self.archive
            else str(self.root / self.members[split])
        )

    def read(self, split: str) -> str:
        try:
            if self.archive:
                with zipfile.ZipFile(self.root) as zf:
                    raw = zf.read(self.members[split])
            else:
                raw = (self.root / self.members[split]).read_bytes()
        except (OSError, zipfile.BadZipFile, KeyError) as e:
            raise DataError(f"{self.where(split)}: cannot read ({e})") from None
        return raw.decode("utf-8", errors="replace")


def _find(base: Path) -> _Files | None:
    if base.is_file():
        try:
            with zipfile.ZipFile(base) as zf:
                names = zf.namelist()
        except (OSError, zipfile.BadZipFile):
            raise DataError(f"{base}: not a zip/wheel holding BasicMotions .ts files") from None
        found = {}
        for split, fname in FILES.items():
            hits = sorted((n for n in names if n.rsplit("/", 1)[-1] == fname), key=len)
            if hits:
                found[split] = hits[0]
        return _Files(base, found, archive=True) if found else None
    for d in (base, base / "BasicMotions"):
        found = {s: f for s, f in FILES.items() if (d / f).is_file()}
        if found:
            return _Files(d, found, archive=False)
    return None


def _locate(path: str | Path | None) -> _Files:
    places = [Path(path).expanduser()] if path is not None else _candidates()
    for p in places:
        if p.exists() and (f := _find(p)) is not None:
            return f
    raise DataError(
        "BasicMotions not found: looked for BasicMotions_TRAIN.ts/_TEST.ts in "
        + ", ".join(str(p) for p in places)
        + ". Run `harlab data download basicmotions`, pass path= to a folder, the official "
        "BasicMotions.zip or an aeon wheel (pip download aeon --no-deps)"
    )


def _splits(options: dict) -> tuple[str, ...]:
    check_options(NAME, options, _OPTIONS)
    value = options.get("splits", SPLITS)
    try:
        items = (value,) if isinstance(value, str) else tuple(value)
    except TypeError:
        items = ()
    bad = [s for s in items if s not in SPLITS]
    if not items or bad or len(set(items)) != len(items):
        raise ConfigError(f"{NAME}: splits must be a non-empty subset of {SPLITS}, got {value!r}")
    return items


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load BasicMotions: one 100-sample recording per case (see the module docstring)."""
    splits = _splits(options)
    files = _locate(path)
    missing = [FILES[s] for s in splits if s not in files.members]
    if missing:
        raise DataError(f"BasicMotions: {files.root} has no {', '.join(missing)}")
    recs: list[Recording] = []
    official: dict[str, str] = {}
    class_order: list[str] | None = None
    for split in splits:
        where = files.where(split)
        x, classes, labels = parse_ts(files.read(split), where)
        if x.shape[1] != len(CHANNELS):
            raise DataError(f"{where}: {x.shape[1]} dimensions, BasicMotions has {len(CHANNELS)}")
        if class_order is None:
            class_order = classes
        elif set(classes) != set(class_order):
            raise DataError(f"{where}: @classLabel {classes} differs from {class_order}")
        ids = {c: i for i, c in enumerate(class_order)}
        data = np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32)  # (cases, T, C)
        for i, lab in enumerate(labels):
            subject = f"{split}-{i}"
            official[subject] = split
            recs.append(
                Recording(
                    data=data[i],
                    labels=np.full(data.shape[1], ids[lab], dtype=np.int64),
                    rate=RATE,
                    channels=CHANNELS,
                    units=UNITS,
                    subject=subject,
                    session="1",
                    meta={"file": where, "split": split, "case": i, "subject_unknown": True},
                )
            )
    assert class_order is not None
    return RecordingSet(
        name=NAME,
        recordings=recs,
        classes=dict(enumerate(class_order)),
        official_split=official,
        citation=CITATION,
        info={"source": str(files.root), "splits": splits, "subjects_known": False},
    )


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the input files (name, size, mtime) for caching."""
    splits = _splits(options)
    files = _locate(path)
    if files.archive:
        fp = files_fingerprint(NAME, files.root.parent, [files.root], options)
        fp["members"] = [files.members.get(s) for s in splits]
        return fp
    paths = [files.root / files.members[s] for s in splits if s in files.members]
    return files_fingerprint(NAME, files.root, paths, options)
