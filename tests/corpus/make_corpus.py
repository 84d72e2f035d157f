"""Generate the bad-input corpus into ``tests/corpus/cases/``: ``cases.json`` and ``files/``.

Run ``python tests/corpus/make_corpus.py`` (with ``src`` on the path) after changing it and
commit the result. Each case is the argv of ``harlab ...`` with placeholders that
``test_corpus.py`` fills in per case:

- ``{in}/NAME``: ``files/NAME`` copied into the case's own temporary folder;
- ``{tmp}``: that folder (also the working directory and ``HARLAB_CACHE``);
- ``{run}`` / ``{onnx}``: the session's one tiny trained run and its ONNX export (read only);
- ``{copy}``: a copy of that run in the case's folder, changed first by the case's ``setup``
  (``[op, relative path, argument]``: ``truncate`` to N bytes, ``write`` text, ``bytes``
  (hex), ``delete``, ``mkdir``, ``flip`` one byte at offset N);
- ``{http}``: a server on 127.0.0.1 serving ``files/``.

``stdin`` names a file of ``files/`` fed to the command's standard input. The expectation is
``{"exit": 2, "stderr": REGEX}`` (stderr is exactly one line and matches) or
``{"exit": 0, "dropped": {COUNTER: N}}`` (the counts printed as ``dropped: k=v``, the stream
summary's ``counts`` or ``data info --json``'s ``counts.dropped``).
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import typer

from harlab.cli.main import app
from harlab.config import RunConfig  # noqa: F401  (the keys come from test_config_values)
from harlab.runs import RUN_FORMAT

HERE = Path(__file__).parent / "cases"
FILES = HERE / "files"
HEADER = "timestamp,acc_x,acc_y,acc_z\n"
CASES: list[dict[str, Any]] = []
CONFIG_ERRORS = {
    "unknown-top": "^error: unknown config key 'nope'", "unknown-nested":
    "^error: unknown config key 'train.nope'", "epochs-text": "max_epochs must be an integer",
    "epochs-negative": "max_epochs must be >= 1", "epochs-huge": "max_epochs must be an integer",
    "lr-nan": "train.lr must be a finite number", "window-zero": "window length and step",
    "model-unknown": "unknown model 'vgg99'", "dataset-unknown": "unknown dataset 'nope'",
    "split-unknown": "split.kind must be one of", "section-scalar": "train must be a mapping",
    "anchors-bomb": "unknown config key 'a0'",
    "duplicate-keys": "cfg-duplicate-keys.yaml: invalid YAML at line 3, column 3: duplicate key",
}
RUN_ERRORS = {
    "resume-complete": "is a complete run and is never changed", "resume-with-set": "--set",
    "resume-missing": "none", "evaluate-part": "part must be train, val or test",
    "evaluate-checkpoint": "checkpoint must be best or last",
    "evaluate-missing": "run directory not found", "evaluate-file": "run directory not found",
    "evaluate-empty-dir": "is not a harlab run directory", "export-format":
    "unknown export format 'tflite'", "export-quantize": "--quantize must be one of",
    "export-calibration-zero": "calibration windows must be >= 1",
    "export-checkpoint": "checkpoint must be best or last", "export-out-exists":
    "--out must end in .onnx", "attention-part": "part must be train, val or test",
    "attention-n-zero": "--n must be >= 1", "snr-sweep-snrs": "--snrs must be comma-separated",
    "snr-sweep-not-radar": "the SNR sweep works on radar frame folders",
    "compare-missing": "no such directory", "compare-empty": "no finished harlab run",
    "compare-file": "no such directory", "compare-where-syntax": "expected key.path=value",
    "compare-where-none": "matching model.name=vgg",
}
SIMULATE_ERRORS = {
    "persons-zero": "unknown person '0'", "persons-bad": "unknown person 'zz'",
    "activities-bad": "unknown activity 'flying'", "duration-negative": "duration_s",
    "duration-nan": "duration_s", "prf-zero": "prf_hz", "waveform-bad": "unknown waveform",
    "jitter-inf": "jitter must be a number", "workers-zero": "workers must be >= 1",
    "config-missing": "none.yaml", "config-garbage": "cfg-binary.yaml: not UTF-8",
    "processing-missing": "none.yaml",
}
STUDY_ERRORS = {
    "cv-folds-text": "--folds", "cv-seeds-text": "--seeds", "cv-seeds-empty": "--seeds",
    "cv-resume-missing": "cannot resume", "cv-merge-missing": "--merge",
    "search-ratio-ratios": "--ratios", "ablate-danhar-arrangements": "unknown arrangement",
    "ablate-danhar-seeds": "--seeds", "ablate-tasks-weightings": "needs a multitask config",
    "reproduce-danhar-dataset": r"unknown dataset\(s\)",
    "reproduce-danhar-protocol": r"unknown protocol\(s\)",
    "reproduce-danhar-models": r"unknown model\(s\)",
    "reproduce-danhar-presets": "preset folder", "reproduce-danhar-seeds-zero": "--seeds",
    "reproduce-mranet-data-missing": "radar frame dataset folder not found",
    "reproduce-mranet-experiments": r"unknown experiment\(s\)",
    "reproduce-mranet-protocol": "--protocol", "reproduce-mranet-snrs": "--snrs",
    "reproduce-mranet-no-data": "give exactly one of --data DIR and --simulate",
    "reproduce-mranet-init": "--init",
}


def case(name: str, argv: list[str], expect: dict, **extra: Any) -> None:
    assert not any(c["name"] == name for c in CASES), name
    CASES.append({"name": name, "argv": argv, "expect": expect, **extra})


def err(regex: str, code: int = 2) -> dict:
    return {"exit": code, "stderr": regex}


def write(name: str, data: str | bytes) -> str:
    path = FILES / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return "{in}/" + name


def rows(n: int, start: int = 0, rate: float = 50.0, label: str | None = None) -> str:
    """``n`` good sample lines (timestamp, 3 channels, optional label)."""
    tail = f",{label}" if label else ""
    return "".join(f"{(start + i) / rate:.4f},{i % 7 * 0.1:.2f},0.5,-0.3{tail}\n"
                   for i in range(n))


# ---------------------------------------------------------------- usage errors, every command
def _leaves(cmd: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    if hasattr(cmd, "commands"):
        return [x for n, c in cmd.commands.items() for x in _leaves(c, [*path, n])]
    return [(path, cmd)]


def usage_cases() -> None:
    """Unknown options, non-numbers, overflowing and fractional integers, missing values and
    missing arguments for every option of every command: one line naming command and option."""
    root = typer.main.get_command(app)
    case("usage-no-such-command", ["bogus"], err(r"^error: harlab: No such command 'bogus'"))
    for path, cmd in _leaves(root, []):
        words, stem = " ".join(path), "-".join(path)
        where = re.escape(f"harlab {words}:")
        case(f"usage-{stem}-unknown-option", [*path, "--no-such-option"],
             err(f"^error: {where} No such option: --no-such-option"))
        required = [p for p in cmd.params if p.required]
        for p in cmd.params:
            kind = getattr(p.get_runtime_param(), "annotation", None)
            if not p.opts[0].startswith("--"):
                continue
            opt = p.opts[0]
            fill = _required_fill(required, p)
            if kind is int:
                for label, value in (("text", "abc"), ("huge", "1e20"), ("fraction", "1.5")):
                    case(f"usage-{stem}{opt}-{label}", [*path, *fill, opt, value],
                         err(f"^error: {where} Invalid value for '{opt}'"))
            elif kind is float:
                case(f"usage-{stem}{opt}-text", [*path, *fill, opt, "ten"],
                     err(f"^error: {where} Invalid value for '{opt}'"))
            if kind is not bool:
                case(f"usage-{stem}{opt}-no-value", [*path, *fill, opt],
                     err(f"^error: {where} Option '{opt}' requires an argument"))
        if required:
            case(f"usage-{stem}-missing", [*path],
                 err(f"^error: {where} Missing (argument|option)"))


def _required_fill(required: list[Any], skip: Any) -> list[str]:
    """Values for the required parameters (other than ``skip``) so that ``skip`` is judged."""
    out: list[str] = []
    for p in required:
        if p is skip:
            continue
        out += ([p.opts[0], "{tmp}/x"] if p.opts[0].startswith("-") else ["{tmp}/x"])
    return out


# ---------------------------------------------------------------- configs and --set values
BAD_SET = {
    "data.dataset": "[1]", "data.path": "{a: 1}", "data.options": "[1]",
    "data.window.length": "0", "data.window.step": "-3", "data.window.min_purity": "2",
    "data.window.label_policy": "first", "data.split.kind": "nonsense",
    "data.split.folds": "0", "data.split.fold": "-1", "data.split.val_fraction": "1.5",
    "data.split.test_fraction": "nan", "data.normalize": "maybe", "data.labels": "[a]",
    "model.name": "[1,2]", "model.options": "abc", "train.max_epochs": "abc",
    "train.batch_size": "0", "train.lr": ".inf", "train.weight_decay": ".nan",
    "train.precision": "fp7", "train.devices": "0", "train.threads": "0",
    "train.max_time": "xx", "train.seed": "1.5", "train.patience": "-2",
    "train.num_nodes": "0", "train.strategy": "[1]", "train.progress": "sometimes",
    "train.lr_schedule": "warmup", "train.label_smoothing": "1.0",
}


def config_cases() -> None:
    """Config files that are not YAML mappings of known keys, and wrong ``--set`` values."""
    for key, value in BAD_SET.items():
        case(f"set-{key}", ["train", "--set", f"{key}={value}"],
             err(rf"^error: .*{re.escape(key.split('.')[-1])}"))
    for label, value, regex in (
            ("no-equals", "train.lr", "must look like key.path=value"),
            ("unknown-key", "train.nope=1", "unknown config key 'train.nope'"),
            ("unknown-section", "nope.x=1", "unknown config key 'nope'"),
            ("empty-key", "=3", "unknown config key ''"),
            ("yaml-syntax", "train.lr=[1,", "train.lr must be a finite number"),
            ("deep-scalar", "train.lr.x=1", "train.lr must be a finite number")):
        case(f"set-{label}", ["train", "--set", value], err(r"^error: .*" + re.escape(regex)))
    for cmd in (["cv"], ["search-ratio", "{in}/cfg-ok.yaml"],
                ["ablate", "danhar", "{in}/cfg-ok.yaml"],
                ["ablate", "tasks", "{in}/cfg-ok.yaml"]):
        case(f"set-{cmd[0]}-{cmd[1] if len(cmd) > 2 else 'x'}-bad-epochs",
             [*cmd, "--set", "train.max_epochs=abc"], err(r"^error: .*max_epochs"))
    write("cfg-ok.yaml", "data:\n  dataset: custom\n")
    bad = {
        "empty": b"", "list": b"- 1\n- 2\n", "scalar": b"42\n", "syntax": b"data: [1,\n",
        "tabs": b"data:\n\tdataset: x\n", "latin1": "data:\n  dataset: caf\xe9\n".encode("latin-1"),
        "binary": bytes(range(256)), "unknown-top": b"nope: 1\n",
        "unknown-nested": b"train:\n  nope: 1\n", "epochs-text": b"train:\n  max_epochs: ten\n",
        "epochs-negative": b"train:\n  max_epochs: -1\n",
        "epochs-huge": b"train:\n  max_epochs: 1e400\n", "lr-nan": b"train:\n  lr: .nan\n",
        "window-zero": b"data:\n  window:\n    length: 0\n",
        "model-unknown": b"model:\n  name: vgg99\n", "dataset-unknown": b"data:\n  dataset: nope\n",
        "split-unknown": b"data:\n  split:\n    kind: astrology\n",
        "section-scalar": b"train: 5\n", "anchors-bomb": _yaml_bomb(),
        "duplicate-keys": b"train:\n  lr: 0.1\n  lr: 0.2\n  max_epochs: x\n",
        "utf16": "train:\n  lr: 0.1\n".encode("utf-16"), "nul": b"train:\n  lr: 0.1\x00\n",
    }
    for label, data in bad.items():
        ref = write(f"cfg-{label}.yaml", data)
        case(f"config-{label}", ["train", ref],
             err(CONFIG_ERRORS.get(label, rf"^error: .*cfg-{label}\.yaml: ")))
    case("config-missing", ["train", "{tmp}/none.yaml"], err(r"^error: .*none\.yaml"))
    case("config-directory", ["train", "{tmp}"], err(r"^error: config file not found: "))
    for cmd in ("cv", "search-ratio"):
        case(f"config-{cmd}-missing", [cmd, "{tmp}/none.yaml"], err(r"^error: .*none\.yaml"))
    for cmd in ("danhar", "tasks"):
        case(f"config-ablate-{cmd}-missing", ["ablate", cmd, "{tmp}/none.yaml"],
             err(r"^error: .*none\.yaml"))


def _yaml_bomb() -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------- data files
def _good(n: int = 200, label: bool = True) -> str:
    return (HEADER.strip() + (",label\n" if label else "\n")) + rows(n, label="walk" if label
                                                                      else None)


def data_file_cases() -> None:
    """Files no recording can come from (one line naming the file) and partly bad files (the
    bad rows counted) through ``data info custom --count`` and ``train --dataset custom``."""
    lab = HEADER.strip() + ",label\n"
    fatal = {
        "empty.csv": b"", "header-only.csv": lab.encode(),
        "all-text.csv": (lab + "a,b,c,d,e\n" * 5).encode(),
        "all-nan.csv": (lab + "0,nan,nan,nan,w\n0.02,nan,nan,nan,w\n").encode(),
        "all-huge.csv": (lab + "0,1e308,1,1,w\n0.02,1,-1e308,1,w\n").encode(),
        "all-inf.csv": (lab + "0,inf,1,1,w\n0.02,1,-inf,1,w\n").encode(),
        "binary.csv": bytes(range(256)) * 4, "utf16.csv": _good(20).encode("utf-16"),
        "long-row.csv": (lab + "0,1,2,3,w,9,9\n").encode(),
        "no-channels.csv": b"timestamp,label\n0,w\n0.02,w\n",
        "bad.parquet": b"PAR1" + b"\x00" * 64 + b"PAR1", "truncated.parquet": _parquet()[:-40],
        "gzip-as-csv.csv": gzip.compress(_good(20).encode(), mtime=0),
        "one-row.csv": (lab + "0,1,2,3,w\n").encode(),
        "same-timestamps.csv": (lab + "0,1,2,3,w\n" * 40).encode(),
        "nul-bytes.csv": (lab + "0,1\x00,2,3,w\n").encode(),
        "ts-text.csv": (lab + "".join(f"t{i},1,2,3,w\n" for i in range(40))).encode(),
    }
    for name, data in fatal.items():
        ref = write(f"data/{name}", data)
        stem = name.replace(".", "-")
        named = rf"^error: .*{re.escape(name)}(, line \d+)?: "
        case(f"data-train-{stem}", ["train", "--dataset", "custom", "--path", ref, "--epochs",
                                     "1", "--no-progress"], err(named))
        case(f"data-info-{stem}", ["data", "info", "custom", "--path", ref, "--count",
                                    "--json"], err(named))
    (FILES / "data" / "empty-dir").mkdir(parents=True, exist_ok=True)
    (FILES / "data" / "empty-dir" / ".keep").write_text("")
    # data info describes what is missing (exit 0); train refuses it
    backwards = write("data/backwards-time.csv",
                      lab + "".join(f"{-i},1,2,3,w\n" for i in range(40)))
    case("data-train-backwards-time-too-short", ["train", "--dataset", "custom", "--path",
                                                 backwards, "--epochs", "1"],
         err(r"^error: no windows to split: data.window.length is 128 samples"))
    for label, path in (("empty-folder", "{in}/data/empty-dir"), ("missing", "{tmp}/nope.csv")):
        case(f"data-info-{label}", ["data", "info", "custom", "--path", path, "--count"],
             {"exit": 0})
        case(f"data-train-{label}", ["train", "--dataset", "custom", "--path", path],
             err(r"^error: .*(empty-dir|nope\.csv)"))
    partly = {
        "huge": ("0.1000,1e308,1,1,walk\n" * 3, {"rows_missing_value": 3}),
        "nan": ("0.1000,nan,1,1,walk\n0.1200,1,,1,walk\n", {"rows_missing_value": 2}),
        "inf": ("0.1000,inf,1,1,walk\n0.1200,1,-inf,1,walk\n", {"rows_missing_value": 2}),
        "text": ("0.1000,abc,1,1,walk\n0.1200,1,0x1g,1,walk\n", {"rows_non_numeric": 2}),
        "no-ts": (",1,1,1,walk\n,2,2,2,walk\n", {"rows_missing_timestamp": 2}),
        "mixed": ("0.1000,1e39,1,1,walk\n0.1200,x,1,1,walk\n,1,1,1,walk\n",
                  {"rows_missing_value": 1, "rows_non_numeric": 1, "rows_missing_timestamp": 1}),
    }
    for label, (bad, dropped) in partly.items():
        ref = write(f"data/partly-{label}.csv", _good(100) + bad + rows(100, 100, label="walk"))
        case(f"data-info-partly-{label}", ["data", "info", "custom", "--path", ref, "--count",
                                           "--json"], {"exit": 0, "dropped": dropped})
    for name in ("uci_har", "pamap2", "wisdm"):  # described as not found there
        case(f"data-info-{name}-path-missing",
             ["data", "info", name, "--path", "{tmp}/missing", "--count"], {"exit": 0})
    for name in ("nope", "", "../etc"):
        case(f"data-info-unknown-{name or 'empty'}",
             ["data", "info", name, "--path", "{tmp}/missing", "--count"],
             err(r"^error: unknown dataset"))


def _parquet() -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"timestamp": [0.0, 0.02], "acc_x": [1.0, 2.0]}).to_parquet(buf)
    return buf.getvalue()


# ---------------------------------------------------------------- predict on the tiny run
def predict_cases() -> None:
    """Recording files and option values for ``predict`` on a run and on its ONNX file."""
    fatal = {
        "empty.csv": "", "header.csv": HEADER, "short.csv": HEADER + rows(10),
        "wrong-channels.csv": "timestamp,gyro_x,gyro_y\n" + "0,1,2\n" * 80,
        "all-nan.csv": HEADER + "0,nan,nan,nan\n" * 80, "text.csv": "hello world\n" * 80,
        "two-channels.csv": "timestamp,acc_x,acc_y\n" + "".join(f"{i/50},1,2\n" for i in range(80)),
    }
    for name, text in fatal.items():
        ref = write(f"predict/{name}", text)
        for target, tag in (("{run}", "run"), ("{onnx}", "onnx")):
            case(f"predict-{tag}-{name.replace('.', '-')}", ["predict", target, "-i", ref],
                 err(rf"^error: .*{re.escape(name)}: "))
    write("predict/binary.csv", bytes(range(256)) * 8)
    case("predict-binary", ["predict", "{run}", "-i", "{in}/predict/binary.csv"],
         err(r"^error: .*binary\.csv, line 3: "))
    good = write("predict/good.csv", HEADER + rows(200))
    drops = {
        "huge": ("0.1,1e308,1,1\n", "rows_missing_value"),
        "nan": ("0.1,nan,1,1\n", "rows_missing_value"),
        "text": ("0.1,x,1,1\n", "rows_non_numeric"),
    }
    for label, (line, counter) in drops.items():
        ref = write(f"predict/partly-{label}.csv", HEADER + rows(100) + line * 2 + rows(100, 100))
        for target, tag in (("{run}", "run"), ("{onnx}", "onnx")):
            case(f"predict-{tag}-partly-{label}", ["predict", target, "-i", ref],
                 {"exit": 0, "dropped": {counter: 2}})
    options = [
        ("step-zero", ["--step", "0"]), ("step-negative", ["--step", "-5"]),
        ("step-huge", ["--step", "99999999999"]), ("hop-zero", ["--hop", "0"]),
        ("step-hop-differ", ["--step", "3", "--hop", "4"]), ("rate-zero", ["--rate", "0"]),
        ("rate-negative", ["--rate", "-50"]), ("rate-nan", ["--rate", "nan"]),
        ("rate-inf", ["--rate", "inf"]), ("smooth-zero", ["--smooth", "0"]),
        ("smooth-negative", ["--smooth", "-1"]), ("smooth-huge", ["--smooth", "99999999999"]),
        ("output-exists", ["-o", good]), ("output-dir", ["-o", "{tmp}"]),
        ("rate-mismatch", ["--rate", "10"]),
    ]
    for label, opts in options:
        regex = {"output-exists": "exists; choose another output file",
                 "output-dir": "exists; choose another output file",
                 "rate-mismatch": "rate=10 Hz implies 0.1 s", "step-hop-differ": "differ",
                 "hop-zero": "--step/--hop"}.get(label, opts[0])
        for target, tag in (("{run}", "run"), ("{onnx}", "onnx")):
            case(f"predict-{tag}-{label}", ["predict", target, "-i", good, *opts],
                 err(r"^error: .*" + re.escape(regex)))
    for tag in ("run", "onnx"):  # an OS error: one line, exit 2 (harlab.cli.main)
        case(f"predict-{tag}-output-missing-parent", ["predict", "{" + tag + "}", "-i", good,
                                                      "-o", "{tmp}/no/such/out.csv"],
             err(r"^error: No such file or directory: .*out\.csv"))
    for label, opts in (("no-input", []), ("input-missing", ["-i", "{tmp}/none.csv"]),
                        ("input-dir", ["-i", "{tmp}"]), ("stream-and-follow",
                                                         ["--stream", "--follow", good]),
                        ("poll-zero", ["--follow", good, "--poll", "0"]),
                        ("poll-nan", ["--follow", good, "--poll", "nan"]),
                        ("poll-huge", ["--follow", good, "--poll", "1e9"]),
                        ("max-gap-one", ["--stream", "--max-gap", "1"]),
                        ("max-gap-nan", ["--stream", "--max-gap", "nan"]),
                        ("max-idle-negative", ["--follow", good, "--max-idle", "-1"]),
                        ("max-idle-nan", ["--follow", good, "--max-idle", "nan"]),
                        ("follow-missing", ["--follow", "{tmp}/none.csv", "--max-idle", "0.1"]),
                        ("follow-dir", ["--follow", "{tmp}", "--max-idle", "0.1"])):
        regex = {"no-input": "give --input FILE", "input-missing": "none.csv: file not found",
                 "input-dir": "a folder, not a file", "stream-and-follow": "not both",
                 "follow-missing": "none.csv: file to follow not found",
                 "follow-dir": "a folder, not a file to follow"}.get(label) or opts[-2]
        case(f"predict-{label}", ["predict", "{run}", *opts], err(r"^error: .*" + re.escape(regex)))
    for label, target in (("missing-run", "{tmp}/none"), ("empty-dir", "{tmp}"),
                          ("file-not-run", good), ("missing-onnx", "{tmp}/m.onnx")):
        case(f"predict-{label}", ["predict", target, "-i", good],
             err(r"^error: .*(run directory|ONNX model)"))
    for label, data in (("garbage", b"not an onnx model" * 10), ("empty", b""),
                        ("zeros", b"\x00" * 4096)):
        ref = write(f"predict/{label}.onnx", data)
        case(f"predict-onnx-{label}", ["predict", ref, "-i", good],
             err(rf"^error: .*{label}\.onnx: not a loadable ONNX model"))


# ---------------------------------------------------------------- stream lines
def stream_cases() -> None:
    """Lines on stdin that are not samples: dropped, counted in the summary, never NaN."""
    body = rows(40)
    kinds = {
        "not-utf8": (b"0.5,\xff\xfe,1,1\n", "not_utf8"),
        "wrong-columns": (b"0.5,1,2\n", "wrong_columns"),
        "nan": (b"0.5,nan,1,1\n", "nan_rows"),
        "text": (b"0.5,abc,1,1\n", "unparseable"),
        "huge": (b"0.5,1e308,1,1\n", "not_finite_rows"),
        "inf": (b"0.5,inf,1,1\n", "not_finite_rows"),
        "empty-fields": (b"0.5,,,\n", "unparseable"),
        "nul": (b"0.5,1\x00,1,1\n", "unparseable"),
    }
    for label, (line, counter) in kinds.items():
        data = HEADER.encode() + body.encode() + line * 3 + rows(40, 40).encode()
        ref = write(f"stream/{label}.csv", data)
        case(f"stream-{label}", ["predict", "{run}", "--stream"],
             {"exit": 0, "dropped": {counter: 3}}, stdin=ref[5:])
    for label, data in (("empty", b""), ("header-only", HEADER.encode())):
        ref = write(f"stream/{label}.csv", data)
        case(f"stream-{label}", ["predict", "{run}", "--stream"], {"exit": 0}, stdin=ref[5:])
    for label, data in (("all-binary", bytes(range(256)) * 16),
                        ("bad-header", b"a,b,c,d,e,f\n" + body.encode())):
        ref = write(f"stream/{label}.csv", data)
        case(f"stream-{label}", ["predict", "{run}", "--stream"],
             err(r"^error: stream header .* lacks channel\(s\) acc_x"), stdin=ref[5:])


# ---------------------------------------------------------------- run directories, checkpoints
TAMPER = {
    "no-marker": [["delete", ".harlab-run", ""]],
    "marker-garbage": [["write", ".harlab-run", "{not json"]],
    "marker-format-99": [["write", ".harlab-run", '{"harlab_run_format": 99}']],
    "marker-list": [["write", ".harlab-run", "[1, 2]"]],
    "best-truncated": [["truncate", "checkpoints/best.ckpt", 200]],
    "best-empty": [["truncate", "checkpoints/best.ckpt", 0]],
    "best-garbage": [["write", "checkpoints/best.ckpt", "garbage" * 100]],
    "best-flipped": [["flip", "checkpoints/best.ckpt", 2000]],
    "both-missing": [["delete", "checkpoints/best.ckpt", ""],
                     ["delete", "checkpoints/last.ckpt", ""]],
    "both-are-dirs": [["delete", "checkpoints/best.ckpt", ""],
                      ["mkdir", "checkpoints/best.ckpt", ""],
                      ["delete", "checkpoints/last.ckpt", ""],
                      ["mkdir", "checkpoints/last.ckpt", ""]],
    "last-garbage-best-missing": [["delete", "checkpoints/best.ckpt", ""],
                                  ["write", "checkpoints/last.ckpt", "x"]],
    "config-missing": [["delete", "config.yaml", ""]],
    "config-garbage": [["write", "config.yaml", "train: [1,\n"]],
    "config-bad-value": [["write", "config.yaml", "train:\n  max_epochs: abc\n"]],
    "checkpoints-gone": [["delete", "checkpoints", ""]],
    "non-utf8-config": [["bytes", "config.yaml", "ff fe 00 41"]],
}


def run_cases() -> None:
    """Every command that reads a run, on a run whose marker, config or checkpoints were
    damaged: one line naming the run or file, the run left as it was."""
    readers = {
        "evaluate": ["evaluate", "{copy}"],
        "predict": ["predict", "{copy}", "-i", "{in}/predict/good.csv"],
        "export": ["export", "{copy}", "-o", "{tmp}/m.onnx"],
        "attention": ["attention", "{copy}", "--out", "{tmp}/att"],
        "snr-sweep": ["radar", "snr-sweep", "{copy}", "--out", "{tmp}/snr"],
    }
    for label, setup in TAMPER.items():
        for cmd, argv in readers.items():
            if cmd in ("attention", "snr-sweep", "export") and label not in (
                    "no-marker", "best-truncated", "config-missing", "best-garbage"):
                continue
            case(f"run-{cmd}-{label}", argv, err(r"^error: .*run-copy"), setup=setup)
    case("run-resume-complete", ["train", "--resume", "{copy}"], err(r"^error: .*"), setup=[])
    case("run-resume-with-set", ["train", "--resume", "{copy}", "--set", "train.lr=1"],
         err(r"^error: .*--set"), setup=[])
    case("run-resume-missing", ["train", "--resume", "{tmp}/none"], err(r"^error: .*none"))
    elsewhere = {"harlab_run_format": RUN_FORMAT, "state": "running",
                 "attempts": [{"started": "2026-01-01T00:00:00", "pid": 4242,
                               "host": "elsewhere.example"}]}
    case("run-resume-other-host", ["train", "--resume", "{copy}"],
         err(r"^error: cannot resume: .*run-copy is still marked running by host "
             r"elsewhere\.example \(process 4242\).*--force-resume"),
         setup=[["write", ".harlab-run", json.dumps(elsewhere)]])
    case("train-force-resume-alone", ["train", "--force-resume"],
         err(r"^error: --force-resume is given only with --resume"))
    for label, argv in (
        ("evaluate-part", ["evaluate", "{run}", "--part", "holdout"]),
        ("evaluate-checkpoint", ["evaluate", "{run}", "--checkpoint", "middle"]),
        ("evaluate-missing", ["evaluate", "{tmp}/none"]),
        ("evaluate-file", ["evaluate", "{in}/predict/good.csv"]),
        ("evaluate-empty-dir", ["evaluate", "{tmp}"]),
        ("export-format", ["export", "{run}", "-f", "tflite", "-o", "{tmp}/m"]),
        ("export-quantize", ["export", "{run}", "--quantize", "int3", "-o", "{tmp}/m.onnx"]),
        ("export-calibration-zero", ["export", "{run}", "--quantize", "int8",
                                     "--calibration-windows", "0", "-o", "{tmp}/m.onnx"]),
        ("export-checkpoint", ["export", "{run}", "--checkpoint", "middle", "-o",
                               "{tmp}/m.onnx"]),
        ("export-out-exists", ["export", "{run}", "-o", "{in}/predict/good.csv"]),
        ("attention-part", ["attention", "{run}", "--part", "holdout", "--out", "{tmp}/a"]),
        ("attention-n-zero", ["attention", "{run}", "--n", "0", "--out", "{tmp}/a"]),
        ("snr-sweep-snrs", ["radar", "snr-sweep", "{run}", "--snrs", "a,b", "--out", "{tmp}/s"]),
        ("snr-sweep-not-radar", ["radar", "snr-sweep", "{run}", "--out", "{tmp}/s"]),
        ("compare-missing", ["compare", "{tmp}/a", "{tmp}/b", "--out", "{tmp}/c"]),
        ("compare-empty", ["compare", "{tmp}", "{tmp}", "--out", "{tmp}/c"]),
        ("compare-file", ["compare", "{in}/predict/good.csv", "{run}", "--out", "{tmp}/c"]),
        ("compare-where-syntax", ["compare", "{run}", "{run}", "--where-a", "model.name",
                                  "--out", "{tmp}/c"]),
        ("compare-where-none", ["compare", "{run}", "{run}", "--where-a", "model.name=vgg",
                                "--out", "{tmp}/c"]),
    ):
        case(f"run-{label}", argv, err(r"^error: .*" + RUN_ERRORS[label]))


# ---------------------------------------------------------------- archives over http
def _zip(members: dict[str, bytes], link: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():  # fixed dates: the same bytes on every run
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_DEFLATED)
        if link:
            info = zipfile.ZipInfo(link, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o120777 << 16)
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _tar(kind: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        def add(name: str, data: bytes = b"x", **attrs: Any) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data) if not attrs else 0
            for k, v in attrs.items():
                setattr(info, k, v)
            t.addfile(info, io.BytesIO(data) if not attrs else None)
        add("ok/a.txt")
        if kind == "traversal":
            add("../../escape.txt")
        elif kind == "absolute":
            add("/tmp/harlab-corpus-escape.txt")
        elif kind == "symlink":
            add("ok/link", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        elif kind == "hardlink":
            add("ok/hard", type=tarfile.LNKTYPE, linkname="../../etc/passwd")
        elif kind == "device":
            add("ok/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        elif kind == "fifo":
            add("ok/fifo", type=tarfile.FIFOTYPE)
    return gzip.compress(buf.getvalue(), mtime=0)


def download_cases() -> None:
    """Archives that would escape the destination, links, bombs, broken and mislabelled files,
    served from 127.0.0.1; URLs that are not http(s) are refused."""
    archives = {
        "zip-traversal.zip": _zip({"../../escape.txt": b"x"}),
        "zip-absolute.zip": _zip({"/tmp/harlab-corpus-escape.txt": b"x"}),
        "zip-symlink.zip": _zip({"a.txt": b"x"}, link="ok/link"),
        "zip-bomb.zip": _zip({"big.bin": b"\x00" * 4_000_000}),
        "zip-truncated.zip": _zip({"a.txt": b"x" * 1000})[:-30],
        "not-an-archive.zip": b"this is not a zip file\n" * 10,
        "empty.zip": b"",
        "tar-bomb.tar.gz": gzip.compress(_tar_big(), mtime=0),
    }
    for kind in ("traversal", "absolute", "symlink", "hardlink", "device", "fifo"):
        archives[f"tar-{kind}.tar.gz"] = _tar(kind)
    for name, data in archives.items():
        write(f"archives/{name}", data)
        case(f"download-{name.replace('.', '-')}",
             ["data", "download", "uci_har", "--url", "{http}/archives/" + name, "--dest",
              "{tmp}/dest", "--no-progress", "--retries", "0", "--max-extract-ratio", "50"],
             err(rf"^error: {re.escape(name)}(\.part)?: "))
    for label, url in (("file-url", "file:///etc/passwd"), ("ftp", "ftp://127.0.0.1/x.zip"),
                       ("no-host", "http:///x.zip"), ("bad-port", "http://127.0.0.1:x/a"),
                       ("relative", "archive.zip"), ("javascript", "javascript:alert(1)"),
                       ("not-found", "{http}/archives/none.zip")):
        case(f"download-url-{label}", ["data", "download", "uci_har", "--url", url, "--dest",
                                       "{tmp}/dest", "--retries", "0", "--no-progress"],
             err(r"^error: --url must be an http" if label != "not-found" else
                 r"^error: download of .* failed: HTTP 404"))
    for label, opts in (("sha-wrong", ["--sha256", "0" * 64]), ("sha-short", ["--sha256", "ab"]),
                        ("md5-wrong", ["--md5", "0" * 32]),
                        ("size-bad", ["--max-extract-size", "lots"]),
                        ("size-negative", ["--max-extract-size", "-5"]),
                        ("ratio-zero", ["--max-extract-ratio", "0"]),
                        ("ratio-nan", ["--max-extract-ratio", "nan"]),
                        ("members-zero", ["--max-extract-members", "0"]),
                        ("retries-negative", ["--retries", "-1"])):
        case(f"download-{label}", ["data", "download", "uci_har", "--url",
                                   "{http}/archives/zip-truncated.zip", "--dest", "{tmp}/dest",
                                   "--no-progress", *opts],
             err(r"^error: .*" + ("checksum mismatch" if "wrong" in label
                                  else re.escape(opts[0]))))
    write("archives/many-members.zip", _zip({f"f{i}.txt": b"x" for i in range(3)}))
    case("download-too-many-members",
         ["data", "download", "uci_har", "--url", "{http}/archives/many-members.zip", "--dest",
          "{tmp}/dest", "--no-progress", "--retries", "0", "--max-extract-members", "2"],
         err(r"^error: many-members\.zip: extraction refused, it holds 3 members, more than "
             r"the limit of 2 \(--max-extract-members"))
    case("download-dest-is-file", ["data", "download", "uci_har", "--url",
                                   "{http}/archives/empty.zip", "--dest",
                                   "{in}/predict/good.csv", "--no-progress"],
         err(r"^error: .*good\.csv exists and is not a harlab download"))
    case("download-unknown", ["data", "download", "nope", "--dest", "{tmp}/d"],
         err(r"^error: .*nope"))


def _tar_big() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("big.bin")
        info.size = 4_000_000
        t.addfile(info, io.BytesIO(b"\x00" * info.size))
    return buf.getvalue()


# ---------------------------------------------------------------- radar, simulate, studies
def radar_cases() -> None:
    """Radar files, spectrogram folders, simulation and study options that cannot work."""
    for label, data in (("empty", b""), ("garbage", b"\x01\x02garbage" * 100),
                        ("text", b"hello\nworld\n"), ("short-header", b"5.8\n"),
                        ("nan-header", b"nan\nnan\nnan\nnan\n1\n2\n")):
        for ext in (".dat", ".npy", ".csv"):
            ref = write(f"radar/{label}{ext}", data)
            case(f"radar-process-{label}{ext.replace('.', '-')}",
                 ["radar", "process", ref, "--out", "{tmp}/out.png"],
                 err(rf"^error: .*{label}{re.escape(ext)}: "))
    case("radar-process-missing", ["radar", "process", "{tmp}/none.dat", "--out", "{tmp}/o.png"],
         err(r"^error: .*none\.dat"))
    case("radar-process-dir", ["radar", "process", "{tmp}", "--out", "{tmp}/o.png"],
         err(r"^error: .*: cannot read \(Is a directory\)"))
    write("radar/images/a.png", b"\x89PNG\r\n\x1a\nbroken")
    write("radar/labels.csv", "file,activity,person\na.png,walk,p1\n")
    write("radar/labels-bad.csv", "\xff\xfe\x00garbage")
    for label, argv in (
        ("images-missing", ["{tmp}/none", "--labels", "{in}/radar/labels.csv"]),
        ("images-broken-png", ["{in}/radar/images", "--labels", "{in}/radar/labels.csv"]),
        ("labels-missing", ["{in}/radar/images", "--labels", "{tmp}/none.csv"]),
        ("labels-binary", ["{in}/radar/images", "--labels", "{in}/radar/labels-bad.csv"]),
        ("frame-s-zero", ["{in}/radar/images", "--labels", "{in}/radar/labels.csv",
                          "--frame-s", "0"]),
        ("db-range-nan", ["{in}/radar/images", "--labels", "{in}/radar/labels.csv",
                          "--db-range", "nan"]),
    ):
        word = {"images-missing": "none: folder not found", "images-broken-png": "a.png",
                "labels-missing": "none.csv", "labels-binary": "labels-bad.csv"}.get(
            label, argv[-2])
        case(f"radar-frames-{label}", ["radar", "frames-from-images", *argv, "--out",
                                       "{tmp}/frames"], err(r"^error: .*" + re.escape(word)))
    for label, opts in (("snr-text", ["--snr", "loud"]), ("persons-zero", ["--persons", "0"]),
                        ("persons-bad", ["--persons", "zz"]),
                        ("activities-bad", ["--activities", "flying"]),
                        ("recordings-zero", ["--recordings", "0"]),
                        ("duration-negative", ["--duration", "-1"]),
                        ("duration-nan", ["--duration", "nan"]), ("prf-zero", ["--prf", "0"]),
                        ("waveform-bad", ["--waveform", "laser"]),
                        ("jitter-inf", ["--jitter", "inf"]), ("workers-zero", ["--workers", "0"]),
                        ("config-missing", ["--config", "{tmp}/none.yaml"]),
                        ("config-garbage", ["--config", "{in}/cfg-binary.yaml"]),
                        ("processing-missing", ["--processing", "{tmp}/none.yaml"])):
        case(f"simulate-radar-{label}", ["simulate", "radar", "--out", "{tmp}/sim", "--quick",
                                         "--no-progress", *opts],
             err(r"^error: .*" + SIMULATE_ERRORS.get(label, re.escape(opts[0]))))
    studies = {
        "cv-folds-text": ["cv", "--folds", "a,b"], "cv-seeds-text": ["cv", "--seeds", "x"],
        "cv-seeds-empty": ["cv", "--seeds", ""], "cv-resume-missing": ["cv", "--resume",
                                                                        "{tmp}/none"],
        "cv-merge-missing": ["cv", "--merge", "{tmp}/none"],
        "search-ratio-ratios": ["search-ratio", "{in}/cfg-ok.yaml", "--ratios", "a:b"],
        "ablate-danhar-arrangements": ["ablate", "danhar", "{in}/cfg-ok.yaml", "--arrangements",
                                       "sideways"],
        "ablate-danhar-seeds": ["ablate", "danhar", "{in}/cfg-ok.yaml", "--seeds", "q"],
        "ablate-tasks-weightings": ["ablate", "tasks", "{in}/cfg-ok.yaml", "--weightings",
                                    "vibes"],
        "reproduce-danhar-dataset": ["reproduce", "danhar", "--datasets", "nope", "--out",
                                     "{tmp}/r"],
        "reproduce-danhar-protocol": ["reproduce", "danhar", "--protocols", "astrology",
                                      "--out", "{tmp}/r"],
        "reproduce-danhar-models": ["reproduce", "danhar", "--models", "vgg", "--out",
                                    "{tmp}/r"],
        "reproduce-danhar-presets": ["reproduce", "danhar", "--presets", "{tmp}/none.yaml",
                                     "--out", "{tmp}/r"],
        "reproduce-danhar-seeds-zero": ["reproduce", "danhar", "--seeds", "0", "--out",
                                        "{tmp}/r"],
        "reproduce-mranet-data-missing": ["reproduce", "mranet", "--data", "{tmp}/none",
                                          "--out", "{tmp}/r"],
        "reproduce-mranet-experiments": ["reproduce", "mranet", "--experiments", "t99",
                                         "--out", "{tmp}/r"],
        "reproduce-mranet-protocol": ["reproduce", "mranet", "--protocol", "astrology",
                                      "--out", "{tmp}/r"],
        "reproduce-mranet-snrs": ["reproduce", "mranet", "--snrs", "a,b", "--out", "{tmp}/r"],
        "reproduce-mranet-no-data": ["reproduce", "mranet", "--lr", "nan", "--out", "{tmp}/r"],
        "reproduce-mranet-init": ["reproduce", "mranet", "--init", "magic", "--out", "{tmp}/r"],
    }
    for label, argv in studies.items():
        case(f"study-{label}", argv, err(r"^error: .*" + STUDY_ERRORS[label]))


def main() -> None:
    shutil.rmtree(HERE, ignore_errors=True)
    FILES.mkdir(parents=True)
    for make in (usage_cases, config_cases, data_file_cases, predict_cases, stream_cases,
                 run_cases, download_cases, radar_cases):
        make()
    text = json.dumps(CASES, indent=1, ensure_ascii=True)
    (HERE / "cases.json").write_text(text + "\n")
    size = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"{len(CASES)} cases, {size / 1e6:.2f} MB in {HERE}")


if __name__ == "__main__":
    main()
