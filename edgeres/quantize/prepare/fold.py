"""Batch-norm folding in PyTorch, so that later steps see the weights the exported graph will hold."""

from __future__ import annotations

import copy

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


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv, batch norm) module names where a BatchNorm2d only reads a Conv2d that nothing else reads: the
    pairs exporters fold, and `fold_batch_norms` folds."""
    graph = trace(model)
    pairs = []
    for node in graph.graph.nodes:
        if node.op != "call_module" or not isinstance(graph.get_submodule(node.target), nn.BatchNorm2d):
            continue
        source = node.args[0]
        if not (isinstance(source, fx.Node) and source.op == "call_module" and len(source.users) == 1):
            continue
        if isinstance(model.get_submodule(str(source.target)), nn.Conv2d):
            pairs.append((str(source.target), str(node.target)))
    return pairs


def fold_batch_norms(model: nn.Module) -> list[str]:
    """Fold every BatchNorm2d that only reads a Conv2d into that conv (in place; the BN becomes Identity).

    Exporters fold the same pairs, so the exported graph holds exactly these weights. Returns the convs folded.
    """
    folded = []
    for conv_name, bn_name in conv_bn_pairs(model):
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
        set_module(model, conv_name, torch.nn.utils.fusion.fuse_conv_bn_eval(conv.eval(), bn.eval()))
        set_module(model, bn_name, nn.Identity())
        folded.append(conv_name)
    return folded


def unfold_batch_norms(folded: nn.Module, like: nn.Module) -> nn.Module:
    """`folded`'s function in `like`'s structure (a copy of `like`, the model before `fold_batch_norms`): each
    folded conv's weight goes back to its conv and its bias to the batch norm, which is made the identity
    (running mean 0, variance 1 - eps, scale 1), so the model saves and loads as its architecture does."""
    unfolded = copy.deepcopy(like).eval()
    weights = folded.state_dict()
    state = {k: v for k, v in weights.items() if k in unfolded.state_dict()}
    for conv_name, bn_name in conv_bn_pairs(unfolded):
        bn = unfolded.get_submodule(bn_name)
        assert isinstance(bn, nn.BatchNorm2d)
        bias = weights[f"{conv_name}.bias"]
        if f"{conv_name}.bias" in state:  # the conv had a bias of its own: the folded one moves to the norm
            state[f"{conv_name}.bias"] = torch.zeros_like(bias)
        state[f"{bn_name}.bias"] = bias
        state[f"{bn_name}.weight"] = torch.ones_like(bias)
        state[f"{bn_name}.running_mean"] = torch.zeros_like(bias)
        state[f"{bn_name}.running_var"] = torch.full_like(bias, 1.0 - bn.eps)
    unfolded.load_state_dict(state, strict=False)
    missing = set(unfolded.state_dict()) - set(state)
    assert all(k.endswith("num_batches_tracked") for k in missing), f"not carried over: {sorted(missing)[:3]}"
    return unfolded
