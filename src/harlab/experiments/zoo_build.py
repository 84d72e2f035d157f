"""``harlab zoo build``: a pretrained model folder (card + fp32 and int8 ONNX) from a recipe.

The recipe is an ordinary config (``configs/zoo/*.yaml``). The build cross-validates it
(``harlab cv``, or reuses a finished cross-validation of the same config given with
``study``), ships the fold-0, seed-0 run of that study (the run ``harlab train RECIPE``
trains: same settings), exports it to fp32 ONNX (parity-checked) and static int8 ONNX
(calibrated on training windows), compares both with the checkpoint on the run's held-out
test windows, and writes ``card.json`` with the files' sha256. The output folder must not
exist; nothing is ever overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import harlab
from harlab.config import RunConfig, load_config
from harlab.deploy.export import INPUT_NAME, export_run, ort_session, quantize_export
from harlab.deploy.predictor import softmax
from harlab.deploy.zoo import CARD_FORMAT, card_problems, sha256_file
from harlab.errors import ConfigError, DataError
from harlab.fileio import write_json
from harlab.radar.dataset import unit_dynamic_range

_NOT_SETTINGS = ("progress", "threads")
VERIFY_WINDOWS = 2000  # held-out test windows compared between checkpoint and ONNX
LICENCES = {
    "hapt": "CC BY 4.0 (UCI Machine Learning Repository, 'Smartphone-Based Recognition of "
            "Human Activities and Postural Transitions')",
    "usc_had": "unverified: the distributed Readme.txt states no licence; USC SIPI's page "
               "(sipi.usc.edu/had) asks users to cite the paper. harlab does not "
               "redistribute the data, only weights trained on it",
    "radar_frames": "simulated by harlab itself (MIT, this package): harlab simulate radar "
                    "--config configs/radar/simulate_default.yaml (seed 0)",
}
AXES = {
    "hapt": "smartphone at the waist; the phone's own x, y, z axes; acceleration includes "
            "gravity (about +1 g on x when standing)",
    "usc_had": "MotionNode at the front right hip; x along gravity, y the walking direction, "
               "z perpendicular to both (the files' sensor_orientation); acceleration "
               "includes gravity",
    "radar_frames": "one .npy stack (frames, 100 Doppler bins, 150 time columns) of "
                    "dB-normalised micro-Doppler frames in [0, 1] (1 = the frame's maximum, "
                    "0 = dynamic_range_db below it), as harlab simulate radar and harlab "
                    "radar process write them",
}


def _cv_study(cfg: RunConfig, study: Path | None, on_event: Any) -> tuple[Path, dict[str, Any]]:
    """A complete cross-validation of ``cfg``: the given study (checked) or a new one."""
    from harlab.experiments.cv import cross_validate

    if study is None:
        return cross_validate(cfg, on_event=on_event, command="harlab zoo build")
    path = Path(study) / "cv_results.json"
    if not path.is_file():
        raise DataError(f"{study}: no cv_results.json; not a harlab cv study")
    res = json.loads(path.read_text())
    if not res.get("complete"):
        raise DataError(f"{study}: the cross-validation is not complete (harlab cv --resume)")
    want, got = cfg.to_dict(), res["config"]
    for part in (want, got):  # how a run reports progress does not change what it trains
        part["train"] = {k: v for k, v in part["train"].items() if k not in _NOT_SETTINGS}
    for key in ("data", "model", "task", "train"):
        if got.get(key) != want.get(key):
            raise ConfigError(f"{study}: its config differs from the recipe in {key!r}")
    return Path(study), res


def _git_commit() -> str | None:
    """The checkout's commit, ``-dirty`` if it has uncommitted changes (None outside git)."""
    here = Path(__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=here, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=here, timeout=10,
                               check=False).stdout.strip()
    except OSError:
        return None
    return (head + ("-dirty" if dirty else "")) or None


