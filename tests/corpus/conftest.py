"""The corpus shares the deployment tests' one tiny trained run and its ONNX export."""

from tests.deploy.conftest import exported, tiny_run  # noqa: F401  (session fixtures)
