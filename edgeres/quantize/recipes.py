"""Quantization recipes: one frozen dataclass per int8 engine, declared with its format (edgeres/formats/),
chosen here per format, target and method.

The x86 targets differ in one thing, the weight range (edgeres.isa says why): `x86` keeps int8 weights
within +-64, which no x86 int8 kernel can saturate, on the same fast u8*s8 kernels; `x86-vnni` uses the
full +-127 for CPUs with VNNI or AMX. resnet18_cifar10, full test split, agreement with fp32 on a VNNI CPU:
99.08% (x86) and 99.22% (x86-vnni); on an AVX2-only CPU the x86-vnni file fell to 86.5% (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Protocol

from ..errors import RecipeError
from ..formats import registry
from ..isa import CPU_TARGETS, IsaAssumption

TARGETS = CPU_TARGETS

__all__ = ["TARGETS", "Recipe", "RecipeError", "embedded_record", "recipe_for"]


class Recipe(Protocol):
    """What every engine's recipe says: its format, target and method, the integer grids its engine uses, and
    the CPUs its files compute exactly on."""

    @property
    def format(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def method(self) -> str: ...

    @property
    def weight_qmax(self) -> int: ...  # symmetric per-channel weights in [-qmax, qmax]

    @property
    def weight_min_scale(self) -> float: ...  # the smallest weight scale the engine gives a channel

    @property
    def symmetric_activations(self) -> bool: ...  # int8 symmetric rather than 256 asymmetric levels

    @property
    def isa(self) -> IsaAssumption: ...


def embedded_record(recipe: Recipe) -> dict[str, object]:
    """What an int8 file says about how it was made and which CPUs it assumes (its `edgeres.quantization`)."""
    assert is_dataclass(recipe) and not isinstance(recipe, type), "recipes are frozen dataclasses"
    return {"name": type(recipe).__name__, **asdict(recipe), "isa": recipe.isa.to_dict()}


def recipe_for(fmt: str, target: str, method: str | None = None, io: str = "float") -> Recipe:
    """The default recipe for a format and target. Raises RecipeError naming what is offered instead."""
    if target not in TARGETS:
        raise RecipeError(f"unknown --target {target!r}; choose one of {TARGETS}")
    int8 = registry.named(fmt).int8
    if int8 is None:
        offered = " or ".join(registry.int8_names())
        raise RecipeError(f"int8 {fmt} files are not offered (no int8 engine for {fmt}); choose --format {offered}")
    method = method or int8.methods[0]
    if method not in int8.methods:
        raise RecipeError(f"--method {method} is not offered by the {fmt} engine; choose one of {int8.methods}")
    if io not in int8.ios:
        others = [f.name for f in registry.formats() if f.int8 is not None and io in f.int8.ios]
        where = f"is for {' and '.join(others)}" if others else "is not offered"
        raise RecipeError(f"--io {io} {where}; int8 {fmt} files offer --io {' or '.join(int8.ios)}")
    recipe: Recipe = int8.recipe(target, method, io)
    return recipe
