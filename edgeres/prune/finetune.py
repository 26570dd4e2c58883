"""Recover a pruned model's accuracy: SGD with a cosine schedule, optional distillation, resumable, on one
process or several (torchrun, DistributedDataParallel: see distributed.py).

The training images come from training_batches.py (decoded once, augmented on the fly: shift and flip, with
`mixup` blended pairs). Every epoch draws one plan for the whole job (order, shifts, flips, blends) from the
seed; each rank trains on its share of every global batch, and the loss is scaled so that the averaged
gradient is the global batch's. After every epoch rank 0 writes the whole training state atomically, so an
interrupted run continues from its last finished epoch with `resume=True`.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._io import atomic_output
from ..card import ModelCard
from ..errors import EdgeresError
from ..progress import TrainProgress
from .distributed import Ranks, all_sum, from_main, peers_lost
from .options import FinetuneOptions
from .training_batches import TrainingBatches, load_training_images

# (epoch, step, steps per epoch, running loss, running top-1)


@dataclass
class EpochLog:
    epoch: int
    loss: float
    top1: float
    lr: float
    seconds: float


@dataclass
class FinetuneLog:
    images: int
    epochs: list[EpochLog] = field(default_factory=list)
    resumed_from: int = 0
    skipped: int = 0
    processes: int = 1  # ranks that trained together (torchrun)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _loss_sum(logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor | None, o: FinetuneOptions) -> Any:
    """The loss summed over the images (the caller divides by the global batch)."""
    hard = F.cross_entropy(logits, labels, reduction="sum")
    if teacher is None:
        return hard
    t = o.temperature
    soft = F.kl_div(F.log_softmax(logits / t, 1), F.log_softmax(teacher / t, 1), reduction="sum", log_target=True)
    return o.distill_weight * soft * t * t + (1 - o.distill_weight) * hard


def finetune(
    model: nn.Module,
    card: ModelCard,
    data: str | os.PathLike[str],
    options: FinetuneOptions,
    *,
    state_path: Path,
    state_extra: dict[str, str],
    teacher: nn.Module | None = None,
    resume: bool = False,
    progress: TrainProgress | None = None,
    by_position: bool = False,
    ranks: Ranks | None = None,
) -> FinetuneLog:
    """Train `model` in place on the labeled folder `data`; the state after each epoch goes to `state_path`.

    `state_extra` (e.g. the pruned spec and card as JSON) is stored with the state so a resumed run can
    rebuild the model. `ranks` places this process in a torchrun job (default: alone, on the CPU); `model`
    and `teacher` end on the CPU either way. Raises DataError for unusable data, EdgeresError for a state from other
    options, RankLostError when another process of the job stops.
    """
    ranks = ranks or Ranks()
    x, y, skipped = load_training_images(data, card, options.limit, options.seed, by_position)
    batches = TrainingBatches(x, y, card, options.batch_size, ranks.device, options.mixup)
    trained = _trainable(model, ranks)
    optimizer = torch.optim.SGD(
        trained.parameters(), options.lr, momentum=options.momentum, weight_decay=options.weight_decay, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=options.epochs * len(batches))
    log = FinetuneLog(images=len(y), skipped=skipped, processes=ranks.world)
    state = from_main(ranks, lambda: read_state(state_path) if resume and state_path.exists() else None)
    if state is not None:
        log.resumed_from = _restore(state, state_path, trained, optimizer, scheduler, log, options)
    net = _parallel(trained, ranks)
    if teacher is not None:
        teacher.to(ranks.device).eval()

    kept = saved_state(state_path)
    for epoch in range(log.resumed_from, options.epochs):
        with peers_lost(ranks, lambda: kept() or "no epoch finished"):
            entry = _train_epoch(net, teacher, batches, optimizer, scheduler, options, epoch, ranks, progress)
            log.epochs.append(entry)
            if ranks.main:
                _save_state(state_path, epoch, trained, optimizer, scheduler, log, options, state_extra)
    if trained is not model:
        model.load_state_dict(trained.state_dict())
    model.cpu().eval()
    if teacher is not None:  # the caller's model: back where it was given
        teacher.cpu()
    return log


def saved_state(state_path: Path) -> Callable[[], str]:
    """What a stopped job keeps of fine-tuning into `state_path`, asked when it stops (a SIGTERM may arrive
    while an epoch's state is being saved, or after the last one): the resumable state, or nothing."""

    def kept() -> str:
        return f"the last finished epoch's state is {state_path}; rerun with --resume" if state_path.exists() else ""

    return kept


def _trainable(model: nn.Module, ranks: Ranks) -> nn.Module:
    """The module to optimize, on this rank's device: `model` itself, or on CUDA ranks of a job a copy whose
    batch norms compute their statistics over the global batch (SyncBatchNorm needs GPUs; on CPU ranks
    each normalizes over its own share)."""
    if ranks.distributed and ranks.device.type == "cuda":
        synced = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(model))  # type: ignore[no-untyped-call]
        return synced.to(ranks.device)  # type: ignore[no-any-return]
    return model.to(ranks.device)


