"""The study engine: a plan of variants x folds x seeds of ordinary runs in one directory.

Every study (``cv``, ``search-ratio``, ``ablate danhar``, ``ablate tasks``) is a base
:class:`~harlab.config.RunConfig`, named variants (``--set``-style overrides), folds and
seeds. :func:`run_study` trains each planned run with :func:`harlab.training.train` into the
study directory, or reuses a finished run of the same name whose computed settings are the
planned ones, rewrites ``study.json`` after every run (an interrupted study keeps what
finished) and reports progress through one event callback; it prints nothing itself.
A study is resumed in its directory (its plan may gain folds and seeds, nothing else may
change) and may first merge the finished runs of other studies of the same plan, e.g. seeds
trained on another machine.

Events (``on_event(kind, info)``): ``study`` (directory, finished runs found), ``merged``
(one per merged source), ``start`` and ``done`` (one per planned run, with ``index``,
``total``, ``run`` and, for ``done``, ``metrics``, ``run_dir`` and ``reused``), ``failed``
(with ``error``; only with ``keep_going``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harlab.config import RunConfig, apply_overrides, from_dict, load_yaml, settings_difference
from harlab.errors import ConfigError, HarlabError
from harlab.fileio import write_json
from harlab.runs import RUN_FORMAT, check_format, copy_finished_run, create_run_dir, first_free
from harlab.tracking import study_scope

STUDY_FILE = "study.json"
DEFAULT_VARIANT = "run"  # the one variant of a study that varies only folds and seeds
Event = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Variant:
    """One arm of a study: a name and the ``key.path=value`` overrides that make it."""

    name: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan: its unique name, what it varies and its complete config."""

    name: str
    variant: str
    fold: int | None
    seed: int
    cfg: RunConfig


@dataclass
class Plan:
    """What a study trains: ``variants`` x ``folds`` x ``seeds`` of ``base``.

    ``folds`` None keeps the base config's split; otherwise each run sets
    ``data.split.fold``. ``seed_split``: the split is drawn with each run's seed too (cv
    over seeds); else only ``train.seed`` follows the seed and the split stays as given.
    ``identity``: more that a resumed or merged study must share (e.g. a checksum of the
    data, which the config's path alone does not pin down across machines).
    """

    kind: str
    base: RunConfig
    variants: list[Variant] = field(default_factory=lambda: [Variant(DEFAULT_VARIANT)])
    folds: list[int] | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    seed_split: bool = False
    identity: dict[str, Any] = field(default_factory=dict)
    fixed_variants: bool = False  # a resume or merge may not add variants (an ablation's arms)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"a study needs distinct variant names, got {names}")
        for what, values in (("folds", self.folds or []), ("seeds", self.seeds)):
            if len(set(values)) != len(values):
                raise ConfigError(f"--{what} must be distinct, got {values}")
        if not self.seeds:
            raise ConfigError("a study needs at least one seed")

    def name(self) -> str:
        """The base config's run name, which every run name starts with."""
        return self.base.run_name()

    def _cells(self) -> list[tuple[Variant, int | None, int]]:
        """(variant, fold, seed) of every run, seed-major (an interrupted study still has
        complete pairs)."""
        return [(v, fold, seed) for seed in self.seeds
                for fold in (self.folds if self.folds is not None else [None])
                for v in self.variants]

    def runs(self) -> list[PlannedRun]:
        """Every planned run with its complete config, in :meth:`_cells` order."""
        return [PlannedRun(self._run_name(v, fold, seed), v.name, fold, seed,
                           self.config(v, fold, seed)) for v, fold, seed in self._cells()]

    def run_names(self) -> list[str]:
        """The names of :meth:`runs` without building their configs."""
        return [self._run_name(v, fold, seed) for v, fold, seed in self._cells()]

    def _run_name(self, v: Variant, fold: int | None, seed: int) -> str:
        # a named variant is always in the name: a resume that adds variants keeps the names
        parts = [self.name()] + ([v.name] if v.name != DEFAULT_VARIANT else [])
        parts += [f"fold{fold}"] if fold is not None else []
        return "_".join([*parts, f"seed{seed}"])

    def config(self, v: Variant, fold: int | None, seed: int) -> RunConfig:
        """The complete config of one run."""
        cfg = from_dict(apply_overrides(self.base.to_dict(), list(v.overrides)))
        if fold is not None:
            cfg.data.split.fold = fold
        if self.seed_split:
            cfg.data.split.seed = seed
        cfg.train.seed = seed
        cfg.name = self._run_name(v, fold, seed)
        return cfg

    def record(self) -> dict[str, Any]:
        """What must match for a resume or merge (variants, folds and seeds may be added;
        a variant kept under its name keeps its overrides)."""
        return {"kind": self.kind, "base": self.base.to_dict(),
                "variants": [[v.name, list(v.overrides)] for v in self.variants],
                "seed_split": self.seed_split, "folds_given": self.folds is not None,
                "identity": self.identity, "fixed_variants": self.fixed_variants}


