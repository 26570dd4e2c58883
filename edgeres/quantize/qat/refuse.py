"""What QAT cannot start from, said before any work."""

from __future__ import annotations

from pathlib import Path

from ...errors import EdgeresError
from ...formats import registry
from ...models import LoadedModel
from ..recipes import Recipe, RecipeError
from .settings import QatSettings
from .train import state_file


def refuse_qat(qat: QatSettings | None, recipe: Recipe, model: object, out: Path) -> None:
    """RecipeError when QAT was asked for a source without PyTorch weights or a format whose engine's grid it
    cannot simulate (yet); EdgeresError for --resume with nothing to resume."""
    if qat is None:
        return
    offered = registry.qat_names()
    if recipe.format not in offered:
        raise RecipeError(
            f"--qat simulates the int8 grid of {', '.join(offered)} files; {recipe.format} is not offered yet "
            "(quantize it without --qat)"
        )
    if not isinstance(model, LoadedModel) and registry.by_suffix(str(model)) is not None:
        raise RecipeError(f"{model}: --qat fine-tunes PyTorch weights; quantize the checkpoint instead")
    if qat.resume and not state_file(out).exists():
        raise EdgeresError(f"--resume: no saved QAT state at {state_file(out)} (no interrupted run of this --out)")
