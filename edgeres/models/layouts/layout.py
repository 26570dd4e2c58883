"""Layout: how one source (a library, a model zoo, a repository) names a ResNet's weights, as data.

A layout recognizes its keys, renames them onto the names edgeres' builders use, and says which spec family
they are, whether stage widths are a setting of the source (read from the shapes) and what preprocessing the
source trains with when the file does not say.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..spec import ArchSpec

StateDict = Mapping[str, torch.Tensor]


def _same(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return sd


def _no_hints(spec: ArchSpec) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Layout:
    """One source's naming. `source` names it for a given spec (`edgeres inspect` shows it)."""

    key: str
    source: Callable[[ArchSpec], str]
    matches: Callable[[StateDict], bool]
    family: str | None = None  # None: infer_spec chooses from the keys
    rename: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] = _same
    free_widths: bool = False  # widths are the source's setting, not pruning: read them from the shapes
    card_hints: Callable[[ArchSpec], dict[str, Any]] = field(default=_no_hints)
    without_config: str = ""  # what `source` adds when the source's config.json is not beside the weights


def renamed(sd: dict[str, torch.Tensor], inner: tuple[str, str], head: tuple[str, str]) -> dict[str, torch.Tensor]:
    """`sd` with `inner[0]` replaced by `inner[1]` within every key and a leading `head[0]` by `head[1]`."""
    out = {}
    for key, value in sd.items():
        key = key.replace(*inner)
        out[head[1] + key[len(head[0]) :] if key.startswith(head[0]) else key] = value
    return out


def stage_blocks(sd: StateDict, block_key: str = "layer{stage}.{block}.conv1.weight") -> list[int]:
    """Blocks per stage, counting `layer1.0`, `layer1.1`, ... until a stage or block is missing."""
    layers: list[int] = []
    while block_key.format(stage=len(layers) + 1, block=0) in sd:
        stage = len(layers) + 1
        count = 0
        while block_key.format(stage=stage, block=count) in sd:
            count += 1
        layers.append(count)
    return layers
