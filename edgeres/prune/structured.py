"""Structured channel pruning of a ResNet with torch-pruning's DepGraph: coupled channels go together.

A residual addition ties the channels of every conv feeding one stream (stem, each block's last conv, 1x1
projections, option A shortcuts), so DepGraph prunes them as one group, or not at all with
`keep_residual_width`. The classifier's outputs are never pruned. The result is a dense, narrower model.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterator

import torch
import torch_pruning as tp
from torch import nn

from ..errors import EdgeresError
from ..models import LoadedModel
from ..models.channels import channels_of
from ..models.cifar_resnet import PadShortcut
from ..summary import summarize
from .custom_layers import customized_pruners
from .mac_search import search_ratio
from .options import PruneOptions

# Layers whose outputs join a residual stream, by module path: the stem's (last) conv, timm's stem-pool conv, each
# block's last conv, its projection (conv at index 0, or 1 after an average pool) and the squeeze-excitation
# gate that scales the block's output.
_RESIDUAL_WRITERS = re.compile(
    r"^(conv1(\.6)?|maxpool\.0|layer\d+\.\d+\.(conv2|conv3|shortcut\.0|downsample\.[01]|se\.fc2))$"
)

# Yields (images, labels) batches for gradient-based importance; None where no data was given.
GradientBatches = Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]


def importance(name: str) -> tp.importance.Importance:
    if name == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1)
    if name == "l2":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if name == "bn-scale":
        return tp.importance.BNScaleImportance()
    return tp.importance.GroupTaylorImportance()


def ignored_layers(model: nn.Module, keep_residual_width: bool) -> list[nn.Module]:
    linears: list[nn.Module] = [m for m in model.modules() if isinstance(m, nn.Linear)]
    ignored = linears[-1:]  # the classifier keeps one output per class
    if keep_residual_width:
        ignored += [m for path, m in model.named_modules() if _RESIDUAL_WRITERS.match(path)]
        ignored += [m for m in model.modules() if isinstance(m, PadShortcut)]
    return ignored


def prune_channels(
    model: nn.Module, input_size: tuple[int, int], options: PruneOptions, gradients: GradientBatches | None = None
) -> nn.Module:
    """Prune `model` in place and return it. Taylor importance needs `gradients` (labeled batches)."""
    if options.importance == "taylor" and gradients is None:
        raise EdgeresError("--importance taylor ranks channels by gradients: give labeled images (--data DIR)")
    model.eval()
    example = torch.zeros(1, 3, *input_size)
    pruner = tp.pruner.BasePruner(
        model,
        example,
        importance=importance(options.importance),
        global_pruning=options.global_pruning,
        pruning_ratio=options.ratio,
        max_pruning_ratio=options.max_layer_ratio,
        ignored_layers=ignored_layers(model, options.keep_residual_width),
        round_to=options.round_to,
        customized_pruners=customized_pruners(),
    )
    if options.importance == "taylor" and gradients is not None:
        accumulate_gradients(model, gradients)
    pruner.step()
    model.zero_grad(set_to_none=True)
    return model


def prune_model(
    loaded: LoadedModel,
    *,
    options: PruneOptions | None = None,
    target_macs: float | None = None,
    gradients: GradientBatches | None = None,
) -> tuple[LoadedModel, PruneOptions]:
    """A pruned copy of `loaded` (spec with the new widths, card renamed) and the options in effect.

    With `target_macs` the ratio is searched so that that fraction of the MACs remains (within 1%, else an
    error past 3%), falling back to global ranking, then to finer rounding, when steps are too coarse; otherwise
    `options.ratio` is used. The returned options carry the ratio used. `loaded` is left untouched.
    """
    chosen = options or PruneOptions()
    size = loaded.card.input_size

    def pruner(opts: PruneOptions) -> Callable[[nn.Module, float], nn.Module]:
        return lambda model, ratio: prune_channels(model, size, dataclasses.replace(opts, ratio=ratio), gradients)

    if target_macs is None:
        model, ratio = pruner(chosen)(copy.deepcopy(loaded.model), chosen.ratio), chosen.ratio
    else:
        attempts = _fallbacks(chosen)
        for index, chosen in enumerate(attempts):
            try:
                macs = lambda m: summarize(m, loaded.card).macs  # noqa: E731
                model, ratio = search_ratio(loaded.model, target_macs, pruner(chosen), macs)
                break
            except EdgeresError:
                if index == len(attempts) - 1:
                    raise
    spec = loaded.spec.replace(channels=channels_of(model))
    effective = dataclasses.replace(chosen, ratio=ratio)
    return LoadedModel(model.eval(), loaded.card.replace(arch=spec.name), spec), effective


def _fallbacks(options: PruneOptions) -> list[PruneOptions]:
    """The options to try for a MAC target, in order: as given, global, then halving round_to (to none)."""
    attempts, round_to = [], options.round_to
    while True:
        for global_pruning in dict.fromkeys((options.global_pruning, True)):
            attempts.append(dataclasses.replace(options, global_pruning=global_pruning, round_to=round_to))
        if not round_to or round_to <= 1:
            return attempts
        round_to = round_to // 2 if round_to > 2 else None


def accumulate_gradients(model: nn.Module, gradients: GradientBatches) -> None:
    model.zero_grad(set_to_none=True)
    for images, labels in gradients():
        nn.functional.cross_entropy(model(images), labels).backward()  # type: ignore[no-untyped-call]
