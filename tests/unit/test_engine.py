"""The study engine: plans, reuse, resume after an interruption, merge, refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from harlab.config import dump_yaml, from_dict
from harlab.errors import ConfigError
from harlab.experiments.engine import Plan, Variant, open_study, run_study
from harlab.runs import create_run_dir


class Interrupted(Exception):
    """Stands for a kill in the middle of a study."""


@dataclass
class Trained:
    run_dir: Path
    metrics: dict
    is_main: bool = True


class FakeTrain:
    """Writes a finished run as harlab.training.train does (config.yaml, metrics.json);
    raises after ``fail_after`` runs to stand for an interruption."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.names: list[str] = []
        self.fail_after = fail_after

    def __call__(self, cfg):
        run = create_run_dir(cfg.output_dir, cfg.name)
        (run / "config.yaml").write_text(dump_yaml(cfg))
        if self.fail_after is not None and len(self.names) == self.fail_after:
            raise Interrupted  # killed mid-run: its directory has no metrics.json
        self.names.append(cfg.name)
        f1 = 0.5 + 0.01 * cfg.train.seed + 0.1 * (cfg.data.split.fold or 0)
        metrics = {"test": {"macro_f1": f1, "accuracy": f1, "weighted_f1": f1, "n": 10}}
        (run / "metrics.json").write_text(json.dumps(metrics))
        return Trained(run, metrics)


def plan(seeds=(0, 1), folds=(0, 1), lr: float = 1e-3) -> Plan:
    base = from_dict({"name": "s", "train": {"lr": lr}})
    return Plan("ablate", base, [Variant("a", ("model.options.attention=cbam",)),
                                 Variant("b")], list(folds), list(seeds))


def test_plan_names_orders_and_configures_every_run() -> None:
    runs = plan().runs()
    assert [r.name for r in runs[:4]] == ["s_a_fold0_seed0", "s_b_fold0_seed0",
                                          "s_a_fold1_seed0", "s_b_fold1_seed0"]
    a = runs[0].cfg
    assert a.model.options == {"attention": "cbam"} and a.data.split.fold == 0
    assert runs[-1].cfg.train.seed == 1 and runs[-1].cfg.data.split.seed == 0  # split fixed
    cv = Plan("cv", from_dict({"name": "c"}), folds=[2], seeds=[5], seed_split=True).runs()
    assert [r.name for r in cv] == ["c_fold2_seed5"] and cv[0].cfg.data.split.seed == 5
    with pytest.raises(ConfigError, match="distinct variant names"):
        Plan("x", from_dict({}), [Variant("a"), Variant("a")])
    with pytest.raises(ConfigError, match="--seeds must be distinct"):
        Plan("x", from_dict({}), seeds=[1, 1])


def test_interrupted_study_resumes_without_retraining(tmp_path: Path) -> None:
    events: list[tuple[str, dict]] = []
    p = plan()
    parent, record = open_study(p, tmp_path, "cmd", on_event=lambda k, i: events.append((k, i)))
    first = FakeTrain(fail_after=3)
    with pytest.raises(Interrupted):
        run_study(parent, p, record, train=first)
    stored = json.loads((parent / "study.json").read_text())
    assert len(stored["runs"]) == 3 and stored["complete"] is False  # kept after each run
    p2 = plan(seeds=(0, 1, 2))  # a resume may add seeds
    parent2, record2 = open_study(p2, tmp_path, "again", resume=parent)
    second = FakeTrain()
    results = run_study(parent2, p2, record2, on_event=lambda k, i: events.append((k, i)),
                        train=second)
    assert parent2 == parent and len(results) == 12
    assert second.names[0] == "s_b_fold1_seed0" and len(second.names) == 9
    assert [r.reused for r in results[:4]] == [True, True, True, False]
    stored = json.loads((parent / "study.json").read_text())
    assert stored["complete"] and stored["seeds"] == [0, 1, 2]
    assert [r["command"] for r in stored["resumes"]] == ["again"]
    done = [i for k, i in events if k == "done"]
    assert done[0]["reused"] and done[-1]["index"] == done[-1]["total"] == 12


def test_resume_refuses_another_plan_and_a_tampered_run(tmp_path: Path) -> None:
    p = plan(seeds=(0,), folds=(0,))
    parent, record = open_study(p, tmp_path)
    run_study(parent, p, record, train=FakeTrain())
    with pytest.raises(ConfigError, match=r"another config \(train.lr: 0.001 there, 0.01 now"):
        open_study(plan(seeds=(0,), folds=(0,), lr=1e-2), tmp_path, resume=parent)
    other = Plan("ablate", p.base, [Variant("a", ("model.options.attention=se",))], [0], [0])
    with pytest.raises(ConfigError, match="variant a is .* now, .*cbam.* there"):
        open_study(other, tmp_path, resume=parent)
    fewer = Plan("ablate", p.base, [Variant("c", ("train.lr=0.5",))], [0], [0])
    open_study(fewer, tmp_path, resume=parent)  # variants may be added; stored ones stay
    assert [v.name for v in fewer.variants] == ["a", "b", "c"]
    with pytest.raises(ConfigError, match="other identity"):
        open_study(Plan("ablate", p.base, p.variants, [0], [0], identity={"data": "x"}),
                   tmp_path, resume=parent)
    with pytest.raises(ConfigError, match="no study.json there"):
        open_study(p, tmp_path, resume=tmp_path)
    with pytest.raises(ConfigError, match="give it with --resume"):
        open_study(p, tmp_path, merge=[parent])
    run = next(d for d in parent.iterdir() if d.name.endswith("s_a_fold0_seed0"))
    cfg = from_dict({**p.runs()[0].cfg.to_dict(), "train": {"lr": 0.5}})
    (run / "config.yaml").write_text(dump_yaml(cfg))
    p2 = plan(seeds=(0,), folds=(0,))
    parent2, record2 = open_study(p2, tmp_path, resume=parent)
    with pytest.raises(ConfigError, match="was trained with other settings .train.lr"):
        run_study(parent2, p2, record2, train=FakeTrain())


