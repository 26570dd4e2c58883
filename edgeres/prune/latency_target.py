"""Channel counts chosen by measured latency: prune where the target runtime gets faster, not where MACs fall.

What narrowing each group costs or saves is measured on whole networks in the runtime and precision that
ship (edgeres.prune.group_latency). Every group (channels coupled by residual adds) starts at full width, and
the width search (edgeres.prune.width_search) narrows groups, one candidate width (multiples of a measured
rounding) at a time, where the predicted latency saved per unit of importance is highest; a group whose
narrower widths are no faster on this target is left alone, whatever its MACs. Importance is torch-pruning's
score, normalised per group, times the convs the group narrows: a residual stream's channel saves time in
every block it runs through and costs accuracy in every block too. Once the target is predicted, the pruned
network is measured beside the unpruned one, and a miss (above the target, or well below it: accuracy spent
for nothing asked) rescales the prediction and chooses again. When the best measured widths still miss and
training images are given, whole residual blocks go too (edgeres.prune.latency_depth) and widths are chosen
again for the shallower network, against the unpruned network's latency.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from dataclasses import replace as dataclasses_replace
from typing import Any

import numpy as np

from ..latency.layers import conv_layers
from ..latency.model import build_latency_model
from ..latency.rounding import RoundingChoice, choose_rounding
from ..latency.setting import PRECISIONS
from ..latency.table import LatencyTable
from ..latency.whole import whole_model_ms
from ..models import LoadedModel
from ..models.channels import channels_of
from ..progress import Progress
from .depth import droppable_blocks, normalised
from .group_latency import NetworkLatency, group_kind, measure_group_effects
from .groups import Group, apply_widths, candidate_widths, conv_candidates, find_groups
from .latency_depth import DepthChoice, choose_drops
from .latency_goal import LatencyTarget
from .options import PruneOptions
from .structured import GradientBatches
from .width_search import OutOfReach, choose_or_fail

ROUNDS = 3  # choices checked by measuring the pruned network; a miss is rescaled and chosen again
CHECK_SLACK = 0.01  # a measured ratio this close above the target counts as on target
JOINT_FRACTION = 0.5  # every group narrowed to about this fraction at once: the prediction's first scale
UNDERSHOOT = 0.05  # a measured ratio this far below the target is re-chosen with less pruning
NEAR = 0.10  # a measured miss within this share of the target is noise (a warning); beyond, out of reach


@dataclass
class LatencyPlan:
    """What `--target-latency` decided and predicted; part of the prune report."""

    target: float
    setting: str
    rounding: dict[str, Any]
    widths: dict[str, int]  # group root -> chosen width
    caps: dict[str, float] = field(default_factory=dict)  # other precision -> the fraction it must not exceed
    chosen_round: int = 0  # the checked choice kept (1-based): on target and least pruned
    warning: str | None = None  # set when no checked choice met the target
    # Each choice: predicted (by the model before that network was measured) and measured, both precisions.
    rounds: list[dict[str, Any]] = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)  # precision -> what the prediction was built from
    channels_removed: float = 0.0  # fraction of the prunable channels removed
    depth: dict[str, Any] = field(default_factory=dict)  # residual blocks removed: edgeres.prune.latency_depth


def _meets(goal: LatencyTarget, ratios: dict[str, float]) -> bool:
    return all(ratios[p] <= f * (1 + CHECK_SLACK) for p, f in goal.targets().items())


def _best_round(goal: LatencyTarget, ratios: list[dict[str, float]]) -> int:
    """The round to keep: of those on target, the least pruned (its main ratio highest); else the fastest."""
    main = goal.setting.precision
    meeting = [i for i, r in enumerate(ratios) if _meets(goal, r)]
    if meeting:
        return max(meeting, key=lambda i: ratios[i][main])
    return min(range(len(ratios)), key=lambda i: ratios[i][main])


def _round_record(
    attempt: int,
    chosen: dict[str, int],
    predictions: dict[str, tuple[float, float]],
    check: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """One checked choice: predicted (before that network was measured) and measured, for each precision."""
    record: dict[str, Any] = {"round": attempt, "widths": dict(chosen)}
    for precision, (before, after) in predictions.items():
        measured = check[precision]
        record[precision] = {
            "predicted_ms": {"before": before, "after": after, "ratio": after / before},
            "measured_ms": {
                "before": measured["unpruned"],
                "after": measured["pruned"],
                "ratio": measured["pruned"] / measured["unpruned"],
            },
            "error": (after / before) / (measured["pruned"] / measured["unpruned"]) - 1,
        }
    return record


def _latency_models(
    loaded: LoadedModel,
    goal: LatencyTarget,
    options: PruneOptions,
    groups: list[Group],
    gradients: GradientBatches | None,
    progress: Progress | None,
) -> tuple[dict[str, NetworkLatency], dict[str, list[int]], RoundingChoice]:
    """Latency predictors for int8 and fp32, each group's candidate widths, and the rounding they use."""
    layers = conv_layers(loaded.model, loaded.card.input_size)
    others = [p for p in PRECISIONS if p != goal.setting.precision]
    settings = [goal.setting, *(dataclasses_replace(goal.setting, precision=p) for p in others)]
    tables = {s.precision: LatencyTable(s) for s in settings}
    if goal.round_to:
        rounding = RoundingChoice(goal.round_to, "", {})
    else:
        rounding = choose_rounding(layers, tables[goal.setting.precision])
    candidates = {g.root: candidate_widths(g, rounding.multiple, options.max_layer_ratio) for g in groups}
    per_conv = conv_candidates(layers, groups, candidates)
    by_name = {layer.name: layer for layer in layers}
    kinds = {g.root: group_kind(g.root, g.width, g.inputs, g.outputs, by_name) for g in groups}
    representatives = {kind: (root, candidates[root]) for root, kind in reversed(kinds.items())}
    prune = lambda chosen: apply_widths(loaded, options, chosen, gradients)  # noqa: E731
    joint = {g.root: min(candidates[g.root], key=lambda w: abs(w - JOINT_FRACTION * g.width)) for g in groups}
    effects = measure_group_effects(loaded, representatives, joint, settings, prune, progress)
    models = {}
    for s in settings:
        convs = build_latency_model(layers, per_conv, s, table=tables[s.precision], progress=progress)
        model = NetworkLatency(effects[s.precision], convs, groups, kinds, layers)
        model.rescale(joint, effects[s.precision].joint_ms / effects[s.precision].full_ms)
        models[s.precision] = model
    return models, candidates, rounding


