"""The width search of latency pruning, unit-tested on a fake latency table (no model, nothing measured)."""

from __future__ import annotations

import pytest

from edgeres.latency.layers import ConvLayer
from edgeres.latency.setting import LatencySetting
from edgeres.prune.groups import Group
from edgeres.prune.latency_goal import LatencyTarget
from edgeres.prune.width_search import OutOfReach, choose_or_fail, choose_widths


class FakeLatency:
    """Each group's milliseconds fall linearly with its width, below `floor` (a width no faster under it)."""

    def __init__(self, per_group_ms: dict[str, float], full: dict[str, int], floor: dict[str, int], fixed: float):
        self.per_group_ms, self.full, self.floor, self.fixed = per_group_ms, full, floor, fixed
        self.layers = [ConvLayer(f"{root}.conv", None, width, width) for root, width in full.items()]  # type: ignore[arg-type]

    @property
    def full_ms(self) -> float:
        return self.predict_ms(dict(self.full))

    def predict_ms(self, chosen: dict[str, int]) -> float:
        return self.fixed + sum(
            ms * max(chosen[root], self.floor[root]) / self.full[root] for root, ms in self.per_group_ms.items()
        )

    def saving_ms(self, chosen: dict[str, int], widths: dict[str, tuple[int, int]], group: Group, width: int) -> float:
        return self.predict_ms(chosen) - self.predict_ms({**chosen, group.root: width})


def _group(root: str, width: int, importance: float) -> Group:
    return Group(root, width, [importance] * width, [f"{root}.conv"], [f"{root}.conv"])


GROUPS = [_group("cheap", 64, 1.0), _group("precious", 64, 10.0), _group("stuck", 64, 0.1)]
CANDIDATES = {g.root: list(range(8, 65, 8)) for g in GROUPS}
# "stuck" is cheap to prune but no narrower width of it is faster: the search must leave it alone.
FAKE = FakeLatency({"cheap": 4.0, "precious": 4.0, "stuck": 4.0}, {g.root: 64 for g in GROUPS},
                   {"cheap": 8, "precious": 8, "stuck": 64}, fixed=2.0)  # fmt: skip


def test_the_search_reaches_the_target_where_latency_falls_and_prunes_the_cheaper_group_first():
    target = 0.8 * FAKE.full_ms
    chosen, predicted = choose_widths({"int8": FAKE}, GROUPS, CANDIDATES, {"int8": target})
    assert predicted["int8"] <= target
    assert chosen["stuck"] == 64  # narrower widths buy nothing there
    assert chosen["cheap"] < chosen["precious"] == 64  # the least important channels that buy time go first


def test_a_target_below_what_any_width_reaches_is_out_of_reach_with_the_best_prediction():
    goal = LatencyTarget(0.3, LatencySetting())
    says = r"could not prune to 30%.*choose a --target-latency of 0\.\d\d or more"  # higher: the way that reaches
    with pytest.raises(OutOfReach, match=says) as caught:
        choose_or_fail({"int8": FAKE}, GROUPS, CANDIDATES, goal, {"int8": FAKE.full_ms})
    floor_ms = 2.0 + 4.0 * 8 / 64 * 2 + 4.0
    assert caught.value.ratios["int8"] == pytest.approx(floor_ms / FAKE.full_ms)
