"""Exceptions of edgeres: each message is one line that names the file and the fix.

The CLI turns any `EdgeresError` into that line and a non-zero exit; anything else is a bug.
"""

from __future__ import annotations


class EdgeresError(Exception):
    """Base of every error edgeres raises on purpose."""

    exit_code = 1


class CheckpointError(EdgeresError):
    """A checkpoint file cannot be read, or holds something that is not a model's weights."""


class UnsafeCheckpointError(CheckpointError):
    """Loading the file would execute code from it; needs an explicit opt-in."""


class ArchitectureError(EdgeresError):
    """The weights do not fit a known architecture, or fit several, or contradict a flag."""


class CardError(EdgeresError):
    """A model card field (from a flag, a sidecar or the checkpoint) is invalid or inconsistent."""


class DataError(EdgeresError):
    """An image set cannot be read, is empty, or does not match the model."""


class BadImageError(DataError):
    """One image cannot be decoded safely (corrupt, not an image, too many pixels)."""


class OutputError(EdgeresError):
    """An output cannot be written: disk full, read-only, no permission; nothing partial is left."""


class OutputExistsError(EdgeresError):
    """An output file already exists and overwriting was not asked for."""


class ModelFileError(EdgeresError):
    """An exported model file is unreadable, unsafe, or lacks what edgeres needs."""


class RuntimeMissingError(EdgeresError):
    """A runtime package needed for a file format is not installed."""


class ExportError(EdgeresError):
    """Conversion to an export format failed, or the exported file does not compute what the model does."""


class RecipeError(EdgeresError):
    """A quantization option that the chosen engine or target does not offer."""


class NonFiniteError(EdgeresError):
    """A model computed NaN or infinite outputs: no score, agreement or verification is made from them."""


class EdgeresWarning(UserWarning):
    """Something the user should know while the result is still right; the CLI prints it as one `warning:` line."""
