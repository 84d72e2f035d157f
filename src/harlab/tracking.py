"""Experiment tracking through Lightning's loggers (``train.loggers``).

CSV is always written (a run's ``history.csv`` is read from it); ``tensorboard`` adds event
files and ``mlflow`` an MLflow run, both from the ``tracking`` extra
(``pip install 'harlab[tracking]'``). Every metric Lightning logs during training reaches
each logger; after scoring, :func:`finish_loggers` adds the test metrics, and MLflow gets
the run directory's reports and plots as artifacts.

Where things go:

- TensorBoard: ``<run>/tensorboard/`` for a single run; a run of a study logs to
  ``<study>/tensorboard/<run>/``, so ``tensorboard --logdir <study>/tensorboard`` shows the
  study's runs side by side. A resumed attempt N logs to ``attempt-N/`` below that.
- MLflow: ``MLFLOW_TRACKING_URI`` where set, else a local file store ``<out>/mlruns``
  beside the run (``<study>/mlruns`` for a study); experiment ``MLFLOW_EXPERIMENT_NAME`` or
  ``harlab``. The resolved config is logged as parameters (``config/<section>/<key>``). The
  runs of a study are children (tag ``mlflow.parentRunId``) of one parent run per study
  directory, found again by its tag ``harlab.study_id`` when a study is resumed.

Studies announce themselves with :func:`study_scope` (the study engine does); a run
trained outside one is tracked on its own.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from harlab.config import LOGGERS
from harlab.errors import ConfigError

STUDY_ENV = "HARLAB_STUDY_DIR"  # inherited by DDP workers, like the run directory
INSTALL = "pip install 'harlab[tracking]'"
# what a run directory's reports and plots are: logged to MLflow as artifacts
ARTIFACT_SUFFIXES = (".md", ".json", ".png", ".csv", ".yaml")
_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",)}


def check_installed(names: Sequence[str]) -> None:
    """One line naming the extra when a requested logger's package is missing."""
    for name in names:
        packages = _PACKAGES.get(name, ())
        if packages and not any(find_spec(p) for p in packages):
            raise ConfigError(f"train.loggers includes {name}, but the {packages[0]} package "
                              f"is not installed: {INSTALL}")


@contextmanager
def study_scope(directory: Path) -> Iterator[None]:
    """Runs trained inside belong to the study in ``directory`` (see the module doc)."""
    before = os.environ.get(STUDY_ENV)
    os.environ[STUDY_ENV] = str(Path(directory).resolve())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(STUDY_ENV, None)
        else:
            os.environ[STUDY_ENV] = before


def _study() -> Path | None:
    value = os.environ.get(STUDY_ENV)
    return Path(value) if value else None


def make_loggers(names: Sequence[str], run_dir: Path, version: str,
                 params: dict[str, Any] | None = None) -> list[Any]:
    """Lightning loggers for ``names``: CSV first and always (``<run>/logs/<version>``),
    then TensorBoard and MLflow where asked. ``version``: '' for a first attempt, else
    ``attempt-N``. ``params``: logged to MLflow as parameters (the resolved config)."""
    from lightning.pytorch.loggers import CSVLogger

    check_installed(names)
    loggers: list[Any] = [CSVLogger(str(run_dir), name="logs", version=version)]
    study = _study()
    if "tensorboard" in names:
        from lightning.pytorch.loggers import TensorBoardLogger

        folder = tensorboard_dir(run_dir)
        loggers.append(TensorBoardLogger(str(folder.parent), name=folder.name, version=version,
                                         default_hp_metric=False))
    if "mlflow" in names:
        loggers.append(_mlflow_logger(run_dir, study, params, resumed=bool(version)))
    return loggers


def tensorboard_dir(run_dir: Path) -> Path:
    """Where a run's TensorBoard events go: ``<run>/tensorboard``, or
    ``<study>/tensorboard/<run>`` for a run of a study."""
    study = _study()
    return run_dir / "tensorboard" if study is None else study / "tensorboard" / run_dir.name


def describe(names: Sequence[str], run_dir: Path) -> str | None:
    """The line a run prints about where its TensorBoard and MLflow logs go (None: CSV only)."""
    parts = []
    if "tensorboard" in names:
        parts.append(f"tensorboard --logdir {tensorboard_dir(run_dir).parent}")
    if "mlflow" in names:
        parts.append(f"mlflow {mlflow_uri(run_dir, _study())} (experiment "
                     f"{os.environ.get('MLFLOW_EXPERIMENT_NAME', 'harlab')})")
    return "tracking: " + "; ".join(parts) if parts else None


