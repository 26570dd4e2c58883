"""`quantize --qat` on the processes of a torchrun job: the fine-tuning is shared, everything else is rank 0's."""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import EdgeresError
from ...models import LoadedModel
from ...progress import Progress, no_progress
from ...prune.distributed import keeping, process_group
from ...prune.finetune import saved_state
from ..result import QuantizeResult
from ..run import quantize_model
from ..settings import QuantizeSettings
from .ranks import train_beside_rank_0
from .train import state_file


def quantize_on_ranks(
    model: str | os.PathLike[str] | LoadedModel,
    out: str | os.PathLike[str],
    settings: QuantizeSettings,
    progress: Progress = no_progress,
) -> QuantizeResult | None:
    """Every process of a torchrun job calls this: rank 0 runs quantize_model (calibration, the int8 files,
    the report) and the ranks fine-tune on the grid together (ranks.py); rank 0 alone writes and returns the
    result, the others return None. A rank that stops ends the job, naming the QAT state to resume from.
    Raises EdgeresError without `settings.qat` (nothing else is shared)."""
    if settings.qat is None:
        raise EdgeresError(
            "several processes (torchrun) share QAT's fine-tuning only: give --qat DIR, or run quantize in one process"
        )
    with process_group(settings.qat.device) as ranks, keeping(saved_state(state_file(Path(out)))):
        if ranks.main:
            return quantize_model(model, out, settings, progress, ranks=ranks)
        train_beside_rank_0(ranks)
        return None
