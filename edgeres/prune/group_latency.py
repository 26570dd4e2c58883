"""What narrowing each pruning group does to the whole network's latency, measured on whole networks.

A conv timed alone is not a conv in a network: measured on an AVX2-only EPYC (onnxruntime 1.32, 2 threads),
resnet20 int8 with its 16-channel stage narrowed to 8 ran *slower* (0.56 vs 0.40 ms) although the 8-channel
conv alone is no slower than the 16-channel one: onnxruntime keeps 16-channel int8 convs in NHWC but wraps each
8-channel one in transposes (profile: Transpose 13 -> 80 us). Such effects only show in a network, so each group
is narrowed alone, in the real network, exported and quantized as it ships, and timed beside the unpruned one.

Groups of one kind (the same conv shapes and widths, e.g. the second block of each stage's inner channels)
share one measurement; widths between measured ones are interpolated. Results are cached per architecture,
setting and machine in $EDGERES_CACHE_DIR/latency.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import cache_dir, read_cache_json, write_cache_json
from ..latency.layers import ConvLayer
from ..latency.model import LatencyModel
from ..latency.setting import LatencySetting
from ..latency.table import machine_key
from ..latency.whole import whole_model_ms
from ..models import LoadedModel
from ..models.channels import channels_of
from ..progress import Progress
from .groups import Group, conv_widths

NETWORKS_PER_KIND = 4  # narrower widths measured per group kind (each is a network export, ~4 s here)
GroupPruner = Callable[[dict[str, int]], Any]  # {group root: width} -> the network with that group narrowed


@dataclass
class GroupEffects:
    """One precision's measurements: the unpruned network's time and each group kind's change by width."""

    full_ms: float
    effects: dict[str, dict[int, float]]  # kind -> width -> ms added (negative: saved) narrowing one group
    joint_ms: float = 0.0  # the network with every group narrowed at once (`joint` widths), 0 if not measured

    def delta_ms(self, kind: str, width: int) -> float:
        measured = self.effects[kind]
        widths = sorted(measured)
        return float(np.interp(width, widths, [measured[w] for w in widths]))


def group_kind(root: str, width: int, inputs: list[str], outputs: list[str], layers: dict[str, ConvLayer]) -> str:
    """Groups with the same kind narrow the same conv shapes at the same widths (the root's name aside)."""
    parts = sorted(
        f"{side}:{layers[name].shape.key()}:{layers[name].cin}:{layers[name].cout}"
        for side, names in (("in", inputs), ("out", outputs))
        for name in names
    )
    return f"{width}|" + ",".join(parts)


def measure_group_effects(
    loaded: LoadedModel,
    kinds: dict[str, tuple[str, list[int]]],
    joint: dict[str, int],
    settings: list[LatencySetting],
    prune: GroupPruner,
    progress: Progress | None = None,
) -> dict[str, GroupEffects]:
    """{precision: GroupEffects} for `kinds` ({kind: (a group root of that kind, candidate widths)}), read from
    the cache or measured: one network per kind and grid width, and one with every group at its `joint` width
    (how far narrowing together departs from the sum of narrowing alone), all timed with the unpruned one."""
    path = _cache_path(loaded, kinds, joint, settings)
    cached = _read(path)
    if cached is not None:
        return cached
    model = prune(joint)
    joint_net = LoadedModel(model, loaded.card, loaded.spec.replace(channels=channels_of(model)))
    networks: dict[str, LoadedModel] = {"unpruned": loaded, "joint": joint_net}
    labels: dict[str, tuple[str, int]] = {}
    for kind, (root, widths) in kinds.items():
        full = max(widths)
        for width in _spread([w for w in widths if w < full]):
            model = prune({root: width})
            label = f"{root}@{width}"
            networks[label] = LoadedModel(model, loaded.card, loaded.spec.replace(channels=channels_of(model)))
            labels[label] = (kind, width)
    if progress is not None:
        progress(f"timing {len(networks)} networks", 0, 1)
    measured = whole_model_ms(networks, settings, anchor="unpruned")
    out = {}
    for precision, times in measured.items():
        effects: dict[str, dict[int, float]] = {kind: {max(w): 0.0} for kind, (_, w) in kinds.items()}
        for label, (kind, width) in labels.items():
            effects[kind][width] = times[label] - times["unpruned"]
        out[precision] = GroupEffects(times["unpruned"], effects, times["joint"])
    _write(path, out)
    return out


