"""Reproduce the DanHAR result tables under the paper's protocol and an honest one.

For every chosen dataset and protocol the preset ``configs/danhar/<dataset>_<protocol>.yaml``
is loaded through the normal config loader (strict keys) and becomes one study on the
engine (:mod:`harlab.experiments.engine`) in ``<reproduction>/<dataset>_<protocol>/``: its
variants are the table rows -- standard CNN (``cnn``), attention CNN (``danhar_cnn``),
ResNet (``resnet``), attention ResNet (``danhar``) and DeepConvLSTM, the one compared method
harlab has -- times seeds (and, for the honest subject-wise protocol, folds). Every model is
an ordinary run directory. The reproduction directory gets ``results.json`` (every run's
numbers and run directory), ``results.md`` (one table: mean ± std over seeds/folds next to
the published number, paired attention differences) and ``results.png``. Datasets whose
files are not found are skipped, with the loader's message in the table. Limits (epochs,
seeds, folds, seconds per run) make quick runs possible; they are recorded in the results.

``resume=<its directory>`` continues a reproduction with the same training options
(epochs, time cap, overrides, split seed): each preset's study is resumed, so finished runs
are reused and more seeds, folds, datasets or models extend the table. Folds can train
apart (``only_folds``); a resume with ``merge`` copies another reproduction's finished runs
in after checking each one's settings (the engine) and its data summary against this
machine's (:func:`same_data`). A run that fails with a one-line error is recorded and the
reproduction goes on.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from harlab.config import RunConfig, from_dict, load_config, load_yaml
from harlab.data.prepare import data_summary, prepare
from harlab.data.sources import get_source
from harlab.errors import ConfigError, HarlabError
from harlab.evaluation.decisions import whole_decision
from harlab.evaluation.report import hardware
from harlab.experiments.danhar_report import (
    attention_pairs,
    plot_results,
    results_markdown,
    summarize,
)
from harlab.experiments.engine import (
    STUDY_FILE,
    Event,
    Plan,
    RunResult,
    Variant,
    open_study,
    run_study,
)
from harlab.experiments.paper_numbers import MODEL_ROWS, reference
from harlab.fileio import to_jsonable, write_json
from harlab.runs import RUN_FORMAT, create_run_dir

PROTOCOLS = ("paper", "honest")
MODELS = tuple(MODEL_ROWS)
KIND = "reproduce_danhar"
RESULTS = "results.json"
# dataset key -> what the reader should know about the data behind it
DATASETS: dict[str, str] = {
    "wisdm": "WISDM v1.1 raw (Table I)",
    "unimib": "UniMiB-SHAR 2017, AF-17 (Table II)",
    "pamap2": "PAMAP2 Protocol (Table III)",
    "opportunity": "OPPORTUNITY gestures (Table IV)",
    "weak": "weak labels built from USC-HAD; the paper's iPhone set is private (Table VI)",
    "hapt": "UCI HAPT raw, 12 activities (not in the paper)",
    "uci_har": "UCI-HAR classes and split built from HAPT raw (not in the paper)",
    "uci_har_inertial": "UCI-HAR Inertial Signals, the release's windows (not in the paper)",
    "usc_had": "USC-HAD (not in the paper)",
    "dsads": "Daily and Sports Activities, 19 activities, 45 channels (not in the paper)",
    "opportunity_locomotion": "OPPORTUNITY locomotion, 4 modes + Null (not in the paper)",
}


def default_preset_dir() -> Path:
    """``configs/danhar`` of the source checkout (``$HARLAB_PRESETS`` overrides it)."""
    env = os.environ.get("HARLAB_PRESETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "configs" / "danhar"


def preset_datasets(preset_dir: str | Path | None = None) -> list[str]:
    """Dataset keys with a ``<key>_paper.yaml`` or ``<key>_honest.yaml`` in the preset folder."""
    root = Path(preset_dir) if preset_dir is not None else default_preset_dir()
    if not root.is_dir():
        raise ConfigError(f"preset folder {root} not found")
    keys = {p.stem.rsplit("_", 1)[0] for p in root.glob("*.yaml")
            if p.stem.rsplit("_", 1)[-1] in PROTOCOLS}
    return [k for k in DATASETS if k in keys] + sorted(keys - set(DATASETS))


def preset_path(dataset: str, protocol: str, preset_dir: str | Path | None = None) -> Path:
    """The preset file of (dataset, protocol); ConfigError if it does not exist."""
    root = Path(preset_dir) if preset_dir is not None else default_preset_dir()
    path = root / f"{dataset}_{protocol}.yaml"
    if not path.is_file():
        raise ConfigError(f"no preset {path} (protocols: {', '.join(PROTOCOLS)})")
    return path


def load_preset(
    dataset: str, protocol: str, overrides: list[str] | None = None,
    preset_dir: str | Path | None = None,
) -> RunConfig:
    """Load a preset through the strict config loader, with ``key=value`` overrides."""
    return load_config(preset_path(dataset, protocol, preset_dir), overrides or [])


def data_note(cfg: RunConfig) -> tuple[bool, str, str]:
    """Whether the preset's data are found here, a short note, and the loader's message."""
    try:
        get_source(cfg.data.dataset).fingerprint(cfg.data.path, **dict(cfg.data.options))
    except HarlabError as exc:
        first = str(exc).split(". ")[0].rstrip(".")
        return False, f"data absent ({first})", str(exc)
    return True, "data found", ""


def _check_choice(kind: str, chosen: list[str], valid: tuple[str, ...] | dict) -> None:
    bad = [c for c in chosen if c not in valid]
    if bad or not chosen:
        raise ConfigError(f"unknown {kind} {bad or chosen}; valid: {', '.join(valid)}")
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"{kind} repeat: {chosen}")


def _max_time(seconds: float) -> str:
    """Seconds as Lightning's ``DD:HH:MM:SS`` max_time string."""
    s = max(1, int(round(seconds)))
    return f"00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"




