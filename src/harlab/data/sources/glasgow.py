"""University of Glasgow "Radar signatures of human activities" (raw ``.dat`` files).

``harlab data download glasgow`` fetches the official archive (``Dataset_848.7z``; the
publisher gives no checksum, so the sha256 of what was downloaded is printed). ``path``
is the extracted folder (campaign folders of ``KPxxAyyRz.dat`` files below it; default
``<shared data>/glasgow``). Loading processes every file with the radar chain into frames,
as :mod:`harlab.data.sources.radar_frames` does with ``glasgow_dir``: persons qualified by
campaign, byte-identical copies read once, ``K`` as the label, the person's range bins
found per recording (:mod:`harlab.radar.glasgow_import`). Processing all 1,754 files takes
long, so for training make a frame folder once with ``harlab radar frames-from-glasgow``.

Options: ``label`` (``activity`` or ``person``) and ``processing`` (radar processing
options over the Glasgow defaults), as for ``radar_frames``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harlab.data.recording import RecordingSet
from harlab.data.sources.common import candidate_root, check_options
from harlab.errors import DataError

NAME = "glasgow"
PAGE = "https://researchdata.gla.ac.uk/848/"
CITATION = (
    "F. Fioranelli et al. Radar signatures of human activities. University of Glasgow "
    "research data, doi:10.5525/gla.researchdata.848"
)
INFO: dict[str, Any] = {
    "summary": "Glasgow radar signatures: FMCW 5.8 GHz .dat files, 6 activities, 7 campaigns",
    "subjects": 72,
    "classes": 6,
    "channels": None,
    "rate": 1000.0,
    "size": "1,754 recordings of 5 s (walking 10 s) at 1,000 chirps/s x 128 samples, about "
    "15.9 GB of text",
    "citation": CITATION,
    "licence": "see the dataset page (University of Glasgow research data)",
    "after_download": "harlab radar frames-from-glasgow '{dest}' --out FRAMES/ (a frame "
    "folder for harlab train / harlab reproduce mranet --data FRAMES/)",
    "download": {  # the publisher gives no checksum: harlab prints the computed sha256
        "url": "https://researchdata.gla.ac.uk/848/20/Dataset_848.7z",
        "sha256": None,
        "page": PAGE,
    },
}
_OPTIONS = ("label", "processing", "levels")  # levels: see radar_frames


def _root(path: str | Path | None) -> Path:
    root, where = candidate_root(path, NAME)
    if root is None or not root.is_dir() or not any(root.rglob("*.dat")):
        raise DataError(
            f"Glasgow radar data not found: looked in {where} for .dat files. Run `harlab "
            f"data download glasgow`, or download the archive from {PAGE}, extract it and "
            "pass path= to its folder"
        )
    return root


def _radar_options(options: dict[str, Any]) -> dict[str, Any]:
    check_options(NAME, options, _OPTIONS)
    return dict(options)


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Process the ``.dat`` files under ``path`` into frames, one Recording per frame."""
    from harlab.data.sources import radar_frames

    opts = _radar_options(options)
    return radar_frames.load(None, glasgow_dir=str(_root(path)), **opts)


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """The ``.dat`` files by name, size and mtime (see ``radar_frames``)."""
    from harlab.data.sources import radar_frames

    opts = _radar_options(options)
    root = _root(path)
    return {**radar_frames.fingerprint(None, glasgow_dir=str(root), **opts), "root": str(root)}
