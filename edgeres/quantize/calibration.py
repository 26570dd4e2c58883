"""The calibration set: a class-stratified, deterministic sample preprocessed by the model's own card."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..card import ModelCard
from ..data import ImageSet, SkipLog, iter_batches, open_images, stratified_subset
from ..errors import BadImageError, DataError

MIN_RECOMMENDED = 32


@dataclass
class CalibrationSet:
    """Preprocessed calibration inputs and what identifies them (for reports and caches)."""

    inputs: np.ndarray  # N x 3 x H x W float32
    source: str
    files_sha256: str
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    # Images of the same source that calibration never saw: a cheap check of the int8 file without labels.
    held_out: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 1, 1), np.float32))

    @property
    def n(self) -> int:
        return int(self.inputs.shape[0])

    def require(self, batch: int | None, model: str) -> None:
        """Raises DataError when a file with a fixed batch cannot take even one batch of these images."""
        if batch and self.n < batch:
            raise DataError(
                f"{self.source}: {self.n} calibration image(s), but {model} takes batches of {batch}; "
                f"calibrate with at least {batch} images (--num)"
            )

    def describe(self) -> dict[str, object]:
        return {
            "source": self.source,
            "n": self.n,
            "files_sha256": self.files_sha256,
            "skipped": self.skipped,
            "held_out": len(self.held_out),
        }


def calibration_set(
    data: str | os.PathLike[str],
    card: ModelCard,
    *,
    num: int = 512,
    seed: int = 0,
    split: str = "train",
    held_out: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> CalibrationSet:
    """Sample `num` images from `data`, and up to `held_out` others for checking. Raises DataError when none
    can be read or they do not fit the model."""
    images = open_images(data, split=split)
    indices = stratified_subset(images.labels, len(images), num, seed)
    _check_size(images, indices, card, data)
    skipped = SkipLog()
    inputs, kept = _read(images, card, indices, skipped, progress)
    if len(kept) == 0:
        raise DataError(f"{data}: no calibration image could be read")
    names = "\n".join(images.describe(int(i)) for i in kept)
    result = CalibrationSet(inputs, str(data), hashlib.sha256(names.encode()).hexdigest(), skipped.count)
    pool = np.setdiff1d(np.arange(len(images)), indices)
    if held_out and len(pool):
        labels = images.labels[pool] if images.labels is not None else None
        chosen = pool[stratified_subset(labels, len(pool), held_out, seed + 1)]
        with contextlib.suppress(DataError):  # nothing readable to check on: the report says it had no images
            result.held_out = _read(images, card, chosen, SkipLog(), None)[0]
    if len(kept) < MIN_RECOMMENDED:
        result.warnings.append(
            f"only {len(kept)} calibration images (fewer than {MIN_RECOMMENDED}): ranges may not represent real inputs"
        )
    if skipped.count:
        result.warnings.append(skipped.summary())
    result.warnings += images.warnings
    return result


def _check_size(images: ImageSet, indices: np.ndarray, card: ModelCard, data: str | os.PathLike[str]) -> None:
    """A card without resize says the model sees images as they come: other sizes mean the wrong data."""
    if card.resize is not None:
        return
    for index in indices[:8]:
        try:
            shape = images.read(int(index)).shape[:2]
        except BadImageError:
            continue
        if tuple(shape) != card.input_size:
            want = "x".join(map(str, card.input_size))
            raise DataError(
                f"{images.describe(int(index))}: calibration image is {shape[0]}x{shape[1]} but {card.arch} takes "
                f"{want} images unresized; calibrate with images like the model's inputs ({data}), or give the card "
                "a --resize if the model was trained with one"
            )


def _read(
    images: ImageSet,
    card: ModelCard,
    indices: np.ndarray,
    skipped: SkipLog,
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed inputs and the indices that could be read."""
    batches = []
    for batch in iter_batches(images, card, indices, batch_size=64, skipped=skipped):
        batches.append(batch)
        if progress is not None:
            progress(sum(len(b.x) for b in batches) + skipped.count, len(indices))
    if not batches:
        return np.zeros((0, 3, *card.input_size), np.float32), np.zeros(0, np.int64)
    return np.concatenate([b.x for b in batches]), np.concatenate([b.indices for b in batches])
