"""Card-driven preprocessing, in numpy + PIL only so that board-side runners can share it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..card import ModelCard

_PIL_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


def preprocess(image: np.ndarray, card: ModelCard) -> np.ndarray:
    """HxWx3 uint8 RGB -> 3xHxW float32, resized/cropped and normalised as the card says.

    Matches torchvision's PIL path: Resize(shorter side) + CenterCrop, ToTensor, Normalize.
    """
    image = resize_and_crop(image, card)
    scaled = image.astype(np.float32) / np.float32(255.0)
    normalised = (scaled - np.asarray(card.mean, np.float32)) / np.asarray(card.std, np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)


def resize_and_crop(image: np.ndarray, card: ModelCard) -> np.ndarray:
    """Apply the card's geometry only; returns uint8 HxWx3 of exactly `card.input_size`."""
    out_h, out_w = card.input_size
    height, width = image.shape[:2]
    resample = _PIL_FILTERS[card.interpolation]
    if card.resize is not None:
        short, long = (height, width) if height <= width else (width, height)
        new_short, new_long = card.resize, int(card.resize * long / short)
        new_h, new_w = (new_short, new_long) if height <= width else (new_long, new_short)
        if (new_h, new_w) != (height, width):
            image = np.asarray(Image.fromarray(image).resize((new_w, new_h), resample))
        return _center_crop(image, out_h, out_w)
    if (height, width) != (out_h, out_w):
        image = np.asarray(Image.fromarray(image).resize((out_w, out_h), resample))
    return image


def _center_crop(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    height, width = image.shape[:2]
    if height < out_h or width < out_w:
        pad_h, pad_w = max(out_h - height, 0), max(out_w - width, 0)
        image = np.pad(image, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
        height, width = image.shape[:2]
    top = round((height - out_h) / 2.0)
    left = round((width - out_w) / 2.0)
    return image[top : top + out_h, left : left + out_w]
