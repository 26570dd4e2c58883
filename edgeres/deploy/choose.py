"""Choosing among measured candidates (pure functions over numbers): the Pareto front of latency and accuracy,
and the fastest candidate within the accuracy bound that is no slower than its fp32 file in the same runtime."""

from __future__ import annotations

from collections.abc import Sequence

from .candidates import Measured


def pareto_front(rows: Sequence[Measured]) -> list[Measured]:
    """The rows no other row beats on both latency and accuracy (ties kept), fastest first."""
    scored = [r for r in rows if r.accuracy is not None]
    front = []
    for row in scored:
        dominated = any(
            o.p50 <= row.p50
            and (o.accuracy or 0) >= (row.accuracy or 0)
            and (o.p50, o.accuracy) != (row.p50, row.accuracy)
            for o in scored
        )
        if not dominated:
            front.append(row)
    return sorted(front, key=lambda r: r.p50)


def within(rows: Sequence[Measured], reference: float, max_drop: float) -> list[Measured]:
    """The rows whose accuracy is at most `max_drop` points (of 100) below `reference`, fastest first."""
    floor = reference - max_drop / 100 - 1e-9
    return sorted((r for r in rows if r.accuracy is not None and r.accuracy >= floor), key=lambda r: r.p50)


def fp32_twin(row: Measured, rows: Sequence[Measured]) -> Measured | None:
    """The fp32 file of the same format in the same runtime, if measured."""
    for other in rows:
        c, o = row.candidate, other.candidate
        if o.precision == "fp32" and o.fmt == c.fmt and o.runtime == c.runtime:
            return other
    return None


def choose(rows: Sequence[Measured], reference: float, max_drop: float) -> Measured | None:
    """The fastest row within the bound that is not slower than its fp32 twin; None when no row is within."""
    for row in within(rows, reference, max_drop):
        twin = fp32_twin(row, rows)
        if row.candidate.precision == "int8" and twin is not None and twin.p50 <= row.p50:
            continue  # never hand over an int8 file slower than the fp32 one in the same runtime
        return row
    return None