def _verify(run: Path, files: dict[str, Path], heads: list[str]) -> dict[str, Any]:
    """Both ONNX files against the run's checkpoint on its held-out test windows."""
    from harlab.config import run_config
    from harlab.data.prepare import prepare
    from harlab.runs import best_checkpoint
    from harlab.tasks.checkpoint import load_run_module
    from harlab.tasks.predict import predict_heads

    data = prepare(run_config(run / "config.yaml").data)
    x_all = data.x["test"]
    x = np.asarray(x_all[: min(VERIFY_WINDOWS, len(x_all))], np.float32)
    module, _ = load_run_module(run, best_checkpoint(run))
    ref = predict_heads(module, x)
    out: dict[str, Any] = {"windows": int(len(x)), "part": "test (held out from training)"}
    for kind, path in files.items():
        sess = ort_session(path)
        got = [np.concatenate([sess.run([h], {INPUT_NAME: x[i : i + 256]})[0]
                               for i in range(0, len(x), 256)]) for h in heads]
        per = {}
        for h, logits in zip(heads, got, strict=True):
            p = softmax(logits)
            per[h] = {"max_abs_prob_diff": round(float(np.abs(p - ref[h]).max()), 6),
                      "argmax_agreement": round(float((p.argmax(1) == ref[h].argmax(1)).mean()),
                                                4)}
        out[kind] = per
    return out


def _fold_facts(parent: Path, res: dict[str, Any]) -> dict[str, Any]:
    """Per head: test macro-F1 mean ± std over the folds; and the epochs each fold trained."""
    from harlab.evaluation.metrics import mean_std

    metrics = [json.loads((parent / r["run"] / "metrics.json").read_text())
               for r in res["runs"]]
    heads: dict[str, list[float]] = {}
    for m in metrics:
        for h, v in (m.get("test_heads") or {}).items():
            heads.setdefault(h, []).append(float(v["macro_f1"]))
    per_head = {h: {"mean": round(mean_std(v)["mean"], 4), "std": round(mean_std(v)["std"], 4),
                    "per_fold": [round(x, 4) for x in v]} for h, v in heads.items()}
    epochs = [{"epochs": m.get("epochs_trained"), "stopped_by": m.get("stopped_by"),
               "train_seconds": m.get("train_seconds")} for m in metrics]
    return {"heads": per_head, "training": epochs}


def _score(res: dict[str, Any], cfg: RunConfig) -> dict[str, Any]:
    """The card's score: test macro-F1 (and accuracy) mean ± std over the study's folds."""
    summ = res["summary"]
    split = cfg.data.split
    return {
        "metric": "test macro-F1 of the first head, one score per fold",
        "mean": round(float(summ["macro_f1"]["mean"]), 4),
        "std": round(float(summ["macro_f1"]["std"]), 4),
        "accuracy_mean": round(float(summ["accuracy"]["mean"]), 4),
        "accuracy_std": round(float(summ["accuracy"]["std"]), 4),
        "folds": len(res["runs"]),
        "per_fold": [round(float(r["macro_f1"]), 4) for r in res["runs"]],
        "protocol": (f"{split.kind} split, {split.folds} folds"
                     + (" stratified over activity x person by whole recording"
                        if split.stratify else " by subject")
                     + f", {split.val_fraction:.0%} of the training part for validation"),
    }


def _input_contract(meta: dict[str, Any], dataset: str) -> dict[str, Any]:
    frames = dataset == "radar_frames"
    contract = {
        "kind": "radar_frames" if frames else "sensor",
        "channels": meta["channels"], "units": meta["units"],
        "rate": meta["rate"], "window_length": meta["window_length"],
        "window_step": meta["window_step"], "axes": AXES.get(dataset, "as in the dataset"),
    }
    if frames:
        contract["frame_shape"] = [len(meta["channels"]), meta["window_length"]]
        contract["dynamic_range_db"] = unit_dynamic_range(meta["units"][0])
        contract["rate_note"] = "frame columns per frame, not Hz; one frame is one window"
    else:
        contract["window_seconds"] = round(meta["window_length"] / meta["rate"], 3)
        contract["conversions"] = ["acceleration: g <-> m/s^2 (g = 9.80665 m/s^2)",
                                   "angular rate: rad/s <-> deg/s",
                                   "sampling rate: any, with --resample (scipy polyphase)"]
    return contract


