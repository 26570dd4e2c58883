"""The model card: what a model needs besides its weights to be used correctly.

Every later stage (export metadata, calibration, evaluation, benchmarks) reads preprocessing and class
names from here and nowhere else. A card is resolved in layers, each overriding the one before:
family defaults < what the checkpoint says < a sidecar file (`<ckpt>.card.toml|json`) < flags.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CardError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CARD_VERSION = 1

# Fields a sidecar file or flags may set; everything else comes from the weights.
OVERRIDABLE = ("input_size", "resize", "mean", "std", "labels", "interpolation")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class ModelCard:
    """Architecture name, class count, preprocessing and labels of one model.

    `resize` is the shorter side an image is resized to before a center crop of `input_size`;
    None means the image is resized straight to `input_size` when it is not that size already.
    """

    arch: str
    num_classes: int
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: int | None = None
    interpolation: str = "bilinear"
    labels: tuple[str, ...] | None = None
    source: str = ""
    source_sha256: str = ""
    source_family: str = ""  # where the weights come from: torchvision, timm, Hugging Face transformers, ...

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, versioned, that `from_dict` reads back."""
        out = dataclasses.asdict(self)
        out["input_size"] = list(self.input_size)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        out["labels"] = list(self.labels) if self.labels is not None else None
        return {"card_version": CARD_VERSION, **out}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "card") -> ModelCard:
        """Build a card from `to_dict` output. Raises CardError on unknown or missing keys."""
        data = dict(data)
        version = data.pop("card_version", CARD_VERSION)
        if version != CARD_VERSION:
            raise CardError(f"{origin}: card_version {version} is not supported (expected {CARD_VERSION})")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise CardError(f"{origin}: unknown card keys {unknown}; known keys are {sorted(fields)}")
        try:
            return cls(**coerce_fields(data, origin))
        except TypeError as exc:
            raise CardError(f"{origin}: incomplete card ({exc})") from None

    def replace(self, **changes: Any) -> ModelCard:
        """Return a copy with `changes` applied and validated."""
        return dataclasses.replace(self, **changes)


def _validate(card: ModelCard) -> None:
    where = card.source or card.arch
    if card.num_classes < 1:
        raise CardError(f"{where}: num_classes must be positive, got {card.num_classes}")
    if len(card.input_size) != 2 or min(card.input_size) < 1:
        raise CardError(f"{where}: input_size must be two positive integers, got {card.input_size}")
    if card.resize is not None and card.resize < min(card.input_size):
        raise CardError(f"{where}: resize {card.resize} is smaller than the crop {card.input_size}")
    for name, values in (("mean", card.mean), ("std", card.std)):
        if len(values) != 3 or not all(math.isfinite(v) for v in values):
            raise CardError(f"{where}: {name} must be three finite numbers, got {values}")
    if min(card.std) <= 0:
        raise CardError(f"{where}: std must be positive, got {card.std}")
    if card.interpolation not in INTERPOLATIONS:
        raise CardError(f"{where}: interpolation must be one of {INTERPOLATIONS}, got {card.interpolation!r}")
    if card.labels is not None and len(card.labels) != card.num_classes:
        raise CardError(
            f"{where}: {len(card.labels)} labels given for a model with {card.num_classes} classes; "
            "give exactly one label per class"
        )


