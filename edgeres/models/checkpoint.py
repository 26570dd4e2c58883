"""Read a checkpoint file of any common layout into a flat float32 state_dict plus metadata hints.

Safety: nothing is unpickled beyond tensors, containers, argparse.Namespace and numpy scalars unless the
caller passes trust=True; TorchScript archives (which carry code) need trust too.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError, UnsafeCheckpointError
from ..file_kind import kind_of
from ..oneline import gist
from .batchnorm import check_running_variance
from .pickle_globals import unsafe_globals

EDGERES_FORMAT = "edgeres.model"
# Keys that commonly wrap the weights, in the order they are preferred (EMA copies need --key).
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "module")
# Containers of training arguments that may say how inputs were preprocessed.
HINT_CONTAINERS = ("args", "hyper_parameters", "hparams", "config", "cfg", "meta", "card")
HINT_KEYS: dict[str, tuple[str, ...]] = {
    "mean": ("mean", "norm_mean", "pixel_mean", "normalize_mean", "image_mean"),
    "std": ("std", "norm_std", "pixel_std", "normalize_std", "image_std"),
    "input_size": ("input_size", "img_size", "image_size", "val_crop_size", "crop_size"),
    "resize": ("val_resize_size", "resize_size"),
    "labels": ("labels", "classes", "class_names", "categories"),
    "interpolation": ("interpolation",),
}
# Harmless globals found in real checkpoints (training args, numpy metrics).
_SAFE_EXTRA_GLOBALS: list[Any] = [argparse.Namespace, np.dtype, np.float64(0).__reduce__()[0]] + [
    getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")
]


@dataclass
class RawCheckpoint:
    """Weights (float32, prefixes stripped) and whatever the file says about them."""

    state_dict: dict[str, torch.Tensor]
    hints: dict[str, Any] = field(default_factory=dict)
    saved_spec: dict[str, Any] | None = None
    saved_card: dict[str, Any] | None = None
    kind: str = "pickle"
    arch: str | None = None  # the architecture a training script named beside the weights (timm's train.py)


def read_checkpoint(path: Path, *, trust: bool = False, key: str | None = None) -> RawCheckpoint:
    """Read `path` (torch.save, Lightning, safetensors, TorchScript, edgeres) into a RawCheckpoint.

    Raises CheckpointError for unreadable files and UnsafeCheckpointError when code would run.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    head = path.open("rb").read(16)
    if not head:
        raise CheckpointError(f"{path}: file is empty; re-save or re-download the checkpoint")
    if _looks_like_safetensors(head):
        return _read_safetensors(path, key)
    if head.startswith(b"PK") and _is_torchscript(path):
        obj: Any = _load_torchscript(path, trust)
        kind = "torchscript"
    else:
        obj = _torch_load(path, trust)
        kind = "lightning" if isinstance(obj, dict) and "pytorch-lightning_version" in obj else "pickle"
    weights, used = _find_weights(obj, key, path)
    arch = obj.get("arch") if isinstance(obj, Mapping) and isinstance(obj.get("arch"), str) else None
    return RawCheckpoint(
        _select_prefix(weights, None if used else key, path), _collect_hints(obj), kind=kind, arch=arch
    )


def _looks_like_safetensors(head: bytes) -> bool:
    return len(head) > 9 and int.from_bytes(head[:8], "little") < 100_000_000 and head[8:9] == b"{"


def _read_safetensors(path: Path, key: str | None) -> RawCheckpoint:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:  # type: ignore[no-untyped-call]
            meta = fh.metadata() or {}
            weights = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({exc})") from None
    raw = RawCheckpoint(_select_prefix(weights, key, path), kind="safetensors")
    if meta.get("format") == EDGERES_FORMAT:
        try:
            raw.saved_spec = json.loads(meta["spec"])
            raw.saved_card = json.loads(meta["card"])
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{path}: edgeres metadata is damaged ({exc}); re-save the model") from None
        raw.kind = "edgeres"
    return raw


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False  # torch.load will report the damage with more context
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _load_torchscript(path: Path, trust: bool) -> nn.Module:
    if not trust:
        raise UnsafeCheckpointError(
            f"{path}: is a TorchScript archive, which carries code that runs when loaded; "
            "pass --trust only if you trust its source (or re-save its state_dict)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 deprecates TorchScript; files remain
            return torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call,no-any-return]
    except Exception as exc:  # TorchScript raises bare RuntimeErrors for every kind of damage
        raise CheckpointError(f"{path}: cannot load TorchScript archive ({gist(exc)})") from None


def _torch_load(path: Path, trust: bool) -> Any:
    if trust:
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # an untrusted-format file may fail in any way while unpickling
            raise CheckpointError(
                _not_torch_file(path) or f"{path}: not a readable checkpoint ({_first_line(exc)})"
            ) from None
    try:
        with torch.serialization.safe_globals(_SAFE_EXTRA_GLOBALS), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)  # the error says it all
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        unsafe = unsafe_globals(path, str(exc), (f"{g.__module__}.{g.__qualname__}" for g in _SAFE_EXTRA_GLOBALS))
        if unsafe:
            raise UnsafeCheckpointError(
                f"{path}: loading needs globals that safe loading refuses ({', '.join(unsafe)}), so it could "
                "run code; pass --trust only if you trust its source"
            ) from None
        not_torch = _not_torch_file(path)  # (the safe loader says "Unsupported operand" of any non-pickle byte too)
        if not_torch is None and "Unsupported operand" in str(exc):  # pickle protocol 4+: never torch.save's
            raise UnsafeCheckpointError(
                f"{path}: written by Python's pickle, not torch.save, which safe loading cannot read; re-save it "
                "with torch.save or safetensors, or pass --trust only if you trust its source"
            ) from None
        raise CheckpointError(not_torch or f"{path}: not a readable checkpoint ({_first_line(exc)})") from None
    except Exception as exc:  # arbitrary bytes make the unpickler raise anything (IndexError, KeyError...)
        raise CheckpointError(
            _not_torch_file(path)
            or f"{path}: not a readable checkpoint, truncated or not a PyTorch/safetensors file "
            f"({_first_line(exc)}); re-save or re-download it"
        ) from None


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """The exception's first line, shortened at a word boundary (never mid-word); a byte it quotes is left out."""
    lines = str(exc).strip().splitlines()
    text = re.sub(r"load key, '.*?'", "load key", f"{type(exc).__name__}: {lines[0] if lines else ''}")
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."


