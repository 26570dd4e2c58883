"""What QAT needs from ExecuTorch's int8 programs: the grid of every quantized tensor, the float values of those
tensors, and the ranges that make XNNPACKQuantizer's PT2E flow write those grids again for the fine-tuned model.

A .pte keeps its integers inside XNNPACK's delegate blob, so the grids are read from the program the engine
converted just before lowering it (its quantize_per_tensor nodes, by the float program's node they quantize),
and the float values from the float program the engine annotated (batch norms folded as PT2E folds them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .engine import Int8Engine
from .pte_engine import PteInt8Engine
from .qat.graph import node_values
from .qat.simulate import ActivationGrid, kept_grid_source

# aten ops that move or pick values without computing new ones: XNNPACK keeps their input's grid on their output.
_PASSTHROUGH = {
    "aten.slice.Tensor", "aten.pad.default", "aten.constant_pad_nd.default", "aten.view.default",
    "aten.flatten.using_ints", "aten.max_pool2d.default", "aten.reshape.default", "aten.permute.default",
    "aten.cat.default",
}  # fmt: skip


def _number(program: Any, arg: Any) -> float:
    """A quantize node's scale or zero point: a literal, or a constant tensor of the program."""
    if isinstance(arg, torch.fx.Node):
        return float(getattr(program, str(arg.target)))
    return float(arg)


class PteQatGrid:
    """The QAT view of the float program and the int8 program ExecuTorch's quantizer made of one model."""

    def __init__(self, fp32: Path, int8: Path, engine: Int8Engine | None = None) -> None:
        assert isinstance(engine, PteInt8Engine) and engine.converted is not None, "read after the engine quantized"
        self.graph, self.layout = engine.graph, engine.io.layout
        self.grids: dict[str, ActivationGrid] = {}
        for node in engine.converted.graph.nodes:
            if node.op == "call_function" and str(node.target).startswith("quantized_decomposed.quantize_per_tensor"):
                x, scale, zero, qmin, qmax = node.args[:5]
                grid = ActivationGrid(
                    _number(engine.converted, scale), int(_number(engine.converted, zero)), qmin, qmax
                )
                self.grids[x.name] = grid
        self._nodes = {node.name: node for node in self.graph.graph.nodes}

    def float_values(self, names: list[str], inputs: np.ndarray) -> dict[str, np.ndarray]:
        """The float program's values of nodes `names` for `inputs` (NCHW images, laid out as it takes them)."""
        laid_out = inputs.transpose(0, 2, 3, 1) if self.layout == "nhwc" else inputs
        values = node_values(self.graph, torch.from_numpy(np.ascontiguousarray(laid_out)))
        return {name: values[name].numpy() for name in names}

    def source(self, name: str) -> str | None:
        """The node whose grid node `name` keeps, when an op that only moves values made it from that one (an
        option-A shortcut's slices); None otherwise."""
        node = self._nodes.get(name)
        if node is None:
            return None
        first = node.args[0].name if node.args and isinstance(node.args[0], torch.fx.Node) else None
        return kept_grid_source(self.grids, name, str(node.target), first, _PASSTHROUGH)

    def ranges(self, engine: Int8Engine, grids: dict[str, ActivationGrid]) -> dict[str, tuple[float, float]]:
        """Ranges from which the min-max observers put in for these nodes derive exactly `grids`."""
        return {name: grid.observed_range() for name, grid in grids.items()}
