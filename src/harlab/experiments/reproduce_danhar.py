"""Reproduce the DanHAR result tables under the paper's protocol and an honest one.

For every chosen dataset and protocol the preset ``configs/danhar/<dataset>_<protocol>.yaml``
is loaded through the normal config loader (strict keys), then every table row -- standard
CNN (``cnn``), attention CNN (``danhar_cnn``), ResNet (``resnet``), attention ResNet
(``danhar``) -- is trained with :func:`harlab.training.train` over several seeds (and, for
the honest subject-wise protocol, several folds). Each training run is an ordinary run
directory (config, metrics, plots, predictions, checkpoints) inside one new parent
directory, which also gets ``results.json`` (every run's numbers and run directory),
``results.md`` (one table: mean ± std over seeds/folds next to the published number) and
``results.png``. Datasets whose files are not found are skipped, with the loader's message
in the table. Limits (epochs, seeds, folds, seconds per run) make quick runs possible;
they are recorded in the results so short runs are never mistaken for full ones.

An interrupted reproduction is continued with ``resume=<its directory>`` and the same
training options (epochs, time cap, overrides, presets): finished runs (listed in
``results.json`` with their ``metrics.json`` on disk) are reused, the others are trained
into new run directories beside them. More seeds, folds, datasets or models may be asked
for on resume, which extends the table. The aggregate ``results.*`` files are rebuilt; the
previous ``results.json`` is kept as ``results.before-resume-<time>.json``.

Folds can also train apart: ``only_folds`` picks fold ids, and a resume with ``merge``
copies another reproduction's finished runs in after checking each one's config and data
summary against this machine's (:func:`merge_reproduction`).
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from harlab.config import (
    RunConfig,
    from_dict,
    load_config,
    load_yaml,
    resolve_precision,
    settings_difference,
)
from harlab.errors import ConfigError, HarlabError
from harlab.evaluation.metrics import mean_std
from harlab.evaluation.report import hardware, hardware_line
from harlab.experiments.paper_numbers import MODEL_ROWS, reference
from harlab.fileio import to_jsonable, write_json
from harlab.hardware import cpu_note, report_cpu, training_conditions
from harlab.runs import copy_finished_run, create_run_dir, first_free, keep_before_resume

PROTOCOLS = ("paper", "honest")
MODELS = tuple(MODEL_ROWS)
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
    from harlab.data.sources import get_source

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


@dataclass
class Job:
    dataset: str
    protocol: str
    model: str
    seed: int
    fold: int | None
    cfg: RunConfig = field(repr=False)


def plan_jobs(
    dataset: str, protocol: str, base: RunConfig, models: list[str], seeds: list[int],
    folds: int | None, only_folds: list[int] | None = None, split_seed: int | None = None,
) -> list[Job]:
    """All (model, seed, fold) runs of one preset.

    Subject-wise k-fold presets run their first ``folds`` folds (all when None), or exactly
    the fold ids ``only_folds`` (0-based); every other split is one fixed split per seed.
    The seed sets the training seed and, unless ``split_seed`` is given, the split seed too
    (each seed then draws its own folds: repeated cross-validation). With ``split_seed``
    every seed trains on the same folds, so the spread is over training seeds and folds only.
    """
    split = base.data.split
    if split.kind == "subject" and not split.test_subjects:
        if split.folds == "loso":
            raise ConfigError(f"{dataset}/{protocol}: reproduce needs an integer split.folds")
        k = int(split.folds)
        fold_ids: list[int | None] = list(range(k if folds is None else min(folds, k)))
        if only_folds is not None:
            outside = sorted({f for f in only_folds if not 0 <= f < k})
            if outside:
                raise ConfigError(f"--only-folds {','.join(map(str, outside))}: the "
                                  f"{dataset}/{protocol} preset has {k} folds, ids 0-{k - 1}")
            fold_ids = sorted(set(only_folds))
    else:
        fold_ids = [None]
    jobs = []
    for model in models:
        for seed in seeds:
            for fold in fold_ids:
                cfg = copy.deepcopy(base)
                cfg.model.name = model
                cfg.train.seed = seed
                cfg.data.split.seed = seed if split_seed is None else split_seed
                if fold is not None:
                    cfg.data.split.fold = fold
                jobs.append(Job(dataset, protocol, model, seed, fold, cfg))
    return jobs


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over the successful runs of one (dataset, protocol, model)."""
    ok = [r for r in runs if r.get("error") is None]
    return {
        "n_runs": len(ok),
        "n_failed": len(runs) - len(ok),
        "accuracy": mean_std([r["accuracy"] for r in ok]),
        "macro_f1": mean_std([r["macro_f1"] for r in ok]),
        # one decision per test segment (evaluation.decisions.window_decisions); None where
        # the split scatters recordings (paper protocol)
        "segment_macro_f1": mean_std([r.get("segment_macro_f1") for r in ok]),
        "parameters": ok[0]["parameters"] if ok else None,
        "train_seconds": mean_std([r["train_seconds"] for r in ok]),
        "epochs": mean_std([r["epochs_trained"] for r in ok]),
    }


