"""Models: attention blocks, one module per model family, and the registry."""

from harlab.models.registry import build_model, get_model_spec, list_models

__all__ = ["build_model", "get_model_spec", "list_models"]
