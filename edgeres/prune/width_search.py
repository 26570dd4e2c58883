"""The width search of latency pruning, pure: given latency predictors (one per precision) and the prunable
groups with their importance, choose each group's width so that every precision is predicted within its
target. Nothing is measured or pruned here (edgeres.prune.latency_target measures and refines the choice).

One step narrows one group to its next narrower candidate width that is predicted to be faster: the group
whose removed channels buy the most predicted latency per unit of cost (_cost). A width slower than its
neighbours is stepped over rather than a dead end; a group whose narrower widths are no faster is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..errors import EdgeresError
from ..latency.layers import ConvLayer
from .groups import Group, conv_widths
from .latency_goal import LatencyTarget


class WidthPredictor(Protocol):
    """Predicted latency (ms) of width choices ({group root: width}), as NetworkLatency gives it."""

    layers: list[ConvLayer]

    @property
    def full_ms(self) -> float: ...  # the unpruned network

    def predict_ms(self, chosen: dict[str, int]) -> float: ...

    def saving_ms(
        self, chosen: dict[str, int], widths: dict[str, tuple[int, int]], group: Group, width: int
    ) -> float: ...


def choose_widths(
    models: Mapping[str, WidthPredictor],
    groups: list[Group],
    candidates: dict[str, list[int]],
    targets: dict[str, float],
) -> tuple[dict[str, int], dict[str, float]]:
    """Greedy steps (see the module's docstring) until every precision in `targets` ({precision: ms}) is
    predicted within its target; a step's saving is summed over the precisions still above target, each as a
    fraction of its unpruned time. Returns widths and predictions."""
    chosen = {group.root: group.width for group in groups}
    predicted = {p: models[p].predict_ms(chosen) for p in targets}
    while any(predicted[p] > targets[p] for p in targets):
        above = [p for p in targets if predicted[p] > targets[p]]
        widths = conv_widths(models[above[0]].layers, groups, chosen)
        best: tuple[float, Group, int] | None = None
        for group in groups:
            narrower = sorted((w for w in candidates[group.root] if w < chosen[group.root]), reverse=True)
            steps = ((w, _saving(models, above, chosen, widths, group, w)) for w in narrower)
            step = next(((w, saved) for w, saved in steps if saved > 0), None)
            if step is not None and (best is None or step[1] / _cost(group, chosen[group.root], step[0]) > best[0]):
                best = (step[1] / _cost(group, chosen[group.root], step[0]), group, step[0])
        if best is None:
            break  # no narrower width is predicted to be faster anywhere
        chosen[best[1].root] = best[2]
        predicted = {p: models[p].predict_ms(chosen) for p in targets}
    return chosen, predicted


def _saving(
    models: Mapping[str, WidthPredictor],
    precisions: list[str],
    chosen: dict[str, int],
    widths: dict[str, tuple[int, int]],
    group: Group,
    width: int,
) -> float:
    """Predicted saving of one step, summed over `precisions` as fractions of each one's unpruned time."""
    return sum(models[p].saving_ms(chosen, widths, group, width) / models[p].full_ms for p in precisions)


def _cost(group: Group, width: int, narrower: int) -> float:
    """The accuracy a step is taken to cost: the removed channels' importance, times the convs they feed, over
    the fraction of the group left (the last channels of a group are worth more than its scores say: a residual
    stream at an eighth of its width broke resnet18_cifar10 to chance level)."""
    removed = group.scores[group.width - width : group.width - narrower]
    touched = len({*group.inputs, *group.outputs})
    return max(sum(removed) * touched / (narrower / group.width), 1e-9)


class OutOfReach(EdgeresError):
    """No width choice is predicted to reach the target; `ratios` are the narrowest useful widths' predictions."""

    def __init__(self, message: str, ratios: dict[str, float]) -> None:
        super().__init__(message)
        self.ratios = ratios


def choose_or_fail(
    models: Mapping[str, WidthPredictor],
    groups: list[Group],
    candidates: dict[str, list[int]],
    goal: LatencyTarget,
    reference_ms: dict[str, float],
) -> dict[str, int]:
    """The predicted-best widths for every target of `goal` (fractions of `reference_ms`, in the models' own
    milliseconds); OutOfReach when no choice is predicted there."""
    targets = {p: f * reference_ms[p] for p, f in goal.targets().items()}
    chosen, predicted = choose_widths(models, groups, candidates, targets)
    ratios = {p: predicted[p] / reference_ms[p] for p in targets}
    for p in (p for p in targets if predicted[p] > targets[p] * 1.001):
        raise OutOfReach(
            f"could not prune to {goal.targets()[p]:.0%} of the measured {p} latency "
            f"({reference_ms[p]:.3f} ms, {goal.setting.label()}): the narrowest useful widths are "
            f"predicted at {ratios[p]:.0%}; the rest of the time is in layers "
            f"that narrower widths do not speed up there: choose a --target-latency of {ratios[p]:.2f} or more",
            ratios,
        )
    return chosen
