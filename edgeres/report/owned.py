"""Which report paths a bench run may write: names that say what they hold, and no file that is not a report.

A bench run replaces its own earlier reports (re-running a benchmark is the normal case), but never a file
edgeres did not write: `--json` given the model's own name, or `--report ~/notes`, would otherwise lose the
user's data after minutes of measuring. Checked before anything is measured.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import OutputExistsError
from .tables import COLUMNS

JSON_SCHEMAS = ("edgeres.bench/1", "edgeres.bench-targets/1")
REPORT_FILES = ("bench.json", "bench.md", "latency.png", "accuracy_vs_latency.png", "targets.json", "targets.md")
_MARKDOWN_TITLE = "# edgeres benchmark"  # bench.md's and targets.md's first line
_PNG = b"\x89PNG\r\n\x1a\n"


class ReportPathError(OutputExistsError):
    """A report path whose name does not say what it holds, or that holds somebody else's file."""


def _is_json_report(path: Path) -> bool:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(record, dict) and record.get("schema") in JSON_SCHEMAS


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return ""


def _is_ours(path: Path) -> bool:
    """Whether an existing file is a report a bench run wrote (by its content, not its name)."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _is_json_report(path)
    if suffix == ".csv":
        return _first_line(path) == ",".join(COLUMNS)
    if suffix == ".md":
        return _first_line(path).startswith(_MARKDOWN_TITLE)
    if suffix == ".png":
        try:
            with path.open("rb") as handle:
                return handle.read(len(_PNG)) == _PNG
        except OSError:
            return False
    return False


def _replaceable(path: Path, option: str) -> None:
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ReportPathError(f"{path}: {option} would replace something that is not a file; choose another name")
    if path.exists() and not _is_ours(path):
        raise ReportPathError(
            f"{path}: exists and is not an edgeres bench report, so {option} will not replace it; "
            "choose another name or move the file away"
        )


def check_report_paths(json_path: Path | None, csv_path: Path | None, report_dir: Path | None) -> None:
    """Refuse, before any measurement, report paths that are misnamed or would replace a foreign file."""
    for path, option, suffix in ((json_path, "--json", ".json"), (csv_path, "--csv", ".csv")):
        if path is None:
            continue
        if path.suffix.lower() != suffix:
            raise ReportPathError(f"{path}: {option} writes {suffix[1:].upper()}; give it a name ending in {suffix}")
        _replaceable(path, option)
    if report_dir is None:
        return
    if report_dir.exists() and not report_dir.is_dir():
        raise ReportPathError(f"{report_dir}: --report is a folder, and this is a file; choose another name")
    for name in REPORT_FILES:
        _replaceable(report_dir / name, "--report")
