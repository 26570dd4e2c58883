"""Conv latencies at any widths within measured grids: the table read by bilinear interpolation.

Standalone convs do not add up to a network on every runtime (onnxruntime inserts layout transposes around
8-channel int8 convs that a 16-channel network never has, see edgeres.prune.group_latency), so what pruning
takes from here is how a conv's time bends when both its channel counts change at once; what narrowing one
group costs or saves is measured on whole networks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import EdgeresError
from ..progress import Progress
from .layers import ConvLayer
from .setting import LatencySetting
from .table import LatencyTable

GRID_POINTS = 6  # per channel axis; every candidate width is measured when there are at most MAX_EXACT
MAX_EXACT = 8
Widths = Mapping[str, tuple[int, int]]  # conv name -> (in channels, out channels)


def grid(candidates: list[int]) -> list[int]:
    """The widths to measure along one axis: all candidates when few, else GRID_POINTS spread evenly."""
    values = sorted(set(candidates))
    if len(values) <= MAX_EXACT:
        return values
    picks = {round(i * (len(values) - 1) / (GRID_POINTS - 1)) for i in range(GRID_POINTS)}
    return [values[i] for i in sorted(picks)]


@dataclass
class LatencyModel:
    """Table times for `layers` at any widths within their measured grids."""

    table: LatencyTable
    layers: dict[str, ConvLayer]
    grids: dict[str, tuple[list[int], list[int]]]

    @property
    def setting(self) -> LatencySetting:
        return self.table.setting

    def conv_us(self, name: str, cin: int, cout: int) -> float:
        layer, (cins, couts) = self.layers[name], self.grids[name]
        return self.table.interpolate(layer.shape, cins, couts, cin, cout)

    def interaction_us(self, name: str, cin: int, cout: int) -> float:
        """What narrowing both sides of a conv saves beyond narrowing each side alone (negative: less saved);
        zero when only one side changed."""
        layer = self.layers[name]
        full_in, full_out = layer.cin, layer.cout
        return (
            self.conv_us(name, cin, cout)
            - self.conv_us(name, full_in, cout)
            - self.conv_us(name, cin, full_out)
            + self.conv_us(name, full_in, full_out)
        )

    def describe(self) -> dict[str, Any]:
        return {"probes_measured": self.table.measured, "table": str(self.table.path)}


def build_latency_model(
    layers: list[ConvLayer],
    candidates: Mapping[str, tuple[list[int], list[int]]],
    setting: LatencySetting,
    *,
    table: LatencyTable | None = None,
    progress: Progress | None = None,
) -> LatencyModel:
    """Measure (or read from the cache) every layer's grid of candidate widths."""
    by_name = {layer.name: layer for layer in layers}
    grouped = next((layer for layer in layers if layer.shape.groups > 1), None)
    if grouped is not None:
        raise EdgeresError(
            f"{grouped.name} is a grouped conv (groups={grouped.shape.groups}): the latency model measures dense "
            "convs only; prune this model with --target-macs or --ratio"
        )
    table = table or LatencyTable(setting)
    grids = {name: (grid(cins), grid(couts)) for name, (cins, couts) in candidates.items()}
    wanted = {
        (by_name[name].shape, cin, cout) for name, (cins, couts) in grids.items() for cin in cins for cout in couts
    }
    table.ensure(wanted, progress)
    return LatencyModel(table, by_name, grids)
