"""Light deployment: run an exported harlab model with numpy + ONNX Runtime only.

Nothing here imports torch, Lightning, pandas or the rest of harlab, so
``pip install harlab[deploy]``-style environments (numpy + onnxruntime) can use it.
"""

from harlab.deploy.predictor import OnnxPredictor, PredictorError

__all__ = ["OnnxPredictor", "PredictorError"]
