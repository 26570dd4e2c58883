"""Batch-norm folding in PyTorch, so that later steps see the weights the exported graph will hold."""

from __future__ import annotations

import torch
from torch import fx, nn

from ...errors import EdgeresError


class PrepareError(EdgeresError):
    """The model's graph cannot be prepared (it does not trace, or a layer is not what preparation expects)."""


def trace(model: nn.Module) -> fx.GraphModule:
    """The model's dataflow graph; raises PrepareError naming why it could not be traced."""
    try:
        return fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many kinds; all mean the same thing to the user
        raise PrepareError(
            f"cannot trace {type(model).__name__} to prepare it for int8 ({str(exc).splitlines()[0][:160]}); "
            "quantize with --optimize none"
        ) from exc


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def fold_batch_norms(model: nn.Module) -> list[str]:
    """Fold every BatchNorm2d that only reads a Conv2d into that conv (in place; the BN becomes Identity).

    Exporters fold the same pairs, so the exported graph holds exactly these weights. Returns the convs folded.
    """
    graph = trace(model)
    folded = []
    for node in graph.graph.nodes:
        if node.op != "call_module" or not isinstance(graph.get_submodule(node.target), nn.BatchNorm2d):
            continue
        source = node.args[0]
        if not (isinstance(source, fx.Node) and source.op == "call_module" and len(source.users) == 1):
            continue
        conv = model.get_submodule(str(source.target))
        if not isinstance(conv, nn.Conv2d):
            continue
        bn = model.get_submodule(str(node.target))
        assert isinstance(bn, nn.BatchNorm2d)
        fused = torch.nn.utils.fusion.fuse_conv_bn_eval(conv.eval(), bn.eval())
        set_module(model, str(source.target), fused)
        set_module(model, str(node.target), nn.Identity())
        folded.append(str(source.target))
    return folded
