"""Calibration-set recipes: which images int8 calibrates on, how many, with which seed, from which split.

`--calib` (and the pipeline's `[data] calibration`) takes a folder or archive of images, a recipe's TOML
file, or the name of a shipped recipe (the repository's calibration/ folder, shipped as
edgeres._shipped.calibration). A relative `data` path in a recipe is read from the current directory, as a
`--calib` path would be.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..shipped_files import shipped

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SPLITS = ("train", "test")
DIRECT = "(images given directly)"


@dataclass(frozen=True)
class CalibrationRecipe:
    """The images int8 calibration draws: a class-stratified sample of `num` from `data` with `seed`."""

    name: str
    data: str  # a folder of images, an ImageFolder tree or a CIFAR archive
    num: int = 512
    seed: int = 0
    split: str = "train"  # the split inside CIFAR archives
    source: str = ""  # the file it came from, for messages

    @classmethod
    def of_path(cls, data: str | os.PathLike[str]) -> CalibrationRecipe:
        """Images given directly, with the default count, seed and split."""
        return cls(name=str(data), data=str(data), source=DIRECT)

    @property
    def given_directly(self) -> bool:
        return self.source == DIRECT


def _parse(text: str, origin: str, default_name: str) -> CalibrationRecipe:
    try:
        values: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{origin}: not valid TOML ({exc})") from None
    fields = {f.name: f for f in dataclasses.fields(CalibrationRecipe) if f.name != "source"}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise DataError(f"{origin}: unknown keys {unknown}; a calibration recipe has {sorted(fields)}")
    if "data" not in values:
        raise DataError(f'{origin}: no data = "..." (the images to calibrate on)')
    values.setdefault("name", default_name)
    for key, kind in (("name", str), ("data", str), ("num", int), ("seed", int), ("split", str)):
        if key in values and (not isinstance(values[key], kind) or isinstance(values[key], bool)):
            raise DataError(
                f"{origin}: {key} must be {'an integer' if kind is int else 'a string'}, got {values[key]!r}"
            )
    recipe = CalibrationRecipe(**values, source=origin)
    if recipe.num < 1 or recipe.seed < 0 or recipe.split not in SPLITS:
        raise DataError(f"{origin}: num must be 1 or more, seed 0 or more, split one of {', '.join(SPLITS)}")
    return recipe


def shipped_recipes() -> dict[str, CalibrationRecipe]:
    """The recipes that ship with edgeres, by name."""
    found = {}
    for item in sorted(shipped("calibration").iterdir(), key=lambda t: t.name):
        if item.name.endswith(".toml"):
            recipe = _parse(item.read_text(encoding="utf-8"), f"(shipped) {item.name}", item.name[: -len(".toml")])
            found[recipe.name] = recipe
    return found


def resolve_calibration(spec: str | os.PathLike[str] | CalibrationRecipe) -> CalibrationRecipe:
    """A recipe as it is; a .toml file as a recipe; an existing folder or archive as images; else the name of
    a shipped recipe. Raises DataError naming the choices."""
    if isinstance(spec, CalibrationRecipe):
        return spec
    path = Path(spec)
    if path.suffix.lower() == ".toml":
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DataError(f"{path}: cannot read this calibration recipe ({exc.strerror})") from None
        return _parse(text, str(path), path.stem)
    if path.exists():
        return CalibrationRecipe.of_path(spec)
    recipes = shipped_recipes()
    if str(spec) in recipes:
        return recipes[str(spec)]
    raise DataError(
        f"{spec}: no such folder, archive or calibration recipe; give images, a recipe .toml, or one of "
        f"{', '.join(sorted(recipes))}"
    )
