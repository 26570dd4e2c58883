"""Measuring candidates on an SSH board, as `bench --target` does: each file copied there and timed in the
board's runtimes, its top-1 scored there on the labeled images; one file per connection, so a board lost
mid-search costs only the file being measured."""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import groupby
from typing import Any

from ..bench.harness import TimingConfig
from ..errors import EdgeresError
from ..remote.session import TargetRunOptions, bench_remote
from ..remote.targets import Target
from .candidates import Candidate, Measured


class BoardLostError(EdgeresError):
    """The board stopped answering during the search; `measured` holds what it measured before."""

    def __init__(self, message: str, measured: list[Measured]) -> None:
        super().__init__(message)
        self.measured = measured


def _group_key(candidate: Candidate) -> tuple[str, str]:
    return str(candidate.file), dict(candidate.settings).get("precision", "")


def measure_on_board(
    candidates: list[Candidate],
    target: Target,
    data: str | os.PathLike[str],
    limit: int | None,
    by_position: bool,
    timing: TimingConfig,
    done: Callable[[Measured], None],
) -> list[Measured]:
    """Each candidate timed and scored (top-1 on `data`) on `target`; `done` is told of each as it arrives.
    Raises BoardLostError, carrying what was measured, when the board cannot be reached or stops answering."""
    measured: list[Measured] = []
    for (_, precision), group in groupby(sorted(candidates, key=_group_key), key=_group_key):
        wanted = list(group)
        options = TargetRunOptions(
            data=data, limit=limit, map_by_position=by_position, timing=timing,
            runtimes=tuple(dict.fromkeys(c.runtime for c in wanted)), precision=precision or None,
        )  # fmt: skip
        try:
            runs = bench_remote(target, [wanted[0].file], options)
        except EdgeresError as exc:
            raise BoardLostError(f"{target.name}: {exc}", measured) from None
        for row in _rows(wanted, runs[-1]["entries"]):
            measured.append(row)
            done(row)
    return measured


def _rows(wanted: list[Candidate], entries: list[dict[str, Any]]) -> list[Measured]:
    """The bench entries as measured candidates: matched by runtime (a file is one bench run's only model)."""
    found = []
    for candidate in wanted:
        entry = next((e for e in entries if e["runtime"] == candidate.runtime), None)
        if entry is None:
            continue
        stats = entry["stats"]
        accuracy = (entry.get("accuracy") or {}).get("top1")
        row = Measured(candidate, {k: float(stats[k]) for k in ("p50_ms", "p90_ms", "p99_ms")}, accuracy)
        found.append(row)
    return found