@dataclass(frozen=True)
class Reference:
    """What the target is a fraction of, when widths are chosen for a shallower copy of it (`ratio`: the copy's
    measured latency over the reference's, per precision)."""

    model: LoadedModel
    ratio: dict[str, float]


def _prune_widths(
    loaded: LoadedModel,
    goal: LatencyTarget,
    options: PruneOptions,
    gradients: GradientBatches | None,
    progress: Progress | None,
    reference: Reference | None = None,
) -> tuple[LoadedModel, LatencyPlan]:
    """Widths chosen, checked and refined (see the module's docstring); the target is a fraction of
    `reference`'s latency when given, else of `loaded`'s. Raises OutOfReach when no choice is predicted there."""
    groups = find_groups(loaded, options, gradients)
    models, candidates, rounding = _latency_models(loaded, goal, options, groups, gradients, progress)
    ratio = reference.ratio if reference is not None else {p: 1.0 for p in models}
    reference_ms = {p: m.effects.full_ms / ratio[p] for p, m in models.items()}
    plan = LatencyPlan(goal.fraction, goal.setting.label(), asdict(rounding), {}, dict(goal.caps))
    tried: list[tuple[dict[str, int], Any, dict[str, float]]] = []  # (widths, model, measured ratios)
    for attempt in range(1, ROUNDS + 1):
        try:
            chosen = choose_or_fail(models, groups, candidates, goal, reference_ms)
        except OutOfReach:
            if not tried:
                raise
            break  # rescaled by a measurement, the model sees no way there: keep the best choice measured
        pruned = apply_widths(loaded, options, chosen, gradients)
        if progress is not None:
            progress("checking the choice", attempt - 1, ROUNDS)
        net = LoadedModel(pruned, loaded.card, loaded.spec.replace(channels=channels_of(pruned)))
        versus = reference.model if reference is not None else loaded
        settings = [m.convs.setting for m in models.values()]
        check = whole_model_ms({"unpruned": versus, "pruned": net}, settings, anchor="unpruned")
        predictions = {p: (reference_ms[p], m.predict_ms(chosen)) for p, m in models.items()}
        plan.rounds.append(_round_record(attempt, chosen, predictions, check))
        ratios = {p: check[p]["pruned"] / check[p]["unpruned"] for p in check}
        tried.append((chosen, pruned, ratios))
        if _meets(goal, ratios) and ratios[goal.setting.precision] >= goal.fraction * (1 - UNDERSHOOT):
            break  # on target: pruning more would cost accuracy for nothing asked
        for precision, model in models.items():
            model.rescale(chosen, ratios[precision] / ratio[precision])
    index = _best_round(goal, [ratios for _, _, ratios in tried])
    chosen, pruned, ratios = tried[index]
    plan.chosen_round, plan.widths = index + 1, chosen
    if not _meets(goal, ratios):
        plan.warning = (
            f"after {len(tried)} measured choices the pruned model still runs at "
            f"{ratios[goal.setting.precision]:.0%} of the unpruned {goal.setting.precision} latency (target "
            f"{goal.fraction:.0%}); a --target-latency of {ratios[goal.setting.precision]:.2f} or more is within "
            "reach, or check the machine is not busy"
        )
    plan.models = {
        p: {"scale": m.scale, "unpruned_ms": m.effects.full_ms, "effects_ms": m.effects.effects} | m.convs.describe()
        for p, m in models.items()
    }
    plan.channels_removed = 1 - sum(chosen.values()) / max(1, sum(g.width for g in groups))
    spec = loaded.spec.replace(channels=channels_of(pruned))
    return LoadedModel(pruned, loaded.card.replace(arch=spec.name), spec), plan


