"""UniMiB-SHAR: smartphone accelerometer windows, 30 subjects, 17 classes (9 ADL + 8 falls).

The windows are pre-cut by the authors (around a peak above 1.5 g), so this loader makes
ONE :class:`Recording` per window: channels ``acc_x/acc_y/acc_z`` in m/s^2 at 50 Hz,
every sample labelled with the window's class id (1-based, as in the files).
``subject=str(subject)``; ``session=f"t{trial}"`` (2017) or ``f"w{row}"`` (2016, which has
no trial numbers); ``meta = {"file", "row", "trial"}`` where ``row`` is the 0-based window
index in the data file and ``trial`` is ``None`` for 2016.

Options
-------
``release``: ``"2017"`` (default) or ``"2016"``. ``variant``: ``"acc"`` (default, AF-17:
17 classes ADL+falls), ``"adl"`` (9), ``"fall"`` (8), ``"two_classes"`` (adl/fall).
``subjects``: subject numbers (1..30) to keep.

File layout (``path`` = the folder holding the ``.mat`` files; each variable inside a
file is named like the file stem):

* 2017 release (arXiv:1611.07688v2, 151-sample windows): ``{variant}_data.mat`` is
  (N, 453) float64, one window per row laid out ``[x(151) | y(151) | z(151)]``;
  ``{variant}_labels.mat`` is (N, 3) uint8 ``[class, subject, trial]``;
  ``{variant}_names.mat`` is a (2, K) cell, row 0 descriptions, row 1 short names.
  The readme's "three subsequent rows" wording does not apply to this release.
* 2016 release (arXiv:1602.00970, 51-sample windows): ``{variant}_data.mat`` is
  (3N, 51): rows 3i, 3i+1, 3i+2 are x, y, z of window i; ``{variant}_labels.mat`` is
  (3N, 2) ``[class, subject]``, repeated identically on the three rows of a window;
  ``{variant}_names.mat`` is a (K, 1) cell of short names.

Official folds (2016 release, when ``<path>/split`` holds them): ``RecordingSet.info``
gets ``official_folds`` (the paper's 5-fold stratified CV from
``{variant}_{train,test}_idxs5_folds.mat``) and ``official_folds_subjective`` (the
leave-one-subject-out folds from ``{variant}_{train,test}_idxssubjective_folds.mat``);
each is a list of ``(train_idx, test_idx)`` int64 arrays of 0-based positions in
``RecordingSet.recordings`` (equal to the window row when all subjects are loaded), or
``None`` where the files are absent (the original ships acc and two_classes 5-fold, and
two_classes subjective, only). In the 5-fold files each cell is one class, a (5, n) matrix
of 1-based indices into that class's windows in file order; the authors used only the
first ``5 * (count // 5)`` windows of each class, so a few windows are in no fold. The
subjective files hold one (n, 1) cell of 1-based window indices per subject. With a
``subjects`` subset, indices of other subjects are dropped and folds left without test
windows are removed.
The 2017 release's ``split`` folder is not read (its file format was not available to
check), so for 2017 both keys are ``None``.

``path=None`` means ``shared_data_dir()/"samples"/"unimib_v{release}"``; that sample
folder holds the real labels/names but not every data matrix (get the dataset from
http://www.sal.disco.unimib.it/technologies/unimib-shar/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harlab.data.recording import Recording, RecordingSet
from harlab.data.sources.common import (
    candidate_root,
    check_options,
    files_fingerprint,
    int_list,
)
from harlab.data.sources.matfile import read_mat
from harlab.errors import DataError, unknown_name

NAME = "unimib"
RATE = 50.0
CHANNELS = ("acc_x", "acc_y", "acc_z")
UNITS = ("m/s^2", "m/s^2", "m/s^2")
WINDOW = {"2017": 151, "2016": 51}
VARIANTS = {"acc": 17, "adl": 9, "fall": 8, "two_classes": 2}
DOWNLOAD = "http://www.sal.disco.unimib.it/technologies/unimib-shar/"
CITATION = (
    "D. Micucci, M. Mobilio, P. Napoletano. UniMiB SHAR: A Dataset for Human Activity "
    "Recognition Using Acceleration Data from Smartphones. Applied Sciences 7(10):1101, 2017 "
    "(arXiv:1611.07688; 2016 release: arXiv:1602.00970)."
)
INFO: dict[str, Any] = {
    "summary": "UniMiB-SHAR smartphone acc windows, 30 subjects, 17 classes (9 ADL + 8 falls)",
    "subjects": 30,
    "classes": 17,
    "channels": CHANNELS,
    "rate": RATE,
    "size": "2017 release: 11,771 windows of 151 samples x 3 axes (7,579 ADL + 4,192 falls)",
    "citation": CITATION,
    "licence": f"research use, cite the paper (see {DOWNLOAD})",
    "obtain": f"no direct archive URL is registered; download it from the page {DOWNLOAD}, "
    "unzip it and pass its data/ folder with --path",
}
_OPTIONS = ("release", "variant", "subjects")


def _options(options: dict) -> tuple[str, str, list[int] | None]:
    check_options(NAME, options, _OPTIONS)
    release = str(options.get("release", "2017"))
    if release not in WINDOW:
        raise unknown_name(f"{NAME} release", release, WINDOW)
    variant = str(options.get("variant", "acc"))
    if variant not in VARIANTS:
        raise unknown_name(f"{NAME} variant", variant, VARIANTS)
    return release, variant, int_list(NAME, options, "subjects", "subject numbers")


def _root(path: str | Path | None, release: str) -> Path:
    root, where = candidate_root(path, "samples", f"unimib_v{release}")
    if root is None or not root.is_dir():
        raise DataError(
            f"UniMiB-SHAR not found: looked in {where}. Download UniMiB-SHAR from {DOWNLOAD} "
            "and pass path= to the folder holding the *_data.mat, *_labels.mat, *_names.mat files"
        )
    return root


def _files(root: Path, release: str, variant: str) -> tuple[Path, Path, Path]:
    files = tuple(root / f"{variant}_{kind}.mat" for kind in ("data", "labels", "names"))
    missing = [p for p in files if not p.is_file()]
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise DataError(
            f"UniMiB-SHAR {release} release, variant '{variant}': missing {names}. "
            f"Download UniMiB-SHAR from {DOWNLOAD} and pass path= to its data folder "
            f"(the {release} release's files, e.g. {variant}_data.mat)"
        )
    return files  # type: ignore[return-value]


def _split_files(root: Path, release: str, variant: str) -> dict[str, tuple[Path, Path]]:
    if release != "2016":
        return {}
    out = {}
    for key, tag in (
        ("official_folds", "idxs5_folds"),
        ("official_folds_subjective", "idxssubjective_folds"),
    ):
        pair = tuple(root / "split" / f"{variant}_{part}_{tag}.mat" for part in ("train", "test"))
        if all(p.is_file() for p in pair):
            out[key] = pair
    return out


def _var(p: Path, var: str) -> np.ndarray:
    """The variable ``var`` of MATLAB file ``p``; any read problem is a DataError."""
    mat = read_mat(p)
    if var not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"{p}: no variable '{var}' (found: {', '.join(found) or 'none'})")
    x = mat[var]
    if not isinstance(x, np.ndarray):
        raise DataError(f"{p}: variable '{var}' is not a matrix")
    return x


def _numeric(p: Path, x: np.ndarray, what: str, integer: bool = False) -> np.ndarray:
    if x.dtype.kind not in "biuf" or x.ndim != 2 or x.size == 0:
        raise DataError(
            f"{p}: {what} must be a non-empty 2-D numeric matrix, got {x.dtype} {x.shape}"
        )
    y = x.astype(np.float64)
    if not np.isfinite(y).all():
        bad = int(np.flatnonzero(~np.isfinite(y).all(axis=1))[0])
        raise DataError(f"{p}: {what} has NaN/inf values (first at row {bad + 1})")
    if not integer and (np.abs(y) > np.finfo(np.float32).max).any():
        bad = int(np.flatnonzero((np.abs(y) > np.finfo(np.float32).max).any(axis=1))[0])
        raise DataError(f"{p}: {what} has values out of float32 range (first at row {bad + 1})")
    if integer:
        if (y != np.round(y)).any() or (y < 1).any():
            bad = int(np.flatnonzero(((y != np.round(y)) | (y < 1)).any(axis=1))[0])
            raise DataError(f"{p}: {what} must be positive integers (bad row {bad + 1})")
        return y.astype(np.int64)
    return y


def _cell_str(p: Path, cell: Any) -> str:
    v = np.ravel(cell)
    if v.size == 0 or not isinstance(v[0], str):
        raise DataError(f"{p}: class name cells must hold text, got {cell!r:.60}")
    return str(v[0]).strip()


def _names(p: Path, release: str, variant: str) -> tuple[dict[int, str], dict[int, str]]:
    """(short names, descriptions) by 1-based class id."""
    x = _var(p, f"{variant}_names")
    if x.dtype != object or x.ndim != 2 or x.size == 0:
        raise DataError(f"{p}: {variant}_names must be a cell array, got {x.dtype} {x.shape}")
    if release == "2017":
        if x.shape[0] != 2:
            raise DataError(
                f"{p}: {variant}_names must be a (2, K) cell (descriptions; short names), "
                f"got {x.shape} - is this the 2016 release? pass release='2016'"
            )
        desc = [_cell_str(p, c) for c in x[0]]
        short = [_cell_str(p, c) for c in x[1]]
    else:
        if 1 not in x.shape:
            raise DataError(f"{p}: {variant}_names must be a (K, 1) cell, got {x.shape}")
        short = [_cell_str(p, c) for c in x.ravel()]
        desc = short
    return dict(enumerate(short, 1)), dict(enumerate(desc, 1))


def _windows(
    data_p: Path, labels_p: Path, release: str, variant: str, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(windows (N, T, 3), labels (N, 3) [class, subject, trial or 0])."""
    width = WINDOW[release]
    other = "2016" if release == "2017" else "2017"
    data = _numeric(data_p, _var(data_p, f"{variant}_data"), f"{variant}_data")
    labels = _numeric(labels_p, _var(labels_p, f"{variant}_labels"), f"{variant}_labels", True)
    cols = 3 * width if release == "2017" else width
    if data.shape[1] != cols:
        layout = "x|y|z x 151 samples per row" if release == "2017" else "51 samples per row"
        raise DataError(
            f"{data_p}: expected {cols} columns ({release} release, {layout}), got "
            f"{data.shape[1]} - if this is the {other} release pass release='{other}'"
        )
    n_lab = 3 if release == "2017" else 2
    if labels.shape[1] < n_lab:
        raise DataError(
            f"{labels_p}: expected {n_lab} label columns ({release} release), got {labels.shape[1]}"
        )
    if data.shape[0] != labels.shape[0]:
        raise DataError(
            f"{data_p}: {data.shape[0]} data rows but {labels_p.name} has {labels.shape[0]} rows"
        )
    if release == "2017":
        windows = data.reshape(-1, 3, width).transpose(0, 2, 1)
        lab = labels[:, :3]
    else:
        if data.shape[0] % 3:
            raise DataError(
                f"{data_p}: {data.shape[0]} rows is not a multiple of 3 (2016 release: x, y, z "
                "on three consecutive rows per window)"
            )
        trip = labels[:, :2].reshape(-1, 3, 2)
        if (trip != trip[:, :1]).any():
            bad = int(np.flatnonzero((trip != trip[:, :1]).any(axis=(1, 2)))[0])
            raise DataError(
                f"{labels_p}: rows {3 * bad + 1}..{3 * bad + 3} (one window's x, y, z) have "
                "different labels"
            )
        windows = data.reshape(-1, 3, width).transpose(0, 2, 1)
        lab = np.concatenate([trip[:, 0], np.zeros((len(trip), 1), np.int64)], axis=1)
    if lab[:, 0].max() > n_classes:
        bad = int(np.flatnonzero(lab[:, 0] > n_classes)[0])
        raise DataError(
            f"{labels_p}: class {lab[bad, 0]} at window {bad + 1} is not one of the "
            f"{n_classes} classes in {variant}_names.mat"
        )
    return windows, lab


