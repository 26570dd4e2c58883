"""Benchmark runs as rows: CSV and Markdown. Reads run records; never times anything."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

COLUMNS = (
    "model",
    "runtime",
    "batch",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "throughput_per_s",
    "speedup_vs_baseline",
    "top1",
    "top5",
    "agreement",
    "file_mb",
    "load_s",
    "first_ms",
    "n",
    "unreliable",
)


# The subset shown in the terminal, where width is scarce.
SUMMARY_COLUMNS = (
    "model",
    "runtime",
    "batch",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "throughput_per_s",
    "speedup_vs_baseline",
    "top1",
    "agreement",
    "file_mb",
)


def cells(row: dict[str, Any], columns: tuple[str, ...]) -> list[str]:
    """A row's values as text; percentiles computed from too few samples get a `*`."""
    flagged = row["unreliable"].split()
    return [f"{row[c]}*" if c[:3] in flagged else ("" if row[c] is None else str(row[c])) for c in columns]


def rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per entry of a run dict (the JSON form)."""
    out = []
    for entry in run["entries"]:
        stats, accuracy = entry["stats"], entry["accuracy"] or {}
        out.append(
            {
                "model": Path(entry["model"]).name,
                "runtime": entry["runtime"],
                "batch": entry["batch"],
                **{k: round(stats[k], 3) for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms")},
                "throughput_per_s": round(entry["throughput_per_s"], 1),
                "speedup_vs_baseline": None
                if entry["speedup_vs_baseline"] is None
                else round(entry["speedup_vs_baseline"], 2),
                "top1": accuracy.get("top1"),
                "top5": accuracy.get("top5"),
                "agreement": accuracy.get("agreement_with_baseline"),
                "file_mb": round(entry["file_bytes"] / 1e6, 2),
                "load_s": round(entry["load_s"], 3),
                "first_ms": round(entry["first_ms"], 3),
                "n": stats["n"],
                "unreliable": " ".join(stats["unreliable"]),
            }
        )
    return out


def to_csv(run: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows(run))
    return buffer.getvalue()


def to_markdown(run: dict[str, Any]) -> str:
    machine = run["machine"]
    lines = [
        f"# edgeres benchmark ({run['created']})",
        "",
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, flags {', '.join(machine['cpu_flags']) or 'n/a'}; "
        f"baseline {Path(run['config']['baseline']).name}; percentiles marked * come from too few samples "
        "(p90 < 64, p99 < 662, MLPerf LoadGen's rule).",
        "",
        "| " + " | ".join(COLUMNS[:-1]) + " |",
        "|" + "---|" * (len(COLUMNS) - 1),
    ]
    for row in rows(run):
        lines.append("| " + " | ".join(cells(row, COLUMNS[:-1])) + " |")
    for skip in run["skipped"]:
        lines.append(f"\nSkipped {Path(skip['model']).name} at batch {skip['batch']}: {skip['reason']}")
    return "\n".join(lines) + "\n"