def model_variant(model: str) -> Variant:
    """The table row ``model`` as a study variant. DeepConvLSTM is another family: it takes
    its own defaults (the published architecture), not the preset's CNN/ResNet options."""
    sets = (f"model.name={model}",)
    if model == "deepconvlstm":
        sets += ("model.options={}",)
    return Variant(model, sets)


def preset_plan(dataset: str, protocol: str, base: RunConfig, models: list[str],
                seeds: list[int], folds: int | None, only_folds: list[int] | None = None,
                split_seed: int | None = None) -> Plan:
    """The study of one preset: every model x seed (x fold).

    Subject-wise k-fold presets run their first ``folds`` folds (all when None), or exactly
    the fold ids ``only_folds`` (0-based); every other split is one fixed split per seed.
    The seed sets the training seed and, unless ``split_seed`` is given, the split seed too
    (each seed then draws its own folds: repeated cross-validation). With ``split_seed``
    every seed trains on the same folds, so the spread is over training seeds and folds only.
    """
    split = base.data.split
    fold_ids: list[int] | None = None
    if split.kind == "subject" and not split.test_subjects:
        if split.folds == "loso":
            raise ConfigError(f"{dataset}/{protocol}: reproduce needs an integer split.folds")
        k = int(split.folds)
        fold_ids = list(range(k if folds is None else min(folds, k)))
        if only_folds is not None:
            outside = sorted({f for f in only_folds if not 0 <= f < k})
            if outside:
                raise ConfigError(f"--only-folds {','.join(map(str, outside))}: the "
                                  f"{dataset}/{protocol} preset has {k} folds, ids 0-{k - 1}")
            fold_ids = sorted(set(only_folds))
    if split_seed is not None:
        base = dataclasses.replace(base, data=dataclasses.replace(
            base.data, split=dataclasses.replace(split, seed=split_seed)))
    return Plan(KIND, base, [model_variant(m) for m in models], fold_ids, list(seeds),
                seed_split=split_seed is None)


@dataclass
class Preset:
    """One (dataset, protocol) of the reproduction; ``plan`` is None where it is skipped."""

    dataset: str
    protocol: str
    note: str
    plan: Plan | None = None
    data_error: str = ""
    preset: str = ""
    description: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.dataset}_{self.protocol}"