def mlflow_uri(run_dir: Path, study: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` where set, else the file store ``mlruns`` beside the run
    (in the study directory for a study's run)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    # MLflow 3 keeps the file store but asks for this opt-in (its database store needs
    # SQLAlchemy, which the light mlflow-skinny package does not bring)
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return ((study or run_dir.resolve().parent) / "mlruns").resolve().as_uri()


def _mlflow_logger(run_dir: Path, study: Path | None, params: dict[str, Any] | None,
                   resumed: bool = False) -> Any:
    """The run's MLFlowLogger; a resumed attempt continues the run's own MLflow run (found
    by its tag ``harlab.run_dir``), so one MLflow run holds the whole history."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only
    from lightning.pytorch.loggers import MLFlowLogger

    uri = mlflow_uri(run_dir, study)
    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME", "harlab")
    tags = {"harlab.run_dir": str(run_dir.resolve()), "harlab.run_key": _key(run_dir.resolve())}
    if study is not None and rank_zero_only.rank == 0:
        tags["harlab.study"] = str(study)
        tags["mlflow.parentRunId"] = _parent_run(uri, experiment, study)
    earlier = _earlier_run(uri, experiment, tags["harlab.run_key"]) if resumed else None
    if earlier is None:
        logger = MLFlowLogger(experiment_name=experiment, tracking_uri=uri,
                              run_name=run_dir.name, tags=tags)
        if params:
            logger.log_hyperparams({"config": params})
        return logger
    logger = MLFlowLogger(experiment_name=experiment, tracking_uri=uri, run_id=earlier.run_id)
    if params and rank_zero_only.rank == 0:
        _log_changed_params(logger, earlier.params, params)
    return logger


def _key(path: Path) -> str:
    """A filter-safe tag value for ``path`` (a path may hold quotes MLflow filters reject)."""
    return hashlib.sha1(str(path).encode()).hexdigest()[:16]


def _earlier_run(uri: str, experiment: str, run_key: str) -> Any:
    """The MLflow run (``.run_id``, ``.params``) an earlier attempt of the run with tag
    ``harlab.run_key`` logged to, or None (tracked without MLflow before, or elsewhere)."""
    from types import SimpleNamespace

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs([found.experiment_id], f"tags.`harlab.run_key` = '{run_key}'",
                              max_results=1)
    if not runs:
        return None
    return SimpleNamespace(run_id=runs[0].info.run_id, params=dict(runs[0].data.params))


def _log_changed_params(logger: Any, logged: dict[str, str], params: dict[str, Any]) -> None:
    """MLflow parameters cannot change: a resume's new keys are logged as parameters, and a
    changed value (``--epochs`` raised) as a tag ``resumed/<key>`` holding the new value."""
    from lightning.fabric.utilities.logger import _flatten_dict  # MLFlowLogger's own keys

    flat = {k: str(v)[:250] for k, v in _flatten_dict({"config": params}).items()}
    new = {k: v for k, v in flat.items() if k not in logged}
    if new:
        logger.log_hyperparams(new)
    for key, value in flat.items():
        if key in logged and logged[key] != value:
            logger.experiment.set_tag(logger.run_id, f"resumed/{key}", value)


def _parent_run(uri: str, experiment: str, study: Path) -> str:
    """The MLflow run that stands for ``study`` (created on its first tracked run)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    study_id = _key(study)
    runs = client.search_runs([exp_id], f"tags.`harlab.study_id` = '{study_id}'",
                              max_results=1)
    if runs:
        return runs[0].info.run_id
    run = client.create_run(exp_id, run_name=study.name,
                            tags={"harlab.study_id": study_id, "harlab.study": str(study)})
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def scalar_test_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The finite scalar test metrics of a run's ``metrics.json`` content, as
    ``test_<metric>`` (primary head) and ``test_<head>_<metric>`` (the other heads)."""
    heads = result.get("test_heads") or {"": result["test"]}
    primary = next(iter(heads))
    out = {}
    for head, m in heads.items():
        prefix = "test_" if head == primary else f"test_{head}_"
        out.update({prefix + k: float(v) for k, v in m.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v)})
    return out


def finish_loggers(loggers: Sequence[Any], run_dir: Path, result: dict[str, Any],
                   step: int) -> None:
    """After scoring: the test metrics to TensorBoard and MLflow, the run directory's
    reports and plots to MLflow as artifacts; then close them."""
    from lightning.pytorch.loggers import CSVLogger, MLFlowLogger

    metrics = scalar_test_metrics(result)
    for logger in loggers:
        if isinstance(logger, CSVLogger):  # history.csv reads the CSV log: epochs only
            continue
        logger.log_metrics(metrics, step=step)
        if isinstance(logger, MLFlowLogger):
            for path in sorted(run_dir.iterdir()):
                if path.is_file() and path.suffix in ARTIFACT_SUFFIXES:
                    logger.experiment.log_artifact(logger.run_id, str(path))
        logger.finalize("success")


__all__ = ["LOGGERS", "check_installed", "study_scope", "make_loggers", "tensorboard_dir",
           "describe",
           "mlflow_uri", "scalar_test_metrics", "finish_loggers"]
