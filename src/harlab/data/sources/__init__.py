"""Dataset source registry.

Each source lives in its own module and exposes:

* ``load(path: str | Path | None = None, **options) -> RecordingSet`` parsing the
  original files exactly (``path=None`` means the default location, if any);
* optionally ``stream(path=None, **options) -> RecordingStream``: the same recordings,
  read one at a time (``load`` is then ``stream(...).collect()``; a source without it is
  loaded whole, then windowed);
* ``fingerprint(path=None, **options) -> dict`` identifying the input files (names,
  sizes, mtimes, package versions) so processed caches are keyed on the real input;
* ``INFO``: a dict with ``summary``, ``subjects``, ``classes``, ``channels``, ``rate``,
  ``citation``, ``licence``.

Modules are imported lazily so ``harlab datasets`` stays fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harlab.data.recording import RecordingSet, RecordingStream
from harlab.errors import unknown_name


@dataclass(frozen=True)
class SourceSpec:
    """A registered dataset source (module imported on first use)."""

    name: str
    module: str
    summary: str

    def _mod(self) -> ModuleType:
        return importlib.import_module(self.module)

    def load(self, path: str | Path | None = None, **options: Any) -> RecordingSet:
        return self._mod().load(path, **options)

    @property
    def streams(self) -> bool:
        """Whether the source reads its recordings one at a time (``stream``)."""
        return hasattr(self._mod(), "stream")

    def stream(self, path: str | Path | None = None, **options: Any) -> RecordingStream:
        return self._mod().stream(path, **options)

    def fingerprint(self, path: str | Path | None = None, **options: Any) -> dict:
        return self._mod().fingerprint(path, **options)

    @property
    def info(self) -> dict:
        return dict(self._mod().INFO)


SOURCES: dict[str, SourceSpec] = {
    s.name: s
    for s in [
        SourceSpec(
            "hapt",
            "harlab.data.sources.hapt",
            "UCI HAPT raw acc+gyro, 30 subjects, 12 activities, 50 Hz (offline via PyPI)",
        ),
        SourceSpec(
            "usc_had",
            "harlab.data.sources.usc_had",
            "USC-HAD acc+gyro, 14 subjects, 12 activities, 100 Hz (original .mat files)",
        ),
        SourceSpec(
            "wisdm",
            "harlab.data.sources.wisdm",
            "WISDM v1.1 raw phone accelerometer, 36 users, 6 activities, 20 Hz (raw .txt)",
        ),
        SourceSpec(
            "uci_har",
            "harlab.data.sources.uci_har",
            "UCI-HAR Inertial Signals, 30 subjects, 6 activities, 128-sample windows at 50 Hz",
        ),
        SourceSpec(
            "unimib",
            "harlab.data.sources.unimib",
            "UniMiB-SHAR (2017: 151-sample windows, 17 ADL+fall classes; 2016: 51 samples)",
        ),
        SourceSpec(
            "pamap2",
            "harlab.data.sources.pamap2",
            "PAMAP2 3 IMUs + heart rate, 9 subjects, 18 activities, 100 Hz (.dat)",
        ),
        SourceSpec(
            "opportunity",
            "harlab.data.sources.opportunity",
            "OPPORTUNITY challenge subset: 113 channels, gestures/locomotion, 30 Hz (.dat)",
        ),
        SourceSpec(
            "dsads",
            "harlab.data.sources.dsads",
            "Daily and Sports Activities: 5 IMUs (45 ch), 8 subjects, 19 activities, 25 Hz",
        ),
        SourceSpec(
            "basicmotions",
            "harlab.data.sources.basicmotions",
            "BasicMotions smartwatch acc+gyro, 4 activities, 80 cases of 10 s at 10 Hz (.ts)",
        ),
        SourceSpec(
            "radar_frames",
            "harlab.data.sources.radar_frames",
            "Radar micro-Doppler frames (harlab simulate radar, Glasgow .dat, your own .npy/.png)",
        ),
        SourceSpec(
            "glasgow",
            "harlab.data.sources.glasgow",
            "Glasgow radar signatures: FMCW 5.8 GHz .dat files, 6 activities (processed on load)",
        ),
        SourceSpec(
            "custom",
            "harlab.data.sources.custom",
            "Your own CSV/Parquet recordings (see README: bring your own data)",
        ),
        SourceSpec(
            "weak",
            "harlab.data.sources.weak",
            "Weakly-labelled long windows: target bouts spliced into background (any base)",
        ),
    ]
}


def get_source(name: str) -> SourceSpec:
    """Look up a source by name; unknown names raise a ConfigError with a suggestion."""
    try:
        return SOURCES[name]
    except KeyError:
        raise unknown_name("dataset", name, SOURCES) from None


def list_sources() -> list[SourceSpec]:
    return list(SOURCES.values())
