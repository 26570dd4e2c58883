"""Benchmark reports: JSON (versioned schema), CSV, Markdown and PNG plots. Reads records; times nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._io import write_text_atomic
from .plots import accuracy_latency_plot, latency_plot
from .schema import BENCH_SCHEMA
from .tables import rows, to_csv, to_markdown


def write_reports(
    run: dict[str, Any], *, json_path: Path | None = None, csv_path: Path | None = None, report_dir: Path | None = None
) -> list[Path]:
    """Write whichever outputs are asked for; return their paths."""
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


__all__ = ["BENCH_SCHEMA", "rows", "to_csv", "to_markdown", "write_reports"]
