"""`edgeres inspect` as a library call: card, spec, size and compute of a checkpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .card import ModelCard
from .models import ArchSpec, load_model
from .models.loader import weights_file
from .options import LoadOptions
from .summary import ModelSummary, summarize


@dataclass
class InspectReport:
    path: str
    file_bytes: int
    card: ModelCard
    spec: ArchSpec
    summary: ModelSummary

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "file_bytes": self.file_bytes,
            "card": self.card.to_dict(),
            "spec": self.spec.to_dict(),
            **self.summary.to_dict(),
        }


def inspect_checkpoint(path: str | os.PathLike[str], load: LoadOptions | None = None) -> InspectReport:
    """Load `path` strictly (as `load` says) and summarise it. Raises the loader's EdgeresErrors."""
    loaded = load_model(path, load)
    summary = summarize(loaded.model, loaded.card)
    file = weights_file(Path(path))
    return InspectReport(str(file), file.stat().st_size, loaded.card, loaded.spec, summary)
