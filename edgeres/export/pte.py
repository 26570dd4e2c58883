"""ExecuTorch export: torch.export, lowered to the XNNPACK delegate, serialized as a .pte program.

The model card and I/O spec travel inside the program as a constant method (`edgeres_metadata`, a JSON object of
the same entries ONNX and TFLite files carry), so a .pte file describes itself like the other formats.
Every conv and linear layer must land in XNNPACK: one left to ExecuTorch's portable kernels runs many times
slower, so that is an export error naming the layer, not a file that looks fine and is not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._quiet import drop_torch_enum_notice
from ..card import ModelCard
from ..errors import ExportError
from ..formats.pte import METADATA_METHOD
from ..predict import Predictor
from ..runtimes.embedded import IoSpec, metadata_entries
from .base import ExportWrapper, conversion_error, example_input

HEAVY_OPS = ("convolution", "linear", "addmm", "mm")  # what must run in XNNPACK (edge dialect op names contain)


class PteExporter:
    name = "pte"
    default_layout = "nchw"
    default_batch: int | None = 1  # XNNPACK plans static shapes; apps run batch 1

    def export(self, model: nn.Module, card: ModelCard, out: Path, io: IoSpec) -> None:
        """Write `out`; raise ExportError when export or lowering fails or a heavy layer is not delegated."""
        if io.batch is None:
            raise ExportError("ExecuTorch files are exported with a fixed batch; pass --batch N (apps use 1)")
        if io.precision != "float32":
            raise ExportError("--fp16 is not offered for .pte files; export float32 (XNNPACK) or quantize to int8")
        wrapped = ExportWrapper(model, io.layout).eval()
        out.write_bytes(lower_to_pte(wrapped, example_input(card, io, io.batch), metadata_entries(card, io)))

    def open(self, path: Path) -> Predictor:
        from ..runtimes.executorch import ExecuTorchPredictor

        return ExecuTorchPredictor(path)


def lower_to_pte(model: nn.Module, example: torch.Tensor, entries: dict[str, str]) -> bytes:
    """`model` (already wrapped, eval mode) exported at `example`'s shape, lowered to XNNPACK, as .pte bytes."""
    drop_torch_enum_notice()
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    except ImportError:
        raise ExportError("ExecuTorch is not installed: pip install 'edgeres[executorch]'") from None
    try:
        program = torch.export.export(model, (example,))
        edge = to_edge_transform_and_lower(
            program, partitioner=[XnnpackPartitioner()], constant_methods={METADATA_METHOD: json.dumps(entries)}
        )
    except Exception as exc:  # torch.export and lowering raise many types; all mean "cannot convert"
        raise conversion_error("ExecuTorch", model, exc) from None
    left = undelegated_layers(edge.exported_program().graph_module)
    if left:
        raise ExportError(
            f"ExecuTorch: {len(left)} layer(s) not delegated to XNNPACK (they would run on slow portable kernels): "
            f"{', '.join(left[:5])}"
        )
    return bytes(edge.to_executorch().buffer)


def undelegated_layers(graph_module: Any) -> list[str]:
    """Heavy ops (HEAVY_OPS) left outside any delegate, named by the layer they came from."""
    left = []
    for node in graph_module.graph.nodes:
        if node.op != "call_function" or not any(op in str(node.target) for op in HEAVY_OPS):
            continue
        stack = node.meta.get("nn_module_stack") or {}
        layer = next(reversed(stack.values()))[0] if stack else node.name
        left.append(f"{layer} ({str(node.target).split('.')[-2]})")
    return left
