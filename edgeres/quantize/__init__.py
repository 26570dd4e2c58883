"""Int8 post-training quantization with calibration data, per-target recipes and an accuracy gate."""

from .recipes import TARGETS, RecipeError, recipe_for
from .result import Accuracy, GateError, QuantizeResult
from .run import quantize_model
from .settings import QuantizeSettings

__all__ = [
    "TARGETS",
    "Accuracy",
    "GateError",
    "QuantizeResult",
    "QuantizeSettings",
    "RecipeError",
    "quantize_model",
    "recipe_for",
]
