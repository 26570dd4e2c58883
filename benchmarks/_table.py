"""What the benchmark scripts share: their common flags, the machine header, and the closing table (rich)."""

from __future__ import annotations

import argparse
import dataclasses
import platform
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from edgeres.isa import local_cpu
from edgeres.quantize.calibration_recipes import CalibrationRecipe, shipped_recipes


def print_rows(title: str, rows: list[dict[str, Any]], width: int = 160) -> None:
    """One column per key of the first row; nothing printed for no rows."""
    if not rows:
        return
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*map(str, row.values()))
    Console(width=width).print(table)


def parser(doc: str, json_name: str) -> argparse.ArgumentParser:
    """A parser with --shared (checkpoints and data, default ../shared) and --json (where rows go)."""
    made = argparse.ArgumentParser(description=doc.splitlines()[0])
    made.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    made.add_argument("--json", type=Path, default=Path(json_name))
    return made


def machine_header() -> dict[str, Any]:
    """The CPU (model and flags) and Python every benchmark's JSON starts with."""
    cpu = local_cpu()
    return {"cpu": cpu.describe(), "flags": " ".join(cpu.flags), "python": platform.python_version()}


def recipe(shared: Path, name: str = "cifar10-train-512") -> CalibrationRecipe:
    """A shipped calibration recipe (count, seed, split) drawing from the CIFAR-10 copy under `shared`."""
    found = shipped_recipes()[name]
    return dataclasses.replace(found, data=str(shared / "datasets" / "cifar10" / found.split))