def _plan_presets(datasets: list[str], protocols: list[str], models: list[str],
                  limits: dict[str, Any], only_folds: list[int] | None,
                  preset_dir: str | Path | None, runtime: list[str]) -> list[Preset]:
    """Every preset's plan, built before anything is created (a bad override fails first);
    ``runtime``: overrides that do not change what a run computes (threads)."""
    root = Path(preset_dir) if preset_dir is not None else default_preset_dir()
    extra = [*limits["overrides"], *runtime]
    if limits["epochs"] is not None:
        extra.append(f"train.max_epochs={int(limits['epochs'])}")
    if limits["max_time_per_run"] is not None:
        extra.append(f"train.max_time={_max_time(limits['max_time_per_run'])}")
    extra.append("train.progress=false")
    out: list[Preset] = []
    for ds in datasets:
        for proto in protocols:
            path = root / f"{ds}_{proto}.yaml"
            if not path.is_file():
                out.append(Preset(ds, proto, f"no {proto} preset in {root}"))
                continue
            base = load_preset(ds, proto, extra, preset_dir)
            found, note, message = data_note(base)
            p = Preset(ds, proto, f"{DATASETS.get(ds, base.name or ds)}; {note}",
                       data_error=message, preset=str(path), description=base.description)
            if found:
                p.plan = preset_plan(ds, proto, base, models, list(range(limits["seeds"])),
                                     limits["folds"], only_folds, limits["split_seed"])
            out.append(p)
    return out


def _check_args(datasets: list[str], protocols: list[str], models: list[str],
                known: list[str], limits: dict[str, Any], only_folds: list[int] | None,
                merge: list[str | Path] | None, resume: str | Path | None
                ) -> list[int] | None:
    """One-line errors for the options; the sorted distinct ``only_folds``."""
    _check_choice("dataset(s)", datasets, tuple(known))
    _check_choice("protocol(s)", protocols, PROTOCOLS)
    _check_choice("model(s)", models, MODELS)
    for name in ("seeds", "folds", "epochs"):
        value = limits[name]
        if value is not None and (isinstance(value, bool) or int(value) < 1):
            raise ConfigError(f"--{name} must be >= 1, got {value}")
    cap = limits["max_time_per_run"]
    if cap is not None and not cap > 0:
        raise ConfigError(f"--max-time-per-run must be positive, got {cap}")
    split_seed = limits["split_seed"]
    if split_seed is not None and (isinstance(split_seed, bool) or int(split_seed) < 0):
        raise ConfigError(f"--split-seed must be >= 0, got {split_seed}")
    if merge and resume is None:
        raise ConfigError("--merge needs --resume: the reproduction to merge into")
    if only_folds is None:
        return None
    if limits["folds"] is not None:
        raise ConfigError("give --folds (the first N folds) or --only-folds (these fold "
                          "ids), not both")
    if not only_folds or any(isinstance(f, bool) or int(f) < 0 for f in only_folds):
        raise ConfigError(f"--only-folds needs fold ids >= 0, got {only_folds}")
    return sorted({int(f) for f in only_folds})


# the limits every run of one table shares; seeds, folds, datasets, models and protocols may
# grow on resume (each preset's study checks its configs too)
_TRAINING = ("epochs", "max_time_per_run", "overrides", "split_seed")


def read_reproduction(directory: str | Path, limits: dict[str, Any], verb: str
                      ) -> dict[str, Any]:
    """A reproduction's ``results.json``; refused in one line where it is missing, of
    another run format, or trained with other training limits (``verb``: resume or merge)."""
    path = Path(directory) / RESULTS
    if not path.is_file():
        raise ConfigError(f"cannot {verb} {directory}: no {RESULTS} there (not a 'harlab "
                          "reproduce danhar' directory)")
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        old = {k: stored["limits"][k] for k in _TRAINING}
        fmt, kind = stored.get("harlab_run_format"), stored.get("kind")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot {verb} from {path}: not a readable reproduce results "
                          f"file ({type(exc).__name__}: {exc})") from None
    if fmt != RUN_FORMAT or kind != KIND:
        raise ConfigError(f"cannot {verb} {directory}: a {kind!r} record in run format {fmt}; "
                          f"this harlab reads {KIND!r} format {RUN_FORMAT} only")
    now = {k: limits[k] for k in _TRAINING}
    if old != now:
        diff = "; ".join(f"{k}: original {old[k]!r}, now {now[k]!r}"
                         for k in now if old[k] != now[k])
        raise ConfigError(f"cannot {verb} {directory} with different training options "
                          f"({diff}). The original command: {stored.get('command') or '?'}")
    return stored


