"""Run and attempt naming: never reuse a path; find earlier attempts in creation order."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_run_states_and_attempts(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    import pytest

    from harlab.errors import CheckpointError
    from harlab.runs import (
        attempt_count,
        check_complete,
        run_state,
        set_run_state,
        start_attempt,
    )

    run = create_run_dir(tmp_path, "r")
    assert run_state(run) == "running" and attempt_count(run) == 1
    # this process is alive: the run is still training, refused even with the flag's reason
    with pytest.raises(CheckpointError, match="still training"):
        check_complete(run)
    # a dead process: killed; refused unless allowed, and then the reason is returned
    record = json.loads((run / ".harlab-run").read_text())
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    record["attempts"][0]["pid"] = int(done.stdout)
    (run / ".harlab-run").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="unfinished run .*--resume.*--allow-unfinished"):
        check_complete(run)
    assert "process is gone" in (check_complete(run, allow_unfinished=True) or "")
    set_run_state(run, "failed", error="ValueError: bad")
    assert run_state(run) == "failed"
    assert "its training raised: ValueError: bad" in (check_complete(run, True) or "")
    assert start_attempt(run, resumed_from_epoch=3) == 2 and run_state(run) == "running"
    set_run_state(run, "complete")
    assert check_complete(run) is None
    attempts = json.loads((run / ".harlab-run").read_text())["attempts"]
    assert [a["outcome"] for a in attempts] == ["failed", "complete"]
    assert attempts[1]["resumed_from_epoch"] == 3
    assert not list(run.glob("*.tmp"))  # the marker is replaced atomically
    from harlab.runs import RUN_FORMAT

    (run / ".harlab-run").write_text(json.dumps({"harlab_run_format": RUN_FORMAT}))
    with pytest.raises(CheckpointError, match="records no run state"):
        check_complete(run, allow_unfinished=False)


def test_a_run_marked_running_by_another_host_is_resumed_only_when_forced(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import socket

    from harlab.cli.main import main
    from harlab.config import RunConfig, dump_yaml
    from harlab.runs import check_complete

    run = create_run_dir(tmp_path, "r")
    (run / "config.yaml").write_text(dump_yaml(RunConfig()))
    record = json.loads((run / ".harlab-run").read_text())
    other = socket.gethostname() + "-other"
    record["attempts"][0].update(host=other, pid=4242)
    (run / ".harlab-run").write_text(json.dumps(record))
    why = check_complete(run, allow_unfinished=True) or ""
    assert f"still marked running by host {other} (process 4242)" in why
    assert "cannot check another machine" in why and "process is gone" not in why

    def error(*args: str) -> str:
        with pytest.raises(SystemExit) as exit_:
            main(["train", *args])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "Traceback" not in err, err
        return " ".join(err.split())

    refused = error("--resume", str(run))
    assert "cannot resume" in refused and f"--resume {run} --force-resume" in refused
    # forced: past the host check, to the next one (this run has no checkpoint)
    assert "nothing to resume" in error("--resume", str(run), "--force-resume")
    assert "only with --resume" in error("--force-resume")
    assert json.loads((run / ".harlab-run").read_text()) == record  # nothing recorded


def test_markers_and_study_files_are_durable_renames(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An atomic write fsyncs the new file, then (after the rename) its folder: a power
    cut leaves the old ``.harlab-run`` / ``study.json`` or the new one, never neither."""
    import os

    from harlab.fileio import write_json
    from harlab.runs import set_run_state

    synced: list[str] = []
    fsync = os.fsync

    def record(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", record)
    run = create_run_dir(tmp_path, "r")
    assert synced[-3].startswith(f"{run}/..harlab-run.") and synced[-2] == str(run)
    assert synced[-1] == str(tmp_path)  # the new run directory's own entry
    synced.clear()
    set_run_state(run, "complete")
    assert synced[-1] == str(run)
    synced.clear()
    write_json(tmp_path / "study" / "study.json", {"runs": []})
    assert synced[0].startswith(f"{tmp_path}/study/.study.json.")
    assert synced[-1] == str(tmp_path / "study")
