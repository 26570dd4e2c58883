"""One table for a run on several targets: a row per (model, batch), a column group per target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .tables import accuracy_line, machine_line


def merged_rows(results: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) with p50 ms and top-1 per target; '-' where a target has no such entry."""
    names = [r["target"]["name"] for r in results]
    cells: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for result in results:
        for run in result["runs"]:
            for entry in run["entries"]:
                cells.setdefault((entry["model"], entry["batch"]), {})[result["target"]["name"]] = entry
    header = ["model", "batch"] + [f"{n} {c}" for n in names for c in ("p50 ms", "top-1")]
    rows = []
    for (model, batch), by_target in cells.items():
        row = [Path(model).name, str(batch)]
        for name in names:
            entry = by_target.get(name)
            accuracy = (entry or {}).get("accuracy") or {}
            row += [f"{entry['stats']['p50_ms']:.3f}" if entry else "-", f"{accuracy['top1']:.4f}" if accuracy else "-"]
        rows.append(row)
    return header, rows


def target_machines(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(target name, machine line) for each target that ran, from its first run's record."""
    return [(r["target"]["name"], machine_line(r["runs"][0]["machine"])) for r in results if r["runs"]]


def target_warnings(results: list[dict[str, Any]]) -> list[str]:
    """Every run's warnings, each once, prefixed by its target."""
    found: dict[str, None] = {}
    for result in results:
        for run in result["runs"]:
            for warning in run.get("warnings", []):
                found[f"{result['target']['name']}: {warning}"] = None
    return list(found)


def target_accuracy(results: list[dict[str, Any]]) -> list[str]:
    """Per target: on what top-1 was measured and how the data's classes met the outputs."""
    lines = []
    for result in results:
        found = [line for run in result["runs"] if (line := accuracy_line(run))]
        lines += [f"{result['target']['name']}: {found[0]}"] if found else []
    return lines


def merged_markdown(results: list[dict[str, Any]]) -> str:
    header, rows = merged_rows(results)
    lines = ["# edgeres benchmark on targets", ""]
    lines += [f"- {name}: {line}" for name, line in target_machines(results)] + [""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    notes = [f"- {line}" for line in target_accuracy(results)]
    notes += [f"- warning: {w}" for w in target_warnings(results)]
    notes += [f"- {r['target']['name']}: {r['error']}" for r in results if r["error"]]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"
