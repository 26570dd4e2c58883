"""The training set of a fine-tuning, in memory: images decoded once at the model's input size (uint8), then
served as shuffled, normalised, augmented batches (random shift and flip, optionally mixup), each epoch's plan
drawn once for the whole job so that every torchrun rank takes its share of the same global batches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from ..augment import flip, mix, mixup_draw, shift, shift_draw
from ..card import ModelCard
from ..data import SkipLog, open_images, resize_and_crop, stratified_subset
from ..errors import BadImageError, DataError
from ..evaluate import class_mapping


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
    """Shuffled, normalised, augmented batches of an in-memory uint8 set, or one rank's share of them: labels
    as class indices, or with mixup as class probabilities (N x classes)."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        card: ModelCard,
        batch_size: int,
        device: torch.device | None = None,
        mixup: float = 0.0,
    ) -> None:
        """`device`: where the images live and are augmented (a GPU keeps its training loop off the CPU). With
        `mixup` (Beta's alpha), images come in blended pairs and their labels as class probabilities."""
        device = device or torch.device("cpu")
        self.x, self.y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        self.mixup, self.classes = mixup, card.num_classes
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
            mine = torch.arange(rank, len(idx), world)  # positions in the global batch
            batch, labels = self._augmented(idx, mine, offsets, flips)
            if self.mixup:  # drawn for the whole batch (only then: plans without mixup stay as they were)
                share = mixup_draw(self.mixup, len(idx), int(torch.randint(2**62, (1,), generator=generator)))
                partners = (mine - 1) % len(idx)  # the global batch's previous image, wherever its rank is
                other, other_labels = self._augmented(idx, partners, offsets, flips)
                batch, labels = mix(batch, self._onehot(labels), share[mine], other, self._onehot(other_labels))
            yield batch.contiguous(), labels, len(idx)

    def _onehot(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels, self.classes).float()

    def _augmented(
        self, idx: torch.Tensor, at: torch.Tensor, offsets: tuple[int, int], flips: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The images at positions `at` of the global batch `idx`, normalised, shifted and flipped as drawn for
        it, and their labels."""
        chosen = idx[at].to(self.x.device)
        batch = (self.x[chosen].permute(0, 3, 1, 2).float() - self.mean) / self.std
        return flip(shift(batch, self.pad, *offsets), flips[at].to(self.x.device)), self.y[chosen]