def _fmt(ms: dict[str, float] | None, digits: int = 4) -> str:
    if ms is None:
        return "—"
    return f"{ms['mean']:.{digits}f} ± {ms['std']:.{digits}f}"


def _segment_cell(s: dict[str, Any]) -> str:
    """The per-segment mean ± std, saying over how many runs where that is fewer than all."""
    seg = s.get("segment_macro_f1")
    if seg is None or seg["n"] == s["n_runs"]:
        return _fmt(seg)
    return f"{_fmt(seg)} ({seg['n']} of {s['n_runs']} runs scored)"


def results_markdown(result: dict[str, Any]) -> str:
    """The results table (one row per dataset/protocol/model, or per skipped preset)."""
    lim = result["limits"]
    drawn = (f"every seed on the folds/split drawn by split seed {lim['split_seed']}"
             if lim.get("split_seed") is not None
             else "each seed draws its own folds/split (repeated cross-validation)")
    lines = [
        "# DanHAR reproduction",
        "",
        f"Run directory `{result['run_dir']}`, {result['started']} to "
        f"{result['finished'] or '(still running / interrupted: partial results)'}, "
        f"on {hardware_line(result['hardware'])}.",
        f"Limits: epochs {lim['epochs'] or 'preset'}, seeds {lim['seeds']}, folds "
        + (f"with ids {', '.join(map(str, result['only_folds']))}"
           if result.get("only_folds") else f"{lim['folds'] or 'all'}")
        + ", max time per run "
        f"{str(lim['max_time_per_run']) + ' s' if lim['max_time_per_run'] else 'none'}"
        + (f", overrides {lim['overrides']}" if lim["overrides"] else "") + f"; {drawn}.",
        "Accuracy and macro-F1 on the test part: mean ± std over the runs (seeds, and folds "
        "for the honest protocol). Paper column: the DanHAR table's test accuracy for the "
        "paper protocol, the published WHAR-Arena subject-wise macro-F1 for the honest one. "
        "'One decision per segment' (beyond both papers): the mean class probability over "
        "each run of test windows of one recording with one true label decides once (an "
        "oracle segmentation); only where test recordings are whole, so not for the paper "
        "protocol's random windows.",
        *[f"Resumed {r['at']} ({r['reused_runs']} finished runs reused"
          + "".join(f"; {m['copied']} merged from `{m['from']}`" for m in r.get("merged", []))
          + f"): `{r['command']}`." for r in result.get("resumed", [])],
        "",
        "| dataset | protocol | model | accuracy | macro-F1 | macro-F1, one decision per "
        "segment | n runs | parameters | train s/run | epochs/run | paper | data |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row_line(row) for row in result["rows"]]
    return "\n".join(lines + _notes(result)) + "\n"


def _row_line(row: dict[str, Any]) -> str:
    """One line of the results table (a skipped preset says why)."""
    if row.get("skipped"):
        return (f"| {row['dataset']} | {row['protocol']} | — | — | — | — | 0 | — | — | — | — "
                f"| {_cell(row['note'])} |")
    s = row["summary"]
    ref = row["reference"]
    failed = f" ({s['n_failed']} failed)" if s["n_failed"] else ""
    params = f"{s['parameters']:,}" if s["parameters"] is not None else "—"
    secs = f"{s['train_seconds']['mean']:.0f}" if s["train_seconds"] else "—"
    eps = f"{s['epochs']['mean']:.1f}" if s["epochs"] else "—"
    cells = [
        row["dataset"], row["protocol"], row["model"], _fmt(s["accuracy"]),
        _fmt(s["macro_f1"]), _segment_cell(s), f"{s['n_runs']}{failed}",
        params, secs, eps,
        _cell(ref["text"]) if ref else "—", _cell(row["note"]),
    ]
    return "| " + " | ".join(cells) + " |"


def _notes(result: dict[str, Any]) -> list[str]:
    """Paired attention differences, training conditions, warnings and failures."""
    lines: list[str] = []
    pairs = attention_pairs(result["runs"])
    if pairs:
        from harlab.evaluation.paired import format_difference, multiple_note

        lines += ["", "Attention minus the plain backbone, paired by (seed, fold): mean ± std "
                  "of the macro-F1 differences [95 % t interval], how many pairs went up, "
                  "paired t-test and Wilcoxon signed-rank p-values.", "",
                  "| dataset | protocol | attention − plain | scored | difference | verdict |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {p['dataset']} | {p['protocol']} | {p['attention']} − {p['plain']} | "
                  f"{p['score']} | {format_difference(p['difference'])} | {p['verdict']} |"
                  for p in pairs]
        if note := multiple_note(len(pairs)):
            lines += ["", note]
    if mixes_sessions(result):
        lines += ["", "Training times (train s/run) come from more than one session: compare "
                  "them only between runs trained under similar conditions (each run's "
                  "`trained_at`, `cpu`, `threads` and `load_average` are in `results.json`)."]
    done = [r for r in result["runs"] if not r.get("error")]
    if (other := cpu_note(done, report_cpu(result["hardware"]))) is not None:
        lines += ["", other]
    warn = sorted({w for r in result["runs"] for w in r.get("warnings", [])})
    if warn:
        lines += ["", "Warnings recorded by the runs:", ""] + [f"- {w}" for w in warn]
    errors = [r for r in result["runs"] if r.get("error")]
    if errors:
        lines += ["", "Failed runs:", ""] + [
            f"- {r['dataset']}/{r['protocol']}/{r['model']} seed {r['seed']} fold {r['fold']}: "
            f"{r['error']}" for r in errors
        ]
    return lines


# the paper's claim, per backbone: (with attention, without)
ATTENTION_PAIRS = (("danhar_cnn", "cnn"), ("danhar", "resnet"))


def _scores(runs: list[dict[str, Any]], row: tuple[str, str, str], key: str
            ) -> dict[tuple[Any, ...], Any]:
    """``{(seed, fold): run[key]}`` of one (dataset, protocol, model)."""
    return {(r["seed"], r["fold"]): r.get(key) for r in runs
            if (r["dataset"], r["protocol"], r["model"]) == row}


def attention_pairs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attention minus plain backbone macro-F1 per dataset/protocol, paired by (seed, fold).

    Runs of one seed and fold share their split and training seed, so the paired difference
    is the honest form of the paper's "attention helps" (per window, and with one decision
    per test segment where that was scored).
    """
    from harlab.evaluation.paired import paired_difference, verdict

    ok = [r for r in runs if r.get("error") is None]
    out = []
    for ds, proto in dict.fromkeys((r["dataset"], r["protocol"]) for r in ok):
        for with_att, plain in ATTENTION_PAIRS:
            for key, label in (("macro_f1", "per window"), ("segment_macro_f1", "per segment")):
                diff = paired_difference(_scores(ok, (ds, proto, with_att), key),
                                         _scores(ok, (ds, proto, plain), key))
                if diff is None:
                    continue
                out.append({"dataset": ds, "protocol": proto, "attention": with_att,
                            "plain": plain, "score": label, "difference": diff,
                            "verdict": verdict(diff, "attention helps", "attention hurts")})
    return out


def mixes_sessions(result: dict[str, Any]) -> bool:
    """Whether the finished runs were trained in more than one session (first run, resumes).

    A run is placed by its ``trained_at`` among the session starts. A resumed reproduction
    with runs recorded by an older harlab (no ``trained_at``) may mix sessions: say yes.
    """
    starts = [result["started"], *[r["at"] for r in result.get("resumed", [])]]
    runs = [r for r in result["runs"] if not r.get("error")]
    if len(starts) == 1 or not runs:
        return False
    if any(not r.get("trained_at") for r in runs):
        return True
    return len({bisect.bisect_right(starts, r["trained_at"]) for r in runs}) > 1


def _cell(text: str) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def plot_results(result: dict[str, Any], path: Path) -> Path | None:
    """Bar chart of test macro-F1 (mean ± std) per dataset/protocol and model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in result["rows"] if not r.get("skipped") and r["summary"]["macro_f1"]]
    if not rows:
        return None
    groups = list(dict.fromkeys(f"{r['dataset']}\n{r['protocol']}" for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(groups)), 4.0))
    for i, m in enumerate(models):
        xs, ys, es = [], [], []
        for r in rows:
            if r["model"] == m:
                xs.append(groups.index(f"{r['dataset']}\n{r['protocol']}") + i * width)
                ys.append(r["summary"]["macro_f1"]["mean"])
                es.append(r["summary"]["macro_f1"]["std"])
        ax.bar(xs, ys, width, yerr=es, capsize=2, label=m)
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2)
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylabel("test macro-F1")
    ax.set_ylim(0, 1)
    ax.set_title("DanHAR reproduction (mean ± std over runs)")
    ax.legend(fontsize=8, ncol=len(models))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# what every run of one table must share; seeds, folds, datasets, models and protocols may
