"""The progress callbacks long library calls report through (the CLI draws them; tests and scripts may not)."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]  # (phase, done, total)
TrainProgress = Callable[[int, int, int, float, float], None]  # (epoch, step, steps, loss, learning rate)


def no_progress(_phase: str, _done: int, _total: int) -> None:
    """A Progress that reports nothing."""
