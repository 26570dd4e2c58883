"""What quantization-aware fine-tuning is asked to do: one frozen object, validated here."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from ...errors import RecipeError
from ...options import LoadOptions
from ...prune.options import mixup_error

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True, kw_only=True)
class QatSettings:
    """Fine-tune on the labeled images `data` while computing on the int8 grid. The learning rate is small: the
    model starts trained and its batch norms are folded (no normalisation steadies the steps); at 1e-3 a
    CIFAR ResNet's folded network diverged within ten steps, at 1e-4 it did not (docs/benchmarks.md)."""

    data: str | os.PathLike[str]
    epochs: int = 2
    lr: float = 1e-4
    limit: int | None = None  # a class-stratified subset of the training images
    batch_size: int = 128
    distill: bool = True  # train on the float model's outputs alone (agreement with it is the goal); else labels
    # Mixup's alpha: the float model's outputs on blended pairs of training images (function matching) carry
    # more of its decision boundaries than on the images it was trained on. 0.4 against none (best + QAT, one
    # epoch on 10,000 images, docs/benchmarks.md): the same mean agreement over six CIFAR ResNet/format pairs,
    # ONNX top-1 held at fp32's (-0.09 and -0.14 pp without); single pairs move by up to 0.16 pp either way.
    mixup: float = 0.4
    resume: bool = False
    device: str = "cpu"
    map_by_position: bool = False
    seed: int = 0
    # Activation scales trained too (LSQ). Off: on resnet20 it gained nothing at the weights' rate, nor at 100x
    # it (LSQ's own 1e-2; best + QAT, one format up 0.10 pp, one down 0.20, one down 0.06: docs/benchmarks.md),
    # and a learned scale reaches onnxruntime's file only to within a few float32 ulps of its own arithmetic.
    learn_scales: bool = False
    # Distil from this checkpoint instead of the model itself: the unpruned original when QAT is a pruned
    # model's fine-tuning (the pipeline's prune + QAT), as pruning's own fine-tuning distils from it.
    teacher: str | os.PathLike[str] | None = None
    teacher_load: LoadOptions | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise RecipeError(f"--epochs must be 1 or more, got {self.epochs}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise RecipeError(f"--lr must be a positive number, got {self.lr}")
        if self.limit is not None and self.limit < 1:
            raise RecipeError(f"--finetune-limit must be 1 or more images, got {self.limit}")
        if self.batch_size < 1:
            raise RecipeError(f"--batch-size must be 1 or more, got {self.batch_size}")
        wrong = mixup_error(self.mixup)
        if wrong:
            raise RecipeError(wrong)
        if self.device not in DEVICES:
            raise RecipeError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")

    def described(self) -> dict[str, Any]:
        """How it trained, for reports: the choices a reader needs to reproduce the run."""
        return {"lr": self.lr, "batch_size": self.batch_size, "distill": self.distill, "mixup": self.mixup}
