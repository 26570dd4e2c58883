"""What every step of one deploy run needs, in one object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..remote.targets import Target
from .journal import Journal
from .settings import DeploySettings


@dataclass
class Run:
    model: Path
    files: Path  # where the candidate files are made
    target: Target
    available: list[str]  # the runtimes the target has that run exported files
    settings: DeploySettings
    notes: list[str]  # what was left out, and why
    journal: Journal
    recipe: str  # the int8 recipe target fit for the target's CPU
