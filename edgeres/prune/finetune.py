"""Recover a pruned model's accuracy: SGD with a cosine schedule, optional distillation, resumable, on one
process or several (torchrun, DistributedDataParallel: see distributed.py).

The training images are decoded once into memory at the model's input size (uint8), then augmented on the
fly (random shift and flip). Every epoch draws one plan for the whole job (order, shifts, flips) from the
seed; each rank trains on its share of every global batch, and the loss is scaled so that the averaged
gradient is the global batch's. After every epoch rank 0 writes the whole training state atomically, so an
interrupted run continues from its last finished epoch with `resume=True`.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._io import atomic_output
from ..augment import flip, shift, shift_draw
from ..card import ModelCard
from ..data import SkipLog, open_images, resize_and_crop, stratified_subset
from ..errors import BadImageError, DataError, EdgeresError
from ..evaluate import class_mapping
from ..progress import TrainProgress
from .distributed import Ranks, all_sum, from_main, peers_lost
from .options import FinetuneOptions

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


def load_training_images(
    data: str | os.PathLike[str], card: ModelCard, limit: int | None, seed: int, by_position: bool = False
) -> tuple[np.ndarray, np.ndarray, int]:
    """(N x H x W x 3 uint8 at the card's input size, model-class labels, unreadable count)."""
    images = open_images(data, split="train")
    mapping, _ = class_mapping(card, images, by_position)
    assert images.labels is not None
    indices = stratified_subset(images.labels, len(images), limit, seed)
    skipped = SkipLog()

    def load(index: int) -> np.ndarray | None:
        try:
            return resize_and_crop(images.read(int(index)), card)
        except BadImageError as exc:
            skipped.add(str(exc))
            return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        decoded = list(pool.map(load, indices))
    kept = [i for i, img in zip(indices, decoded, strict=True) if img is not None]
    if not kept:
        raise DataError(f"{data}: no training image could be read ({skipped.summary()})")
    x = np.stack([img for img in decoded if img is not None])
    return x, mapping[images.labels[np.asarray(kept)]], skipped.count


class TrainingBatches:
    """Shuffled, normalised, augmented batches of an in-memory uint8 set, or one rank's share of them."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, card: ModelCard, batch_size: int, device: torch.device | None = None
    ) -> None:
        """`device`: where the images live and are augmented (a GPU keeps its training loop off the CPU)."""
        device = device or torch.device("cpu")
        self.x, self.y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        self.mean = torch.tensor(card.mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(card.std, device=device).view(1, 3, 1, 1) * 255
        self.batch_size = batch_size
        self.pad = max(1, min(card.input_size) // 8)

    def __len__(self) -> int:
        return (len(self.y) + self.batch_size - 1) // self.batch_size

    def epoch(
        self, generator: torch.Generator, rank: int = 0, world: int = 1
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        """(images, labels, global batch size) of each global batch: positions rank, rank + world, ... of it
        (DistributedSampler's strided shard, batch by batch, without its padding), augmented with draws made
        for the whole batch, so that every rank, and one process alone, follow the same plan."""
        order = torch.randperm(len(self.y), generator=generator)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            offsets, flips = shift_draw(self.pad, generator), torch.rand(len(idx), generator=generator) < 0.5
            if len(idx) < world:  # too few images to give every rank one: the same on every rank
                return
            mine = idx[rank::world].to(self.x.device)
            batch = (self.x[mine].permute(0, 3, 1, 2).float() - self.mean) / self.std
            batch = flip(shift(batch, self.pad, *offsets), flips[rank::world].to(self.x.device))
            yield batch.contiguous(), self.y[mine], len(idx)


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
    batches = TrainingBatches(x, y, card, options.batch_size, ranks.device)
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
        correct += (logits.argmax(1) == labels).sum()
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
