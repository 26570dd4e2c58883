"""ArchSpec: everything needed to rebuild a ResNet, as data (no pickled modules, ever)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ArchitectureError
from .names import CIFAR_STEM_SUFFIX, CIFAR_WIDTHS, STAGE_WIDTHS, TIMM_ARCHS, TORCHVISION_ARCHS

SPEC_VERSION = 1
FAMILIES = ("cifar", "torchvision", "preact")
BLOCKS = ("basic", "bottleneck")
STEMS = ("imagenet", "cifar", "deep")
STEM_POOLS = ("max", "conv")
DOWNSAMPLES = ("conv", "avg")
ATTENTIONS = ("", "se", "eca")
# Fields added for timm's and Hugging Face's ResNets: left out of a file while at these defaults, so that the files
# of plain ResNets stay as they were.
_OPTIONAL = {
    "stem_width": 64,
    "stem_widths": (),
    "stem_pool": "max",
    "downsample": "conv",
    "attention": "",
    "attention_sizes": (),
    "first_stride": 1,
    "stride_in_1x1": False,
}


@dataclass(frozen=True)
class ArchSpec:
    """A ResNet's structure.

    family "cifar": He et al. 2015 §4.2 CIFAR ResNets; `widths` are the stage widths (16, 32, 64) and
    `shortcut` is "A" (stride-2 subsampling + zero channel padding) or "B" (1x1 projection).
    family "torchvision": torchvision's ResNet/ResNeXt/Wide ResNet; `groups`/`width_per_group` as in
    torchvision, `stem` "imagenet" (7x7/2 conv + max-pool) or "cifar" (3x3/1 conv, no max-pool). The same family
    holds the switches timm and Hugging Face add (their ResNets share torchvision's structure):
    `stem` "deep" (three 3x3 convs, inner widths `stem_widths`: ResNet-C/D/T), `stem_pool` "conv" (a 3x3/2 conv
    in place of the max-pool), `downsample` "avg" (2x2 average pool before the 1x1 projection: ResNet-D),
    `attention` "se" or "eca" after each block's last batch norm, `attention_sizes` one per stage (the SE
    hidden width or the ECA kernel size), `widths` the stage widths ("planes"; empty: 64, 128, 256, 512),
    `stem_width` the stem's output, `first_stride` the first stage's stride and `stride_in_1x1` a bottleneck
    striding in its first 1x1 conv (ResNet v1, where torchvision strides in the 3x3: v1.5).
    family "preact": pre-activation ResNets (He et al. 2016, "Identity Mappings"), as kuangliu/pytorch-cifar
    defines them: 3x3/1 stem conv with no norm, blocks BN-ReLU-conv, projection shortcuts without norm.
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
    stem_width: int = 64
    stem_widths: tuple[int, ...] = ()
    stem_pool: str = "max"
    downsample: str = "conv"
    attention: str = ""
    attention_sizes: tuple[int, ...] = ()
    first_stride: int = 1
    stride_in_1x1: bool = False

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ArchitectureError(f"unknown family {self.family!r}; known: {FAMILIES}")
        if self.block not in BLOCKS:
            raise ArchitectureError(f"unknown block {self.block!r}; known: {BLOCKS}")
        if not self.layers or min(self.layers) < 1 or self.num_classes < 1:
            raise ArchitectureError(f"invalid layers {self.layers} or num_classes {self.num_classes}")
        if self.family == "cifar" and len(self.widths) != len(self.layers):
            raise ArchitectureError(f"cifar spec needs one width per stage, got {self.widths}")
        _check_switches(self)

    @property
    def name(self) -> str:
        """Canonical architecture name, e.g. cifar_resnet20, resnet50, resnext50_32x4d."""
        return canonical_name(self) + ("_pruned" if self.channels else "")

    @property
    def structure(self) -> str:
        """The structure in words, for `edgeres inspect`: blocks per stage and the switches that are set."""
        words = [f"{self.block} blocks {list(self.layers)}"]
        words += {"cifar": [f"CIFAR, option {self.shortcut} shortcuts"], "preact": ["pre-activation"]}.get(
            self.family, []
        )
        words += [f"deep stem {list(self.stem_widths)}"] if self.stem == "deep" else []
        words += ["conv stem pool"] if self.stem_pool == "conv" else []
        words += ["avg-pool downsample"] if self.downsample == "avg" else []
        words += [{"se": "squeeze-excitation", "eca": "ECA"}[self.attention]] if self.attention else []
        words += [f"widths {list(self.widths)}"] if self.widths and self.family != "cifar" else []
        return ", ".join(words)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["layers"], data["widths"] = list(self.layers), list(self.widths)
        data["channels"] = {path: [out, in_] for path, out, in_ in self.channels}
        if not self.channels:
            del data["channels"]  # files of unpruned models stay as before
        for key, default in _OPTIONAL.items():
            value = getattr(self, key)
            if value == default:
                del data[key]
            elif isinstance(value, tuple):
                data[key] = list(value)
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
            for key in ("stem_widths", "attention_sizes"):
                data[key] = tuple(int(x) for x in data.get(key, ()))
            return cls(**data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArchitectureError(f"{origin}: invalid architecture spec ({exc})") from None

    def replace(self, **changes: Any) -> ArchSpec:
        return dataclasses.replace(self, **changes)


# timm's stem letters: (deep stem inner widths, stem output, downsample) -> letter
_STEM_LETTERS: dict[tuple[tuple[int, ...], int, str], str] = {
    ((32, 32), 64, "conv"): "c",
    ((32, 32), 64, "avg"): "d",
    ((24, 32), 64, "avg"): "t",
    ((64, 64), 128, "conv"): "s",
}


def _check_switches(spec: ArchSpec) -> None:
    for name, value, known in (
        ("stem", spec.stem, STEMS),
        ("stem_pool", spec.stem_pool, STEM_POOLS),
        ("downsample", spec.downsample, DOWNSAMPLES),
        ("attention", spec.attention, ATTENTIONS),
    ):
        if value not in known:
            raise ArchitectureError(f"unknown {name} {value!r}; known: {known}")
    if spec.family != "cifar" and spec.widths and len(spec.widths) != len(spec.layers):
        raise ArchitectureError(f"{len(spec.widths)} stage widths {spec.widths} for {len(spec.layers)} stages")
    if spec.attention and len(spec.attention_sizes) != len(spec.layers):
        raise ArchitectureError(f"{spec.attention} attention needs one size per stage, got {spec.attention_sizes}")
    if spec.stem == "deep" and len(spec.stem_widths) != 2:
        raise ArchitectureError(f"a deep stem needs its two inner widths, got {spec.stem_widths}")
    if spec.first_stride not in (1, 2):
        raise ArchitectureError(f"first_stride must be 1 or 2, got {spec.first_stride}")


def canonical_name(spec: ArchSpec) -> str:
    """Return the registry name of a spec, or a `*_custom` name for non-standard shapes.

    timm's variants are named as timm names them (resnet50d, resnet26t, seresnet50, ecaresnet50t, ...)."""
    if spec.family == "cifar":
        n = spec.layers[0]
        if len(set(spec.layers)) == 1 and spec.widths == CIFAR_WIDTHS and len(spec.layers) == 3:
            return f"cifar_resnet{6 * n + 2}" + ("" if spec.shortcut == "A" else "_b")
        return "cifar_resnet_custom"
    if spec.family == "preact":
        base = _base_name(spec)
        plain = spec.widths in ((), STAGE_WIDTHS) and base is not None and base.startswith("resnet")
        return f"preact_{base}" if plain else "preact_resnet_custom"
    return _torchvision_name(spec)


def _base_name(spec: ArchSpec) -> str | None:
    key = (spec.block, spec.layers, spec.groups, spec.width_per_group)
    for name, config in {**TORCHVISION_ARCHS, **TIMM_ARCHS}.items():
        if config == key:
            return name
    return None


def _torchvision_name(spec: ArchSpec) -> str:
    base = _base_name(spec)
    standard_widths = spec.widths in ((), STAGE_WIDTHS) and spec.first_stride == 1 and not spec.stride_in_1x1
    suffix = _stem_suffix(spec)
    if base is None or not standard_widths or suffix is None or spec.stem_pool != "max":
        return "resnet_custom"
    if suffix:  # timm puts the stem letter after the depth: resnet50d, resnext50d_32x4d
        head, digits, tail = re.match(r"^(\D+)(\d+)(.*)$", base).groups()  # type: ignore[union-attr]
        base = f"{head}{digits}{suffix}{tail}"
    elif spec.stem == "cifar":
        base += CIFAR_STEM_SUFFIX
    return spec.attention + base


def _stem_suffix(spec: ArchSpec) -> str | None:
    """timm's letter for a stem and downsample (ResNet-C/D/S/T), "" for the plain ones, None for others."""
    if spec.stem != "deep":
        return "" if spec.downsample == "conv" and spec.stem_width == 64 else None
    key = (spec.stem_widths, spec.stem_width, spec.downsample)
    return _STEM_LETTERS.get(key)