def _not_torch_file(path: Path) -> str | None:
    """A message for bytes that torch.save never writes: neither its zip archive nor the legacy pickle."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError:
        return None
    if head.startswith(b"PK") or head[:1] == b"\x80":  # zip (torch >= 1.6) or pickle protocol 2+ (legacy)
        return None
    return (
        f"{path}: not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle but {kind_of(path)}); "
        "re-save it with torch.save or safetensors, or re-download it"
    )


def _is_weights(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _find_weights(obj: Any, key: str | None, path: Path, depth: int = 0) -> tuple[dict[str, torch.Tensor], bool]:
    """Descend through wrapper dicts (or a trusted nn.Module) to the tensor mapping; whether `key` named a dict
    key on the way (else it is left to name a parameter prefix)."""
    if isinstance(obj, nn.Module):
        return dict(obj.state_dict()), False
    if _is_weights(obj):
        return dict(obj), False
    if isinstance(obj, Mapping) and depth < 3:
        if key is not None and key in obj:
            return _find_weights(obj[key], None, path, depth + 1)[0], True
        for wrapper in WRAPPER_KEYS:
            if wrapper in obj and (isinstance(obj[wrapper], (Mapping, nn.Module))):
                return _find_weights(obj[wrapper], key, path, depth + 1)
    shown = ", ".join(map(str, list(obj)[:8])) if isinstance(obj, Mapping) else type(obj).__name__
    raise CheckpointError(f"{path}: no model weights found (top level: {shown}); pass --key NAME to pick them")


def _select_prefix(weights: Mapping[str, torch.Tensor], key: str | None, path: Path) -> dict[str, torch.Tensor]:
    """Strip the wrapper prefix (module., model., _orig_mod., ...) that leads to the ResNet's keys."""
    if key is not None and not key.endswith("."):
        key += "."
    roots = sorted(_model_roots(weights))
    if key is not None and key in roots:
        roots = [key]
    elif key is not None:
        shown = ", ".join(r.rstrip(".") or "(top level)" for r in roots) or "none"
        raise CheckpointError(
            f"{path}: --key {key.rstrip('.')} is neither a dict key nor a model's parameter prefix in this file "
            f"(model prefixes: {shown}); drop --key or name one of those"
        )
    if len(roots) > 1:
        shown = ", ".join(r.rstrip(".") or "(top level)" for r in roots)
        raise CheckpointError(f"{path}: holds several models under prefixes {shown}; pass --key PREFIX to pick one")
    prefix = roots[0] if roots else ""
    selected = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    return {k: _as_float32(k, v, path) for k, v in selected.items()}


# (a block's key, the stem keys one of which sits beside it): where a ResNet's weights start, for each naming.
_ROOT_ANCHORS = (
    ("layer1.0.conv1.weight", ("conv1.weight", "conv1.0.weight")),  # torchvision, timm, CIFAR repos
    ("resnet.encoder.stages.0.layers.0.layer.0.convolution.weight", ("resnet.embedder.embedder.convolution.weight",)),
)


def _model_roots(weights: Mapping[str, torch.Tensor]) -> set[str]:
    """The key prefixes under which a whole ResNet (stem and blocks) sits: "" for a bare state_dict."""
    roots: set[str] = set()
    for block, stems in _ROOT_ANCHORS:
        blocks = {k[: -len(block)] for k in weights if k.endswith(block)}
        roots |= {p for p in blocks if any(p + stem in weights for stem in stems)}
    return roots


def _as_float32(name: str, tensor: torch.Tensor, path: Path) -> torch.Tensor:
    if not tensor.is_floating_point():
        return tensor
    tensor = tensor.detach().to(torch.float32)
    if not torch.isfinite(tensor).all():
        raise CheckpointError(
            f"{path}: tensor {name} holds NaN or infinite values; the checkpoint is damaged "
            "(diverged training or a bad conversion): use an earlier checkpoint"
        )
    if name.endswith("running_var"):
        check_running_variance(name.removesuffix("running_var").rstrip("."), tensor, path)
    return tensor


def _collect_hints(obj: Any) -> dict[str, Any]:
    """Preprocessing and labels named in training args or hyper-parameters, when they parse."""
    hints: dict[str, Any] = {}
    if not isinstance(obj, Mapping):
        return hints
    for container in HINT_CONTAINERS:
        found = obj.get(container)
        if isinstance(found, argparse.Namespace):
            found = vars(found)
        if not isinstance(found, Mapping):
            continue
        for field_name, aliases in HINT_KEYS.items():
            for alias in aliases:
                value = found.get(alias)
                if value is not None and field_name not in hints and _plausible(field_name, value):
                    hints[field_name] = value
    return hints


def _plausible(field_name: str, value: Any) -> bool:
    if field_name in ("mean", "std"):
        return isinstance(value, (list, tuple)) and len(value) == 3
    if field_name == "labels":
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    if field_name in ("input_size", "resize"):
        return isinstance(value, (int, list, tuple)) and not isinstance(value, bool)
    return isinstance(value, str) and bool(value)  # timm's training args hold interpolation "" for "default"
