"""timm's config.json (written by `timm.models.push_to_hf_hub` / `save_for_hf`, and on every timm model on
the Hugging Face hub): the architecture's name, class count and labels, and `pretrained_cfg` preprocessing."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ...errors import ArchitectureError, CardError
from .source_config import SourceConfig, labels_from

# timm ResNet names edgeres builds: resnet18 ... resnet200d, resnet10t, resnet50c/s, seresnet*, ecaresnet*,
# resnext*, wide_resnet*, resnetrs*. Anti-aliased (resnetaa*, resnetblur*), group-norm (*_gn), selective-kernel
# (skresnet*) and the like have other layers, some of which have no weights to tell them apart: refused by name.
_RESNET = re.compile(r"^(se|eca)?(resnet|resnext|wide_resnet)(rs)?\d+[a-z]?(_\d+x\d+d|_\d+)?(_pruned)?$")
_LIGHT = ("ecaresnetlight",)
# timm ResNets whose weights fit a plain ResNet's names but that compute differently (anti-aliasing, other
# norms); a training checkpoint's `arch` entry naming one is refused (other `arch` strings are anybody's).
_LOOKALIKES = re.compile(r"^(se|eca)?res(net|next)(aa|blur)|_gn$|_evos$|_frn$")


def is_timm(data: dict[str, Any]) -> bool:
    return isinstance(data.get("architecture"), str) and isinstance(data.get("pretrained_cfg", {}), dict)


def refusal(arch: str, where: str) -> str | None:
    """Why a timm architecture name is not one edgeres builds, or None when it is."""
    if _RESNET.match(arch) or arch in _LIGHT:
        return None
    return (
        f"{where}: timm architecture {arch!r} is not one of the ResNets edgeres builds (resnet*, resnet*d/t, "
        "seresnet*, ecaresnet*, resnext*, wide_resnet*, resnetrs*); anti-aliased (aa, blur), group-norm and other "
        "variants compute differently, some from exactly the weights of a plain ResNet"
    )


def lookalike_refusal(arch: str, where: str) -> str | None:
    """Why a checkpoint whose `arch` entry names one of timm's look-alike ResNets is refused, or None."""
    return refusal(arch, where) if _LOOKALIKES.search(arch) else None


def parse(path: Path, data: dict[str, Any]) -> SourceConfig:
    arch = str(data["architecture"])
    refused = refusal(arch, str(path))
    if refused:
        raise ArchitectureError(refused)
    cfg = data.get("pretrained_cfg") or {}
    num_classes = data.get("num_classes", cfg.get("num_classes"))
    expected: dict[str, Any] = {}
    if isinstance(num_classes, int):
        expected["num_classes"] = num_classes
    if _RESNET.match(arch) and not arch.endswith("_pruned") and "rs" not in arch:
        expected["name"] = arch
    tag = cfg.get("tag")
    return SourceConfig(
        path,
        f"timm ({arch}{'.' + tag if tag else ''})",
        hints=_hints(path, cfg, data.get("label_names"), num_classes),
        expected=expected,
    )


def _hints(path: Path, cfg: dict[str, Any], label_names: Any, num_classes: Any) -> dict[str, Any]:
    """Card fields from `pretrained_cfg`, as timm's eval transform applies them (resize to size / crop_pct,
    center crop)."""
    hints: dict[str, Any] = {}
    for key in ("mean", "std", "interpolation"):
        if cfg.get(key):
            hints[key] = cfg[key]
    size = cfg.get("input_size")
    if isinstance(size, list) and len(size) == 3:
        height, width = int(size[1]), int(size[2])
        hints["input_size"] = (height, width)
        crop_pct, mode = float(cfg.get("crop_pct") or 0.875), cfg.get("crop_mode") or "center"
        if mode == "center":
            hints["resize"] = math.floor(min(height, width) / crop_pct)
        elif mode == "squash" and crop_pct == 1.0:
            hints["resize"] = None
        else:
            raise CardError(
                f"{path}: pretrained_cfg crop_mode {mode!r} with crop_pct {crop_pct} is a resize edgeres does not "
                "apply (it center-crops, or squashes at crop_pct 1); state the preprocessing in a .card.toml beside "
                "the weights, or edit the config"
            )
    labels = labels_from(label_names, num_classes if isinstance(num_classes, int) else None)
    if labels is not None:
        hints["labels"] = labels
    return hints