def _kept_ratios(plan: LatencyPlan) -> dict[str, float]:
    final = plan.rounds[plan.chosen_round - 1]
    return {p: final[p]["measured_ms"]["ratio"] for p in PRECISIONS if p in final}


def prune_to_latency(
    loaded: LoadedModel,
    goal: LatencyTarget,
    options: PruneOptions,
    *,
    gradients: GradientBatches | None = None,
    images: np.ndarray | None = None,
    progress: Progress | None = None,
) -> tuple[LoadedModel, PruneOptions, LatencyPlan]:
    """A pruned copy of `loaded` that runs in `goal.fraction` x the unpruned model's latency, measured on this
    machine in `goal.setting` (fp32 and int8 are both modelled and reported; the setting's precision decides).
    Narrower widths first; when they cannot get there and `images` (N x H x W x 3 uint8) are given, whole
    residual blocks are removed too (edgeres.prune.depth), then widths chosen again for the shallower network.
    Raises EdgeresError when neither is predicted to get there."""
    depth = images is not None and goal.allow_depth
    try:
        pruned, plan = _prune_widths(loaded, goal, options, gradients, progress)
    except OutOfReach as exc:
        deeper = _with_depth(loaded, goal, options, gradients, images, exc.ratios, progress) if depth else None
        if deeper is None:
            raise
        pruned, plan = deeper
    else:
        if plan.warning is not None and depth:
            deeper = _with_depth(loaded, goal, options, gradients, images, _kept_ratios(plan), progress)
            if deeper is not None and _better(goal, deeper[1], plan):
                pruned, plan = deeper
    if plan.warning is not None and images is None and goal.allow_depth and droppable_blocks(loaded):
        plan.warning += "; with images (--data or --finetune) whole residual blocks could be removed too"
    effective = dataclasses_replace(options, ratio=plan.channels_removed, round_to=plan.rounding["multiple"])
    return pruned, effective, plan


def _better(goal: LatencyTarget, plan: LatencyPlan, than: LatencyPlan) -> bool:
    """Whether `plan` is the one to keep: on target where `than` is not, else the faster of two misses."""
    mine, theirs = _kept_ratios(plan), _kept_ratios(than)
    if _meets(goal, mine) != _meets(goal, theirs):
        return _meets(goal, mine)
    return mine[goal.setting.precision] < theirs[goal.setting.precision]


def _with_depth(
    loaded: LoadedModel,
    goal: LatencyTarget,
    options: PruneOptions,
    gradients: GradientBatches | None,
    images: np.ndarray | None,
    widths_only: dict[str, float],
    progress: Progress | None,
) -> tuple[LoadedModel, LatencyPlan] | None:
    """Blocks removed to make up what widths alone left (`widths_only`: their best ratios), then widths chosen
    for the shallower network against `loaded`'s latency; None when no block can go."""
    needs = {p: widths_only[p] - f for p, f in goal.targets().items() if widths_only[p] > f}
    if images is None:
        return None
    others = [p for p in PRECISIONS if p != goal.setting.precision]
    settings = [goal.setting, *(dataclasses_replace(goal.setting, precision=p) for p in others)]
    choice = choose_drops(loaded, needs, settings, normalised(images, loaded.card), progress)
    if choice is None:
        return None
    base, depth = choice
    depth.widths_only = widths_only
    pruned, plan = base, None
    if not _meets(goal, depth.measured):
        try:
            pruned, plan = _prune_widths(base, goal, options, gradients, progress, Reference(loaded, depth.measured))
        except OutOfReach:
            pruned = base  # no narrower widths predicted to help the shallower network: it stands alone
    if plan is None:
        plan = _depth_only_plan(goal, depth, options.round_to or 1)
    plan.depth = asdict(depth)
    return pruned, plan


def _depth_only_plan(goal: LatencyTarget, depth: DepthChoice, multiple: int) -> LatencyPlan:
    """The plan when the shallower network stands alone (no width narrowed)."""
    rounding = asdict(RoundingChoice(multiple, "", {}))
    plan = LatencyPlan(goal.fraction, goal.setting.label(), rounding, {}, dict(goal.caps))
    plan.rounds, plan.chosen_round = [depth.round_record()], 1
    reached = depth.measured[goal.setting.precision]
    if not _meets(goal, depth.measured) and reached <= goal.fraction * (1 + NEAR):
        plan.warning = (
            f"without blocks {', '.join(depth.removed)} the model runs at {reached:.0%} of the unpruned "
            f"{goal.setting.precision} latency (target {goal.fraction:.0%}); a --target-latency of {reached:.2f} "
            "or more is within reach, or check the machine is not busy"
        )
    elif not _meets(goal, depth.measured):  # far off: an error, as without images (width_search.OutOfReach)
        raise OutOfReach(
            f"could not prune to {goal.fraction:.0%} of the measured {goal.setting.precision} latency "
            f"({goal.setting.label()}): without blocks {', '.join(depth.removed)} and no width narrowed further "
            f"the model runs at {reached:.0%}; choose a --target-latency of {reached:.2f} or more",
            dict(depth.measured),
        )
    return plan