# grow (or shrink) on resume, since runs are keyed by them
_TRAINING = ("epochs", "max_time_per_run", "overrides", "split_seed")
# added later: a reproduction stored before has its default
_TRAINING_DEFAULTS: dict[str, Any] = {"split_seed": None}


def _options(
    datasets: list[str], protocols: list[str], models: list[str], limits: dict[str, Any],
    preset_dir: str | Path | None,
) -> dict[str, Any]:
    """The reproduction's selection and limits, as stored in results.json."""
    root = Path(preset_dir) if preset_dir is not None else default_preset_dir()
    return {"datasets": list(datasets), "protocols": list(protocols), "models": list(models),
            "limits": dict(limits), "preset_dir": str(root.resolve())}


def _training(options: dict[str, Any]) -> dict[str, Any]:
    return {**{k: options["limits"][k] for k in _TRAINING}, "preset_dir": options["preset_dir"]}


RunKey = tuple[str, str, str, int, int | None]


def _run_key(run: dict[str, Any]) -> RunKey:
    return (run["dataset"], run["protocol"], run["model"], int(run["seed"]), run["fold"])


def _read_reproduction(
    directory: str | Path, options: dict[str, Any], verb: str, moved: bool = False,
) -> tuple[dict[str, Any], dict[RunKey, dict[str, Any]]]:
    """An earlier reproduction's results.json and its finished runs by key.

    Its training settings must equal ``options``' (``verb`` words the refusal: "resume" or
    "merge"). ``moved``: the directory may have been trained elsewhere, so each run is looked
    up by its name inside ``directory`` and the preset folder's path is not compared (the
    runs' configs are, see :func:`_check_merged_run`). A run counts as finished when it has
    no error and its ``metrics.json`` is on disk.
    """
    path = Path(directory) / "results.json"
    if not path.is_file():
        raise ConfigError(f"cannot {verb} {directory}: no results.json there (not a "
                          "'harlab reproduce danhar' directory)")
    try:
        stored = json.loads(path.read_text())
        lim = {**_TRAINING_DEFAULTS, **stored["limits"]}
        old = {**{k: lim[k] for k in _TRAINING},
               "preset_dir": stored.get("preset_dir", options["preset_dir"])}
        runs = list(stored["runs"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot {verb} from {path}: not a readable reproduce results "
                          f"file ({type(exc).__name__}: {exc})") from None
    now = _training(options)
    if moved:
        old["preset_dir"] = now["preset_dir"]
    if old != now:
        diff = "; ".join(f"{k}: original {old[k]!r}, now {now[k]!r}"
                         for k in now if old[k] != now[k])
        raise ConfigError(f"cannot {verb} {directory} with different training options "
                          f"({diff}). The original command: {stored.get('command') or '?'}")
    done: dict[RunKey, dict[str, Any]] = {}
    for run in runs:
        try:
            run_dir = Path(run["run_dir"])
            if moved:
                run_dir = Path(directory) / run_dir.name
            if run.get("error") is None and (run_dir / "metrics.json").is_file():
                done[_run_key(run)] = {**run, "run_dir": str(run_dir)}
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"cannot {verb} from {path}: malformed run record {run!r}"
                              ) from None
    return stored, done



