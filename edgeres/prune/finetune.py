"""Recover a pruned model's accuracy: SGD with a cosine schedule, optional distillation, resumable.

The training images are decoded once into memory at the model's input size (uint8), then augmented on the
fly (random shift and flip). After every epoch the whole training state is written atomically, so an
interrupted run continues from its last finished epoch with `resume=True`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._io import atomic_output
from ..augment import random_flip, random_shift
from ..card import ModelCard
from ..data import SkipLog, open_images, resize_and_crop, stratified_subset
from ..errors import BadImageError, DataError, EdgeresError
from ..evaluate import class_mapping

# (epoch, step, steps per epoch, running loss, running top-1)
TrainProgress = Callable[[int, int, int, float, float], None]


@dataclass(frozen=True)
class FinetuneOptions:
    epochs: int = 5
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    distill: bool = False
    temperature: float = 4.0
    distill_weight: float = 0.9  # of the soft-target loss; the rest is cross-entropy on the labels
    limit: int | None = None  # a class-stratified subset of the training images
    seed: int = 0


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
    """Shuffled, normalised, augmented batches of an in-memory uint8 set."""

    def __init__(self, x: np.ndarray, y: np.ndarray, card: ModelCard, batch_size: int) -> None:
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.mean = torch.tensor(card.mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(card.std).view(1, 3, 1, 1) * 255
        self.batch_size = batch_size
        self.pad = max(1, min(card.input_size) // 8)

    def __len__(self) -> int:
        return (len(self.y) + self.batch_size - 1) // self.batch_size

    def epoch(self, generator: torch.Generator) -> Any:
        order = torch.randperm(len(self.y), generator=generator)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = (self.x[idx].permute(0, 3, 1, 2).float() - self.mean) / self.std
            batch = random_flip(random_shift(batch, self.pad, generator), generator)
            yield batch.contiguous(), self.y[idx]


def _loss(logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor | None, o: FinetuneOptions) -> Any:
    hard = F.cross_entropy(logits, labels)
    if teacher is None:
        return hard
    t = o.temperature
    soft = F.kl_div(F.log_softmax(logits / t, 1), F.log_softmax(teacher / t, 1), reduction="batchmean", log_target=True)
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
) -> FinetuneLog:
    """Train `model` in place on the labeled folder `data`; the state after each epoch goes to `state_path`.

    `state_extra` (e.g. the pruned spec and card as JSON) is stored with the state so a resumed run can
    rebuild the model. Raises DataError for unusable data, EdgeresError for a state from other options.
    """
    x, y, skipped = load_training_images(data, card, options.limit, options.seed, by_position)
    batches = TrainingBatches(x, y, card, options.batch_size)
    optimizer = torch.optim.SGD(
        model.parameters(), options.lr, momentum=options.momentum, weight_decay=options.weight_decay, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=options.epochs * len(batches))
    log = FinetuneLog(images=len(y), skipped=skipped)
    if resume and state_path.exists():
        log.resumed_from = _restore(state_path, model, optimizer, scheduler, log, options)
    if teacher is not None:
        teacher.eval()
    for epoch in range(log.resumed_from, options.epochs):
        log.epochs.append(_train_epoch(model, teacher, batches, optimizer, scheduler, options, epoch, progress))
        state = {"epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict()}
        state |= {"scheduler": scheduler.state_dict(), "log": json.dumps(log.to_dict())}
        state |= {"options": json.dumps(asdict(options)), **state_extra}
        with atomic_output(state_path, force=True) as tmp:
            torch.save(state, tmp)
    model.eval()
    return log


def _train_epoch(
    model: nn.Module,
    teacher: nn.Module | None,
    batches: TrainingBatches,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    options: FinetuneOptions,
    epoch: int,
    progress: TrainProgress | None,
) -> EpochLog:
    model.train()
    generator = torch.Generator().manual_seed(options.seed * 1000 + epoch)  # a resumed epoch replays exactly
    start, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
    lr = optimizer.param_groups[0]["lr"]
    for step, (images, labels) in enumerate(batches.epoch(generator), 1):
        logits = model(images)
        with torch.no_grad():
            soft = teacher(images) if teacher is not None else None
        loss = _loss(logits, labels, soft, options)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += float(loss.detach()) * len(labels)
        correct += int((logits.argmax(1) == labels).sum())
        seen += len(labels)
        if progress is not None:
            progress(epoch + 1, step, len(batches), loss_sum / seen, correct / seen)
    model.eval()
    return EpochLog(epoch + 1, loss_sum / seen, correct / seen, lr, time.perf_counter() - start)


def read_state(state_path: Path) -> dict[str, Any]:
    """A saved training state (tensors, numbers and JSON strings only: loaded with weights_only)."""
    try:
        state: dict[str, Any] = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable state gets the same advice
        raise EdgeresError(
            f"{state_path}: unreadable training state ({exc}); delete it and start without --resume"
        ) from None
    return state


def _restore(
    state_path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    log: FinetuneLog,
    options: FinetuneOptions,
) -> int:
    state = read_state(state_path)
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
