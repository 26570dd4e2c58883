"""Top-1/top-5 accuracy of any Predictor on a labeled ImageSet."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .card import ModelCard
from .data import ImageSet, SkipLog, iter_batches, open_images, stratified_subset
from .errors import DataError
from .finite import finite_outputs
from .isa import cpu_warning
from .predict import Predictor

ProgressFn = Callable[[int, int], None]


@dataclass
class EvalResult:
    """Accuracy of one model on one data set; `n` counts the images actually scored."""

    model: str
    data: str
    n: int
    top1: float
    top5: float
    topk: int
    skipped: int
    skipped_example: str
    label_mapping: str
    seconds: float
    warnings: list[str] = field(default_factory=list)  # e.g. an int8 file that assumes CPU features absent here

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LabeledData:
    """Labeled images to score on: a class-stratified subset of `limit` (None: all), and whether the data's
    i-th class is output i (`by_position`) instead of matching class names."""

    path: str | os.PathLike[str]
    limit: int | None = None
    by_position: bool = False

    def check(self, card: ModelCard, split: str = "test") -> ImageSet:
        """Open the images and check their classes meet the card's, before any long work; raises DataError."""
        images = open_images(self.path, split=split)
        class_mapping(card, images, self.by_position)
        return images


def class_mapping(card: ModelCard, images: ImageSet, by_position: bool = False) -> tuple[np.ndarray, str]:
    """Map data label -> model output, and say how: "by-name" (the data's class names among the model's
    labels) or "by-position" (class i is output i: asked for with `by_position`, or the model names none).

    Raises DataError when the data is unlabeled, or names classes the model does not have.
    """
    if images.labels is None:
        raise DataError(f"{images.name}: has no labels; evaluation needs one sub-folder per class (ImageFolder)")
    if images.classes is None:  # arrays with labels but no class names: the labels are output indices
        if images.labels.size and images.labels.max() >= card.num_classes:
            raise DataError(
                f"{images.name}: label {int(images.labels.max())} is out of range for a model with "
                f"{card.num_classes} outputs; labels must be 0..{card.num_classes - 1}"
            )
        return np.arange(card.num_classes, dtype=np.int64), "by-position"
    data_classes = images.classes
    if card.labels is not None and not by_position:
        unknown = [c for c in data_classes if c not in card.labels]
        if not unknown:
            index = {name: i for i, name in enumerate(card.labels)}
            return np.asarray([index[c] for c in data_classes], np.int64), "by-name"
        raise DataError(
            f"{images.name}: class(es) {', '.join(unknown[:4])} are not among the model's classes "
            f"({', '.join(card.labels[:10])}{', ...' if len(card.labels) > 10 else ''}); rename those folders, "
            "or pass --map-by-position to score the data's i-th class (sorted) as output i"
        )
    if len(data_classes) == card.num_classes:
        return np.arange(card.num_classes, dtype=np.int64), "by-position"
    raise DataError(
        f"{images.name}: {len(data_classes)} classes ({', '.join(data_classes[:4])}, ...) but the model has "
        f"{card.num_classes} outputs; name the class folders as the model's labels, or pass --labels"
    )


def _top_k(predictor: Predictor, x: np.ndarray, k: int, classes: int, label: str) -> np.ndarray:
    """The k best of `classes` per image, best first; DataError naming the model when its output is not that."""
    logits = finite_outputs(predictor.predict(x), label)
    if logits.ndim != 2 or logits.shape[1] != classes:
        raise DataError(f"{label}: model returned shape {logits.shape}, expected (N, {classes})")
    return np.argsort(-logits, axis=1, kind="stable")[:, :k]


def score_many(
    predictors: list[Predictor],
    images: ImageSet,
    *,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 128,
    strict: bool = False,
    progress: ProgressFn | None = None,
    names: list[str] | None = None,
    by_position: bool = False,
) -> tuple[list[EvalResult], np.ndarray]:
    """Score several predictors on the same batches; also return their top-1 agreement with each other
    (agreement[i, j]: the share of images where predictors i and j give the same top-1).

    All predictors must share the first one's classes. Raises DataError on a mismatch.
    """
    card = predictors[0].card
    mapping, how = class_mapping(card, images, by_position)
    indices = stratified_subset(images.labels, len(images), limit, seed)
    k = min(5, card.num_classes)
    hits1, hits5 = (np.zeros(len(predictors), np.int64) for _ in range(2))
    agree = np.zeros((len(predictors), len(predictors)), np.int64)
    scored, skipped, start = 0, SkipLog(), time.perf_counter()
    labels = names or [p.card.source or p.card.arch for p in predictors]
    for batch in iter_batches(images, card, indices, batch_size=batch_size, strict=strict, skipped=skipped):
        assert batch.y is not None  # labeled set, checked by class_mapping
        target = mapping[batch.y]
        tops = []
        for i, predictor in enumerate(predictors):
            topk = _top_k(predictor, batch.x, k, card.num_classes, labels[i])
            tops.append(topk[:, 0])
            hits1[i] += int((topk[:, 0] == target).sum())
            hits5[i] += int((topk == target[:, None]).any(axis=1).sum())
        top1 = np.stack(tops)
        agree += (top1[:, None, :] == top1[None, :, :]).sum(axis=2)
        scored += len(target)
        if progress is not None:
            progress(scored + skipped.count, len(indices))
    seconds = time.perf_counter() - start
    results = [
        EvalResult(
            labels[i],
            images.name,
            scored,
            hits1[i] / scored,
            hits5[i] / scored,
            k,
            skipped.count,
            skipped.examples[0] if skipped.examples else "",
            how,
            seconds,
            list(images.warnings),
        )
        for i in range(len(predictors))
    ]
    return results, agree / scored


def evaluate(
    predictor: Predictor,
    images: ImageSet,
    *,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 128,
    strict: bool = False,
    progress: ProgressFn | None = None,
    model_name: str = "",
    by_position: bool = False,
) -> EvalResult:
    """Score `predictor` on `images` (a stratified `limit` subset when given). Raises DataError."""
    results, _ = score_many(
        [predictor],
        images,
        limit=limit,
        seed=seed,
        batch_size=batch_size,
        strict=strict,
        progress=progress,
        names=[model_name] if model_name else None,
        by_position=by_position,
    )
    warning = cpu_warning(Path(model_name).name or "the model", predictor)
    results[0].warnings += [warning] if warning else []
    return results[0]