def load_for_resume(
    directory: str | Path, options: dict[str, Any]
) -> tuple[dict[str, Any], dict[RunKey, dict[str, Any]]]:
    """Read an earlier reproduction's results.json; its finished runs by key.

    The training settings (epochs, time cap, overrides, presets) must equal the original's,
    otherwise one table would mix two budgets. Seeds, folds, datasets, models and protocols
    may differ: a resume can also extend a finished reproduction. A run counts as finished
    when it has no error and its ``metrics.json`` is on disk.
    """
    stored, done = _read_reproduction(directory, options, "resume")
    keep_before_resume(Path(directory) / "results.json")  # the earlier aggregate is kept
    return stored, done


def _same_normalisation(a: Any, b: Any) -> bool:
    """Normalisation statistics equal up to float32 rounding (other CPUs sum differently)."""
    if a is None or b is None:
        return a is b
    try:
        return all(np.allclose(np.asarray(a[k], float), np.asarray(b[k], float),
                               rtol=1e-4, atol=1e-6) for k in ("mean", "std"))
    except (KeyError, TypeError, ValueError):
        return False


def _check_merged_run(run_dir: Path, job: Job, data: dict[str, Any]) -> None:
    """Refuse a run to merge unless it trained ``job``'s config on the data ``data`` describes.

    ``data`` is what this machine's ``data.json`` would say for the job: the same windows per
    part, split subjects and sessions, classes, drops and normalisation (up to rounding).
    """
    try:
        # through the config classes, so keys added since (at their defaults) compare equal
        saved = from_dict(load_yaml(run_dir / "config.yaml")).to_dict()
        theirs = json.loads((run_dir / "data.json").read_text())
    except (OSError, ValueError, HarlabError) as exc:
        raise ConfigError(f"cannot merge {run_dir}: its config.yaml / data.json are not "
                          f"readable ({type(exc).__name__}: {exc})") from None
    mine_cfg = copy.deepcopy(job.cfg)
    mine_cfg.train.precision = resolve_precision(mine_cfg.train.precision,
                                                 mine_cfg.train.accelerator)
    diff = settings_difference(saved, mine_cfg.to_dict())
    if diff:
        raise ConfigError(f"cannot merge {run_dir}: it was trained with another config "
                          f"({diff})")
    data = json.loads(json.dumps(to_jsonable(data)))
    for field_ in ("dataset", "channels", "rate", "window_length", "window_step", "class_ids",
                   "split_subjects", "split_sessions", "windows", "dropped"):
        if theirs.get(field_) != data.get(field_):
            raise ConfigError(f"cannot merge {run_dir}: it was trained on other data "
                              f"({field_}: {theirs.get(field_)!r} there, "
                              f"{data.get(field_)!r} here)")
    if not _same_normalisation(theirs.get("normalization"), data.get("normalization")):
        raise ConfigError(f"cannot merge {run_dir}: it was trained on other data (its "
                          "normalisation statistics differ from this machine's)")


