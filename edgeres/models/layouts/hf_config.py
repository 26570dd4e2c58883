"""Hugging Face transformers' `config.json` (ResNetConfig) and `preprocessor_config.json` (the image
processor's resize, crop, normalization and resampling)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import ArchitectureError
from .source_config import SourceConfig, labels_from, read_json

PREPROCESSOR_NAME = "preprocessor_config.json"
_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic", 1: "lanczos", 4: "box", 5: "hamming"}  # PIL's numbers


def is_transformers(data: dict[str, Any]) -> bool:
    return isinstance(data.get("model_type"), str) or isinstance(data.get("architectures"), list)


def parse(path: Path, data: dict[str, Any]) -> SourceConfig:
    kind = data.get("model_type")
    if kind != "resnet":
        named = kind or ", ".join(map(str, data.get("architectures", [])))
        raise ArchitectureError(
            f"{path}: a Hugging Face {named!r} model, not a ResNet; edgeres loads ResNetForImageClassification"
        )
    if data.get("hidden_act", "relu") != "relu":
        raise ArchitectureError(f"{path}: hidden_act {data['hidden_act']!r}; edgeres builds ReLU ResNets only")
    labels = labels_from(data.get("id2label"), None)
    expected: dict[str, Any] = {"block": data.get("layer_type", "bottleneck")}
    if "depths" in data:
        expected["layers"] = list(data["depths"])
    if "hidden_sizes" in data:
        divisor = 4 if expected["block"] == "bottleneck" else 1
        expected["widths"] = [int(size) // divisor for size in data["hidden_sizes"]]
    if "embedding_size" in data:
        expected["stem_width"] = int(data["embedding_size"])
    if isinstance(data.get("id2label"), dict) and data["id2label"]:
        expected["num_classes"] = len(data["id2label"])
    hints = _preprocessing(path.with_name(PREPROCESSOR_NAME))
    if labels is not None:
        hints["labels"] = labels
    settings = {
        "first_stride": 2 if data.get("downsample_in_first_stage") else 1,
        "stride_in_1x1": bool(data.get("downsample_in_bottleneck", False)),
    }
    return SourceConfig(path, "Hugging Face transformers (ResNetForImageClassification)", hints, expected, settings)


def _preprocessing(path: Path) -> dict[str, Any]:
    """Card fields from an image processor's config, as its resize and crop apply them."""
    if not path.is_file():
        return {}
    data = read_json(path)
    hints: dict[str, Any] = {}
    if data.get("do_normalize", True):
        for ours, theirs in (("mean", "image_mean"), ("std", "image_std")):
            if theirs in data:
                hints[ours] = data[theirs]
    if "resample" in data:
        hints["interpolation"] = _RESAMPLE.get(int(data["resample"]), f"PIL resample {data['resample']}")
    hints.update(_geometry(data))
    return hints


def _geometry(data: dict[str, Any]) -> dict[str, Any]:
    size, crop = data.get("size"), data.get("crop_size")
    if isinstance(size, int):
        size = {"shortest_edge": size}
    if not isinstance(size, dict) or not data.get("do_resize", True):
        return {}
    if "height" in size and "width" in size:  # resized straight to (height, width)
        return {"input_size": (int(size["height"]), int(size["width"])), "resize": None}
    edge = int(size.get("shortest_edge", 0))
    if not edge:
        return {}
    if "crop_pct" in data and data.get("crop_pct") is not None:  # ConvNextImageProcessor
        if edge >= 384:
            return {"input_size": (edge, edge), "resize": None}
        return {"input_size": (edge, edge), "resize": int(edge / float(data["crop_pct"]))}
    if data.get("do_center_crop") and isinstance(crop, dict) and "height" in crop:
        return {"input_size": (int(crop["height"]), int(crop["width"])), "resize": edge}
    return {"input_size": (edge, edge), "resize": edge}
