"""Shared CLI helpers: list options and config shortcuts."""

from __future__ import annotations

import pytest

from harlab.cli.common import load_with_overrides, parse_list, parse_names
from harlab.errors import ConfigError


def test_parse_list() -> None:
    assert parse_list("0,1,2", "--seeds") == [0, 1, 2]
    assert parse_list("0.75,1", "--ratios", float) == [0.75, 1.0]
    with pytest.raises(ConfigError, match="--seeds must be comma-separated integers, got '1,x'"):
        parse_list("1,x", "--seeds")
    with pytest.raises(ConfigError, match="--ratios must be comma-separated numbers"):
        parse_list("a", "--ratios", float)


def test_parse_names() -> None:
    assert parse_names(" a, b,,") == ["a", "b"]
    assert parse_names(None) is None and parse_names(" , ") is None


def test_shortcuts_become_overrides(tmp_path) -> None:
    cfg = load_with_overrides(None, ["model.name=cnn"], 3, str(tmp_path), True)
    assert cfg.model.name == "cnn" and cfg.train.max_epochs == 3
    assert cfg.output_dir == str(tmp_path) and cfg.train.progress is False


def test_a_section_that_is_not_a_mapping_is_a_config_error() -> None:
    from harlab.config import from_dict

    for value, kind in ((5, "int"), ([1, 2], "list"), ("fast", "str")):
        with pytest.raises(ConfigError, match=f"^train must be a mapping, got {kind}$"):
            from_dict({"train": value})
    with pytest.raises(ConfigError, match="data.window must be a mapping, got int"):
        from_dict({"data": {"window": 3}})
    assert from_dict({"train": None}).train.init == "default"  # an empty section
