"""Runs on several targets at once, and probing one.

`bench_targets` measures the same models on every target in parallel (local ones in this process, SSH
ones on their boards) and returns one record per target; `check_target` says whether a board is usable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EdgeresError
from .runner import probe
from .session import RemoteRunError, TargetRunOptions, bench_remote, with_runner
from .ssh import Ssh
from .targets import Target, TargetError, resolve_target

SCHEMA = "edgeres.bench-targets/1"


@dataclass
class TargetResult:
    target: Target
    runs: list[dict[str, Any]] = field(default_factory=list)  # one edgeres.bench/1 record per batch size
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"target": dataclasses.asdict(self.target), "runs": self.runs, "error": self.error}


def targets_record(results: list[TargetResult]) -> dict[str, Any]:
    """The multi-target run as one record (SCHEMA): what is printed, written and merged into reports."""
    return {"schema": SCHEMA, "targets": [r.to_dict() for r in results]}


def failed_targets(results: list[TargetResult]) -> EdgeresError | None:
    """One error naming every target that failed (what was measured elsewhere is kept), None when none did."""
    failed = [r.error for r in results if r.error]
    if not failed:
        return None
    return EdgeresError(f"{len(failed)} of {len(results)} target(s) failed: " + "; ".join(failed))


def check_target(target: Target, *, accept_new_host_key: bool = False) -> dict[str, Any]:
    """Python, CPU and runtime versions where `target` runs; sweeps stale run folders on the way."""
    if target.transport == "local":
        return probe(board=False)
    import json

    def job(ssh: Ssh, pyz: str) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(ssh.run([target.python, pyz, "probe"]))
        swept = json.loads(ssh.run([target.python, pyz, "sweep", target.workdir, f"--keep={Path(pyz).parent.name}"]))
        return info | {"swept": swept["removed"]}

    try:
        return with_runner(target, accept_new_host_key, job)
    except TargetError as exc:
        if "python" in str(exc).lower() or "exit 127" in str(exc):
            raise TargetError(f"{exc} (is python = {target.python!r} right for this board?)") from None
        raise


def bench_targets(
    models: list[Path],
    targets: list[str],
    options: TargetRunOptions | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[TargetResult]:
    """Bench `models` on every target in parallel; a target's failure is recorded, the others go on."""
    resolved = [resolve_target(t) for t in targets]

    def one(target: Target) -> TargetResult:
        def tagged(phase: str, done: int, total: int) -> None:
            if progress is not None:
                progress(f"{target.name}: {Path(phase).name}", done, total)

        result = TargetResult(target)
        try:
            if target.transport == "local":
                result.runs = _bench_local(target, models, options or TargetRunOptions(), tagged)
            else:
                result.runs = bench_remote(target, models, options, tagged)
        except RemoteRunError as exc:
            result.runs, result.error = exc.partial, str(exc)
        except EdgeresError as exc:  # unreachable board, missing runtime, bad model: this target only
            result.error = str(exc)
        return result

    with ThreadPoolExecutor(max_workers=max(1, len(resolved))) as pool:
        return list(pool.map(one, resolved))


def _bench_local(
    target: Target, models: list[Path], options: TargetRunOptions, progress: Callable[[str, int, int], None]
) -> list[dict[str, Any]]:
    from ..bench import BenchSettings, bench_models
    from ..options import RuntimeOptions

    if options.remote_data is not None:
        raise TargetError(f"{target.name}: --remote-data is for boards; a local target reads --data")
    settings = BenchSettings(
        data=options.data,
        limit=options.limit,
        map_by_position=options.map_by_position,
        runtimes=options.runtimes or tuple(target.bench_runtimes),
        options=RuntimeOptions(threads=target.threads or None, device=target.device, precision=options.precision),
        batches=options.batches,
        timing=options.timing,
    )
    run = bench_models(models, settings, progress=progress)
    return [run.to_dict()]
