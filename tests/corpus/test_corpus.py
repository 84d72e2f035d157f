"""Run every case of the bad-input corpus (``cases/cases.json``, made by ``make_corpus.py``)
in-process through ``harlab.cli.main.main`` and hold it to the project's rules.

A case fails on a traceback, an exit code other than the expected one, an error that is not
exactly one line on stderr or does not match, drop counts other than the expected ones, NaN
in JSON output, or any file changed outside the case's own temporary folder (the shared run,
its export, the checked-in inputs and the repository's configs/ are snapshotted).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import io
import json
import logging
import math
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
CASES = json.loads((HERE / "cases" / "cases.json").read_text())
FILES = HERE / "cases" / "files"
CONFIGS = HERE.parents[1] / "configs"
# what may come before an error line on stderr: a logged warning (one line each) and the
# download's progress lines; anything else (a usage box, a traceback, a second error) fails
PROGRESS = ("WARNING: ", "downloading ", "extracting ")


def _snapshot(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
                           else "dir")
    return out


@pytest.fixture(scope="session")
def http_root() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(FILES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # the server's access log is not the case's
        pass


def _needs_run(case: dict) -> bool:
    return any(k in w for w in case["argv"] for k in ("{run}", "{onnx}", "{copy}"))


@pytest.fixture
def shared(request: pytest.FixtureRequest, http_root: str) -> dict[str, Any]:
    """Placeholders' values; the tiny run (trained once per session) only for cases on it."""
    out: dict[str, Any] = {"http": http_root, "watch": [FILES, CONFIGS]}
    if _needs_run(request.node.callspec.params["case"]):
        onnx = request.getfixturevalue("exported")[0]
        out.update(run=request.getfixturevalue("tiny_run"), onnx=onnx)
        out["watch"] += [out["run"], onnx.parent]
    return out


def _setup_copy(run: Path, dest: Path, setup: list[list[Any]]) -> Path:
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("*.png"))
    for op, rel, arg in setup:
        p = dest / rel
        if op == "delete":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        elif op == "mkdir":
            p.mkdir()
        elif op == "write":
            p.write_text(arg)
        elif op == "bytes":
            p.write_bytes(bytes.fromhex(arg))
        elif op == "truncate":
            p.write_bytes(p.read_bytes()[:arg])
        elif op == "flip":
            data = bytearray(p.read_bytes())
            data[arg] ^= 0xFF
            p.write_bytes(bytes(data))
    return dest


def _argv(case: dict, tmp: Path, shared: dict[str, Any]) -> list[str]:
    out = []
    for word in case["argv"]:
        if word.startswith("{in}/"):
            rel = word[len("{in}/"):]
            dest = tmp / "in" / rel
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = FILES / rel
                (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest)
            word = str(dest)
        if "{copy}" in word:
            copy = tmp / "run-copy"
            if not copy.exists():
                _setup_copy(shared["run"], copy, case.get("setup", []))
            word = word.replace("{copy}", str(copy))
        for key in ("run", "onnx", "http"):
            if "{" + key + "}" in word:
                word = word.replace("{" + key + "}", str(shared[key]))
        out.append(word.replace("{tmp}", str(tmp)))
    return out