def _same_normalisation(a: Any, b: Any) -> bool:
    """Normalisation statistics equal up to float32 rounding (other CPUs sum differently)."""
    if a is None or b is None:
        return a is b
    try:
        return all(np.allclose(np.asarray(a[k], float), np.asarray(b[k], float),
                               rtol=1e-4, atol=1e-6) for k in ("mean", "std"))
    except (KeyError, TypeError, ValueError):
        return False


def same_data() -> Callable[[Path], None]:
    """A merge check: refuse a run whose ``data.json`` differs from what this machine's
    data give for its config (windows per part, split subjects and sessions, classes,
    drops, normalisation up to rounding). Summaries are computed once per data config."""
    summaries: dict[str, dict[str, Any]] = {}

    def verify(run_dir: Path) -> None:
        try:
            cfg = from_dict(load_yaml(run_dir / "config.yaml"))
            theirs = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, HarlabError) as exc:
            raise ConfigError(f"cannot merge {run_dir}: its config.yaml / data.json are not "
                              f"readable ({type(exc).__name__}: {exc})") from None
        which = json.dumps(dataclasses.asdict(cfg.data), sort_keys=True, default=str)
        if which not in summaries:
            summaries[which] = json.loads(json.dumps(to_jsonable(
                data_summary(prepare(cfg.data)))))
        data = summaries[which]
        for key in ("dataset", "channels", "rate", "window_length", "window_step",
                    "class_ids", "split_subjects", "split_sessions", "windows", "dropped"):
            if theirs.get(key) != data.get(key):
                raise ConfigError(f"cannot merge {run_dir}: it was trained on other data "
                                  f"({key}: {theirs.get(key)!r} there, {data.get(key)!r} "
                                  "here)")
        if not _same_normalisation(theirs.get("normalization"), data.get("normalization")):
            raise ConfigError(f"cannot merge {run_dir}: it was trained on other data (its "
                              "normalisation statistics differ from this machine's)")

    return verify


def run_record(p: Preset, res: RunResult, merged_from: dict[str, str]) -> dict[str, Any]:
    """One finished run's line in ``results.json``, from its ``metrics.json``."""
    m = res.metrics
    test = m["test"]
    whole = whole_decision(m.get("decisions"), "activity")
    out = {"dataset": p.dataset, "protocol": p.protocol, "model": res.planned.variant,
           "seed": res.planned.seed, "fold": res.planned.fold, "error": None,
           "run_dir": str(res.run_dir), "reused": res.reused,
           "accuracy": float(test["accuracy"]), "macro_f1": float(test["macro_f1"]),
           "segment_macro_f1": whole.get("macro_f1"), "n_segments": whole.get("decisions"),
           "weighted_f1": float(test["weighted_f1"]), "n_test": int(test["n"]),
           "parameters": int(m["parameters"]), "train_seconds": float(m["train_seconds"]),
           "epochs_trained": int(m["epochs_trained"]),
           "best_val_macro_f1": m.get("best_val_macro_f1"), "split": m["split"],
           "warnings": list(m.get("warnings", []))}
    out.update({k: m.get(k) for k in ("trained_at", "cpu", "threads", "load_average")})
    if res.run_dir.name in merged_from:
        out["merged_from"] = merged_from[res.run_dir.name]
    return out