def merge_reproduction(
    parent: Path, src: str | Path, options: dict[str, Any], jobs: dict[RunKey, Job],
    done: dict[RunKey, dict[str, Any]],
) -> dict[str, Any]:
    """Copy the finished runs of reproduction ``src`` that ``parent``'s plan asks for.

    ``src`` needs the same training options; each run is checked against this machine's
    config for it (:func:`_check_merged_run`), so it may come from another machine. A run
    ``parent`` already has finished is left alone; the others are copied under a free name
    beside ``parent``'s own runs (never over a directory) and added to ``done``. Runs the plan
    does not ask for (another dataset, seed, fold or model) are counted, not copied.
    """
    src = Path(src).expanduser()
    if src.resolve() == parent.resolve():
        raise ConfigError(f"--merge {src}: that is the reproduction being resumed")
    _, finished = _read_reproduction(src, options, "merge", moved=True)
    from harlab.data.prepare import data_summary, prepare

    summaries: dict[str, dict[str, Any]] = {}  # data config -> this machine's data.json
    take: list[tuple[RunKey, dict[str, Any]]] = []
    already = not_planned = 0
    for key, run in sorted(finished.items(), key=lambda kv: str(kv[0])):
        if key in done:
            already += 1
            continue
        job = jobs.get(key)
        if job is None:
            not_planned += 1
            continue
        which = json.dumps(dataclasses.asdict(job.cfg.data), sort_keys=True, default=str)
        if which not in summaries:
            summaries[which] = data_summary(prepare(job.cfg.data))
        _check_merged_run(Path(run["run_dir"]), job, summaries[which])
        take.append((key, run))
    copied: list[str] = []
    for key, run in take:  # all checked first: a refused merge copies nothing
        run_src = Path(run["run_dir"])
        dest = first_free(parent, run_src.name, Path.mkdir)
        copy_finished_run(run_src, dest)
        done[key] = {**run, "run_dir": str(dest), "merged_from": str(run_src)}
        copied.append(dest.name)
    return {"from": str(src), "copied": len(copied), "already_there": already,
            "not_planned": not_planned, "runs": copied}