@dataclass
class RunResult:
    """A planned run, finished: its directory and ``metrics.json``."""

    planned: PlannedRun
    run_dir: Path
    metrics: dict[str, Any]
    reused: bool = False


def read_study(directory: Path, action: str) -> dict[str, Any]:
    """A study directory's ``study.json``; a one-line error where it is missing,
    unreadable or of another run format. ``action`` names what is refused."""
    path = directory / STUDY_FILE
    if not path.is_file():
        raise ConfigError(f"cannot {action} {directory}: no {STUDY_FILE} there (not a study "
                          "directory)")
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(stored, dict):
            raise TypeError("not a mapping")
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot {action} from {path}: unreadable ({exc})") from None
    if stored.get("harlab_run_format") != RUN_FORMAT:
        raise ConfigError(f"cannot {action} {directory}: written in run format "
                          f"{stored.get('harlab_run_format')}; this harlab reads format "
                          f"{RUN_FORMAT} only")
    return stored


def _check_same_plan(stored: dict[str, Any], plan: Plan, where: Path, action: str) -> None:
    """ConfigError naming the first difference between a stored plan and ``plan``."""
    now = json.loads(json.dumps(plan.record(), default=str))
    old = stored.get("plan") or {}
    if old.get("kind") != now["kind"]:
        raise ConfigError(f"cannot {action} {where}: it is a {old.get('kind')!r} study, this "
                          f"is {now['kind']!r}")
    diff = settings_difference(old.get("base") or {}, now["base"], "now")
    if diff:
        raise ConfigError(f"cannot {action} {where} with another config ({diff})")
    for key in ("seed_split", "folds_given", "identity"):
        if old.get(key, {} if key == "identity" else None) != now[key]:
            raise ConfigError(f"cannot {action} {where} with other {key.replace('_', ' ')} "
                              f"({old.get(key)} there, {now[key]} now)")
    if now["fixed_variants"] and old.get("variants") != now["variants"]:
        raise ConfigError(f"cannot {action} {where} with other variants "
                          f"({[n for n, _ in old.get('variants') or []]} there, "
                          f"{[n for n, _ in now['variants']]} now)")
    stored_variants = dict((n, o) for n, o in old.get("variants") or [])
    for name, overrides in now["variants"]:
        if name in stored_variants and stored_variants[name] != overrides:
            raise ConfigError(f"cannot {action} {where}: variant {name} is {overrides} now, "
                              f"{stored_variants[name]} there")


def finished_runs(parent: Path) -> dict[str, Path]:
    """The finished runs directly under ``parent`` by run name (``config.yaml``'s name).

    A run counts as finished when it holds ``metrics.json``; of two finished runs with one
    name (a merge next to a retrain) the later directory wins.
    """
    out: dict[str, Path] = {}
    for d in sorted(p for p in parent.iterdir() if p.is_dir()):
        if not ((d / "metrics.json").is_file() and (d / "config.yaml").is_file()):
            continue
        try:
            out[str(load_yaml(d / "config.yaml").get("name"))] = check_format(d)
        except HarlabError as exc:
            raise ConfigError(f"{d}: not a readable run of this study ({exc})") from None
    return out


def open_study(plan: Plan, out: str | Path, command: str = "",
               resume: str | Path | None = None, merge: list[str | Path] | None = None,
               on_event: Event | None = None, parent: Path | None = None,
               extra: dict[str, Any] | None = None,
               verify: Callable[[Path], None] | None = None) -> tuple[Path, dict[str, Any]]:
    """A new study directory under ``out`` (or ``parent``, a new directory the caller
    created, e.g. to simulate data into), or the one being resumed (``merge``: copy the
    finished runs of these other studies in first). Returns it and its study record;
    a resumed plan keeps its stored variants, folds and seeds first and never drops one.
    ``extra``: facts a new study records (``study.json``'s ``extra``), e.g. its data.
    ``verify(run_dir)``: raises ConfigError for a run to merge that this machine would not
    have trained the same way (e.g. other data); every run is checked before any is copied."""
    emit = on_event or (lambda kind, info: None)
    if merge and resume is None:
        raise ConfigError("--merge copies runs into the study being resumed: give it with "
                          "--resume DIR")
    if resume is None:
        parent = parent or create_run_dir(out, f"{plan.kind}_{plan.name()}")
        record = {"harlab_run_format": RUN_FORMAT, "plan": plan.record(), "command": command,
                  "extra": dict(extra or {}),
                  "started": datetime.now().isoformat(timespec="seconds"), "resumes": [],
                  "merged": [], "seeds": list(plan.seeds), "folds": plan.folds, "runs": []}
        write_json(parent / STUDY_FILE, record)
        emit("study", {"directory": str(parent), "resumed": False, "finished": 0})
        return parent, record
    parent = Path(resume)
    record = read_study(parent, "resume")
    _check_same_plan(record, plan, parent, "resume")
    _merge_sources(parent, plan, record, [Path(m) for m in merge or []], verify, emit)
    record["resumes"].append({"command": command,
                              "at": datetime.now().isoformat(timespec="seconds")})
    emit("study", {"directory": str(parent), "resumed": True,
                   "finished": len(finished_runs(parent))})
    return parent, record


