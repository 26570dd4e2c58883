"""Cross-layer equalization (Nagel et al. 2019) for conv -> ReLU -> conv pairs.

ReLU(x / s) = ReLU(x) / s for s > 0, so dividing output channel i of the first conv by s_i and multiplying
input channel i of the second by s_i leaves the float model unchanged. Choosing s_i = sqrt(r1_i / r2_i)
gives both weights the same per-channel range, so the second conv's output channels, quantized per channel,
no longer hold one wide input channel beside many narrow ones. Residual adds forbid it elsewhere: both
inputs of an add must keep one scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn

from .fold import trace

_RELUS = (F.relu, torch.relu)


def is_relu(node: fx.Node, graph: fx.GraphModule) -> bool:
    if node.op == "call_module":
        return isinstance(graph.get_submodule(str(node.target)), nn.ReLU)
    return node.op in ("call_function", "call_method") and (node.target in _RELUS or node.target == "relu")


def skip_identity(node: fx.Node, graph: fx.GraphModule) -> fx.Node:
    while node.op == "call_module" and isinstance(graph.get_submodule(str(node.target)), nn.Identity):
        if len(node.users) != 1:
            return node
        node = next(iter(node.users))
    return node


def _conv(node: fx.Node, graph: fx.GraphModule) -> nn.Conv2d | None:
    if node.op != "call_module":
        return None
    module = graph.get_submodule(str(node.target))
    return module if isinstance(module, nn.Conv2d) and module.groups == 1 else None


def equalizable_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(first, second) conv names joined only through a ReLU (and folded-away Identity modules)."""
    graph = trace(model)
    pairs = []
    for node in graph.graph.nodes:
        if _conv(node, graph) is None or len(node.users) != 1:
            continue
        after = skip_identity(next(iter(node.users)), graph)
        if not is_relu(after, graph) or len(after.users) != 1:
            continue
        consumer = next(iter(after.users))
        if _conv(consumer, graph) is not None:
            pairs.append((str(node.target), str(consumer.target)))
    return pairs


@torch.no_grad()
def equalize(model: nn.Module, pairs: list[tuple[str, str]], eps: float = 1e-8) -> None:
    """Equalize each pair in place (biases scale with their channel)."""
    for first_name, second_name in pairs:
        first, second = model.get_submodule(first_name), model.get_submodule(second_name)
        assert isinstance(first, nn.Conv2d) and isinstance(second, nn.Conv2d)
        r1 = first.weight.abs().flatten(1).amax(1)
        r2 = second.weight.abs().transpose(0, 1).flatten(1).amax(1)
        live = (r1 > eps) & (r2 > eps)
        scale = torch.where(live, torch.sqrt(r1.clamp_min(eps) / r2.clamp_min(eps)), torch.ones_like(r1))
        first.weight.div_(scale.view(-1, 1, 1, 1))
        if first.bias is not None:
            first.bias.div_(scale)
        second.weight.mul_(scale.view(1, -1, 1, 1))
