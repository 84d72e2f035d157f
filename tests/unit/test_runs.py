"""Run and attempt naming: never reuse a path; find earlier attempts in creation order."""

from __future__ import annotations

from pathlib import Path

from harlab.runs import attempts, create_run_dir, first_free


def test_first_free_and_attempts(tmp_path: Path) -> None:
    made = [first_free(tmp_path, "m", Path.mkdir) for _ in range(11)]
    assert [p.name for p in made[:3]] == ["m", "m-2", "m-3"]
    assert attempts(tmp_path, "m") == made  # m-10 after m-9, not after m (lexical order)
    assert attempts(tmp_path, "other") == []

    def write(p: Path) -> None:
        with p.open("xb") as fh:
            fh.write(b"{}")

    files = [first_free(tmp_path, "r", write, ".json") for _ in range(2)]
    assert [p.name for p in files] == ["r.json", "r-2.json"]
    assert attempts(tmp_path, "r", ".json") == files


def test_create_run_dir_never_reuses(tmp_path: Path) -> None:
    a, b = create_run_dir(tmp_path, "x y"), create_run_dir(tmp_path, "x y")
    assert a != b and (a / ".harlab-run").is_file() and (b / ".harlab-run").is_file()
    assert "x-y" in a.name
