"""A folder of Glasgow ``.dat`` files (the extracted archive) to a radar frame folder.

What :func:`frames_from_glasgow` does with the dataset's quirks:

* **campaigns**: each file's campaign is its folder below ``root`` with the folders that
  all files share removed (so a wrapper folder such as ``Dataset_848/`` does not count);
  files directly in one folder take that folder's name. Person numbers restart in every
  campaign, so the ``person`` column is ``<campaign>/Pxx``;
* **labels**: ``K`` of ``KPxxAyyRz`` is the activity where it disagrees with ``Ayy`` (the
  data sheet's rule); such files are counted and listed;
* **copies**: byte-identical files (sha256 of the content) are read once; the first in
  path order is kept, the others are counted and listed with the file they copy;
* **range**: the person's range bins are chosen per recording (``range_select: energy``,
  :func:`harlab.radar.processing.energy_gate`) after the MTI filter, searched between
  ``range_min_m`` and ``range_max_m`` (:data:`GLASGOW_PROCESSING`).

``labels.csv`` gets the columns ``campaign``, ``repetition``, ``activity_code`` (Ayy),
``prefix`` (K), ``codes_agree`` and ``sha256`` besides the usual ones (they reach each
recording's ``meta``), and the folder a ``glasgow.json`` with the counts above.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harlab.errors import ConfigError
from harlab.radar.glasgow import find_dat_files, parse_bytes, parse_name, read_bytes
from harlab.radar.processing import ProcessingConfig
from harlab.radar.types import RawRadar

# The chain for the Glasgow radar (5.8 GHz, PRF 1 kHz, 0.375 m range bins): the person's
# band of range bins is searched from 1 m (the antennas' direct coupling sits below) to
# 15 m; everything else is the MRA-Net frame mapping of ProcessingConfig's defaults.
GLASGOW_PROCESSING: dict[str, Any] = {
    "range_select": "energy",
    "range_energy_db": 10.0,
    "range_min_m": 1.0,
    "range_max_m": 15.0,
}
REPORT = "glasgow.json"
# what the reader does with the archive's quirks; change it when those rules change (it
# keys the window cache of data read straight from .dat files)
READER = "campaign-persons, sha256-copies, k-label, energy-range: 1"


def glasgow_processing(overrides: dict[str, Any] | None = None) -> ProcessingConfig:
    """:data:`GLASGOW_PROCESSING` with ``overrides`` applied."""
    if overrides is not None and not isinstance(overrides, dict):
        raise ConfigError("radar processing: the options must be a mapping (name: value), "
                          f"got {type(overrides).__name__}")
    return ProcessingConfig.from_dict({**GLASGOW_PROCESSING, **(overrides or {})})


def campaigns(root: Path, files: list[Path]) -> dict[Path, str]:
    """Each file's campaign: its folder relative to ``root`` less the leading folders that
    all files share (the one folder's name when all files share their folder)."""
    parents = [PurePosixPath(p.parent.relative_to(root).as_posix()) for p in files]
    parts = [pp.parts if str(pp) != "." else () for pp in parents]
    common = 0
    while parts and all(len(p) > common and p[common] == parts[0][common] for p in parts):
        common += 1
    out = {}
    for f, p in zip(files, parts, strict=True):
        rest = p[common:]
        out[f] = "/".join(rest) if rest else (p[-1] if p else root.resolve().name)
    return out


@dataclass
class ImportLog:
    """What the import left out or relabelled (written to ``glasgow.json``)."""

    files: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (copy, kept)
    disagreements: list[str] = field(default_factory=list)  # K != Ayy: labelled by K

    def to_dict(self) -> dict[str, Any]:
        return {
            "dat_files": self.files,
            "duplicates_dropped": len(self.duplicates),
            "duplicates": [{"file": c, "copy_of": k} for c, k in self.duplicates],
            "label_disagreements": len(self.disagreements),
            "labelled_by_k": self.disagreements,
            "rule": "label = K of KPxxAyyRz where K and Ayy disagree (the data sheet's rule)",
        }


def iter_recordings(root: str | Path, log: ImportLog) -> Iterator[RawRadar]:
    """Every distinct recording under ``root`` with campaign-qualified person, campaign,
    repetition and content hash in its meta; copies and disagreements go to ``log``."""
    root = Path(root)
    files = find_dat_files(root)
    for p in files:  # every name is checked before the long work starts
        parse_name(p)
    where = campaigns(root, files)
    seen: dict[str, str] = {}
    log.files = len(files)
    for p in files:
        rel = p.relative_to(root).as_posix()
        data = read_bytes(p)
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            log.duplicates.append((rel, seen[digest]))
            continue
        seen[digest] = rel
        raw = parse_bytes(data, p)
        if not raw.meta["codes_agree"]:
            log.disagreements.append(rel)
        campaign = where[p]
        raw.person = f"{campaign}/{raw.person}"
        raw.meta.update(campaign=campaign, recording=rel, sha256=digest)
        raw.meta.pop("file", None)
        raw.meta.pop("location", None)
        yield raw


def frames_from_glasgow(
    root: str | Path, out: str | Path, cfg: ProcessingConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write a frame folder from the ``.dat`` files under ``root``; returns the folder's
    summary with ``glasgow`` (the :class:`ImportLog`) added."""
    from harlab.radar.dataset import write_frames_dataset

    log = ImportLog()
    cfg = cfg or glasgow_processing()
    summary = write_frames_dataset(
        iter_recordings(root, log), out, cfg, progress=progress,
        extra_files={REPORT: lambda: json.dumps(log.to_dict(), indent=2)},
    )
    summary["glasgow"] = log.to_dict()
    return summary
