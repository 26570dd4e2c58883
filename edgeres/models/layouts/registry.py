"""Every layout edgeres reads, in the order they are tried (the most specific first)."""

from __future__ import annotations

from . import cifar_hub, cifar_repos, huggingface, native, preact
from .layout import Layout, StateDict

LAYOUTS: tuple[Layout, ...] = (
    huggingface.LAYOUT,
    preact.LAYOUT,
    cifar_hub.LAYOUT,
    cifar_repos.LAYOUT,
    native.LAYOUT,
)


def detect(sd: StateDict) -> Layout:
    """The first layout whose keys these are (the native one when no other matches)."""
    return next(layout for layout in LAYOUTS if layout.matches(sd))
