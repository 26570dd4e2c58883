"""The metadata edgeres embeds in exported files: the model card and how the file's input is laid out.

Shared by the exporters (writing) and the board-side runtimes (reading); imports no torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..card import ModelCard, coerce_fields
from ..errors import CardError, ModelFileError
from ..formats import registry as format_registry
from ..isa import IsaAssumption
from ..options import LoadOptions

CARD_KEY = "edgeres.card"
IO_KEY = "edgeres.io"
QUANT_KEY = "edgeres.quantization"  # int8 files: recipe, target and the CPU features they assume
LABELS_KEY = "labels"


@dataclass(frozen=True)
class IoSpec:
    """How an exported file expects its input: layout, fixed batch (None: dynamic), weight precision."""

    format: str
    layout: str = "nchw"
    batch: int | None = None
    precision: str = "float32"
    input_name: str = "input"
    output_name: str = "logits"

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def metadata_entries(card: ModelCard, io: IoSpec, quantization: Mapping[str, object] | None = None) -> dict[str, str]:
    """The key/value strings to embed (ONNX metadata_props, TFLite metadata table)."""
    entries = {CARD_KEY: card.to_json(), IO_KEY: io.to_json()}
    if card.labels is not None:
        entries[LABELS_KEY] = json.dumps(list(card.labels))
    if quantization is not None:
        entries[QUANT_KEY] = json.dumps(quantization, sort_keys=True)
    return entries


def isa_from_entries(entries: Mapping[str, str]) -> IsaAssumption | None:
    """The CPU features an int8 file says it assumes; None when it says nothing (or is float)."""
    text = entries.get(QUANT_KEY)
    if text is None:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    isa = record.get("isa") if isinstance(record, dict) else None
    return IsaAssumption.from_dict(isa) if isinstance(isa, dict) else None


def card_from_entries(
    entries: Mapping[str, str],
    path: Path,
    load: LoadOptions | None = None,
) -> tuple[ModelCard, IoSpec]:
    """Read the card (embedded, else the `<file>.card.json` sidecar) and IoSpec; apply `load`'s card overrides.

    Raises ModelFileError when neither holds a card or `load.num_classes` (--num-classes) contradicts it.
    """
    load = load or LoadOptions()
    num_classes = load.num_classes
    text = entries.get(CARD_KEY)
    sidecar = path.with_name(path.name + ".card.json")
    if text is None and sidecar.is_file():
        text = sidecar.read_text(encoding="utf-8")
    if text is None:
        raise ModelFileError(
            f"{path}: carries no edgeres model card (not exported by edgeres?); put a card in {sidecar.name}"
        )
    try:
        card = ModelCard.from_dict(json.loads(text), f"{path} (embedded card)")
        io = IoSpec(**json.loads(entries[IO_KEY])) if IO_KEY in entries else IoSpec(format=path.suffix[1:])
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: embedded metadata is damaged ({exc}); re-export the model") from None
    if num_classes is not None and num_classes != card.num_classes:
        raise ModelFileError(f"{path}: has {card.num_classes} classes, --num-classes says {num_classes}")
    changes = coerce_fields(load.overrides.given(), "flags")
    if changes.get("input_size", card.input_size) != card.input_size:
        size = "x".join(map(str, card.input_size))
        raise CardError(f"{path}: the file takes {size} inputs; --input-size cannot change an exported model")
    return (card.replace(**changes) if changes else card), io


def exported_file(path: str | os.PathLike[str], load: LoadOptions) -> Path:
    """The exported model file a runtime is about to open: an error if it is missing or checkpoint-only loader
    flags came with it."""
    found = Path(path)
    reject_checkpoint_options(found, load)
    if not found.is_file():
        raise ModelFileError(f"{found}: no such file")
    actual = format_registry.disguised(found)
    if actual is not None:
        raise ModelFileError(
            f"{found}: its bytes are a {actual.suffix} file ({actual.title}), not what its name says; rename it "
            f"to {found.with_suffix(actual.suffix).name}"
        )
    return found


def reject_checkpoint_options(path: Path, load: LoadOptions) -> None:
    """Loader flags that make no sense for an exported file are errors, not silently ignored."""
    given = load.checkpoint_flags()
    if given:
        raise ModelFileError(f"{path}: {', '.join(given)} apply to checkpoints, not exported files; drop them")


def check_image_input(shape: Sequence[object], card: ModelCard, io: IoSpec, path: Path) -> None:
    """ModelFileError unless the file's input is a batch of images of its card's size in its layout (N x C x H x W,
    or N x H x W x C): checked before anything runs, so a foreign graph is one line instead of a runtime's
    traceback. Dimensions the file leaves open (names, None, -1) match anything."""
    height, width = card.input_size
    # channels are not checked: latency probes are single layers whose input has the layer's channels
    expected = (None, None, height, width) if io.layout == "nchw" else (None, height, width, None)
    fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if len(fixed) == 4 and all(f is None or e is None or f == e for f, e in zip(fixed, expected, strict=True)):
        return
    want = "x".join("N" if i == 0 else "C" if e is None else str(e) for i, e in enumerate(expected))
    got = "x".join("?" if f is None else str(f) for f in fixed) or "a scalar"
    raise ModelFileError(
        f"{path}: its input is {got}, not the image batch its card says ({want}, {io.layout}); edgeres runs image "
        "classifiers: export the model with `edgeres export`"
    )
