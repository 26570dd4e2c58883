"""Benchmark reports: JSON (versioned schema), CSV, Markdown and PNG plots. Reads records; times nothing."""

from .owned import check_report_paths
from .schema import BENCH_SCHEMA
from .tables import rows, to_csv, to_markdown
from .writers import write_reports, write_target_reports

__all__ = [
    "BENCH_SCHEMA",
    "check_report_paths",
    "rows",
    "to_csv",
    "to_markdown",
    "write_reports",
    "write_target_reports",
]
