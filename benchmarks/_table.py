"""What every benchmark script ends with: its rows as one terminal table (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


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