def _folds(
    files: tuple[Path, Path], key: str, lab: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Official folds as 0-based window rows (see the module docstring)."""
    parts = []
    for p, var in zip(files, ("train_idxs", "test_idxs"), strict=True):
        x = _var(p, var)
        if x.dtype != object or x.size == 0:
            raise DataError(f"{p}: {var} must be a cell array, got {x.dtype} {x.shape}")
        parts.append([_numeric(p, np.atleast_2d(c), var, integer=True) for c in x.ravel()])
    n = len(lab)
    if key == "official_folds":  # one cell per class: (folds, n) indices within the class
        rows = [np.flatnonzero(lab[:, 0] == c) for c in range(1, len(parts[0]) + 1)]
        n_folds = parts[0][0].shape[0]
        out = []
        for f in range(n_folds):
            pair = []
            for p, cells in zip(files, parts, strict=True):
                if len(cells) != len(rows) or any(c.shape[0] != n_folds for c in cells):
                    raise DataError(f"{p}: expected {len(rows)} class cells of {n_folds} folds")
                idx = []
                for c, (cell, r) in enumerate(zip(cells, rows, strict=True), 1):
                    if cell.max() > len(r):
                        raise DataError(
                            f"{p}: index {int(cell.max())} for class {c} but the data has only "
                            f"{len(r)} windows of that class"
                        )
                    idx.append(r[cell[f] - 1])
                pair.append(np.sort(np.concatenate(idx)))
            out.append((pair[0], pair[1]))
        return out
    # subjective: one cell per fold holding 1-based window indices
    if len(parts[0]) != len(parts[1]):
        raise DataError(f"{files[1]}: {len(parts[1])} test folds but {len(parts[0])} train folds")
    out = []
    for cells in zip(*parts, strict=True):
        pair = []
        for p, cell in zip(files, cells, strict=True):
            if cell.max() > n:
                raise DataError(f"{p}: window index {int(cell.max())} but the data has {n}")
            pair.append(np.sort(cell.ravel() - 1))
        out.append((pair[0], pair[1]))
    return out


def _remap(
    folds: list[tuple[np.ndarray, np.ndarray]], keep: np.ndarray, n: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    pos = np.full(n, -1, np.int64)
    pos[keep] = np.arange(len(keep))
    out = []
    for tr, te in folds:
        tr, te = pos[tr], pos[te]
        tr, te = tr[tr >= 0], te[te >= 0]
        if len(te):
            out.append((tr, te))
    return out


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load UniMiB-SHAR windows, one recording each (see the module docstring)."""
    release, variant, wanted = _options(options)
    root = _root(path, release)
    data_p, labels_p, names_p = _files(root, release, variant)
    classes, descriptions = _names(names_p, release, variant)
    windows, lab = _windows(data_p, labels_p, release, variant, len(classes))
    keep = np.arange(len(lab))
    if wanted is not None:
        present = set(lab[:, 1].tolist())
        missing = sorted(set(wanted) - present)
        if missing:
            raise DataError(
                f"UniMiB-SHAR: {labels_p} has no subject(s) {missing}; found {sorted(present)}"
            )
        keep = np.flatnonzero(np.isin(lab[:, 1], wanted))
    info: dict[str, Any] = {
        "source": str(root),
        "release": release,
        "variant": variant,
        "class_descriptions": descriptions,
    }
    splits = _split_files(root, release, variant)
    for key in ("official_folds", "official_folds_subjective"):
        info[key] = None
        if key in splits:
            folds = _folds(splits[key], key, lab)
            info[key] = folds if wanted is None else _remap(folds, keep, len(lab))
    file = str(data_p)
    recs = []
    for i in keep.tolist():
        cls, subj, trial = (int(v) for v in lab[i])
        t = trial if release == "2017" else None
        recs.append(
            Recording(
                data=windows[i],
                labels=np.full(windows.shape[1], cls, dtype=np.int64),
                rate=RATE,
                channels=CHANNELS,
                units=UNITS,
                subject=str(subj),
                session=f"t{trial}" if t is not None else f"w{i}",
                meta={"file": file, "row": i, "trial": t},
            )
        )
    return RecordingSet(
        name=NAME,
        recordings=recs,
        classes=classes,
        official_split=None,
        citation=CITATION,
        info=info,
    )


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the input files (name, size, mtime) for caching."""
    release, variant, _ = _options(options)
    root = _root(path, release)
    files = list(_files(root, release, variant))
    for pair in _split_files(root, release, variant).values():
        files.extend(pair)
    return files_fingerprint(NAME, root, files, options)