def run_in_process(argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """``harlab ARGV`` through ``main``: (exit code, stdout, stderr incl. harlab's log)."""
    from harlab.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    log = logging.getLogger("harlab")
    saved = log.handlers[:], log.propagate
    handler = logging.StreamHandler(err)  # what main() installs, onto the captured stderr
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    log.handlers, log.propagate = [handler], False
    old_stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    code: Any = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as exc:
                code = exc.code
            except BaseException:  # noqa: BLE001  (a traceback is the failure we look for)
                import traceback

                err.write(traceback.format_exc())
                code = "traceback"
    finally:
        sys.stdin = old_stdin
        log.handlers, log.propagate = saved
    code = 0 if code is None else code
    return code, out.getvalue(), err.getvalue()


def _dropped(out: str, err: str) -> dict[str, int]:
    """Drop counts as the commands print them (stderr line, stream summary, data info)."""
    found: dict[str, int] = {}
    for line in err.splitlines():
        if line.startswith("dropped: "):
            found.update({k: int(v) for k, v in
                          (kv.split("=") for kv in line[len("dropped: "):].split(", "))})
    for doc in _json_docs(out) + _json_docs(err):  # the stream summary is on stderr
        if isinstance(doc, dict) and doc.get("summary") is True:
            found.update(doc.get("counts", {}))
        elif isinstance(doc, dict) and isinstance(doc.get("counts"), dict):
            found.update(doc["counts"].get("dropped") or {})
    return found


def _json_docs(out: str) -> list[Any]:
    try:
        return [json.loads(out, parse_constant=_no_nan)] if out.lstrip().startswith("{\n") \
            else [json.loads(line, parse_constant=_no_nan) for line in out.splitlines()
                  if line.startswith("{")]
    except ValueError as exc:
        raise AssertionError(f"JSON output that is not JSON: {exc}") from None


def _no_nan(word: str) -> float:
    raise ValueError(f"{word} in JSON output")


def check(case: dict, code: Any, out: str, err: str) -> None:
    """Every rule of the corpus for one case's result."""
    name, expect = case["name"], case["expect"]
    assert "Traceback" not in err + out, f"{name}: traceback\n{err}"
    assert code == expect["exit"], f"{name}: exit {code}, expected {expect['exit']}\n{err}"
    for doc in _json_docs(out) + _json_docs(err):
        assert not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(doc)), \
            f"{name}: non-finite number in JSON output"
    if expect["exit"] != 0:
        lines = [line for line in err.splitlines() if not line.startswith(PROGRESS)]
        assert len(lines) == 1, f"{name}: stderr is {len(lines)} lines, not one:\n{err}"
        assert re.search(expect["stderr"], lines[0]), f"{name}: {lines[0]!r} !~ {expect['stderr']}"
        assert err.splitlines()[-1] == lines[0], f"{name}: the error is not the last line"
    if "dropped" in expect:
        found = _dropped(out, err)
        want = expect["dropped"]
        assert {k: found.get(k) for k in want} == want, f"{name}: dropped {found}, want {want}"


def _leaves(doc: Any) -> Iterator[Any]:
    if isinstance(doc, dict):
        for v in doc.values():
            yield from _leaves(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _leaves(v)
    else:
        yield doc


def test_corpus_has_every_command_and_300_cases() -> None:
    import typer

    from harlab.cli.main import app

    root = typer.main.get_command(app)
    names = {" ".join(c["argv"][:2]) for c in CASES} | {c["argv"][0] for c in CASES}
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", None) or {None: cmd}
        for sub in subs:
            assert (f"{name} {sub}" if sub else name) in names, f"no case runs harlab {name} {sub}"
    assert len(CASES) >= 300 and len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [  # cases on the trained run are slow: they train it once
    pytest.param(c, id=c["name"], marks=[pytest.mark.slow] if _needs_run(c) else [])
    for c in CASES])
def test_case(case: dict, shared: dict[str, Any], tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARLAB_CACHE", str(tmp_path / "cache"))
    before = _snapshot(*shared["watch"])
    argv = _argv(case, tmp_path, shared)
    stdin = (FILES / case["stdin"]).read_bytes() if "stdin" in case else b""
    code, out, err = run_in_process(argv, stdin)
    check(case, code, out, err)
    assert _snapshot(*shared["watch"]) == before, f"{case['name']}: changed files outside"
    for escaped in (tmp_path.parent / "escape.txt", Path("/tmp/harlab-corpus-escape.txt")):
        assert not escaped.exists(), f"{case['name']}: an archive member escaped: {escaped}"


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0), (["predict", "--help"], 0), ([], 2), (["data"], 2),
])
def test_help_and_bare_groups_keep_their_exit_codes(argv: list[str], code: int) -> None:
    """``--help`` prints the help, exit 0; a bare group prints its help, exit 2 (Click's)."""
    got, out, err = run_in_process(argv)
    assert got == code and "Usage" in out and "error" not in err and "Traceback" not in err


def test_checked_in_corpus_is_what_make_corpus_generates(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus is generated, never edited by hand: regenerating it changes no byte."""
    from tests.corpus import make_corpus

    monkeypatch.setattr(make_corpus, "HERE", tmp_path / "cases")
    monkeypatch.setattr(make_corpus, "FILES", tmp_path / "cases" / "files")
    monkeypatch.setattr(make_corpus, "CASES", [])
    make_corpus.main()
    fresh = _snapshot(tmp_path / "cases")
    mine = _snapshot(HERE / "cases")
    assert {k.replace(str(tmp_path), str(HERE)): v for k, v in fresh.items()} == mine, \
        "tests/corpus/cases differs from make_corpus.py's output: run it and commit"