def _recipe(recipe: Path, cfg: RunConfig, data_path: str | None) -> dict[str, Any]:
    extra = " --path DATA" if data_path else ""
    t = cfg.train
    return {
        "config": recipe.as_posix(),
        "train": f"harlab train {recipe.as_posix()}{extra}",
        "cv": f"harlab cv {recipe.as_posix()}{extra}",
        "budget": (f"at most {t.max_epochs} epochs"
                   + (f" or {t.max_time} (DD:HH:MM:SS)" if t.max_time else "")
                   + " per fold"
                   + (f", early stopping patience {t.patience}" if t.patience else "")
                   + f", batch {t.batch_size}, lr {t.lr}, precision {t.precision}, "
                   f"seed {t.seed}"),
        "shipped_run": "fold 0, seed 0 of the cross-validation (the settings of the train "
                       "command above)",
    }


def build_card(name: str, title: str, recipe: Path, cfg: RunConfig, res: dict[str, Any],
               meta: dict[str, Any], files: dict[str, Path], verification: dict[str, Any],
               data_path: str | None) -> dict[str, Any]:
    """The model card (plain JSON types); checked with :func:`card_problems`."""
    heads = {h["name"]: h["classes"] for h in meta["heads"]}
    card = {
        "format": CARD_FORMAT, "name": name, "title": title,
        "task": " + ".join(heads),
        "model": {"name": meta["model"]["name"], "options": meta["model"]["options"],
                  "parameters": meta["model"]["parameters"]},
        "dataset": {"name": cfg.data.dataset, "licence": LICENCES.get(cfg.data.dataset,
                                                                      "unverified")},
        "recipe": _recipe(recipe, cfg, data_path),
        "score": _score(res, cfg),
        "input": _input_contract(meta, cfg.data.dataset),
        "classes": heads,
        "files": {k: {"path": p.name, "sha256": sha256_file(p), "bytes": p.stat().st_size}
                  for k, p in files.items()},
        "verification": verification,
        "harlab": {"version": harlab.__version__, "commit": _git_commit(),
                   "built": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "onnx_opset": meta["opset"], "torch": meta["torch_version"]},
    }
    problems = card_problems(card)
    if problems:
        raise DataError(f"{name}: the built card is malformed: {'; '.join(problems)}")
    return card


def build_zoo_model(
    recipe: Path, name: str, out: Path, title: str = "", study: Path | None = None,
    data_path: str | None = None, on_event: Any = None,
) -> dict[str, Any]:
    """Cross-validate (or reuse ``study``), export, verify and write ``out``/card.json."""
    out = Path(out)
    if out.exists():
        raise ConfigError(f"{out} exists; choose a new --out (builds never overwrite)")
    overrides = [f"data.path={data_path}"] if data_path else []
    cfg = load_config(recipe, overrides)
    if cfg.data.frame_scale != "stored":  # the zoo feeds the stored [0, 1] frames as they are
        raise ConfigError(f"{recipe}: data.frame_scale {cfg.data.frame_scale}: a zoo model "
                          "takes stored [0, 1] frames; build it with frame_scale stored")
    parent, res = _cv_study(cfg, study, on_event)
    run = next((parent / r["run"] for r in res["runs"] if r["fold"] == 0
                and r["seed"] == cfg.train.seed), None)
    if run is None or not run.is_dir():
        raise DataError(f"{parent}: no fold-0, seed-{cfg.train.seed} run to ship")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    tmp.mkdir()  # the build's own folder: renamed to ``out`` when complete, else removed
    try:
        card = _export_and_card(name, title, recipe, cfg, run, parent, res, tmp, data_path)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return card


def _export_and_card(name: str, title: str, recipe: Path, cfg: RunConfig, run: Path,
                     parent: Path, res: dict[str, Any], out: Path, data_path: str | None,
                     ) -> dict[str, Any]:
    """Export fp32 and int8 into ``out``, verify both, write and return the card."""
    fp32, json_path, meta = export_run(run, out=out / "model.onnx")
    int8, int8_json, _ = quantize_export(fp32, meta, run)
    for p in (json_path, int8_json):  # the same metadata is inside each ONNX file
        p.unlink()
    files = {"fp32": fp32, "int8": int8}
    verification = _verify(run, files, [h["output"] for h in meta["heads"]])
    card = build_card(name, title or cfg.description or name, recipe, cfg, res, meta, files,
                      verification, data_path)
    facts = _fold_facts(parent, res)
    if len(facts["heads"]) > 1:
        card["score"]["heads"] = facts["heads"]
    card["recipe"]["trained"] = facts["training"]
    write_json(out / "card.json", card)
    return card
