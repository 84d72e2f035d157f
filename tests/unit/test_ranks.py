"""Which process creates the run directory under Lightning, torchrun and SLURM launchers."""

from __future__ import annotations

import pytest

from harlab.runs import RANK_VARS, RUN_ENV, inherited_run_dir, is_main_process


@pytest.fixture
def clean_env(monkeypatch):
    for v in (*RANK_VARS, RUN_ENV):
        monkeypatch.delenv(v, raising=False)
    return monkeypatch


def test_main_process_creates_the_run(clean_env):
    assert is_main_process() and inherited_run_dir() is None
    clean_env.setenv("RANK", "0")
    clean_env.setenv("SLURM_PROCID", "0")
    clean_env.setenv(RUN_ENV, "/somewhere")  # inherited by a nested run: still main
    assert is_main_process() and inherited_run_dir() is None


@pytest.mark.parametrize("var", RANK_VARS)
def test_child_uses_the_inherited_run_dir(clean_env, var, tmp_path):
    clean_env.setenv(var, "3")
    clean_env.setenv(RUN_ENV, str(tmp_path))
    assert not is_main_process()
    assert inherited_run_dir() == tmp_path


def test_child_on_another_node_gets_a_scratch_dir(clean_env):
    clean_env.setenv("SLURM_PROCID", "5")
    d = inherited_run_dir()
    assert d is not None and d.is_dir() and "rank5" in d.name
    d.rmdir()
