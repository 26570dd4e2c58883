"""Does the exported file compute what the PyTorch model computes? Measured in the file's own runtime."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..card import ModelCard
from ..data import iter_batches, open_images, stratified_subset
from ..finite import finite_outputs
from ..predict import Predictor

FP32_MAX_RELATIVE_DIFF = 1e-3  # of the reference logits' range
FP16_MIN_AGREEMENT = 0.995
RANDOM_INPUTS = 16


@dataclass
class Verification:
    """Agreement of exported and PyTorch logits on the same inputs."""

    inputs: str
    n: int
    max_abs_diff: float
    logit_range: float
    relative_diff: float
    top1_agreement: float
    precision: str
    passed: bool
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verification_inputs(
    card: ModelCard, data: str | os.PathLike[str] | None, limit: int, seed: int = 0
) -> tuple[np.ndarray, str]:
    """Real images from `data` (a stratified `limit` sample), else standard-normal tensors of the card's size."""
    if data is None:
        rng = np.random.default_rng(seed)
        return rng.standard_normal((RANDOM_INPUTS, 3, *card.input_size), dtype=np.float32), "random"
    images = open_images(data)
    indices = stratified_subset(images.labels, len(images), limit, seed)
    batches = [b.x for b in iter_batches(images, card, indices, batch_size=64)]
    return np.concatenate(batches), f"images:{data}"


def verify(
    predictor: Predictor, model: nn.Module, inputs: np.ndarray, source: str, precision: str, name: str
) -> Verification:
    """Compare logits; the rule for float32 is exact top-1 and a diff within 1e-3 of the logit range. A model
    computing NaN or infinity is an error naming it (`name`); an exported file doing so fails verification
    (its non-finite rows never agree, its max |diff| is inf)."""
    with torch.inference_mode():
        reference = np.concatenate(
            [model(torch.from_numpy(c)).numpy() for c in np.array_split(inputs, max(1, len(inputs) // 64))]
        )
    finite_outputs(reference, name)
    exported = predictor.predict(inputs)
    finite = np.isfinite(exported).all(axis=1)
    max_diff = float(np.abs(exported - reference).max()) if finite.all() else float("inf")
    logit_range = float(reference.max() - reference.min())
    relative = max_diff / logit_range if logit_range > 0 else max_diff
    agreement = float((finite & (exported.argmax(1) == reference.argmax(1))).mean())
    if precision == "float16":
        passed, rule = agreement >= FP16_MIN_AGREEMENT, f"top-1 agreement >= {FP16_MIN_AGREEMENT:.1%}"
    else:
        passed = agreement == 1.0 and relative <= FP32_MAX_RELATIVE_DIFF
        rule = f"top-1 agreement 100% and max |diff| <= {FP32_MAX_RELATIVE_DIFF:g} x logit range"
    return Verification(source, len(inputs), max_diff, logit_range, relative, agreement, precision, passed, rule)
