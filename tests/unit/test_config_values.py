"""Every config key takes only values of its type: anything else is a one-line ConfigError.

A wrong value used to surface deep inside training as a traceback (``max_epochs=abc``,
``model.name=[1,2]``, ``lr=.inf`` trained on NaN). The property: for every key path and
any ``--set`` text, loading the config either succeeds or raises ConfigError naming the key.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harlab.config import RunConfig, load_config
from harlab.errors import ConfigError


def _key_paths(cls: type = RunConfig, at: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        sub = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(sub):
            out += _key_paths(type(sub), f"{at}{f.name}.")
        else:
            out.append(f"{at}{f.name}")
    return out


KEYS = _key_paths()


def test_every_leaf_key_is_covered() -> None:
    assert len(KEYS) > 50 and "train.max_epochs" in KEYS and "data.split.group_by" in KEYS


@pytest.mark.parametrize("override, message", [
    ("train.max_epochs=abc", "train.max_epochs must be an integer, got 'abc'"),
    ("data.dataset=5", "data.dataset must be text, got 5"),
    ("model.name=[1,2]", "model.name must be text, got [1, 2]"),
    ("data.options=abc", "data.options must be a mapping, got 'abc'"),
    ("train.threads=abc", "train.threads must be an integer or null"),
    ("train.threads=0", "train.threads must be >= 1"),
    ("train.max_time=xx", "train.max_time must be DD:HH:MM:SS"),
    ("train.lr=.inf", "train.lr must be a finite number, got inf"),
    ("train.lr=.nan", "train.lr must be a finite number"),
    ("train.devices=[1]", "train.devices must be an integer or text"),
    ("train.devices=abc", "train.devices must be a number of devices >= 1, 'auto'"),
    ("train.devices=0", "train.devices must be a number of devices >= 1"),
    ("train.devices='0,1'", "or (on a GPU) -1 or GPU ids"),
    ("data.normalize=maybe", "data.normalize must be true or false"),
    ("data.window.label_policy=first", "label_policy must be one of 'majority', 'centre'"),
    ("data.labels=[a]", "data.labels must be a list of an integer or null"),
])
def test_wrong_values_are_one_line_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_values_of_the_right_type_still_load() -> None:
    cfg = load_config(None, ["data.split.test_subjects=[1, 2]", "train.max_time=00:00:05:00",
                             "train.devices=auto", "train.limit_train_batches=0.5",
                             "train.threads=2"])
    assert cfg.data.split.test_subjects == ["1", "2"] and cfg.train.threads == 2
    gpu = load_config(None, ["train.accelerator=gpu", "train.devices='0,1'"])
    assert gpu.train.devices == "0,1"
    assert load_config(None, ["train.devices='2'"]).train.devices == 2


YAML_TEXT = st.one_of(
    st.sampled_from(["abc", "5", "-1", "0", "1.5", ".inf", "-.inf", ".nan", "true", "null",
                     "[1, 2]", "[a]", "{a: 1}", "''", "1e999", "00:00:01:00", "[]", "{}"]),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(KEYS), text=YAML_TEXT)
def test_any_set_value_loads_or_is_a_config_error(key: str, text: str) -> None:
    try:
        load_config(None, [f"{key}={text}"])
    except ConfigError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()


@pytest.mark.parametrize("content, message", [
    (b"train: {lr: 0.1}\n\xff\xfe", "not UTF-8 text (byte 17 is 0xff)"),
    (b"", "the config file is empty"),
    (b"# only a comment\n", "the config file is empty"),
    (b"train: {lr: [1, 2}\n", "invalid YAML at line 1, column 18: expected ',' or ']'"),
    (b"- a\n- b\n", "top level must be a mapping"),
    (b"train:\n  lr: 0.1\n  lr: 0.2\n", "invalid YAML at line 3, column 3: duplicate key 'lr'"),
])
def test_bad_config_files_are_one_line_errors(tmp_path, content: bytes, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_model_override_renames_the_run_and_its_description() -> None:
    """--model dcnn5 on the dcnn3 config: neither the run name nor the report says dcnn3."""
    from pathlib import Path

    from harlab.cli.common import load_with_overrides
    from harlab.config import load_config

    path = Path(__file__).resolve().parents[2] / "configs/mranet/baseline_dcnn3_activity.yaml"
    base = load_config(path)
    assert base.model.name == "dcnn3" and "dcnn3" in base.run_name()
    cfg = load_with_overrides(path, None, model="dcnn5")
    assert cfg.model.name == "dcnn5"
    assert cfg.run_name() == "baseline_dcnn5_activity"
    assert "dcnn3" not in cfg.description and "dcnn5" in cfg.description
    # a name or description set on the command line is kept as given
    kept = load_config(path, ["model.name=dcnn5", "name=mine", "description=my words"])
    assert (kept.name, kept.description) == ("mine", "my words")
    # a name that does not mention the old model gets the new one appended
    other = load_config(path, ["model.name=lstm", "name=radar_baseline"])
    assert other.name == "radar_baseline"
    from harlab.config import rename_for_model

    renamed = rename_for_model({"name": "radar", "model": {"name": "dcnn3"}},
                               {"name": "radar", "model": {"name": "lstm"}})
    assert renamed["name"] == "radar_lstm"
