"""Resuming and merging studies: parents of ordinary runs with one summary file.

``harlab ablate danhar`` and ``harlab ablate tasks`` train one config many times (per seed
and variant) into one parent directory whose JSON file (``ablation.json``, ``tasks.json``)
lists every finished run. A study interrupted halfway, or split over machines by seed, must
end as one table without retraining or overwriting anything. :func:`load_study` reads what a
study finished and refuses another config or other variants (one table would mix two
studies); :func:`merge_studies` copies the finished runs of studies trained elsewhere into
the one being resumed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from harlab.config import RunConfig, settings_difference
from harlab.errors import ConfigError
from harlab.runs import first_free

Done = dict[Hashable, dict[str, Any]]


def load_study(directory: str | Path, filename: str, command: str, cfg: RunConfig,
               options: dict[str, list[Any]], key: Callable[[dict[str, Any]], Hashable],
               action: str = "resume") -> tuple[list[int], Done, dict[str, Any]]:
    """The seeds, finished runs (by ``key(record)``) and stored summary of a study.

    The config (up to runtime settings such as paths, threads and progress) and each of
    ``options`` (e.g. ``{"weightings": [...]}``) must equal the stored ones. A run counts as
    finished when its record is in the summary and its ``metrics.json`` is on disk.
    ``action`` names what is refused in the messages ("resume" or "merge").
    """
    path = Path(directory) / filename
    if not path.is_file():
        raise ConfigError(f"cannot {action} {directory}: no {filename} there (not a "
                          f"'{command}' directory)")
    try:
        stored = json.loads(path.read_text())
        old_cfg, runs = stored["config"], stored["runs"]
        seeds = [int(x) for x in stored["seeds"]]
        old = {k: list(stored[k]) for k in options}
        done = {key(r): r for r in runs
                if (Path(directory) / r["run"] / "metrics.json").is_file()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot {action} from {path}: not a readable '{command}' file "
                          f"({type(exc).__name__}: {exc})") from None
    diff = settings_difference(old_cfg, cfg.to_dict(), "now")
    if diff:
        raise ConfigError(f"cannot {action} {directory} with another config ({diff})")
    for name, value in options.items():
        if old[name] != list(value):
            raise ConfigError(f"cannot {action} {directory} with other {name} "
                              f"({old[name]} there, {list(value)} now)")
    return seeds, done, stored


def merge_studies(parent: Path, sources: list[str | Path], done: Done,
                  load: Callable[[Path], tuple[list[int], Done, dict[str, Any]]],
                  ) -> tuple[list[int], list[dict[str, Any]]]:
    """Copy the finished runs of other studies (``load(src)``, which checks they are of the
    same config) into ``parent``, the study being resumed.

    Every source is checked first, so a refused one leaves nothing copied. Runs whose key
    ``parent`` already has stay as they are; unfinished runs of a source are
    counted, not copied; sources are copied, never moved, and a run directory name taken in
    ``parent`` gets a ``-2`` suffix. Updates ``done``; returns the sources' seeds and one
    record per source (``from``, ``copied``, ``already_there``, ``unfinished``, ``runs``).
    """
    loaded = []
    for src in map(Path, sources):  # every source is checked before anything is copied
        if src.resolve() == parent.resolve():
            raise ConfigError(f"cannot merge {src}: that is the study being resumed")
        loaded.append((src, *load(src)))
    seeds: list[int] = []
    info = []
    for src, src_seeds, src_done, stored in loaded:
        seeds += [x for x in src_seeds if x not in seeds]
        copied, there = [], 0
        for k, rec in src_done.items():
            if k in done:
                there += 1
                continue
            dest = first_free(parent, rec["run"],
                              lambda d, f=src / rec["run"]: shutil.copytree(f, d))
            done[k] = {**rec, "run": dest.name, "merged_from": str(src / rec["run"])}
            copied.append(dest.name)
        info.append({"from": str(src), "copied": len(copied), "already_there": there,
                     "unfinished": len(stored.get("runs", [])) - len(src_done),
                     "runs": copied})
    return seeds, info


def open_study(resume: str | Path | None, merge: list[str | Path] | None, seeds: list[int],
               load: Callable[[Path, str], tuple[list[int], Done, dict[str, Any]]],
               create: Callable[[], Path], what: str, say: Callable[..., Any],
               ) -> tuple[Path, list[int], Done, list[dict[str, Any]]]:
    """Start a study in a new directory (``create()``), or resume one, merging others in.

    ``load(directory, action)`` reads and checks a stored study (:func:`load_study`).
    Returns the parent directory, the seeds to train (a resume keeps the stored seeds first
    and never drops one), the finished runs by key, and the record of merges so far.
    """
    if merge and resume is None:
        raise ConfigError(f"--merge copies runs into the {what} being resumed: give it with "
                          "--resume DIR")
    if resume is None:
        parent = create()
        say(f"[bold]{what} directory[/bold] {parent}")
        return parent, list(seeds), {}, []
    parent = Path(resume)
    old_seeds, done, stored = load(parent, "resume")
    say(f"[bold]resuming {what}[/bold] {parent} ({len(done)} finished runs)")
    merged = list(stored.get("merged", []))
    if merge:
        more, info = merge_studies(parent, list(merge), done, lambda src: load(src, "merge"))
        old_seeds += [x for x in more if x not in old_seeds]
        merged += info
        for m in info:
            say(f"merged {m['from']}: {m['copied']} runs copied, {m['already_there']} "
                f"already here, {m['unfinished']} unfinished there (not copied)")
    return parent, [*old_seeds, *(x for x in seeds if x not in old_seeds)], done, merged


def merged_markdown(merged: list[dict[str, Any]] | None) -> str:
    """One line per merged source, for a study's markdown report."""
    return "".join(f"\nMerged from `{m['from']}`: {m['copied']} runs copied "
                   f"({m['already_there']} already here, {m['unfinished']} unfinished "
                   "there).\n" for m in merged or [])
