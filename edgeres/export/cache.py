"""Verified fp32 exports kept between runs, keyed by everything that decides the file.

`quantize` exports its fp32 source, and with `--optimize` the prepared model too, on every run. Users try
several targets, methods and levels on one checkpoint, and each run waited for the same export again
(resnet20 on 2 cores: ~6 s to ONNX, ~10 s to TFLite; larger models take minutes). A hit is copied out of the
cache, so another process evicting the entry never breaks a run. The key covers the weights, the module
tree, the card, the format and options, and the code that exports (edgeres' own sources and the exporting
libraries' versions), so an edit or an upgrade never reuses a stale file.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from .._io import cache_dir, damaged_cache_entry, sha256_file
from ..formats import registry
from ..models import LoadedModel
from .base import ExportOptions
from .run import export_model

HASH_CHARS = 16  # of the sha256 in an entry's name
KEEP = 8  # entries kept, most recently used first: a few models in two formats
KEEP_BYTES = 512 * 2**20  # and no more than this in all (a ResNet-50 fp32 file is ~100 MB)


def export_cached(loaded: LoadedModel, out: Path, fmt: str, options: ExportOptions | None = None) -> Path:
    """`loaded` exported to `out` (fmt, verified against PyTorch), from the cache when an identical export is
    there and whole (its name carries its sha256: a damaged entry is dropped with a warning and made again).
    Raises what export_model raises."""
    folder, key, suffix = cache_dir() / "exports", _key(loaded, fmt, options), registry.named(fmt).suffix
    for entry in sorted(folder.glob(f"{key}.*{suffix}")):
        try:
            shutil.copyfile(entry, out)
        except OSError:  # evicted meanwhile by another process, or no cache folder to read
            continue
        if sha256_file(out)[:HASH_CHARS] == entry.name[len(key) + 1 : -len(suffix)]:
            with contextlib.suppress(OSError):  # recently used; a read-only cache still serves
                entry.touch()
            return out
        damaged_cache_entry(entry)
    export_model(loaded, out, fmt=fmt, options=options, force=True)
    remember_export(loaded, out, fmt, options)
    return out


def remember_export(loaded: LoadedModel, exported: Path, fmt: str, options: ExportOptions | None = None) -> None:
    """Keep a verified export of `loaded` (export_cached's own, or one made elsewhere: the pipeline's export
    stage), so that the next export_cached of the same model and options copies it."""
    suffix = registry.named(fmt).suffix
    _store(
        exported, cache_dir() / "exports" / f"{_key(loaded, fmt, options)}.{sha256_file(exported)[:HASH_CHARS]}{suffix}"
    )


def _store(exported: Path, entry: Path) -> None:
    """Best effort: a cache that cannot be written (full disk, read-only home) only costs the next run time."""
    tmp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        os.close(handle)
        shutil.copyfile(exported, tmp)
        os.replace(tmp, entry)
        _evict(entry.parent)
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _key(loaded: LoadedModel, fmt: str, options: ExportOptions | None) -> str:
    digest = hashlib.sha256()
    for text in (fmt, repr(options or ExportOptions()), loaded.card.to_json(), repr(loaded.model), _code_version()):
        digest.update(text.encode())
    for name, tensor in loaded.model.state_dict().items():
        digest.update(f"{name}{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


@functools.cache
def _code_version() -> str:
    """edgeres' sources (an editable install changes without a new version) and the exporters' versions."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + path.read_bytes())
    for library in ("torch", *registry.packages(int8=False)):
        try:
            digest.update(f"{library}={importlib.metadata.version(library)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{library}=absent".encode())
    return digest.hexdigest()


def _evict(folder: Path) -> None:
    """Keep the KEEP most recently used entries within KEEP_BYTES (the newest always); temporary files are
    another writer's, unless a day old."""
    now = time.time()
    entries: list[tuple[float, int, Path]] = []
    stale: list[Path] = []
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            info = path.stat()
            if path.suffix != ".tmp":
                entries.append((info.st_mtime, info.st_size, path))
            elif now - info.st_mtime > 86400:
                stale.append(path)
    kept_bytes = 0
    for index, (_, size, path) in enumerate(sorted(entries, reverse=True)):
        kept_bytes += size
        if index >= KEEP or (index and kept_bytes > KEEP_BYTES):
            stale.append(path)
    for path in stale:
        path.unlink(missing_ok=True)