def _parallel(trained: nn.Module, ranks: Ranks) -> nn.Module:
    if not ranks.distributed:
        return trained
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [ranks.local_rank] if ranks.device.type == "cuda" else None
    with peers_lost(ranks):
        return DistributedDataParallel(trained, device_ids=device_ids)


def _save_state(
    state_path: Path,
    epoch: int,
    trained: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    log: FinetuneLog,
    options: FinetuneOptions,
    extra: dict[str, str],
) -> None:
    state = {"epoch": epoch + 1, "model": trained.state_dict(), "optimizer": optimizer.state_dict()}
    state |= {"scheduler": scheduler.state_dict(), "log": json.dumps(log.to_dict())}
    state |= {"options": json.dumps(asdict(options)), **extra}
    with atomic_output(state_path, force=True) as tmp:
        torch.save(state, tmp)


def _train_epoch(
    model: nn.Module,
    teacher: nn.Module | None,
    batches: TrainingBatches,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    options: FinetuneOptions,
    epoch: int,
    ranks: Ranks,
    progress: TrainProgress | None,
) -> EpochLog:
    model.train()
    generator = torch.Generator().manual_seed(options.seed * 1000 + epoch)  # a resumed epoch replays exactly
    start, seen = time.perf_counter(), 0
    loss_sum, correct = torch.zeros((), device=ranks.device), torch.zeros((), device=ranks.device)
    lr = optimizer.param_groups[0]["lr"]
    shown = progress if ranks.main else None
    for step, (images, labels, total) in enumerate(batches.epoch(generator, ranks.rank, ranks.world), 1):
        logits = model(images)
        with torch.no_grad():
            soft = teacher(images) if teacher is not None else None
        summed = _loss_sum(logits, labels, soft, options)
        optimizer.zero_grad(set_to_none=True)
        (summed * (ranks.world / total)).backward()  # DDP averages over ranks: the global batch's mean
        optimizer.step()
        scheduler.step()
        loss_sum += summed.detach()  # kept on the device: a read each step stalls a GPU (progress alone reads)
        correct += (logits.argmax(1) == (labels if labels.ndim == 1 else labels.argmax(1))).sum()
        seen += len(labels)
        if shown is not None:
            shown(epoch + 1, step, len(batches), float(loss_sum) / seen, float(correct) / seen)
    total_loss, total_correct, total_seen = all_sum(ranks, [float(loss_sum), float(correct), seen])
    model.eval()
    return EpochLog(epoch + 1, total_loss / total_seen, total_correct / total_seen, lr, time.perf_counter() - start)


def read_state(state_path: Path) -> dict[str, Any]:
    """A saved training state (tensors, numbers and JSON strings only: loaded with weights_only)."""
    try:
        state: dict[str, Any] = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception:  # any unreadable state gets the same advice (torch's own message is many lines)
        raise EdgeresError(
            f"{state_path}: unreadable training state (truncated or damaged); delete it and start without --resume"
        ) from None
    return state


def _restore(
    state: dict[str, Any],
    state_path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    log: FinetuneLog,
    options: FinetuneOptions,
) -> int:
    if json.loads(state["options"]) != json.loads(json.dumps(asdict(options))):
        raise EdgeresError(
            f"{state_path}: was written with other fine-tuning options ({state['options']}); "
            "resume with the same options, or delete it to start over"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    log.epochs = [EpochLog(**e) for e in json.loads(state["log"])["epochs"]]
    return int(state["epoch"])
