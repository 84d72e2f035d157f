"""Architecture rules that neither ruff nor import-linter state: short functions, one home.

The layer contracts live in pyproject.toml (``lint-imports`` in ``make lint``); ruff
limits complexity, branches and statements. This file adds what they cannot say.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "harlab"
MAX_LINES = 80  # a function longer than this no longer reads at once


def _functions() -> list[tuple[str, int]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where = f"{path.relative_to(SRC.parent)}:{node.lineno} {node.name}"
                out.append((where, node.end_lineno - node.lineno + 1))  # type: ignore[operator]
    return out


def test_every_function_reads_at_once() -> None:
    found = _functions()
    assert len(found) > 500  # the scan sees the package
    long = [f"{where} ({n} lines)" for where, n in found if n > MAX_LINES]
    assert not long, f"functions over {MAX_LINES} lines: {long}"


def test_no_library_code_in_the_cli_is_imported_elsewhere() -> None:
    """The CLI parses options; nothing below it (and no test of the library) imports it."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.parent.name == "cli":
            continue
        text = path.read_text(encoding="utf-8")
        if "from harlab.cli" in text or "import harlab.cli" in text:
            offenders.append(str(path.relative_to(SRC.parent)))
    assert not offenders


def test_no_module_reads_earlier_run_formats() -> None:
    """Formats change by refusal (runs.check_format), never by reading old layouts: the
    reproduction plan file and the fallbacks for runs without decisions are gone."""
    banned = ("reproduce_plan.json", "evaluation-test-", "older runs", "legacy")
    hits = [f"{p.relative_to(SRC.parent)}: {b!r}" for p in sorted(SRC.rglob("*.py"))
            for b in banned if b in p.read_text(encoding="utf-8")]
    assert not hits, hits
