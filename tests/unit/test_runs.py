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


def test_run_directories_of_another_format_are_refused(tmp_path: Path) -> None:
    import pytest
    import torch

    from harlab.errors import CheckpointError
    from harlab.runs import RUN_FORMAT, check_run_dir, read_checkpoint, run_format

    run = create_run_dir(tmp_path, "r")
    (run / "config.yaml").write_text("{}\n")
    assert run_format(run) == RUN_FORMAT and check_run_dir(run) == run
    (run / ".harlab-run").write_text("harlab-run\n")  # what harlab wrote before formats
    with pytest.raises(CheckpointError, match=f"run format 1; this harlab reads format "
                       f"{RUN_FORMAT} only: train it again"):
        check_run_dir(run)
    (run / ".harlab-run").unlink()
    with pytest.raises(CheckpointError, match=r"not a harlab run directory \(no .harlab-run\)"):
        check_run_dir(run)
    ckpt = tmp_path / "old.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"harlab": {"version": 1}}}, ckpt)
    with pytest.raises(CheckpointError, match="old.ckpt was written in run format 1"):
        read_checkpoint(ckpt)


