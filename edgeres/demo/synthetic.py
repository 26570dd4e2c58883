"""A procedural, learnable 10-class image set, so the demo needs no download.

Each class is a shape or texture drawn with random colours, size, position, phase and noise; a small
CNN learns it to high accuracy in about a minute on two CPU cores.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = (
    "disc",
    "ring",
    "square",
    "frame",
    "triangle",
    "cross",
    "hstripes",
    "vstripes",
    "checker",
    "diagonal",
)
SIZE = 32


def _mask(cls: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    cy, cx = rng.uniform(10, 22, size=2)
    r = rng.uniform(5, 10)
    thick = rng.uniform(1.5, 3.0)
    period, phase = rng.uniform(4, 8), rng.uniform(0, 8)
    dist = np.hypot(yy - cy, xx - cx)
    box = np.maximum(np.abs(yy - cy), np.abs(xx - cx))
    shapes: dict[int, Callable[[], np.ndarray]] = {
        0: lambda: dist <= r,
        1: lambda: np.abs(dist - r) <= thick / 2 + 0.5,
        2: lambda: box <= r * 0.85,
        3: lambda: np.abs(box - r * 0.85) <= thick / 2 + 0.5,
        4: lambda: (yy - cy <= r * 0.8) & (np.abs(xx - cx) <= (yy - cy + r) * 0.6) & (yy - cy >= -r),
        5: lambda: ((np.abs(yy - cy) <= thick) | (np.abs(xx - cx) <= thick)) & (box <= r),
        6: lambda: ((yy + phase) % period) < period / 2,
        7: lambda: ((xx + phase) % period) < period / 2,
        8: lambda: (((yy + phase) // (period / 2) + (xx + phase) // (period / 2)) % 2) == 0,
        9: lambda: ((xx + yy * rng.choice([-1, 1]) + phase) % period) < period / 2,
    }
    return shapes[cls]()


def render(cls: int, rng: np.random.Generator) -> np.ndarray:
    """One 32x32x3 uint8 image of class `cls`."""
    background = rng.uniform(0, 255, size=3)
    foreground = rng.uniform(0, 255, size=3)
    while np.abs(foreground - background).sum() < 180:  # keep the shape visible
        foreground = rng.uniform(0, 255, size=3)
    mask = _mask(cls, rng)[..., None]
    image = np.where(mask, foreground, background) + rng.normal(0, 12, size=(SIZE, SIZE, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_image_folder(root: Path, per_class: int, seed: int, progress: Callable[[int, int], None]) -> None:
    """Write `per_class` PNGs for every class under root/<class>/ (ImageFolder layout)."""
    rng = np.random.default_rng(seed)
    total = per_class * len(CLASSES)
    for cls, name in enumerate(CLASSES):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(render(cls, rng)).save(folder / f"{i:05d}.png")
            done = cls * per_class + i + 1
            if done % 200 == 0 or done == total:
                progress(done, total)
