"""The task tests share the model tests' one-thread fixture."""

from tests.models.conftest import _one_thread  # noqa: F401  (autouse fixture)
