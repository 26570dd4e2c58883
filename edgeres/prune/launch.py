"""`edgeres prune` on several processes of this machine, started from Python: what the pipeline's
`[prune] processes` does. torchrun (torch.distributed.run) starts the ranks; rank 0 prints the report."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

from ..errors import EdgeresError


def prune_with_torchrun(processes: int, argv: list[str]) -> dict[str, Any]:
    """`edgeres prune ARGV` as `processes` ranks (a standalone rendezvous on this machine); rank 0's JSON report.
    Raises EdgeresError with the workers' own error line when the job fails."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
        "-m", "edgeres.cli", "prune", *argv, "--json",
    ]  # fmt: skip
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = launcher.communicate()
    except KeyboardInterrupt:  # torchrun passes SIGINT on to its ranks and waits for them: no orphans
        launcher.send_signal(signal.SIGINT)
        launcher.communicate(timeout=120)
        raise
    if launcher.returncode != 0:
        errors = [line.removeprefix("error: ") for line in stderr.splitlines() if line.startswith("error: ")]
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        raise EdgeresError(errors[0] if errors else f"torchrun with {processes} processes failed: {tail[0]}")
    return json.loads(stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
