"""What one int8 quantization is asked to do, as one frozen object validated here: what `edgeres quantize`'s
flags, the pipeline's [quantize] stage and library callers all build."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import RecipeError
from ..options import LoadOptions

if TYPE_CHECKING:
    from .calibration_recipes import CalibrationRecipe
    from .prepare.optimize import Techniques
    from .qat.settings import QatSettings


@dataclass(frozen=True, kw_only=True)  # built by keyword: no silent swap of two settings
class QuantizeSettings:
    """`calib` is images, a calibration recipe or its file or a shipped recipe's name (calibration_recipes);
    `num` overrides the recipe's count (default 512 for images given directly). `target` is a recipe target
    (x86 is portable across x86 CPUs), `auto` (this CPU) or a target profile. `optimize` is a level of
    edgeres.quantize.prepare.optimize (None: `fast`) or explicit Techniques. `eval_data` measures fp32 and
    int8 top-1; `max_drop` gates on it, `auto_fallback` keeps layers in float until the gate holds."""

    calib: str | os.PathLike[str] | CalibrationRecipe
    fmt: str | None = None  # None: from the output's suffix
    target: str = "x86"
    num: int | None = None
    method: str | None = None  # None: the engine's default
    io: str = "float"
    eval_data: str | os.PathLike[str] | None = None
    eval_limit: int | None = None
    map_by_position: bool = False
    max_drop: float | None = None
    auto_fallback: bool = False
    exclude: tuple[str, ...] = ()
    optimize: str | Techniques | None = None
    force: bool = False
    load: LoadOptions = field(default_factory=LoadOptions)
    qat: QatSettings | None = None  # fine-tune on the int8 grid after post-training quantization

    def __post_init__(self) -> None:
        if self.num is not None and self.num < 1:
            raise RecipeError(f"--num must be 1 or more calibration images, got {self.num}")
        if self.max_drop is not None and not (self.max_drop >= 0 and math.isfinite(self.max_drop)):
            raise RecipeError(f"--max-drop must be 0 or more percentage points, got {self.max_drop}")
        if self.max_drop is not None and self.eval_data is None:
            raise RecipeError("--max-drop needs --eval DIR: the gate measures accuracy on labeled images")
        if self.map_by_position and self.eval_data is None:
            raise RecipeError("--map-by-position applies to --eval DIR: give the labeled images too")
        if self.eval_limit is not None and self.eval_data is None:
            raise RecipeError("--eval-limit applies to --eval DIR: give the labeled images too")
        if self.auto_fallback and self.max_drop is None:
            raise RecipeError("--auto-fallback needs --max-drop: it keeps layers in float until that gate holds")
