"""Whether this process is a rank of a torchrun job, read from the variables torchrun sets (no torch import:
the CLI asks before any command runs)."""

from __future__ import annotations

import os

SEVERAL_PROCESSES = ("prune", "prune-job", "quantize")  # the commands whose training the ranks of a job share
# What torchrun sets in each process it starts, and the process group needs (env:// rendezvous).
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched_by_torchrun() -> bool:
    """True in a process torchrun started for a job of several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """Rank 0, or a process not started by torchrun: the one that prints and writes."""
    return int(os.environ.get("RANK", "0")) == 0


def missing_torchrun_variables() -> list[str]:
    """The variables of TORCHRUN_VARIABLES this process lacks (none in a process torchrun started)."""
    return [name for name in TORCHRUN_VARIABLES if not os.environ.get(name)]
