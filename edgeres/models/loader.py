"""Checkpoint file -> (nn.Module in eval mode, ModelCard, ArchSpec); and saving our own model files."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import atomic_output, sha256_file
from ..card import ModelCard, read_card_file, resolve_card, sidecar_for
from ..errors import ArchitectureError, CheckpointError
from ..options import LoadOptions
from .channels import channels_in_state_dict
from .checkpoint import EDGERES_FORMAT, RawCheckpoint, read_checkpoint
from .infer import infer_spec
from .layouts import native
from .layouts.configs import read_source_config
from .layouts.hf_config import PREPROCESSOR_NAME
from .layouts.layout import Layout
from .layouts.registry import detect
from .layouts.source_config import CONFIG_NAME, SourceConfig, check_against
from .layouts.timm_config import lookalike_refusal
from .registry import build_model, spec_from_name
from .spec import ArchSpec


@dataclass
class LoadedModel:
    """A ready-to-run model with its card and spec."""

    model: nn.Module
    card: ModelCard
    spec: ArchSpec


def load_model(path: str | os.PathLike[str], options: LoadOptions | None = None) -> LoadedModel:
    """Load any supported checkpoint strictly (every key used, every shape matching), as `options` say.

    Raises CheckpointError, UnsafeCheckpointError, ArchitectureError or CardError with a one-line fix.
    """
    options = options or LoadOptions()
    file = weights_file(Path(path))
    raw = read_checkpoint(file, trust=options.trust, key=options.key)
    refused = lookalike_refusal(raw.arch, f"{file} (its 'arch' entry)") if raw.arch else None
    if refused:
        raise ArchitectureError(refused)
    layout = native.LAYOUT if raw.saved_spec is not None else detect(raw.state_dict)
    raw.state_dict = layout.rename(raw.state_dict)
    config = read_source_config(file) if raw.saved_spec is None else None
    spec = _choose_spec(raw, options.arch, options.num_classes, str(file), layout)
    if config is not None and options.arch is None:
        spec = check_against(config, spec, file)
    model = build_model(spec)
    _load_strict(model, raw.state_dict, spec, str(file))
    model.eval()
    family = config.source if config else layout.source(spec) + layout.without_config
    origin = Origin(family, layout.card_hints(spec), config)
    card = _resolve(raw, spec, file, options.card_file, options.overrides.given(), origin)
    return LoadedModel(model, card, spec)


# The weights file of a model folder as timm and Hugging Face save (and download) them, preferred first.
FOLDER_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def weights_file(path: Path) -> Path:
    """`path`, or the weights file in it when it is a model folder. Raises CheckpointError for a folder
    without one (a sharded checkpoint, say), naming what it holds."""
    if not path.is_dir():
        return path
    for name in FOLDER_WEIGHTS:
        if (path / name).is_file():
            return path / name
    held = ", ".join(sorted(p.name for p in path.iterdir())[:8]) or "nothing"
    raise CheckpointError(
        f"{path}: a folder without {' or '.join(FOLDER_WEIGHTS)} (it holds {held}); pass the weights file itself"
    )


def source_files(path: Path) -> list[Path]:
    """Every file loading `path` reads: the weights, the config files of their source and a card sidecar
    beside them (a pipeline stage reruns when any of them changes)."""
    file = weights_file(path)
    beside = [file.with_name(CONFIG_NAME), file.with_name(PREPROCESSOR_NAME), sidecar_for(file)]
    return [file] + [p for p in beside if p is not None and p.is_file() and p != file]


@dataclass(frozen=True)
class Origin:
    """Where the weights come from, and the preprocessing that source declares."""

    family: str
    layout_hints: dict[str, Any]
    config: SourceConfig | None


def _choose_spec(
    raw: RawCheckpoint, arch: str | None, num_classes: int | None, origin: str, layout: Layout
) -> ArchSpec:
    if raw.saved_spec is not None and arch is None:
        spec = ArchSpec.from_dict(raw.saved_spec, origin)
    elif arch is not None:
        spec = spec_from_name(arch, _classifier_rows(raw.state_dict) or num_classes or 1000)
    else:
        spec = infer_spec(raw.state_dict, origin, layout)
        pruned = channels_in_state_dict(build_model(spec), raw.state_dict)
        spec = spec.replace(channels=pruned) if pruned else spec
    if num_classes is not None and num_classes != spec.num_classes:
        raise ArchitectureError(
            f"{origin}: the checkpoint's classifier has {spec.num_classes} outputs but --num-classes is "
            f"{num_classes}; drop the flag or use a checkpoint trained for {num_classes} classes"
        )
    return spec


def _classifier_rows(sd: Mapping[str, torch.Tensor]) -> int | None:
    for name in ("fc.weight", "linear.weight"):
        if name in sd and sd[name].ndim == 2:
            return int(sd[name].shape[0])
    return None


def _load_strict(model: nn.Module, sd: dict[str, torch.Tensor], spec: ArchSpec, origin: str) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in expected]
    mismatched = [
        f"{k} {tuple(sd[k].shape)}!={tuple(v.shape)}" for k, v in expected.items() if k in sd and sd[k].shape != v.shape
    ]
    if missing or unexpected or mismatched:
        parts = [
            f"{label} {len(items)} ({', '.join(items[:4])}{', ...' if len(items) > 4 else ''})"
            for label, items in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("shape mismatch", mismatched),
            )
            if items
        ]
        raise ArchitectureError(
            f"{origin}: weights do not fit {spec.name}: {'; '.join(parts)}; "
            "check --arch / --num-classes, or drop --arch to infer it"
        )
    full = {k: sd.get(k, v) for k, v in expected.items()}  # old checkpoints lack num_batches_tracked
    model.load_state_dict(full, strict=True)


def _resolve(
    raw: RawCheckpoint,
    spec: ArchSpec,
    file: Path,
    card_file: str | os.PathLike[str] | None,
    overrides: Mapping[str, Any],
    origin: Origin,
) -> ModelCard:
    """The card: the source's declared preprocessing (layout defaults < its config files < the checkpoint's own
    training args), then the sidecar and flags as `resolve_card` layers them."""
    hints = {**origin.layout_hints, **(origin.config.hints if origin.config else {}), **raw.hints}
    family = origin.family
    if raw.saved_card is not None:
        saved = ModelCard.from_dict(raw.saved_card, f"{file} (embedded card)")
        hints = {k: getattr(saved, k) for k in ("input_size", "resize", "mean", "std", "labels", "interpolation")}
        family = saved.source_family or "edgeres"
    merged = dict(read_card_file(Path(card_file))) if card_file is not None else {}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return resolve_card(
        arch=spec.name,
        family=spec.family,
        num_classes=spec.num_classes,
        checkpoint_hints=hints,
        sidecar=sidecar_for(file),
        overrides=merged,
        source=file.name,
        source_sha256=sha256_file(file),
        source_family=family,
    )


def save_model(
    model: nn.Module, spec: ArchSpec, card: ModelCard, path: str | os.PathLike[str], *, force: bool = False
) -> Path:
    """Write weights, spec and card as one safetensors file that `load_model` reads back safely."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"format": EDGERES_FORMAT, "spec": json.dumps(spec.to_dict()), "card": card.to_json()}
    with atomic_output(path, force=force) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        _sort_header(tmp)
    return Path(path)


def _sort_header(path: Path) -> None:
    """Same model, same bytes: safetensors writes its metadata in hash-map order, which varies per process;
    rewrite the JSON header with sorted keys (same length, so the tensor data stays where it is)."""
    with path.open("r+b") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(size))
        text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
        if len(text) > size:
            return  # never happens for serde_json's compact output; keep the file as written if it did
        handle.seek(8)
        handle.write(text.ljust(size, b" "))