def _failed_records(p: Preset, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of a preset's study that failed and have not finished since."""
    return [{"dataset": p.dataset, "protocol": p.protocol, "model": f["variant"],
             "seed": f["seed"], "fold": f["fold"], "error": f["error"]}
            for f in record.get("failed", [])]


def _forward(p: Preset, emit: Event, merges: list[dict[str, Any]]) -> Event:
    """A preset study's events for the caller, naming dataset, protocol and model; its
    merges are collected (the reproduction reports them per source)."""

    def on_event(kind: str, info: dict[str, Any]) -> None:
        if kind == "merged":
            merges.append(info)
            return
        if kind not in ("start", "done", "failed"):
            return
        out = {"dataset": p.dataset, "protocol": p.protocol, "model": info["variant"],
               "seed": info["seed"], "fold": info["fold"], "run": info["run"],
               "error": info.get("error")}
        if kind == "done":
            m = info["metrics"]
            out.update(reused=info["reused"], accuracy=m["test"]["accuracy"],
                       macro_f1=m["test"]["macro_f1"], epochs_trained=m["epochs_trained"],
                       train_seconds=m["train_seconds"])
        emit(kind, out)

    return on_event


def _open_preset(p: Preset, parent: Path, merge: list[Path], command: str,
                 verify: Callable[[Path], None], emit: Event) -> tuple[Path, dict[str, Any]]:
    """Start or resume the study of one preset in ``<parent>/<dataset>_<protocol>`` and
    merge the same preset's study of every ``merge`` reproduction into it."""
    assert p.plan is not None
    sub = parent / p.key
    sources = [m / p.key for m in merge if (m / p.key / STUDY_FILE).is_file()]
    if not (sub / STUDY_FILE).is_file():
        if sub.exists():
            raise ConfigError(f"{sub} exists but holds no {STUDY_FILE}; move it out of the "
                              "reproduction")
        sub.mkdir()
        open_study(p.plan, parent, command, on_event=emit, parent=sub)
    return open_study(p.plan, parent, command, resume=sub, merge=sources, on_event=emit,
                      verify=verify)


def _merged_line(src: Path, merges: list[dict[str, Any]], planned: set[str]
                 ) -> dict[str, Any]:
    """One merge source's totals over its presets (runs of presets not planned here are
    counted as not asked for)."""
    mine = [m for m in merges if Path(m["from"]).parent == src]
    others = sum(len([d for d in sub.iterdir() if (d / "metrics.json").is_file()])
                 for sub in src.iterdir()
                 if (sub / STUDY_FILE).is_file() and sub.name not in planned)
    return {"from": str(src), "copied": sum(m["copied"] for m in mine),
            "already_there": sum(m["already_there"] for m in mine),
            "not_planned": sum(m["not_planned"] for m in mine) + others,
            "unfinished": sum(m["unfinished"] for m in mine)}


def _start_result(parent: Path, stored: dict[str, Any], command: str,
                  chosen: dict[str, list[str]], limits: dict[str, Any],
                  only_folds: list[int] | None) -> dict[str, Any]:
    """The results record before any run (a resume keeps the original's start)."""
    now = datetime.now().isoformat(timespec="seconds")
    if only_folds is not None and stored.get("only_folds"):
        only_folds = sorted(set(stored["only_folds"]) | set(only_folds))
    result: dict[str, Any] = {
        "harlab_run_format": RUN_FORMAT, "kind": KIND,
        "command": stored.get("command", command), "run_dir": str(parent),
        "started": stored.get("started", now), "finished": None, "complete": False,
        "hardware": hardware(), **chosen, "limits": dict(limits), "only_folds": only_folds,
        "rows": [], "runs": [],
    }
    if stored:
        result["resumed"] = [*stored.get("resumed", []),
                             {"at": now, "command": command, "reused_runs": 0, "merged": []}]
        if stored.get("hardware") and stored["hardware"] != result["hardware"]:
            result["hardware_before_resume"] = stored["hardware"]
    return result


def _rows(presets: list[Preset]) -> list[dict[str, Any]]:
    """One table row per preset and model (a skipped preset: one row saying why)."""
    rows: list[dict[str, Any]] = []
    for p in presets:
        if p.plan is None or p.data_error:
            rows.append({"dataset": p.dataset, "protocol": p.protocol, "skipped": True,
                         "note": p.note, "data_error": p.data_error})
            continue
        for v in p.plan.variants:
            rows.append({"dataset": p.dataset, "protocol": p.protocol, "model": v.name,
                         "preset": p.preset, "description": p.description,
                         "summary": summarize([r for r in p.runs if r["model"] == v.name]),
                         "reference": reference(p.dataset, p.protocol, v.name),
                         "note": p.note})
    return rows


def _save(parent: Path, result: dict[str, Any], presets: list[Preset]) -> None:
    """(Re)write results.json and results.md from every preset's runs so far."""
    result["runs"] = [r for p in presets for r in p.runs]
    result["rows"] = _rows(presets)
    result["attention_pairs"] = attention_pairs(result["runs"])
    if "resumed" in result:
        result["resumed"][-1]["reused_runs"] = sum(bool(r.get("reused"))
                                                   for r in result["runs"])
    write_json(parent / RESULTS, result)
    (parent / "results.md").write_text(results_markdown(result), encoding="utf-8")


def _collect(p: Preset, record: dict[str, Any]) -> Callable[[list[RunResult]], None]:
    """``after_run`` of a preset's study: its run records (finished and failed)."""
    merged_from = {name: str(Path(m["from"]) / name) for m in record.get("merged", [])
                   for name in m["runs"]}

    def after_run(done: list[RunResult]) -> None:
        p.runs = [run_record(p, r, merged_from) for r in done] + _failed_records(p, record)

    return after_run


def reproduce_danhar(
    datasets: list[str] | None = None, protocols: list[str] | None = None,
    models: list[str] | None = None, seeds: int = 2, folds: int | None = None,
    epochs: int | None = None, max_time_per_run: float | None = None,
    overrides: list[str] | None = None, out: str | Path = "runs",
    preset_dir: str | Path | None = None, command: str = "", on_event: Event | None = None,
    resume: str | Path | None = None, only_folds: list[int] | None = None,
    merge: list[str | Path] | None = None, split_seed: int | None = None,
    threads: int | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run the DanHAR table rows; returns the reproduction directory and the results.

    ``on_event(kind, info)``: ``merged`` (one per ``merge`` source), ``plan`` (``total``
    runs), ``skip`` (a preset without data), then ``start``, ``done`` (``reused`` for a run
    finished before) and ``failed`` per run, each naming dataset, protocol, model, seed and
    fold. ``resume`` continues the reproduction in that directory (same training options);
    ``merge`` (with ``resume``) first copies in the finished runs of other reproductions.
    ``only_folds`` trains just these fold ids of the k-fold presets; ``split_seed`` draws
    every run's folds/split (default: each seed draws its own). ``threads``: torch CPU
    threads of every run (a runtime setting: a resume may change it).
    """
    known = preset_datasets(preset_dir)
    limits = {"epochs": epochs, "seeds": seeds, "folds": folds,
              "max_time_per_run": max_time_per_run, "overrides": list(overrides or []),
              "split_seed": split_seed}
    chosen = {"datasets": list(datasets or known), "protocols": list(protocols or PROTOCOLS),
              "models": list(models or MODELS)}
    only_folds = _check_args(*chosen.values(), known, limits, only_folds, merge, resume)
    emit = on_event or (lambda kind, info: None)
    stored = read_reproduction(resume, limits, "resume") if resume is not None else {}
    sources = [Path(m) for m in merge or []]
    for src in sources:
        read_reproduction(src, limits, "merge")
    chosen = {k: list(dict.fromkeys([*stored.get(k, []), *v])) for k, v in chosen.items()}
    runtime = [] if threads is None else [f"train.threads={int(threads)}"]
    presets = _plan_presets(*chosen.values(), limits, only_folds, preset_dir, runtime)
    parent = Path(resume) if resume is not None else create_run_dir(out, KIND)
    result = _start_result(parent, stored, command, chosen, limits, only_folds)
    merges: list[dict[str, Any]] = []
    verify = same_data()
    opened = {p.key: _open_preset(p, parent, sources, command, verify,
                                  _forward(p, emit, merges)) for p in presets if p.plan}
    for src in sources:
        result["resumed"][-1]["merged"].append(_merged_line(src, merges, set(opened)))
        emit("merged", result["resumed"][-1]["merged"][-1])
    emit("plan", {"total": sum(len(p.plan.run_names()) for p in presets if p.plan)})
    for p in presets:
        if p.plan is None:
            _save(parent, result, presets)
            emit("skip", {"dataset": p.dataset, "protocol": p.protocol, "note": p.note})
            continue
        sub, record = opened[p.key]
        collect = _collect(p, record)
        run_study(sub, p.plan, record, _forward(p, emit, merges), keep_going=True,
                  after_run=lambda done, c=collect: (c(done), _save(parent, result, presets)))
    result["finished"] = datetime.now().isoformat(timespec="seconds")
    result["complete"] = not any(r.get("error") for r in result["runs"])
    _save(parent, result, presets)
    plot_results(result, parent / "results.png")
    return parent, result
