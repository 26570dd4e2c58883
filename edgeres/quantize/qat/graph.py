"""Quantized tensors found and rounded in the model's traced graph (torch.fx), where they are computed.

An int8 engine quantizes tensors of its own graph (a conv's output, the input of a residual add, a pooled
vector); QAT must round the same tensors in the PyTorch model. Some are made by a function inside a module
(the residual add before a functional ReLU, which onnxruntime's symmetric recipes quantize on its own): no
module boundary holds them, but the traced graph has a node for each. They are found by value: the float file
and the traced model run on the same images, and each engine tensor is the earliest node holding the same
numbers (its producer: rounding there reaches every consumer). Rounding is a node inserted after it.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import torch
from torch import fx, nn

from ...errors import RecipeError
from .simulate import ActivationGrid

PREFIX = "qat_rounding_"
RTOL = 1e-3  # float file and PyTorch model compute the same values to ~1e-6 relative


class Rounding(nn.Module):
    """One tensor's activation grid as a graph node. With `learn`, its scale is trained too (LSQ, Esser et al.
    2020: the gradient of the rounding error, scaled by 1/sqrt(elements x qmax)); the zero point stays."""

    def __init__(self, grid: ActivationGrid, learn: bool) -> None:
        super().__init__()
        self.grid = grid
        self.scale = nn.Parameter(torch.tensor([grid.scale])) if learn else None
        self.zero: torch.Tensor
        self.register_buffer("zero", torch.tensor([float(grid.zero_point)]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale is None:
            return self.grid.fake_quant(x)
        factor = 1.0 / math.sqrt(x[0].numel() * self.grid.qmax)
        scale = self.scale.abs().clamp_min(1e-8)
        return torch._fake_quantize_learnable_per_tensor_affine(
            x, scale, self.zero, self.grid.qmin, self.grid.qmax, factor
        )

    def current_scale(self) -> torch.Tensor:
        """The scale this node rounds with now (a learned one moves while training)."""
        if self.scale is None:
            return torch.tensor(self.grid.scale, dtype=torch.float32)
        return self.scale.detach().abs().clamp_min(1e-8).reshape(())

    def learned(self) -> ActivationGrid:
        """The grid as trained (the starting grid when the scale was not learned)."""
        if self.scale is None:
            return self.grid
        return dataclasses.replace(self.grid, scale=float(self.scale.detach().abs().clamp_min(1e-8)))


def input_roundings(graph: fx.GraphModule) -> dict[str, Rounding]:
    """For each module of `graph` that reads a rounded tensor, the rounding node's module: the nearest one up
    its chain of first inputs through nodes of one input (a max pool, a flatten: they keep the grid), none past
    a node of several inputs (an add, whose sum is rounded on its own grid) or the graph's input."""
    found: dict[str, Rounding] = {}
    for node in graph.graph.nodes:
        if node.op != "call_module" or str(node.target).startswith(PREFIX) or not node.args:
            continue
        source = node.args[0]
        while isinstance(source, fx.Node) and source.op != "placeholder":
            if source.op == "call_module" and str(source.target).startswith(PREFIX):
                found[str(node.target)] = graph.get_submodule(str(source.target))  # type: ignore[assignment]
                break
            inputs = source.all_input_nodes
            source = inputs[0] if len(inputs) == 1 else None
    return found


def trace(model: nn.Module) -> fx.GraphModule:
    """A copy of the model as its graph; RecipeError when torch.fx cannot trace it (data-dependent control
    flow). Every architecture edgeres builds traces: int8 preparation (batch-norm folding) traces them too."""
    try:
        return fx.symbolic_trace(copy.deepcopy(model))
    except Exception as exc:  # tracing fails in many ways (TraceError, TypeError, ...): all mean the same here
        raise RecipeError(
            f"QAT simulates int8 in the model's torch.fx graph, and {type(model).__name__} does not trace "
            f"({str(exc).splitlines()[0][:160]}); quantize it without --qat"
        ) from exc


def same_values(a: torch.Tensor, b: np.ndarray) -> bool:
    """Whether the model's tensor `a` and the float file's `b` hold the same values (to float rounding), `b`
    in the model's layout or channels last (a TFLite graph's inside)."""
    if tuple(a.shape) != b.shape:
        if b.ndim != 4 or tuple(a.shape) != (b.shape[0], b.shape[3], b.shape[1], b.shape[2]):
            return False
        b = b.transpose(0, 3, 1, 2)
    elif b.ndim == 4 and b.shape[1] == b.shape[2] == b.shape[3] and not _close(a, b):
        b = b.transpose(0, 3, 1, 2)  # C == H == W: channels last has the model's shape
    return _close(a, b)


def _close(a: torch.Tensor, b: np.ndarray) -> bool:
    scale = float(np.abs(b).max()) if b.size else 0.0
    return bool(np.allclose(a.numpy(), b, rtol=RTOL, atol=RTOL * scale + 1e-6))


def node_values(graph: fx.GraphModule, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every tensor-valued node's output for the images `x`, by node name, in graph order."""
    found: dict[str, torch.Tensor] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, node: fx.Node) -> object:
            value = super().run_node(node)
            if isinstance(value, torch.Tensor):
                found[node.name] = value.detach().clone()  # later in-place ops (`out += x`) would change it
            return value

    with torch.no_grad():
        Recorder(graph).run(x)
    return found


def match_nodes(values: dict[str, np.ndarray], nodes: dict[str, torch.Tensor]) -> dict[str, str | None]:
    """For each engine tensor, the earliest graph node holding the same values; None where none does."""
    return {name: next((n for n, v in nodes.items() if same_values(v, value)), None) for name, value in values.items()}


def insert_rounding(graph: fx.GraphModule, grids: dict[str, ActivationGrid], learn: bool) -> dict[str, Rounding]:
    """After each node named in `grids`, a node rounding its output; every consumer reads the rounded value.
    Returns the rounding module of each node."""
    by_name = {node.name: node for node in graph.graph.nodes}
    placed = {}
    for index, (name, grid) in enumerate(sorted(grids.items())):
        node, placed[name] = by_name[name], Rounding(grid, learn)
        graph.add_submodule(f"{PREFIX}{index}", placed[name])
        with graph.graph.inserting_after(node):
            rounded = graph.graph.call_module(f"{PREFIX}{index}", (node,))
        node.replace_all_uses_with(rounded, delete_user_cb=lambda user, r=rounded: user is not r)
    graph.graph.lint()
    graph.recompile()
    return placed
