"""harlab.estimators: scikit-learn's estimator checks, model selection with groups, a
pipeline, pickling and seeding, the training folder, and the multitask variant."""

from __future__ import annotations

import itertools
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from harlab.estimators import HarClassifier, MultitaskHarClassifier

TINY = {"model": "lstm", "model_options": {"hidden": 16, "layers": 1}, "lr": 0.02}


def windows(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (n, 16, 3), activity labels a/b/c, 6 groups of consecutive windows): the class
    shifts the channels."""
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"])[np.arange(n) % 3]
    x = rng.normal(size=(n, 16, 3)) + (np.arange(n) % 3)[:, None, None] * 1.5
    return x.astype(np.float32), y, np.arange(n) * 6 // n


@parametrize_with_checks([HarClassifier(**TINY, max_epochs=10, batch_size=64)])
@pytest.mark.slow
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_split_keeps_groups_apart_and_checks_its_inputs() -> None:
    est = HarClassifier(val_fraction=0.34)
    y = np.arange(30) % 3
    groups = np.arange(30) // 5
    tr, va = est._split(y, groups, seed=1)
    assert not set(groups[tr]) & set(groups[va]) and len(tr) + len(va) == 30
    tr, va = est._split(y, None, seed=1)  # stratified: every class in validation
    assert set(y[va]) == {0, 1, 2}
    with pytest.raises(ValueError, match="at least 2 groups"):
        est._split(y, np.zeros(30), seed=1)
    with pytest.raises(ValueError, match="val_fraction"):
        HarClassifier(val_fraction=1.0)._split(y, None, seed=1)


@pytest.mark.slow
def test_group_cross_validation_in_a_pipeline(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    x, y, groups = windows()
    flat = x.reshape(len(x), -1)  # a table whose rows are flattened windows
    pipe = Pipeline([("windows", FunctionTransformer(lambda t: t.reshape(len(t), 16, 3))),
                     ("clf", HarClassifier(**TINY, max_epochs=4, random_state=0))])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    scores = cross_val_score(pipe, flat, y, groups=groups, cv=GroupKFold(3),
                             params={"clf__groups": groups})
    assert scores.shape == (3,) and scores.min() > 0.7  # separable classes, chance is 1/3
    assert [p.name for p in tmp_path.iterdir()] == ["tmp"]  # nothing in the cwd
    assert not list((tmp_path / "tmp").iterdir())  # its temporary folders removed


@pytest.mark.slow
def test_seeded_picklable_normalised_on_train_and_kept_with_out(tmp_path: Path) -> None:
    x, y, groups = windows()
    x = x + groups[:, None, None].astype(np.float32) * 10  # each group far from the others
    est = HarClassifier(**TINY, max_epochs=2, random_state=3, val_fraction=0.2,
                        out=tmp_path / "keep")
    est.fit(x, y, groups=groups)
    assert list(est.classes_) == ["a", "b", "c"]
    # the normalisation is the training part's: the mean of 4 of the 6 groups (GroupShuffleSplit
    # holds out ceil(0.2 * 6) = 2 whole groups)
    means = [x[~np.isin(groups, held)].reshape(-1, 3).mean(0)
             for held in itertools.combinations(range(6), 2)]
    assert sum(np.allclose(est.normalizer_.mean, m, atol=1e-3) for m in means) == 1
    assert not np.allclose(est.normalizer_.mean, x.reshape(-1, 3).mean(0), atol=1e-3)
    assert (est.run_dir_ / "checkpoints" / "best.ckpt").is_file()
    again = clone(est).fit(x, y, groups=groups)
    assert again.run_dir_ != est.run_dir_  # a new folder, never an existing one
    np.testing.assert_allclose(again.predict_proba(x), est.predict_proba(x), atol=1e-6)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(x), est.predict(x))
    with pytest.raises(ValueError, match="windows of shape"):
        est.predict(x[:, :, :2])
    with pytest.raises(ValueError):
        est.fit(x[..., None], y)


@pytest.mark.slow
def test_multitask_estimator_predicts_activity_and_person() -> None:
    x, y, groups = windows(n=120)
    person = np.array(["p1", "p2"])[(np.arange(120) // 3) % 2]
    x[:, :, 2] += (person == "p2")[:, None] * 3.0  # the person shows in channel 2
    target = np.stack([y, person], 1)
    est = MultitaskHarClassifier(**TINY, max_epochs=6, random_state=0)
    est.fit(x, target)
    assert [list(c) for c in est.classes_] == [["a", "b", "c"], ["p1", "p2"]]
    pred = est.predict(x)
    pa, pp = est.predict_proba(x)
    assert pred.shape == (120, 2) and pa.shape == (120, 3) and pp.shape == (120, 2)
    np.testing.assert_allclose(pp.sum(1), 1, atol=1e-5)
    assert est.score(x, target) == pytest.approx(np.mean(np.all(pred == target, 1)))
    assert est.score(x, target) > 0.8
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        est.fit(x, y)
