"""Image sets and card-driven preprocessing (numpy + PIL; no torch)."""

from .batches import Batch, SkipLog, iter_batches
from .images import DEFAULT_MAX_PIXELS, decode_image
from .preprocess import preprocess, resize_and_crop
from .sampling import stratified_subset
from .sources import ArrayImageSet, FileImageSet, ImageSet, open_images

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ArrayImageSet",
    "Batch",
    "FileImageSet",
    "ImageSet",
    "SkipLog",
    "decode_image",
    "iter_batches",
    "open_images",
    "preprocess",
    "resize_and_crop",
    "stratified_subset",
]
