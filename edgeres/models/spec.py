"""ArchSpec: everything needed to rebuild a ResNet, as data (no pickled modules, ever)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ArchitectureError
from .names import CIFAR_STEM_SUFFIX, CIFAR_WIDTHS, TORCHVISION_ARCHS

SPEC_VERSION = 1
FAMILIES = ("cifar", "torchvision")
BLOCKS = ("basic", "bottleneck")


@dataclass(frozen=True)
class ArchSpec:
    """A ResNet's structure.

    family "cifar": He et al. 2015 §4.2 CIFAR ResNets; `widths` are the stage widths (16, 32, 64) and
    `shortcut` is "A" (stride-2 subsampling + zero channel padding) or "B" (1x1 projection).
    family "torchvision": torchvision's ResNet/ResNeXt/Wide ResNet; `groups`/`width_per_group` as in
    torchvision, `stem` "imagenet" (7x7/2 conv + max-pool) or "cifar" (3x3/1 conv, no max-pool).
    `channels`, after structured pruning: (module path, out, in) for every conv, batch norm, linear layer and
    option A shortcut, so that the smaller model rebuilds from data alone; empty for the standard widths.
    """

    family: str
    block: str
    layers: tuple[int, ...]
    num_classes: int
    widths: tuple[int, ...] = ()
    shortcut: str = "B"
    groups: int = 1
    width_per_group: int = 64
    stem: str = "imagenet"
    channels: tuple[tuple[str, int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ArchitectureError(f"unknown family {self.family!r}; known: {FAMILIES}")
        if self.block not in BLOCKS:
            raise ArchitectureError(f"unknown block {self.block!r}; known: {BLOCKS}")
        if not self.layers or min(self.layers) < 1 or self.num_classes < 1:
            raise ArchitectureError(f"invalid layers {self.layers} or num_classes {self.num_classes}")
        if self.family == "cifar" and len(self.widths) != len(self.layers):
            raise ArchitectureError(f"cifar spec needs one width per stage, got {self.widths}")

    @property
    def name(self) -> str:
        """Canonical architecture name, e.g. cifar_resnet20, resnet50, resnext50_32x4d."""
        return canonical_name(self) + ("_pruned" if self.channels else "")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["layers"], data["widths"] = list(self.layers), list(self.widths)
        data["channels"] = {path: [out, in_] for path, out, in_ in self.channels}
        if not self.channels:
            del data["channels"]  # files of unpruned models stay as before
        return {"spec_version": SPEC_VERSION, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "spec") -> ArchSpec:
        """Rebuild from `to_dict` output. Raises ArchitectureError on unknown keys or versions."""
        data = dict(data)
        if data.pop("spec_version", SPEC_VERSION) != SPEC_VERSION:
            raise ArchitectureError(f"{origin}: unsupported architecture spec version")
        known = {f.name for f in dataclasses.fields(cls)}
        if set(data) - known:
            raise ArchitectureError(f"{origin}: unknown spec keys {sorted(set(data) - known)}")
        try:
            data["layers"] = tuple(int(x) for x in data["layers"])
            data["widths"] = tuple(int(x) for x in data.get("widths", ()))
            data["channels"] = tuple((str(k), int(v[0]), int(v[1])) for k, v in data.get("channels", {}).items())
            return cls(**data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArchitectureError(f"{origin}: invalid architecture spec ({exc})") from None

    def replace(self, **changes: Any) -> ArchSpec:
        return dataclasses.replace(self, **changes)


def canonical_name(spec: ArchSpec) -> str:
    """Return the registry name of a spec, or a `*_custom` name for non-standard shapes."""
    if spec.family == "cifar":
        n = spec.layers[0]
        if len(set(spec.layers)) == 1 and spec.widths == CIFAR_WIDTHS and len(spec.layers) == 3:
            return f"cifar_resnet{6 * n + 2}" + ("" if spec.shortcut == "A" else "_b")
        return "cifar_resnet_custom"
    key = (spec.block, spec.layers, spec.groups, spec.width_per_group)
    for name, config in TORCHVISION_ARCHS.items():
        if config == key:
            return name + (CIFAR_STEM_SUFFIX if spec.stem == "cifar" else "")
    return "resnet_custom"
