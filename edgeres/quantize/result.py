"""What one quantization produced: the file, its recipe and target, calibration, sensitivity, accuracy and the
checks, as the report JSON carries it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EdgeresError
from ..formats import registry
from .check import HeldOutCheck
from .layers import Layer
from .prepare.optimize import PrepareReport
from .recipe_target import ResolvedTarget
from .recipes import Recipe, embedded_record

if TYPE_CHECKING:
    from ..models import LoadedModel


class GateError(EdgeresError):
    """The int8 model loses more accuracy than --max-drop allows."""


@dataclass
class Accuracy:
    n: int
    fp32_top1: float
    int8_top1: float
    agreement: float
    label_mapping: str  # by-name or by-position: how the data's classes met the model's outputs

    @property
    def drop_pp(self) -> float:
        return 100.0 * (self.fp32_top1 - self.int8_top1)


@dataclass
class QuantizeResult:
    path: Path
    report_path: Path
    recipe: Recipe
    target: ResolvedTarget
    calibration: dict[str, Any]
    sensitivity: list[tuple[Layer, float]]
    excluded: list[Layer]
    accuracy: Accuracy | None
    fp32_bytes: int
    int8_bytes: int
    seconds: float
    check: HeldOutCheck | None = None
    speed: dict[str, Any] | None = None  # fp32 and int8 p50 here (quantize.speed_check), None when not timed
    warnings: list[str] = field(default_factory=list)
    optimize: str = "none"
    preparation: PrepareReport | None = None
    ranges: dict[str, Any] | None = None  # the activation range search's choice, when it ran
    precision: dict[str, Any] | None = None  # the per-layer precision choice, when it ran
    qat: dict[str, Any] | None = None  # quantization-aware fine-tuning, when it ran
    trained: LoadedModel | None = None  # QAT's fine-tuned float model (weights on the grid), when it ran

    def to_dict(self) -> dict[str, Any]:
        acc = self.accuracy
        return {
            "path": str(self.path),
            "recipe": {**embedded_record(self.recipe), "why": type(self.recipe).__doc__},
            "target": asdict(self.target),
            "engines": {p: version(p) for p in registry.int8_support(self.recipe.format).packages},
            "calibration": self.calibration,
            "sensitivity": [{"layer": x.name, "op": x.op, "key": x.key, "snr_db": s} for x, s in self.sensitivity],
            "excluded": [x.name for x in self.excluded],
            "accuracy": None if acc is None else {**asdict(acc), "drop_pp": acc.drop_pp},
            "held_out_check": None if self.check is None else self.check.to_dict(),
            "speed_check": self.speed,
            "files": {"fp32_bytes": self.fp32_bytes, "int8_bytes": self.int8_bytes},
            "seconds": self.seconds,
            "warnings": self.warnings,
            "optimize": {
                "level": self.optimize,
                "preparation": None if self.preparation is None else self.preparation.to_dict(),
                "ranges": self.ranges,
                "precision": self.precision,
            },
            "qat": self.qat,
        }
