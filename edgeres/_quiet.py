"""Native libraries' start-up chatter kept off the terminal: stderr is for edgeres's warnings and errors."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block.

    TensorFlow Lite and LiteRT print lines such as "Created TensorFlow Lite XNNPACK delegate" and absl/oneDNN
    start-up notes straight to descriptor 2, whatever the log level. Python exceptions raised in the block
    still carry their messages, so a failure is never hidden.
    """
    with open(os.devnull, "w") as null, _descriptor_2_to(null.fileno()):
        yield


@contextlib.contextmanager
def _descriptor_2_to(target: int) -> Iterator[None]:
    """File descriptor 2 (native code's stderr) points at `target` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(target, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def output_captured() -> Iterator[list[str]]:
    """Keep descriptor 2 and Python's stdout off the terminal for the block; the yielded list then holds what
    they received. For libraries that explain a failure only in what they print (onnxruntime's provider
    fallback prints why a provider did not load, then carries on without it)."""
    captured: list[str] = []
    with tempfile.TemporaryFile() as sink, contextlib.redirect_stdout(io.StringIO()) as printed:
        try:
            with _descriptor_2_to(sink.fileno()):
                yield captured
        finally:
            sink.seek(0)
            captured.append(printed.getvalue() + sink.read().decode(errors="replace"))


def quiet_litert_converter() -> None:
    """litert-torch and its converter print progress trees and C++ INFO logs; a CLI keeps stdout for results.
    Environment defaults, so they must be set before the converter is imported (a user's own values win)."""
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _DropRegisterConstantNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "register_constant() on Enum subclasses is deprecated" not in record.getMessage()


def drop_torch_enum_notice() -> None:
    """Keep torch's "<enum 'KernelPreference'> ... register_constant() ... deprecated" note (logged when
    ExecuTorch's quantizer libraries are imported, on every ExecuTorch export) off stderr; other torch warnings stay."""
    logger = logging.getLogger("torch.utils._pytree")
    if not any(isinstance(f, _DropRegisterConstantNotice) for f in logger.filters):
        logger.addFilter(_DropRegisterConstantNotice())
