"""Benchmarks on target boards: profiles (targets.py), SSH (ssh.py), the board-side runner (runner.py, shipped
as a zipapp by bundle.py), one board's run (session.py) and runs on several targets at once (multi.py)."""

from .multi import SCHEMA, TargetResult, bench_targets, check_target, failed_targets, targets_record
from .session import RemoteRunError, TargetRunOptions, bench_remote, with_runner
from .ssh import HostKeyError, UnreachableError
from .targets import Target, TargetError, load_targets, resolve_target

__all__ = [
    "SCHEMA",
    "HostKeyError",
    "RemoteRunError",
    "Target",
    "TargetError",
    "TargetResult",
    "TargetRunOptions",
    "UnreachableError",
    "bench_remote",
    "bench_targets",
    "check_target",
    "failed_targets",
    "load_targets",
    "resolve_target",
    "targets_record",
    "with_runner",
]
