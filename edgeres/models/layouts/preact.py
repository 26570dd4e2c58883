"""Pre-activation ResNets as kuangliu/pytorch-cifar saves them: a stem conv with no norm after it
(`conv1.weight` but no `bn1.*`), blocks that normalize their input (`layerN.M.bn1` as wide as the block's
input), bare 1x1 `shortcut.0` projections and a `linear` classifier."""

from __future__ import annotations

from ..spec import ArchSpec
from .cifar_repos import card_hints
from .layout import Layout, StateDict


def _matches(sd: StateDict) -> bool:
    if "conv1.weight" not in sd or "bn1.weight" in sd or "layer1.0.bn1.weight" not in sd:
        return False
    # a block's first norm sees the block's input, not its first conv's output
    return int(sd["layer1.0.bn1.weight"].shape[0]) == int(sd["layer1.0.conv1.weight"].shape[1])


def _source(spec: ArchSpec) -> str:
    return "pre-activation ResNet (kuangliu/pytorch-cifar PreActResNet)"


LAYOUT = Layout(
    key="preact",
    source=_source,
    matches=_matches,
    family="preact",
    free_widths=True,
    card_hints=card_hints,
)