def reproduce_danhar(
    datasets: list[str] | None = None,
    protocols: list[str] | None = None,
    models: list[str] | None = None,
    seeds: int = 2,
    folds: int | None = None,
    epochs: int | None = None,
    max_time_per_run: float | None = None,
    overrides: list[str] | None = None,
    out: str | Path = "runs",
    preset_dir: str | Path | None = None,
    command: str = "",
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    resume: str | Path | None = None,
    only_folds: list[int] | None = None,
    merge: list[str | Path] | None = None,
    split_seed: int | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run the DanHAR table rows; returns the parent run directory and the results.

    ``on_event(kind, info)`` is called with ``("plan", {"total": n})``, ``("merged", info)``,
    ``("start", job)``, ``("done", run)`` (with ``reused: True`` for a run taken over by
    ``resume`` or ``merge``) and ``("skip", row)`` so a caller can show progress. ``resume``
    continues the reproduction in that directory (same training options required) instead
    of creating a new one. ``only_folds`` trains just these fold ids of the k-fold presets
    (instead of the first ``folds``), so folds can train on several machines; ``merge``
    (with ``resume``) first copies in the finished runs of such other reproductions.
    ``split_seed`` draws every run's folds/split (default: each seed draws its own).
    """
    known = preset_datasets(preset_dir)
    datasets = list(datasets or known)
    protocols = list(protocols or PROTOCOLS)
    models = list(models or MODELS)
    only_folds = _check_args(datasets, protocols, models, known, seeds, folds, epochs,
                             max_time_per_run, split_seed, only_folds, merge, resume)
    emit = on_event or (lambda kind, info: None)
    extra = list(overrides or [])
    if epochs is not None:
        extra.append(f"train.max_epochs={int(epochs)}")
    if max_time_per_run is not None:
        extra.append(f"train.max_time={_max_time(max_time_per_run)}")
    extra.append("train.progress=false")
    # plan everything first: a bad override or preset fails before any training
    plans = _plan_presets(datasets, protocols, models, extra, preset_dir, seeds, folds,
                          only_folds, split_seed)
    limits = {"epochs": epochs, "seeds": seeds, "folds": folds,
              "max_time_per_run": max_time_per_run, "overrides": list(overrides or []),
              "split_seed": split_seed}
    options = _options(datasets, protocols, models, limits, preset_dir)
    done: dict[RunKey, dict[str, Any]] = {}
    stored: dict[str, Any] = {}
    if resume is not None:
        stored, done = load_for_resume(resume, options)
    merged: list[dict[str, Any]] = []
    if merge:
        by_key = {(j.dataset, j.protocol, j.model, j.seed, j.fold): j
                  for p in plans for j in p[-1]}
        for src in merge:
            merged.append(merge_reproduction(Path(resume), src, options,  # type: ignore[arg-type]
                                             by_key, done))
            emit("merged", merged[-1])
    emit("plan", {"total": sum(len(p[-1]) for p in plans)})
    parent = Path(resume) if resume is not None else create_run_dir(out, "reproduce_danhar")
    result = _start_result(parent, stored, command, options, only_folds, resume, len(done),
                           merged)
    for plan in plans:
        _run_preset(plan, models, parent, result, done, preset_dir, emit)
    result["finished"] = datetime.now().isoformat(timespec="seconds")
    result["complete"] = True
    _save(parent, result)
    plot_results(result, parent / "results.png")
    return parent, result


def _check_args(datasets: list[str], protocols: list[str], models: list[str],
                known: list[str], seeds: int, folds: int | None, epochs: int | None,
                max_time_per_run: float | None, split_seed: int | None,
                only_folds: list[int] | None, merge: list[str | Path] | None,
                resume: str | Path | None) -> list[int] | None:
    """One-line errors for the options; the sorted distinct ``only_folds``."""
    _check_choice("dataset(s)", datasets, tuple(known))
    _check_choice("protocol(s)", protocols, PROTOCOLS)
    _check_choice("model(s)", models, MODELS)
    for name, value in (("seeds", seeds), ("folds", folds), ("epochs", epochs)):
        if value is not None and (isinstance(value, bool) or int(value) < 1):
            raise ConfigError(f"--{name} must be >= 1, got {value}")
    if max_time_per_run is not None and not max_time_per_run > 0:
        raise ConfigError(f"--max-time-per-run must be positive, got {max_time_per_run}")
    if split_seed is not None and (isinstance(split_seed, bool) or int(split_seed) < 0):
        raise ConfigError(f"--split-seed must be >= 0, got {split_seed}")
    if merge and resume is None:
        raise ConfigError("--merge needs --resume: the reproduction to merge into")
    if only_folds is None:
        return None
    if folds is not None:
        raise ConfigError("give --folds (the first N folds) or --only-folds (these fold "
                          "ids), not both")
    if not only_folds or any(isinstance(f, bool) or int(f) < 0 for f in only_folds):
        raise ConfigError(f"--only-folds needs fold ids >= 0, got {only_folds}")
    return sorted({int(f) for f in only_folds})


Plan = tuple[str, str, "RunConfig | None", bool, str, str, list[Job]]


def _plan_presets(datasets: list[str], protocols: list[str], models: list[str],
                  extra: list[str], preset_dir: str | Path | None, seeds: int,
                  folds: int | None, only_folds: list[int] | None,
                  split_seed: int | None) -> list[Plan]:
    """(dataset, protocol, base config, data found, note, data error, jobs) per preset."""
    plans: list[Plan] = []
    root = Path(preset_dir) if preset_dir is not None else default_preset_dir()
    for ds in datasets:
        for proto in protocols:
            if not (root / f"{ds}_{proto}.yaml").is_file():
                plans.append((ds, proto, None, False, f"no {proto} preset in {root}", "", []))
                continue
            base = load_preset(ds, proto, extra, preset_dir)
            found, note, message = data_note(base)
            note = f"{DATASETS.get(ds, base.name or ds)}; {note}"
            jobs = (plan_jobs(ds, proto, base, models, list(range(seeds)), folds, only_folds,
                              split_seed) if found else [])
            plans.append((ds, proto, base, found, note, message, jobs))
    return plans


def _start_result(parent: Path, stored: dict[str, Any], command: str,
                  options: dict[str, Any], only_folds: list[int] | None,
                  resume: str | Path | None, reused: int, merged: list[dict[str, Any]]
                  ) -> dict[str, Any]:
    """The results record before any run (a resume keeps the original's start)."""
    now = datetime.now().isoformat(timespec="seconds")
    result: dict[str, Any] = {
        "command": stored.get("command", command), "run_dir": str(parent),
        "started": stored.get("started", now), "finished": None, "complete": False,
        "hardware": hardware(), **options, "only_folds": only_folds, "rows": [], "runs": [],
    }
    if resume is not None:
        result["resumed"] = [*stored.get("resumed", []),
                             {"at": now, "command": command, "reused_runs": reused,
                              "merged": merged}]
        if stored.get("hardware") and stored["hardware"] != result["hardware"]:
            result["hardware_before_resume"] = stored["hardware"]
    return result


def _run_preset(plan: Plan, models: list[str], parent: Path, result: dict[str, Any],
                done: dict[RunKey, dict[str, Any]], preset_dir: str | Path | None,
                emit: Callable[[str, dict[str, Any]], None]) -> None:
    """Train (or take over) every job of one preset; one table row per model."""
    ds, proto, base, found, note, message, jobs = plan
    if not found:
        row = {"dataset": ds, "protocol": proto, "skipped": True, "note": note,
               "data_error": message}
        result["rows"].append(row)
        emit("skip", row)
        _save(parent, result)
        return
    for model in models:
        model_runs = []
        for job in (j for j in jobs if j.model == model):
            key = (ds, proto, model, job.seed, job.fold)
            if key in done:  # finished before the interruption: keep its numbers
                run = done[key]
                emit("done", {**run, "reused": True})
            else:
                run = _run_job(job, parent, emit)
            model_runs.append(run)
            result["runs"].append(run)
            if key not in done:
                _save(parent, result)  # partial results survive an interrupted reproduction
                emit("done", run)
        result["rows"].append({
            "dataset": ds, "protocol": proto, "model": model,
            "preset": str(preset_path(ds, proto, preset_dir)),
            "description": base.description if base is not None else "",
            "summary": summarize(model_runs), "reference": reference(ds, proto, model),
            "note": note,
        })
        _save(parent, result)


def _run_job(job: Job, parent: Path, emit: Callable[[str, dict[str, Any]], None]
             ) -> dict[str, Any]:
    """Train one job into ``parent``; its run record (with the error where it failed)."""
    from harlab.evaluation.decisions import whole_decision
    from harlab.training import train

    cfg = job.cfg
    cfg.output_dir = str(parent)
    fold_s = f"_fold{job.fold}" if job.fold is not None else ""
    cfg.name = f"{job.dataset}_{job.protocol}_{job.model}_seed{job.seed}{fold_s}"
    emit("start", {"dataset": job.dataset, "protocol": job.protocol, "model": job.model,
                   "seed": job.seed, "fold": job.fold})
    run: dict[str, Any] = {"dataset": job.dataset, "protocol": job.protocol,
                           "model": job.model, "seed": job.seed, "fold": job.fold,
                           "error": None}
    t0 = time.perf_counter()
    try:
        res = train(cfg)
    except HarlabError as exc:  # one bad run must not lose the others
        run["error"] = str(exc)
    else:
        test = res.metrics["test"]
        whole = whole_decision(res.metrics.get("decisions"), "activity")
        run.update(
            run_dir=str(res.run_dir), accuracy=float(test["accuracy"]),
            macro_f1=float(test["macro_f1"]), segment_macro_f1=whole.get("macro_f1"),
            n_segments=whole.get("decisions"), weighted_f1=float(test["weighted_f1"]),
            n_test=int(test["n"]), parameters=int(res.metrics["parameters"]),
            train_seconds=float(res.metrics["train_seconds"]),
            epochs_trained=int(res.metrics["epochs_trained"]),
            best_val_macro_f1=res.metrics.get("best_val_macro_f1"),
            split=res.metrics["split"], warnings=list(res.metrics.get("warnings", [])),
            **training_conditions(),
        )
    run["wall_seconds"] = round(time.perf_counter() - t0, 2)
    return run


def _save(parent: Path, result: dict[str, Any]) -> None:
    """(Re)write results.json and results.md; rows so far, runs so far."""
    result["attention_pairs"] = attention_pairs(result["runs"])
    write_json(parent / "results.json", result)
    (parent / "results.md").write_text(results_markdown(result))
