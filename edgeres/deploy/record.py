"""What a deploy run writes beside the chosen file: deploy.json (the choice and how it runs) and report.json
(every candidate and the Pareto front), and the message when nothing meets the bound."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..formats import registry as formats
from ..remote.targets import Target
from .candidates import Measured
from .choose import pareto_front
from .settings import DeploySettings


@dataclass
class DeployResult:
    out: Path
    chosen: Measured
    rows: list[Measured]
    reference: float
    metric: str
    seconds: float
    machine: dict[str, Any]  # where it was measured (edgeres.bench.record.machine_info, or the board's probe)
    notes: list[str]  # candidates left out (a converter failed, a runtime could not open a file) and why


def nothing_within(rows: list[Measured], reference: float, metric: str, max_drop: float, kept: Path) -> str:
    best = max(rows, key=lambda r: r.accuracy or 0.0)
    return (
        f"no candidate is within --max-drop {max_drop} points of the PyTorch model's {metric} {reference:.2%}: "
        f"the most accurate, {best.candidate.name}, has {best.accuracy:.2%} at {best.p50:.3f} ms p50; tried "
        f"{len(rows)} candidates ({', '.join(sorted({r.candidate.runtime for r in rows}))}); raise --max-drop "
        f"(--resume reuses the measurements kept in {kept}), or give more calibration images"
    )


def row_record(row: Measured) -> dict[str, Any]:
    c = row.candidate
    return {
        "file": c.label,
        "format": c.fmt,
        "precision": c.precision,
        "runtime": c.runtime,
        "settings": dict(c.settings),
        **row.stats,
        "accuracy": row.accuracy,
    }


def write_records(work: Path, result: DeployResult, target: Target, settings: DeploySettings) -> None:
    """The chosen file and its card under their final names, deploy.json and report.json."""
    chosen = result.chosen.candidate
    name = f"model{formats.named(chosen.fmt).suffix}"
    shutil.copyfile(chosen.file, work / name)
    card = chosen.file.with_name(chosen.file.name + ".card.json")
    if card.is_file():
        shutil.copyfile(card, work / f"{name}.card.json")
    record = {
        **row_record(result.chosen),
        "file": name,
        "threads": target.threads or None,
        "metric": result.metric,
        "reference": result.reference,
        "max_drop": settings.max_drop,
        "target": target.name,
        "measured_on": target.address if target.transport == "ssh" else "this machine",
        "machine": result.machine,
        "seconds": round(result.seconds, 1),
    }
    (work / "deploy.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    report = {
        "candidates": [row_record(r) for r in result.rows],
        "pareto_front": [row_record(r) for r in pareto_front(result.rows)],
        "chosen": row_record(result.chosen),
        "left_out": result.notes,
    }
    (work / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (work / "report.md").write_text(_markdown(result, target), encoding="utf-8")


def _markdown(result: DeployResult, target: Target) -> str:
    """Every candidate as a table row, fastest first: the chosen one and the Pareto front marked."""
    front = {id(r) for r in pareto_front(result.rows)}
    lines = [
        f"# edgeres deploy on {target.name}",
        "",
        f"Chosen: {result.chosen.candidate.name}; {result.metric} of the PyTorch model {result.reference:.2%}; "
        f"{len(result.rows)} candidates measured in {result.seconds:.0f} s on {result.machine.get('cpu_model', '?')}.",
        "",
        f"| | file | runtime | settings | p50 ms | p90 ms | p99 ms | {result.metric} | Pareto |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(result.rows, key=lambda r: r.p50):
        c, stats = row.candidate, row.stats
        accuracy = f"{row.accuracy:.2%}" if row.accuracy is not None else "-"
        settings = ", ".join(f"{k}={v}" for k, v in c.settings) or "-"
        lines.append(
            f"| {'**chosen**' if row is result.chosen else ''} | {c.label} | {c.runtime} | {settings} | "
            f"{stats['p50_ms']:.3f} | {stats['p90_ms']:.3f} | {stats['p99_ms']:.3f} | {accuracy} | "
            f"{'yes' if id(row) in front else ''} |"
        )
    lines += ["", *(f"- left out: {note}" for note in result.notes)]
    return "\n".join(lines).rstrip() + "\n"