def _spread(widths: list[int]) -> list[int]:
    """At most NETWORKS_PER_KIND of `widths`, evenly spread and including the narrowest: each costs an export."""
    if len(widths) <= NETWORKS_PER_KIND:
        return widths
    picks = {round(i * (len(widths) - 1) / (NETWORKS_PER_KIND - 1)) for i in range(NETWORKS_PER_KIND)}
    return [widths[i] for i in sorted(picks)]


def _cache_path(
    loaded: LoadedModel, kinds: dict[str, tuple[str, list[int]]], joint: dict[str, int], settings: list[LatencySetting]
) -> Path:
    key = {
        "spec": loaded.spec.to_dict(),
        "input_size": list(loaded.card.input_size),
        "kinds": {kind: [root, widths] for kind, (root, widths) in sorted(kinds.items())},
        "joint": joint,
        "machines": [machine_key(setting) for setting in settings],
        "timing": 2,  # 2: ratios to the nearest anchor visit (edgeres.latency.timing); 1 was biased
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / "latency" / f"groups-{digest}.json"


def _read(path: Path) -> dict[str, GroupEffects] | None:
    data = read_cache_json(path)
    try:
        return {
            precision: GroupEffects(
                float(entry["full_ms"]),
                {kind: {int(w): float(ms) for w, ms in widths.items()} for kind, widths in entry["effects"].items()},
                float(entry["joint_ms"]),
            )
            for precision, entry in data.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):  # none yet (None), or of another shape
        return None


def _write(path: Path, effects: dict[str, GroupEffects]) -> None:
    data = {p: {"full_ms": e.full_ms, "effects": e.effects, "joint_ms": e.joint_ms} for p, e in effects.items()}
    write_cache_json(path, data)


@dataclass
class NetworkLatency:
    """Predicted latency of the network at any group widths: the unpruned network's measured time, plus each
    group's measured change, plus, for convs whose both sides narrow, the overlap the conv table says those
    two changes share (each was measured with the other side at full width). `scale` is applied to the sum of
    changes: set from the jointly narrowed network, then from each checked choice."""

    effects: GroupEffects
    convs: LatencyModel
    groups: list[Group]
    kinds: dict[str, str]  # group root -> kind
    layers: list[ConvLayer]
    scale: float = 1.0

    @property
    def full_ms(self) -> float:
        """The unpruned network's measured latency."""
        return self.effects.full_ms

    def predict_ms(self, chosen: dict[str, int]) -> float:
        change = sum(self.effects.delta_ms(self.kinds[g.root], chosen.get(g.root, g.width)) for g in self.groups)
        widths = conv_widths(self.layers, self.groups, chosen)
        overlap = sum(self.convs.interaction_us(name, *widths[name]) for name in widths) / 1000
        return self.effects.full_ms + self.scale * (change + overlap)

    def saving_ms(self, chosen: dict[str, int], widths: dict[str, tuple[int, int]], group: Group, width: int) -> float:
        """Predicted milliseconds saved by narrowing `group` from its chosen width to `width` (negative: slower)."""
        kind, old = self.kinds[group.root], chosen.get(group.root, group.width)
        saved = self.effects.delta_ms(kind, old) - self.effects.delta_ms(kind, width)
        for name in {*group.inputs, *group.outputs}:
            cin, cout = widths[name]
            new = (width if name in group.inputs else cin, width if name in group.outputs else cout)
            saved += (self.convs.interaction_us(name, cin, cout) - self.convs.interaction_us(name, *new)) / 1000
        return self.scale * saved

    def rescale(self, chosen: dict[str, int], measured_ratio: float) -> None:
        """After a checked choice: scale the changes so that this choice's prediction meets its measurement."""
        predicted = self.predict_ms(chosen) - self.effects.full_ms
        measured = (measured_ratio - 1) * self.effects.full_ms
        if predicted < 0 and measured < 0:
            self.scale = min(4.0, max(0.25, self.scale * measured / predicted))