def _merge_sources(parent: Path, plan: Plan, record: dict[str, Any], sources: list[Path],
                   verify: Callable[[Path], None] | None, emit: Event) -> None:
    """Grow ``plan`` by the stored plans (resumed study first), then copy in the finished
    runs of ``sources`` it lacks: every source and run is checked before any is copied."""
    checked = [(src, read_study(src, "merge")) for src in sources]
    for src, stored in checked:
        if src.resolve() == parent.resolve():
            raise ConfigError(f"cannot merge {src}: that is the study being resumed")
        _check_same_plan(stored, plan, src, "merge")
    for _, stored in checked:  # the plan grows by what the sources planned
        _extend(plan, stored)
    _extend(plan, record)
    planned = {p.name: p for p in plan.runs()}
    copies = [(src, _to_copy(parent, src, planned)) for src, _ in checked]
    for _, (take, _, _) in copies:
        for name, run in take.items():
            _check_merged(run, planned[name])
            if verify is not None:
                verify(run)
    for src, (take, there, unplanned) in copies:
        info = _merge(parent, src, take, there, unplanned)
        record["merged"].append(info)
        emit("merged", info)


def _extend(plan: Plan, stored: dict[str, Any]) -> None:
    """Put a stored study's variants, seeds (and folds) first in ``plan``; new ones follow."""
    mine = {v.name: v for v in plan.variants}
    old = [Variant(n, tuple(o)) for n, o in (stored.get("plan") or {}).get("variants") or []]
    plan.variants = [*old, *(v for v in plan.variants if v.name not in {o.name for o in old})]
    plan.variants = [mine.get(v.name, v) for v in plan.variants]
    plan.seeds = [*stored.get("seeds", []), *(s for s in plan.seeds
                                             if s not in stored.get("seeds", []))]
    if plan.folds is not None:
        old = stored.get("folds") or []
        plan.folds = [*old, *(f for f in plan.folds if f not in old)]


def _to_copy(parent: Path, src: Path, planned: dict[str, PlannedRun]
             ) -> tuple[dict[str, Path], int, int]:
    """The finished runs of study ``src`` that ``parent``'s plan has and ``parent`` lacks,
    by name; how many ``parent`` has already; how many the plan does not have."""
    mine, theirs = finished_runs(parent), finished_runs(src)
    take = {name: run for name, run in sorted(theirs.items())
            if name not in mine and name in planned}
    there = sum(name in mine for name in theirs)
    return take, there, len(theirs) - len(take) - there


def _check_merged(run_dir: Path, p: PlannedRun) -> None:
    """ConfigError unless the run to merge was trained with ``p``'s settings."""
    try:
        stored = load_yaml(run_dir / "config.yaml")
    except HarlabError as exc:
        raise ConfigError(f"cannot merge {run_dir}: not a readable run ({exc})") from None
    if diff := _difference(stored, p):
        raise ConfigError(f"cannot merge {run_dir}: it was trained with other settings "
                          f"({diff})")


def _merge(parent: Path, src: Path, take: dict[str, Path], there: int, unplanned: int
           ) -> dict[str, Any]:
    """Copy the runs ``take`` of study ``src`` (copied, never moved; a taken directory name
    gets ``-2``); unfinished runs there are counted."""
    copied = []
    for run in take.values():
        dest = first_free(parent, run.name, Path.mkdir)
        copy_finished_run(run, dest)  # metrics.json last: a killed copy is not "finished"
        copied.append(dest.name)
    started = [d for d in src.iterdir() if (d / "config.yaml").is_file()
               and not (d / "metrics.json").is_file()]  # killed or failed there
    return {"from": str(src), "copied": len(copied), "already_there": there,
            "not_planned": unplanned, "unfinished": len(started), "runs": copied}


