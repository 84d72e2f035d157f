"""Option checks shared by the model builders (each raises a one-line ConfigError)."""

from __future__ import annotations

from harlab.errors import ConfigError


def check_int(model: str, name: str, value: object, low: int = 1) -> None:
    """Raise ConfigError unless ``value`` is an int >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{model}: {name} must be an integer >= {low}, got {value!r}")


def check_dropout(model: str, value: object) -> None:
    """Raise ConfigError unless ``value`` is a probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{model}: dropout must be in [0, 1), got {value!r}")


def check_channels(model: str, channels: object) -> tuple[int, ...]:
    """Validate a non-empty list of positive ints (ConfigError otherwise)."""
    chans = tuple(channels) if isinstance(channels, (list, tuple)) else ()
    if not chans or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in chans):
        raise ConfigError(f"{model}: channels must be a non-empty list of positive integers, "
                          f"got {channels!r}")
    return chans


def check_bool(model: str, name: str, value: object) -> None:
    """Raise ConfigError unless ``value`` is True or False."""
    if not isinstance(value, bool):
        raise ConfigError(f"{model}: {name} must be true or false, got {value!r}")
