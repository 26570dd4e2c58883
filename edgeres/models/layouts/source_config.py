"""The config files timm and Hugging Face save beside their weights, read as one typed SourceConfig.

Both libraries write `config.json` next to `model.safetensors` / `pytorch_model.bin`; Hugging Face adds
`preprocessor_config.json`. They hold what the weights cannot: preprocessing and labels (for the model card),
strides and activation (for the spec) and the architecture's name (to refuse what is no ResNet).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ArchitectureError, CardError
from ..names import STAGE_WIDTHS
from ..spec import ArchSpec

CONFIG_NAME = "config.json"


@dataclass(frozen=True)
class SourceConfig:
    """What a config file beside the weights declares."""

    path: Path
    source: str  # e.g. "timm (resnet26t)", shown by `edgeres inspect`
    hints: dict[str, Any] = field(default_factory=dict)  # model card fields
    expected: dict[str, Any] = field(default_factory=dict)  # spec fields, checked against the weights
    settings: dict[str, Any] = field(default_factory=dict)  # spec fields only the config holds (strides)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`. Raises CardError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CardError(f"{path}: cannot read ({exc}); fix or remove it") from None
    if not isinstance(data, dict):
        raise CardError(f"{path}: expected a JSON object")
    return data


def check_against(config: SourceConfig, spec: ArchSpec, weights: Path) -> ArchSpec:
    """`spec` with the config's settings applied. Raises ArchitectureError naming both files where the config
    declares a structure other than the weights hold."""
    values = {
        "block": spec.block,
        "layers": list(spec.layers),
        "widths": list(spec.widths or STAGE_WIDTHS[: len(spec.layers)]),
        "stem_width": spec.stem_width,
        "num_classes": spec.num_classes,
        "name": spec.name,
    }
    for key, declared in config.expected.items():
        if values[key] != declared:
            raise ArchitectureError(
                f"{config.path} declares {key} {declared} but the weights in {weights} hold {values[key]}; "
                "use the config saved with these weights (or remove it to load the weights alone)"
            )
    return spec.replace(**config.settings)


def labels_from(value: Any, num_classes: int | None) -> tuple[str, ...] | None:
    """Class names from a list or an {index: name} map, when there is one per class and they are real names
    (transformers fills `id2label` with LABEL_0, LABEL_1, ... when nobody set it)."""
    if isinstance(value, dict):
        try:
            value = [value[k] for k in sorted(value, key=int)]
        except (TypeError, ValueError):
            return None
    if not isinstance(value, list) or not value or (num_classes is not None and len(value) != num_classes):
        return None
    names = tuple(str(v) for v in value)
    return None if all(name == f"LABEL_{i}" for i, name in enumerate(names)) else names
