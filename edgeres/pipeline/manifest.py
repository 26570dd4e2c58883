"""The run's manifest: what went in and came out of every stage (sha256), with versions, config and timing.

A stage is skipped when its key (its config and the hashes of its inputs) matches the manifest and its
outputs are still there, unchanged. The manifest is rewritten atomically after each stage, so an
interrupted run leaves a manifest of the stages that finished and no half-written artifact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .._io import sha256_file, write_text_atomic
from ..errors import OutputExistsError
from ..formats import registry as formats
from ..runtimes import registry as runtimes

SCHEMA = "edgeres.pipeline/1"
# What went into a run: the core, every format's converters and int8 engines, every runtime, numpy.
PACKAGES: tuple[str, ...] = tuple(
    dict.fromkeys(
        ("edgeres", "torch", "torchvision", "torch-pruning", *formats.packages(), *runtimes.packages(), "numpy")
    )
)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def stage_key(name: str, settings: dict[str, Any], inputs: dict[str, str]) -> str:
    blob = json.dumps({"stage": name, "settings": settings, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The pipeline manifest at `path`; None when it is absent, unreadable or not a pipeline's (its schema)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("schema") == SCHEMA else None


def check_run_folder(folder: Path, force: bool) -> None:
    """A pipeline writes into a folder that is absent, empty or one of its own runs (a pipeline manifest in it);
    OutputExistsError for any other, unless `force`."""
    if force or not folder.exists():
        return
    if not folder.is_dir():
        raise OutputExistsError(f"{folder}: is a file; --out names the run's folder: choose another")
    if not any(folder.iterdir()) or read_manifest(folder / "manifest.json") is not None:
        return
    what = "manifest.json is not a pipeline's" if (folder / "manifest.json").exists() else "no pipeline ran there"
    raise OutputExistsError(
        f"{folder}: holds files that are not an edgeres pipeline run ({what}); choose an empty --out, or pass "
        "--force to write into it (files of the same names are replaced)"
    )


class Manifest:
    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        previous = read_manifest(path) or {}
        self.stages: dict[str, dict[str, Any]] = previous.get("stages", {})
        self.data: dict[str, Any] = {"schema": SCHEMA, "config": config, "versions": versions()}

    def done(self, name: str, key: str) -> dict[str, Any] | None:
        """The stage's record if it already ran with this key and its outputs are intact."""
        record = self.stages.get(name)
        if record is None or record["key"] != key:
            return None
        for path, digest in record["outputs"].items():
            if not Path(path).is_file() or sha256_file(path) != digest:
                return None
        return record

    def record(
        self, name: str, key: str, inputs: dict[str, str], outputs: list[Path], seconds: float, meta: dict[str, Any]
    ) -> dict[str, Any]:
        self.stages[name] = {
            "key": key,
            "inputs": inputs,
            "outputs": {str(p): sha256_file(p) for p in outputs},
            "seconds": seconds,
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "meta": meta,
        }
        self.save()
        return self.stages[name]

    def save(self) -> None:
        text = json.dumps({**self.data, "stages": self.stages}, indent=2, default=str)
        write_text_atomic(self.path, text, force=True)
