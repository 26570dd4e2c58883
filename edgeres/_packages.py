"""Which distributions this Python environment has installed, and their versions."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable


def installed(names: Iterable[str]) -> dict[str, str | None]:
    """{distribution: its version, or None when it is not installed}."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found