def run_study(parent: Path, plan: Plan, record: dict[str, Any],
              on_event: Event | None = None,
              after_run: Callable[[list[RunResult]], None] | None = None,
              train: Callable[..., Any] | None = None,
              train_only: set[str] | None = None,
              include: Callable[[PlannedRun], bool] | None = None,
              keep_going: bool = False) -> list[RunResult]:
    """Train or reuse every planned run; ``study.json`` and ``after_run(results so far)``
    after each one. Returns the finished runs in plan order. ``train_only``: variants that
    may be trained now; runs of the others are reused where finished, else left out.
    ``include``: the planned runs this invocation is about (default: all); a resumed plan
    also holds the runs of earlier invocations, which stay where they are.
    ``keep_going``: a run that fails with a one-line error (HarlabError) is recorded in
    ``study.json``'s ``failed`` with a ``failed`` event, and the study goes on; a resume
    trains it again."""
    if train is None:
        from harlab.training import train
    emit = on_event or (lambda kind, info: None)
    done = finished_runs(parent)
    planned = [p for p in plan.runs() if include is None or include(p)]
    # every finished run first: a study interrupted again still lists all it has
    found = {p.name: _reuse(done[p.name], p) for p in planned if p.name in done}
    results: dict[str, RunResult] = {}

    def where(i: int, p: PlannedRun) -> dict[str, Any]:
        return {"index": i, "total": len(planned), "run": p.name, "variant": p.variant,
                "fold": p.fold, "seed": p.seed}

    def saved() -> list[RunResult]:
        ordered = [results[q.name] for q in planned if q.name in results]
        _save(parent, plan, record, ordered)
        if after_run is not None:
            after_run(ordered)
        return ordered

    def done_event(i: int, p: PlannedRun, res: RunResult) -> None:
        emit("done", {**where(i, p), "metrics": res.metrics, "run_dir": str(res.run_dir),
                      "reused": res.reused})

    for i, p in enumerate(planned, start=1):
        if p.name in found:
            results[p.name] = found[p.name]
            done_event(i, p, found[p.name])
    if found:  # the reused runs are saved once, not once each
        saved()
    for i, p in enumerate(planned, start=1):
        if p.name in found or (train_only is not None and p.variant not in train_only):
            continue
        emit("start", where(i, p))
        cfg = copy.deepcopy(p.cfg)
        cfg.output_dir = str(parent)
        try:
            with study_scope(parent):  # tracked runs are grouped by study (harlab.tracking)
                trained = train(cfg)
        except HarlabError as exc:
            if not keep_going:
                raise
            record["failed"] = [*(f for f in record.get("failed", []) if f["name"] != p.name),
                                {"name": p.name, "variant": p.variant, "fold": p.fold,
                                 "seed": p.seed, "error": str(exc)}]
            saved()
            emit("failed", {**where(i, p), "error": str(exc)})
            continue
        if trained.is_main:
            results[p.name] = RunResult(p, trained.run_dir, trained.metrics)
            saved()
            done_event(i, p, results[p.name])
    return [results[q.name] for q in planned if q.name in results]


def _reuse(run_dir: Path, p: PlannedRun) -> RunResult:
    """A finished run of the planned name; refused when its settings differ from the plan."""
    try:
        stored = load_yaml(run_dir / "config.yaml")
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, HarlabError) as exc:
        raise ConfigError(f"{run_dir}: not a readable finished run ({exc})") from None
    if diff := _difference(stored, p):
        raise ConfigError(f"{run_dir} is named {p.name} but was trained with other settings "
                          f"({diff}); move it out of the study")
    return RunResult(p, run_dir, metrics, reused=True)


def _difference(stored: dict[str, Any], p: PlannedRun) -> str:
    """The settings in which a run's stored config differs from ``p``'s ('' when none)."""
    planned = p.cfg.to_dict()
    if planned["train"]["precision"] == "auto":  # resolved per machine: the run says which
        planned["train"]["precision"] = (stored.get("train") or {}).get("precision", "auto")
    return settings_difference(stored, planned, "planned")


def _save(parent: Path, plan: Plan, record: dict[str, Any], results: list[RunResult]) -> None:
    record["seeds"], record["folds"] = list(plan.seeds), plan.folds
    done = {r.planned.name for r in results}
    # a failure is kept until the run finishes (a resume that trains it again clears it)
    record["failed"] = [f for f in record.get("failed", []) if f["name"] not in done]
    record["runs"] = [{"name": r.planned.name, "variant": r.planned.variant,
                       "fold": r.planned.fold, "seed": r.planned.seed,
                       "run": r.run_dir.name, "reused": r.reused} for r in results]
    record["complete"] = all(name in done for name in plan.run_names())
    record["plan"]["variants"] = [[v.name, list(v.overrides)] for v in plan.variants]
    write_json(parent / STUDY_FILE, record)


def merged_markdown(merged: list[dict[str, Any]] | None) -> str:
    """One line per merged source, for a study's markdown report."""
    return "".join(f"\nMerged from `{m['from']}`: {m['copied']} runs copied "
                   f"({m['already_there']} already here, {m['unfinished']} unfinished "
                   "there).\n" for m in merged or [])
