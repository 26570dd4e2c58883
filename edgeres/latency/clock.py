"""Where a latency model's files are timed: this machine, or the board the setting names (over SSH, by the
torch-free runner), and the facts of that machine that key the caches."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..bench.harness import TimingConfig
from ..bench.record import machine_info
from ..bench.visits import Visit, VisitPlan, timed_visits
from .setting import LatencySetting


def machine_facts(setting: LatencySetting) -> dict[str, object]:
    """The CPU, its flags and the runtime versions of the machine that times `setting`."""
    if setting.board is not None:
        from ..remote.targets import resolve_target
        from ..remote.visits import board_facts

        facts = board_facts(resolve_target(setting.board))
    else:
        facts = machine_info()
    return {key: facts[key] for key in ("cpu_model", "machine", "cpu_flags", "versions")}


def visits(
    files: Mapping[str, tuple[Path, tuple[int, ...]]],
    setting: LatencySetting,
    timing: TimingConfig,
    passes: int,
    anchor: str | None,
) -> list[Visit]:
    """edgeres.bench.visits.timed_visits of `files`, on the machine that times `setting`."""
    if setting.board is not None:
        from ..remote.targets import resolve_target
        from ..remote.visits import board_visits

        plan = VisitPlan(files, timing, passes, anchor, setting.runtime, setting.threads)
        return board_visits(resolve_target(setting.board), plan)
    return timed_visits(VisitPlan(files, timing, passes, anchor, setting.runtime, setting.resolved_threads))
