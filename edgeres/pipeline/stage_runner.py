"""Runs pipeline stages against the manifest: skips what is current, records what ran."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._io import sha256_file
from ..options import LoadOptions
from ..progress import Progress
from .config import PipelineConfig
from .manifest import Manifest, stage_key


class StageRunner:
    """Runs stages against the manifest: skip what is current, record what ran."""

    def __init__(self, config: PipelineConfig, out: Path, progress: Progress) -> None:
        self.config, self.out, self.progress = config, out, progress
        self.manifest = Manifest(out / "manifest.json", config.sections)
        self.ran: list[str] = []
        self.skipped: list[str] = []

    def stage(
        self,
        name: str,
        settings: dict[str, Any],
        inputs: list[Path],
        job: Callable[[], tuple[list[Path], dict[str, Any]]],
    ) -> dict[str, Any]:
        hashes = {str(p): sha256_file(p) for p in inputs}
        key = stage_key(name, settings, hashes)
        record = self.manifest.done(name, key)
        if record is not None:
            self.skipped.append(name)
            return record
        self.progress(name, 0, 1)
        start = time.perf_counter()
        outputs, meta = job()
        record = self.manifest.record(name, key, hashes, outputs, time.perf_counter() - start, meta)
        self.progress(name, 1, 1)
        self.ran.append(name)
        return record


def load_options(config: PipelineConfig) -> LoadOptions:
    """How the pipeline reads its checkpoint ([model] arch and trust)."""
    model = config["model"]
    return LoadOptions(arch=model["arch"] or None, trust=model["trust"])
