"""A prune job on several processes of this machine, started from Python: what the pipeline's
`[prune] processes` does. The job is one `prune_checkpoint` call, written once as JSON (checkpoint, output and
PruneSettings), so the ranks run exactly what a single process would; torchrun (torch.distributed.run) starts
them on `edgeres prune-job`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import write_text_atomic
from ..errors import EdgeresError
from .settings import PruneSettings


@dataclass(frozen=True)
class PruneJob:
    """One prune_checkpoint call: what each rank runs."""

    checkpoint: Path
    out: Path
    settings: PruneSettings

    def to_json(self) -> str:
        return json.dumps({"checkpoint": str(self.checkpoint), "out": str(self.out), **self.settings.to_dict()})

    @classmethod
    def from_json(cls, text: str) -> PruneJob:
        data = json.loads(text)
        return cls(Path(data.pop("checkpoint")), Path(data.pop("out")), PruneSettings.from_dict(data))


def prune_with_torchrun(processes: int, job: PruneJob) -> dict[str, Any]:
    """`job` as `processes` ranks (a standalone rendezvous on this machine); rank 0's report, as to_dict gives.
    Raises EdgeresError with the workers' own error line when the job fails."""
    with tempfile.TemporaryDirectory(prefix="edgeres-prune-job-") as folder:
        spec, report = Path(folder) / "job.json", Path(folder) / "report.json"
        spec.write_text(job.to_json(), encoding="utf-8")
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            "-m", "edgeres.cli", "prune-job", str(spec), str(report),
        ]  # fmt: skip
        launcher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, stderr = launcher.communicate()
        except KeyboardInterrupt:  # torchrun passes SIGINT on to its ranks and waits for them: no orphans
            launcher.send_signal(signal.SIGINT)
            launcher.communicate(timeout=120)
            raise
        if launcher.returncode != 0 or not report.exists():
            errors = [line.removeprefix("error: ") for line in stderr.splitlines() if line.startswith("error: ")]
            tail = stderr.strip().splitlines()[-1:] or ["no output"]
            raise EdgeresError(errors[0] if errors else f"torchrun with {processes} processes failed: {tail[0]}")
        return json.loads(report.read_text())  # type: ignore[no-any-return]


def run_rank(spec: Path, report: Path) -> None:
    """One rank of prune_with_torchrun's job: rank 0 writes the report for the launcher."""
    from .job import prune_checkpoint

    job = PruneJob.from_json(spec.read_text(encoding="utf-8"))
    result = prune_checkpoint(job.checkpoint, job.out, job.settings)
    if result is not None:
        write_text_atomic(report, json.dumps(result.to_dict()))