def coerce_fields(data: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """Loosely typed values (lists, one int size, 0-255 means) as card field types. Raises CardError."""
    out = dict(data)
    try:
        if "input_size" in out:
            out["input_size"] = parse_size(out["input_size"])
        if out.get("resize") is not None:
            out["resize"] = int(out["resize"])
        for key in ("mean", "std"):
            if key in out:
                out[key] = _three_floats(out[key])
        if out.get("labels") is not None:
            out["labels"] = tuple(str(x) for x in out["labels"])
        if "num_classes" in out:
            out["num_classes"] = int(out["num_classes"])
    except (TypeError, ValueError) as exc:
        raise CardError(f"{origin}: {exc}") from None
    return out


def parse_size(value: Any) -> tuple[int, int]:
    """Accept 224, "224", "224x200", [224, 224] or a (C, H, W) triple; return (H, W)."""
    if isinstance(value, str):
        parts = value.lower().replace(",", "x").split("x")
        value = [int(p) for p in parts if p.strip()]
    if isinstance(value, (int, float)):
        return (int(value), int(value))
    seq = [int(v) for v in value]
    if len(seq) == 3:  # (C, H, W) as timm writes it
        seq = seq[1:]
    if len(seq) == 1:
        seq = seq * 2
    if len(seq) != 2:
        raise ValueError(f"input size {value!r} is not H, W")
    return (seq[0], seq[1])


def _three_floats(value: Any) -> tuple[float, float, float]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split()]
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise ValueError(f"expected three values (R, G, B), got {value!r}")
    if max(values) > 1.5:  # given in 0-255 pixel units, as some training scripts write them
        values = tuple(v / 255.0 for v in values)
    return (values[0], values[1], values[2])


def family_defaults(family: str) -> dict[str, Any]:
    """Preprocessing a family's checkpoints were trained with unless they say otherwise."""
    if family == "cifar":
        return {"input_size": (32, 32), "resize": None, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    return {"input_size": (224, 224), "resize": 256, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


def read_card_file(path: Path) -> dict[str, Any]:
    """Read a partial card (sidecar or --card file) in TOML or JSON. Raises CardError on bad content."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CardError(f"{path}: cannot read card file ({exc}); fix or remove it") from None
    if not isinstance(data, dict):
        raise CardError(f"{path}: a card file must hold a table of fields")
    unknown = sorted(set(data) - set(OVERRIDABLE))
    if unknown:
        raise CardError(f"{path}: unknown card keys {unknown}; a card file may set {list(OVERRIDABLE)}")
    return coerce_fields(data, str(path))


def sidecar_for(checkpoint: Path) -> Path | None:
    """Return `<file>.card.toml` or `<file>.card.json` beside a checkpoint, if one exists."""
    for suffix in (".card.toml", ".card.json"):
        candidate = checkpoint.with_name(checkpoint.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def read_labels(value: str | Sequence[str]) -> tuple[str, ...]:
    """Labels from a file (one per line), a comma-separated string, or a sequence."""
    if not isinstance(value, str):
        return tuple(value)
    path = Path(value)
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        return tuple(line.strip() for line in lines if line.strip())
    return tuple(part.strip() for part in value.split(",") if part.strip())


def resolve_card(
    *,
    arch: str,
    family: str,
    num_classes: int,
    checkpoint_hints: Mapping[str, Any],
    sidecar: Path | None,
    overrides: Mapping[str, Any],
    source: str,
    source_sha256: str,
    source_family: str = "",
) -> ModelCard:
    """Merge the layers into one validated card. Raises CardError naming the layer at fault."""
    fields: dict[str, Any] = dict(family_defaults(family))
    if "input_size" in checkpoint_hints and "resize" not in checkpoint_hints:
        fields["resize"] = None  # a checkpoint that names its input size was not trained with our resize
    fields.update(coerce_fields(checkpoint_hints, f"{source} (metadata)"))
    if sidecar is not None:
        fields.update(read_card_file(sidecar))
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise CardError(f"unknown card overrides {unknown}; allowed: {list(OVERRIDABLE)}")
    fields.update(coerce_fields({k: v for k, v in overrides.items() if v is not None}, "flags"))
    new_size = overrides.get("input_size") is not None and overrides.get("resize") is None
    if new_size and fields.get("resize") is not None and fields["resize"] < min(fields["input_size"]):
        fields["resize"] = None  # a smaller --input-size alone drops a family resize that no longer fits
    return ModelCard(
        arch=arch,
        num_classes=num_classes,
        source=source,
        source_sha256=source_sha256,
        source_family=source_family,
        **{k: fields[k] for k in OVERRIDABLE if k in fields},
    )
