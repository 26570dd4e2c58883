"""The names edgeres' builders use, which are the sources' own: torchvision's ResNets, timm's (the same names
plus `conv1.N` deep stems, `downsample.1/2` average-pool projections, `se.*` attention) and He et al.'s CIFAR
ResNets (`shortcut`, `linear`, as akamaster/pytorch_resnet_cifar10 saves them)."""

from __future__ import annotations

from ..spec import ArchSpec
from .layout import Layout, StateDict


def _matches(sd: StateDict) -> bool:
    return True  # the fallback: infer_spec refuses what fits no family


def timm_only(spec: ArchSpec) -> bool:
    """Whether the spec has a switch only timm's ResNets have (torchvision's keys are a subset of timm's)."""
    return spec.stem == "deep" or spec.downsample == "avg" or bool(spec.attention) or spec.stem_pool != "max"


def _source(spec: ArchSpec) -> str:
    if spec.family == "cifar":
        return "He et al. CIFAR ResNet (akamaster/pytorch_resnet_cifar10 layout)"
    if timm_only(spec):
        return "timm"
    return "torchvision (timm saves the same keys)"


LAYOUT = Layout(key="native", source=_source, matches=_matches)
