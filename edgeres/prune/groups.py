"""Pruning groups as the latency-driven search sees them: coupled channels, their importance, the convs they
narrow, and how to cut a model to chosen widths per group (torch-pruning's DepGraph does the cutting)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch_pruning as tp
from torch import nn

from ..latency.layers import ConvLayer
from ..models import LoadedModel
from .custom_layers import customized_pruners
from .options import PruneOptions
from .structured import GradientBatches, accumulate_gradients, ignored_layers, importance

STREAM_FLOOR = 0.5
T = TypeVar("T")


@dataclass
class Group:
    """One set of coupled channels: its root layer, width, importance per channel and the convs it narrows."""

    root: str
    width: int
    scores: list[float]  # ascending: the order channels are removed in
    inputs: list[str]  # convs whose input channels these are
    outputs: list[str]  # convs whose output channels these are


def _graph(model: nn.Module, loaded: LoadedModel) -> tp.DependencyGraph:
    example = torch.zeros(1, 3, *loaded.card.input_size)
    return tp.DependencyGraph().build_dependency(model, example_inputs=example, customized_pruners=customized_pruners())


def _root(group: Any, names: dict[nn.Module, str]) -> str:
    return names[group[0].dep.target.module]


def find_groups(loaded: LoadedModel, options: PruneOptions, gradients: GradientBatches | None) -> list[Group]:
    """The prunable groups of `loaded` with their importance scores (the model is not changed)."""
    model = copy.deepcopy(loaded.model).eval()
    graph, names = _graph(model, loaded), {m: n for n, m in model.named_modules()}
    if options.importance == "taylor" and gradients is not None:
        accumulate_gradients(model, gradients)
    rank = importance(options.importance)
    groups = []
    for group in graph.get_all_groups(ignored_layers=ignored_layers(model, options.keep_residual_width)):
        scores = rank(group)
        if scores is None:
            continue
        inputs, outputs = [], []
        for item in group:
            module = item.dep.target.module
            if isinstance(module, nn.Conv2d):
                if graph.is_out_channel_pruning_fn(item.dep.handler):
                    outputs.append(names[module])
                elif graph.is_in_channel_pruning_fn(item.dep.handler):
                    inputs.append(names[module])
        groups.append(Group(_root(group, names), len(scores), sorted(scores.tolist()), inputs, outputs))
    return groups


def candidate_widths(group: Group, multiple: int, max_layer_ratio: float) -> list[int]:
    """Multiples of `multiple` from the narrowest allowed width up, and the full width. A residual stream (a
    group several convs write into) keeps at least STREAM_FLOOR of its channels: latency-driven choices
    otherwise cut streams first (they run through every block), and resnet18_cifar10 with its first stream
    at 16 of 64 channels scored chance-level top-1 before fine-tuning."""
    least = 1 - max_layer_ratio if len(group.outputs) < 2 else max(1 - max_layer_ratio, STREAM_FLOOR)
    floor = max(multiple, math.ceil(group.width * least / multiple) * multiple)
    return sorted({*range(floor, group.width, multiple), group.width})


def conv_candidates(
    layers: list[ConvLayer], groups: list[Group], widths: dict[str, list[int]]
) -> dict[str, tuple[list[int], list[int]]]:
    """Each conv's candidate (in, out) channel counts: its groups' candidates, or its fixed count."""
    return _by_conv(layers, groups, widths, lambda channels: [channels])


def conv_widths(layers: list[ConvLayer], groups: list[Group], chosen: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Each conv's (in, out) channels when every group has its chosen width."""
    return _by_conv(layers, groups, chosen, lambda channels: channels)


def _by_conv(
    layers: list[ConvLayer], groups: list[Group], per_group: Mapping[str, T], fixed: Callable[[int], T]
) -> dict[str, tuple[T, T]]:
    found = {layer.name: (fixed(layer.cin), fixed(layer.cout)) for layer in layers}
    for group in groups:
        for name in group.inputs:
            found[name] = (per_group[group.root], found[name][1])
        for name in group.outputs:
            found[name] = (found[name][0], per_group[group.root])
    return found


def apply_widths(
    loaded: LoadedModel, options: PruneOptions, chosen: dict[str, int], gradients: GradientBatches | None
) -> nn.Module:
    """A copy of the model with each group cut to its chosen width, least important channels first."""
    model = copy.deepcopy(loaded.model).eval()
    graph, names = _graph(model, loaded), {m: n for n, m in model.named_modules()}
    if options.importance == "taylor" and gradients is not None:
        accumulate_gradients(model, gradients)
    rank = importance(options.importance)
    for group in graph.get_all_groups(ignored_layers=ignored_layers(model, options.keep_residual_width)):
        width = len(group[0].idxs)
        keep = chosen.get(_root(group, names), width)
        if keep < width:
            scores = rank(group)
            group.prune(torch.argsort(scores)[: width - keep].tolist())
    model.zero_grad(set_to_none=True)
    return model.eval()
