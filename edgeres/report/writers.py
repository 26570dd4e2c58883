"""Report files written from run records: a bench run's JSON, CSV, Markdown and plots; a multi-target run's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._io import write_text_atomic
from .merged import merged_markdown
from .owned import check_report_paths
from .plots import accuracy_latency_plot, latency_plot
from .tables import to_csv, to_markdown


def write_reports(
    run: dict[str, Any], *, json_path: Path | None = None, csv_path: Path | None = None, report_dir: Path | None = None
) -> list[Path]:
    """Write whichever outputs are asked for; return their paths. Raises ReportPathError (see .owned)."""
    check_report_paths(json_path, csv_path, report_dir)
    written = []
    if json_path is not None:
        written.append(write_text_atomic(json_path, json.dumps(run, indent=2), force=True))
    if csv_path is not None:
        written.append(write_text_atomic(csv_path, to_csv(run), force=True))
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        written.append(write_text_atomic(report_dir / "bench.json", json.dumps(run, indent=2), force=True))
        written.append(write_text_atomic(report_dir / "bench.md", to_markdown(run), force=True))
        written.append(latency_plot(run, report_dir / "latency.png"))
        plot = accuracy_latency_plot(run, report_dir / "accuracy_vs_latency.png")
        if plot is not None:
            written.append(plot)
    return written


def write_target_reports(record: dict[str, Any], *, json_path: Path | None, report_dir: Path | None) -> list[Path]:
    """A multi-target run (edgeres.remote's SCHEMA) as JSON, and in `report_dir` as Markdown and JSON too."""
    check_report_paths(json_path, None, report_dir)
    text = json.dumps(record, indent=2)
    written = [write_text_atomic(json_path, text, force=True)] if json_path is not None else []
    if report_dir is not None:
        written.append(write_text_atomic(report_dir / "targets.md", merged_markdown(record["targets"]), force=True))
        written.append(write_text_atomic(report_dir / "targets.json", text, force=True))
    return written
