"""Int8 post-training quantization with calibration data, per-target recipes and an accuracy gate."""

from .recipes import TARGETS, RecipeError, recipe_for
from .run import Accuracy, GateError, QuantizeResult, quantize_model

__all__ = ["TARGETS", "Accuracy", "GateError", "QuantizeResult", "RecipeError", "quantize_model", "recipe_for"]
