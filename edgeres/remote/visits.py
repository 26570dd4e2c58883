"""Latency-model files timed on a board: copied with the runner, timed there by its `visits` command exactly as
this machine times its own (edgeres.bench.visits), and the board's facts that key its latency caches.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path, PurePosixPath
from typing import Any

from .._io import system_temp
from ..bench.visits import Visit, VisitPlan
from .multi import check_target
from .session import run_streaming, upload_run_files, with_runner
from .ssh import Ssh
from .targets import Target

VISITS_TIMEOUT_S = 3600.0  # one shape class or one set of whole networks; a slow board's run takes minutes


@functools.cache
def board_facts(target: Target) -> dict[str, Any]:
    """What a board's timings depend on (CPU, flags, packages), probed once per process and board."""
    info = check_target(target)
    return {
        "cpu_model": info["cpu_model"],
        "machine": info["machine"],
        "cpu_flags": info["cpu_flags"],
        "versions": info["versions"],
        "cores": info["cores"],
    }


def board_visits(target: Target, plan: VisitPlan) -> list[Visit]:
    """edgeres.bench.visits.timed_visits of `plan` run on `target`. Raises TargetError subclasses
    (RemoteRunError for a run that breaks off, with the runtime's install command where the board lacks it)."""
    deadline = time.time() + VISITS_TIMEOUT_S
    remote = {name: f"m{index}{path.suffix.lower()}" for index, (name, (path, _)) in enumerate(plan.files.items())}

    def job(ssh: Ssh, pyz: str) -> list[Visit]:
        rdir = str(PurePosixPath(pyz).parent)
        with system_temp("visits") as tmp:
            spec_file = Path(tmp) / "plan.json"
            spec_file.write_text(plan.to_json(remote), encoding="utf-8")
            uploads = {"plan.json": spec_file, **{remote[name]: path for name, (path, _) in plan.files.items()}}
            upload_run_files(ssh, pyz, uploads, deadline)
        argv = [target.python, pyz, "visits", f"--plan={rdir}/plan.json", f"--deadline={deadline:.0f}"]
        (found,) = run_streaming(ssh, argv, "visits", VISITS_TIMEOUT_S, None)
        return [(str(name), float(seconds)) for name, seconds in found]

    return with_runner(target, False, job)
