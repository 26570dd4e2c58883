"""Turn an ImageSet into preprocessed batches, skipping (and counting) images that cannot be decoded."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..card import ModelCard
from ..errors import BadImageError, DataError
from .preprocess import preprocess
from .sources import ImageSet


@dataclass
class SkipLog:
    """Images left out of a pass, with the first few reasons kept for the one warning line."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        self.count += 1
        if len(self.examples) < 3:
            self.examples.append(reason)

    def summary(self) -> str:
        if not self.count:
            return ""
        return f"skipped {self.count} unreadable file(s), e.g. {self.examples[0]}"


@dataclass
class Batch:
    x: np.ndarray  # N x 3 x H x W float32
    y: np.ndarray | None  # N int64 labels, or None for unlabeled sets
    indices: np.ndarray


def iter_batches(
    images: ImageSet,
    card: ModelCard,
    indices: Sequence[int] | np.ndarray,
    *,
    batch_size: int = 128,
    strict: bool = False,
    skipped: SkipLog | None = None,
    workers: int = 4,
) -> Iterator[Batch]:
    """Yield preprocessed batches in order. Raises BadImageError under `strict`; DataError if all fail."""
    log = skipped if skipped is not None else SkipLog()
    order = np.asarray(indices, np.int64)
    yielded = 0

    def load(index: int) -> np.ndarray | BadImageError:
        try:
            return preprocess(images.read(int(index)), card)
        except BadImageError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL decoding releases the GIL
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            arrays, kept = [], []
            for index, result in zip(chunk, pool.map(load, chunk), strict=True):
                if isinstance(result, BadImageError):
                    if strict:
                        raise BadImageError(f"{result} (--strict; drop it to skip such files)")
                    log.add(str(result))
                    continue
                arrays.append(result)
                kept.append(index)
            if arrays:
                yielded += len(arrays)
                kept_idx = np.asarray(kept, np.int64)
                labels = images.labels[kept_idx] if images.labels is not None else None
                yield Batch(np.stack(arrays), labels, kept_idx)
    if yielded == 0 and len(order):
        raise DataError(f"{images.name}: none of {len(order)} images could be read ({log.summary()})")