def test_merge_copies_the_runs_another_machine_finished(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    p0 = plan(seeds=(0,))
    a, ra = open_study(p0, here)
    run_study(a, p0, ra, train=FakeTrain())
    p1 = plan(seeds=(1,))
    b, rb = open_study(p1, there)
    with pytest.raises(Interrupted):  # one run unfinished there
        run_study(b, p1, rb, train=FakeTrain(fail_after=3))
    merged: list[dict] = []
    p = plan(seeds=(0,))
    parent, record = open_study(p, here, resume=a, merge=[b],
                                on_event=lambda k, i: merged.append(i) if k == "merged" else 0)
    assert merged[0]["copied"] == 3 and merged[0]["already_there"] == 0
    assert merged[0]["unfinished"] == 1
    assert p.seeds == [0, 1]
    train = FakeTrain()
    results = run_study(parent, p, record, train=train)
    assert train.names == ["s_b_fold1_seed1"] and len(results) == 8
    assert len([d for d in b.iterdir() if d.is_dir()]) == 4  # copied, not moved (+ the killed)
    with pytest.raises(ConfigError, match="that is the study being resumed"):
        open_study(plan(seeds=(0,)), here, resume=a, merge=[a])


def test_train_only_and_include_limit_what_one_invocation_trains(tmp_path: Path) -> None:
    p = plan(seeds=(0, 1), folds=(0,))
    parent, record = open_study(p, tmp_path)
    first = FakeTrain()
    got = run_study(parent, p, record, train=first, train_only={"a"})
    assert first.names == ["s_a_fold0_seed0", "s_a_fold0_seed1"]  # b not trained: left out
    assert [r.planned.name for r in got] == first.names
    second = FakeTrain()
    got = run_study(parent, p, record, train=second, include=lambda r: r.seed == 1)
    assert second.names == ["s_b_fold0_seed1"]  # seed 0 is not this invocation's
    assert [(r.planned.name, r.reused) for r in got] == [("s_a_fold0_seed1", True),
                                                         ("s_b_fold0_seed1", False)]
    stored = json.loads((parent / "study.json").read_text())
    assert not stored["complete"]  # s_b_fold0_seed0 was never trained


def test_keep_going_records_a_failed_run_and_a_resume_trains_it_again(tmp_path: Path) -> None:
    from harlab.errors import DataError

    class FailOnce(FakeTrain):
        def __call__(self, cfg):
            if cfg.name == "s_a_fold0_seed1" and not getattr(self, "failed", False):
                self.failed = True
                create_run_dir(cfg.output_dir, cfg.name)  # the run got as far as its folder
                raise DataError("bad window in fold 0")
            return super().__call__(cfg)

    p = plan(seeds=(0, 1), folds=(0,))
    parent, record = open_study(p, tmp_path)
    events: list[tuple[str, dict]] = []
    train = FailOnce()
    with pytest.raises(DataError):  # by default a failure stops the study
        run_study(parent, p, record, train=train)
    train = FailOnce()
    done = run_study(parent, p, record, train=train, keep_going=True,
                     on_event=lambda k, i: events.append((k, i)))
    assert [r.planned.name for r in done] == ["s_a_fold0_seed0", "s_b_fold0_seed0",
                                              "s_b_fold0_seed1"]
    (failed,) = [i for k, i in events if k == "failed"]
    assert failed["run"] == "s_a_fold0_seed1" and "bad window" in failed["error"]
    stored = json.loads((parent / "study.json").read_text())
    assert stored["failed"] == [{"name": "s_a_fold0_seed1", "variant": "a", "fold": 0,
                                 "seed": 1, "error": "bad window in fold 0"}]
    assert not stored["complete"]
    again = run_study(parent, p, record, train=FakeTrain(), keep_going=True)
    assert len(again) == 4
    stored = json.loads((parent / "study.json").read_text())
    assert stored["failed"] == [] and stored["complete"]


def test_a_named_variant_is_always_in_the_run_name() -> None:
    one = Plan("ratio_search", from_dict({"name": "s"}), [Variant("r0.5")], None, [0])
    assert one.run_names() == ["s_r0.5_seed0"]  # a resume adding variants keeps the names
    assert Plan("cv", from_dict({"name": "s"}), folds=[1]).run_names() == ["s_fold1_seed0"]
