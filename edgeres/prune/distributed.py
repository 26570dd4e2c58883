"""Fine-tuning on several processes and machines under torchrun: DistributedDataParallel, one process per rank.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (and the rendezvous) for each process it starts; a process that
finds them joins the group: gloo on the CPU, NCCL on CUDA (each rank on its LOCAL_RANK's GPU). Rank 0 does what
must happen once (pruning, reading a saved state, writing files) and hands its result to the others; all ranks
train on their shards of every global batch. Without torchrun's variables nothing here starts a group.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ..errors import EdgeresError
from .torchrun_env import launched_by_torchrun, missing_torchrun_variables

T = TypeVar("T")
TIMEOUT = datetime.timedelta(minutes=30)  # a rank waiting longer for its peers (rank 0 evaluating) gives up


class RankLostError(EdgeresError):
    """Another process of a torchrun job stopped, so this one cannot go on."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job; the default is a lone process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


@contextlib.contextmanager
def process_group(device: str) -> Iterator[Ranks]:
    """This process's Ranks; under torchrun the group is joined for the block (gloo, or NCCL for "cuda")."""
    if device == "cuda" and not torch.cuda.is_available():
        raise EdgeresError("--device cuda: torch.cuda.is_available() is False on this machine; use --device cpu")
    if not launched_by_torchrun():
        yield Ranks(device=torch.device(device))
        return
    missing = missing_torchrun_variables()
    if missing:
        raise EdgeresError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} says this is a process of a torchrun job, but "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: start the job with torchrun, or "
            "unset WORLD_SIZE to run in one process"
        )
    rank, world, local = (int(os.environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    where = torch.device("cpu")
    if device == "cuda":
        torch.cuda.set_device(local)
        where = torch.device("cuda", local)
    dist.init_process_group("nccl" if device == "cuda" else "gloo", timeout=TIMEOUT)
    ranks = Ranks(rank, world, local, where)
    previous = signal.signal(signal.SIGTERM, functools.partial(_terminated, ranks))
    try:
        yield ranks
    finally:
        signal.signal(signal.SIGTERM, previous)
        dist.destroy_process_group()


_KEPT: list[str | Callable[[], str]] = []  # what the open `keeping` blocks say is kept, innermost last


@contextlib.contextmanager
def keeping(after: str | Callable[[], str]) -> Iterator[None]:
    """While the block runs, a job that stops (a lost peer, torchrun's SIGTERM wherever it lands) names what is
    kept: `after`, or what it returns then, unless an inner block says more."""
    _KEPT.append(after)
    try:
        yield
    finally:
        _KEPT.pop()


def _kept() -> str:
    for after in reversed(_KEPT):
        kept = after() if callable(after) else after
        if kept:
            return kept
    return ""


def _terminated(ranks: Ranks, _signum: int, _frame: Any) -> None:
    """torchrun ends every rank with SIGTERM when one fails: say so as an error, not a silent death."""
    kept = _kept()
    raise RankLostError(
        f"rank {ranks.rank} of {ranks.world}: stopped by torchrun, which ends every process of the job when one "
        "fails (its report names that process)" + (f"; {kept}" if kept else "")
    )


def from_main(ranks: Ranks, work: Callable[[], T]) -> T:
    """`work()` done by rank 0 alone, its result (or its EdgeresError, raised everywhere) given to every rank."""
    if not ranks.distributed:
        return work()
    box: list[Any] = [None]
    if ranks.main:
        try:
            box = [(True, work())]
        except EdgeresError as exc:
            box = [(False, exc)]
    broadcast(ranks, box)
    ok, value = box[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def broadcast(ranks: Ranks, box: list[Any]) -> None:
    """Rank 0's objects into `box` on every rank."""
    with peers_lost(ranks):
        dist.broadcast_object_list(box, src=0, device=ranks.device if ranks.device.type == "cuda" else None)


def all_sum(ranks: Ranks, values: list[float]) -> list[float]:
    """Each value summed over the ranks (epoch statistics)."""
    if not ranks.distributed:
        return values
    total = torch.tensor(values, dtype=torch.float64, device=ranks.device)
    with peers_lost(ranks):
        dist.all_reduce(total)
    return [float(v) for v in total.cpu()]


@contextlib.contextmanager
def peers_lost(ranks: Ranks, after: str | Callable[[], str] = "") -> Iterator[None]:
    """A collective that fails because a peer stopped (or torchrun's SIGTERM) becomes one RankLostError naming
    what is kept: `after`, or what it returns when the job stops (what is kept then, not when the block began),
    or what an outer `keeping` block says."""
    try:
        with keeping(after):
            yield
    except RankLostError as exc:
        kept = _kept_by(after)
        raise RankLostError(f"{exc}; {kept}" if kept and kept not in str(exc) else str(exc)) from None
    except (RuntimeError, dist.DistError) as exc:
        if not ranks.distributed:
            raise
        kept = _kept_by(after)
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise RankLostError(
            f"rank {ranks.rank} of {ranks.world}: another process of the job stopped ({reason}); {kept or 'stopping'}"
        ) from None


def _kept_by(after: str | Callable[[], str]) -> str:
    """What a block that has ended says is kept, else what the blocks around it say."""
    kept = after() if callable(after) else after
    return kept or _kept()
