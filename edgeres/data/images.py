"""Decode one image safely into an RGB uint8 array, whatever its mode."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import BadImageError

# PIL's own default; an image declaring more pixels is refused before any pixel is decoded.
DEFAULT_MAX_PIXELS = 89_478_485
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")


def decode_image(source: Path | bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return an HxWx3 uint8 RGB array. Raises BadImageError for corrupt, non-image or oversized input."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise BadImageError(
                        f"{name}: refused as a possible decompression bomb ({width}x{height} pixels, limit "
                        f"{max_pixels}); raise --max-pixels if it is genuine"
                    )
                img.load()
                return _to_rgb(ImageOps.exif_transpose(img))
    except BadImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImageError(
            f"{name}: refused as a possible decompression bomb ({exc}); raise --max-pixels if it is genuine"
        ) from None
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
    ) as exc:
        raise BadImageError(f"{name}: not a readable image ({type(exc).__name__}: {exc})") from None


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = np.clip(np.asarray(img, dtype=np.int64) >> 8, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode == "F":
        gray = np.clip(np.asarray(img, dtype=np.float32), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")  # palette transparency is only honoured through RGBA
    if img.mode != "RGB":
        img = img.convert("RGB")  # CMYK, L, LA, RGBA, YCbCr...: as torchvision's default loader does
    return np.asarray(img, dtype=np.uint8).copy()
