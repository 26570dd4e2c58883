"""Deterministic, class-stratified subsets: the same (labels, limit, seed) always give the same images."""

from __future__ import annotations

import numpy as np


def stratified_subset(labels: np.ndarray | None, total: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """Return sorted indices of `limit` items, each class represented in proportion to its size.

    Unlabeled sets get a uniform random sample. `limit` None or >= total keeps everything.
    """
    if limit is None or limit >= total:
        return np.arange(total)
    if limit < 1:
        raise ValueError("limit must be positive")
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(total, size=limit, replace=False))
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * limit / total
    take = np.floor(quota).astype(int)
    # Largest remainders get the leftover slots; ties broken by class order for determinism.
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: limit - int(take.sum())]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == cls))[:n] for cls, n in zip(classes, take, strict=True) if n > 0]
    return np.sort(np.concatenate(chosen))
