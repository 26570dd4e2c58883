"""One writer at a time per output: a lock file beside it holding the writer's pid, taken before the output
is checked and held until it is in place. A lock whose process is gone is stale and taken over."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from ._io import _pid_alive, os_error_message
from .errors import OutputError

_HELD: set[Path] = set()  # the locks this process holds: a nested call for the same output is no second writer
F = TypeVar("F", bound=Callable[..., Any])


def lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def _take(lock: Path) -> bool:
    """Create `lock` with this pid; False when it exists."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))
    return True


def _holder(lock: Path) -> int | None:
    """The pid in `lock` when that process is alive; None for a stale or unreadable lock."""
    try:
        pid = int(lock.read_text().strip() or "0")
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and _pid_alive(pid) else None


@contextlib.contextmanager
def writer_lock(target: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of `target` for the block; OutputError naming the other writer's pid when one is at work."""
    path = Path(target).absolute()
    lock = lock_path(path)
    if lock in _HELD or os.environ.get("RANK", "0") != "0":  # torchrun's other ranks write nothing
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a stale lock is removed, then taken; another process may take it first
            if _take(lock):
                break
            holder = _holder(lock)
            if holder is not None:
                raise OutputError(
                    f"{target}: another edgeres process (pid {holder}) is writing it; wait for it to finish, "
                    "or choose another --out"
                )
            lock.unlink(missing_ok=True)
        else:
            raise OutputError(f"{target}: could not take its lock {lock}; remove that file if no edgeres runs")
    except OSError as exc:  # named for the output the user gave, not the hidden lock file
        raise OutputError(os_error_message(OSError(exc.errno, exc.strerror, str(target)), target)) from None
    _HELD.add(lock)
    try:
        yield
    finally:
        _HELD.discard(lock)
        lock.unlink(missing_ok=True)


def writes(parameter: str) -> Callable[[F], F]:
    """Run the decorated library call under writer_lock(its argument `parameter`, the output it writes)."""

    def decorate(function: F) -> F:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def locked(*args: Any, **kwargs: Any) -> Any:
            out = signature.bind(*args, **kwargs).arguments[parameter]
            with writer_lock(out):
                return function(*args, **kwargs)

        return cast(F, locked)

    return decorate
