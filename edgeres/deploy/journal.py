"""What a deploy run has measured so far, kept on disk beside its output so that a run cut short (a board
lost, Ctrl-C) can go on with `--resume` instead of starting over."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import own_folder, sha256_file
from ..errors import EdgeresError
from .candidates import Candidate, Measured

JOURNAL = "journal.json"


def partial_folder(out: Path) -> Path:
    """Where an interrupted run's files and measurements wait for `--resume`."""
    return out.with_name(out.name + ".partial")


@dataclass
class Journal:
    """The measured rows of one run (by stage: "screen", "final"), the reference accuracy, and a key naming
    the model and settings they belong to."""

    folder: Path
    key: str
    rows: dict[str, list[Measured]] = field(default_factory=dict)
    reference: tuple[float, str] | None = None  # the PyTorch model's accuracy and the metric's name

    def add(self, stage: str, row: Measured) -> None:
        self.rows.setdefault(stage, []).append(row)
        self.save()

    def measured(self, stage: str) -> dict[Candidate, Measured]:
        return {row.candidate: row for row in self.rows.get(stage, [])}

    def save(self) -> None:
        record = {
            "key": self.key,
            "reference": list(self.reference) if self.reference else None,
            "rows": {stage: [_row(r, self.folder) for r in rows] for stage, rows in self.rows.items()},
        }
        tmp = self.folder / (JOURNAL + ".tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        tmp.replace(self.folder / JOURNAL)


def _row(row: Measured, folder: Path) -> dict[str, Any]:
    c = row.candidate
    file = str(c.file.relative_to(folder))
    return {"file": file, "fmt": c.fmt, "precision": c.precision, "runtime": c.runtime,
            "settings": [list(s) for s in c.settings], "stats": row.stats, "accuracy": row.accuracy}  # fmt: skip


def _measured(item: dict[str, Any], folder: Path) -> Measured:
    settings = tuple((str(k), v) for k, v in item["settings"])
    candidate = Candidate(folder / item["file"], item["fmt"], item["precision"], item["runtime"], settings)
    return Measured(candidate, {k: float(v) for k, v in item["stats"].items()}, item["accuracy"])


def run_key(model: Path, settings_text: str) -> str:
    """What a journal's rows depend on: the model's bytes (every file of a model folder) and the settings that
    shape the candidates."""
    files = sorted(p for p in model.rglob("*") if p.is_file()) if model.is_dir() else [model]
    digest = hashlib.sha256(settings_text.encode())
    for path in files:
        digest.update(f"{path.relative_to(model) if model.is_dir() else path.name}:{sha256_file(path)}".encode())
    return digest.hexdigest()[:24]


def _load(folder: Path, key: str) -> Journal:
    path = folder / JOURNAL
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        rows = {stage: [_measured(item, folder) for item in items] for stage, items in record["rows"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgeresError(f"{path}: unreadable ({exc}); run again without --resume") from None
    if record["key"] != key:
        raise EdgeresError(
            f"{folder}: was measured for another model or other settings; run with those, or without --resume"
        )
    reference = record.get("reference")
    return Journal(folder, key, rows, (float(reference[0]), str(reference[1])) if reference else None)


def resumable(out: Path, key: str) -> Journal:
    """The journal an interrupted run left beside `out`; EdgeresError when there is none or it was measured for
    another model or other settings."""
    partial = partial_folder(out)
    if not (partial / JOURNAL).is_file():
        raise EdgeresError(f"{partial}: no interrupted deploy to resume; run without --resume")
    return _load(partial, key)


@contextlib.contextmanager
def work_folder(out: Path, key: str, resume: bool) -> Iterator[Journal]:
    """The run's working folder and journal: a fresh one beside `out` (_io.own_folder), or with `resume` the
    one an earlier run left. When the block fails after something was measured, a fresh folder is kept as
    partial_folder(out) (an older one replaced); otherwise it goes. The caller moves it to `out` on success."""
    partial = partial_folder(out)
    if resume:
        yield resumable(out, key)  # stays where it is when this run fails too
        return
    with own_folder(out) as folder:
        journal = Journal(folder, key)
        try:
            yield journal
        except BaseException:
            if any(journal.rows.values()) and folder.exists():
                shutil.rmtree(partial, ignore_errors=True)
                folder.rename(partial)
            raise
