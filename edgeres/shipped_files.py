"""Data files shipped inside the package (edgeres._shipped): the repository's top-level calibration/ and
targets/ folders."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def shipped(kind: str) -> Traversable:
    """The shipped folder `kind` ("calibration" or "targets") as an importlib resource."""
    if kind not in ("calibration", "targets"):
        raise ValueError(f"unknown shipped folder {kind!r}")
    return files(f"edgeres._shipped.{kind}")
