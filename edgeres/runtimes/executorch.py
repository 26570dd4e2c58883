"""ExecuTorch's runtime (the `executorch` wheel, XNNPACK built in) behind the Predictor protocol, for .pte files.

Not a board runtime: the wheel's Python bindings take and return torch tensors, so it needs torch. A board runs
.pte files with ExecuTorch's C++ runner (or an app), not with edgeres's torch-free runner.
XNNPACK's thread pool is one per process and cannot be resized while a program is loaded (resizing it then
crashed the process with a heap error; with none loaded it resized cleanly): a file asking for another thread
count than the open ones is an error.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._quiet import drop_torch_enum_notice, native_stderr_silenced
from ..errors import EdgeresError, ModelFileError, RuntimeMissingError
from ..formats.pte import METADATA_METHOD
from ..oneline import gist
from ..options import LoadOptions, RuntimeOptions
from .batching import run_in_chunks, to_layout
from .embedded import card_from_entries, exported_file, isa_from_entries
from .registry import Runtime

RUNTIME = Runtime(
    "executorch",
    "ExecuTorch",
    ("pte",),
    ("executorch",),
    "executorch:ExecuTorchPredictor",
    board=False,
    requires=("torch",),
)
_pool: list[int] = []  # the thread count this process's XNNPACK pool was set to
_open: weakref.WeakSet[ExecuTorchPredictor] = weakref.WeakSet()  # predictors not yet closed or collected


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ExecuTorch logs through the C library and through Python's sys.stderr: both kept off the terminal."""
    with native_stderr_silenced(), contextlib.redirect_stderr(io.StringIO()):
        yield


def _runtime() -> Any:
    drop_torch_enum_notice()
    try:
        with _quiet():  # its CPU probe logs what it cannot read, on every import
            import executorch.extension.pybindings.portable_lib as bindings
            from executorch.runtime import Runtime as EtRuntime
    except ImportError:
        raise RuntimeMissingError("ExecuTorch is not installed: pip install executorch") from None
    return EtRuntime.get(), bindings


def _set_threads(bindings: Any, threads: int) -> None:
    """Size the process's pool for the program about to load; only while no other program is open."""
    if _pool == [threads]:
        return
    if any(open_one.method is not None for open_one in _open):
        raise EdgeresError(
            f"ExecuTorch's thread pool is one per process and runs {_pool[0]} thread(s) for a .pte file still "
            f"open; close it first, or use one --threads value per run (asked for {threads})"
        )
    with _quiet():  # "Resetting threadpool to N threads."
        bindings._unsafe_reset_threadpool(threads)
    _pool[:] = [threads]


class ExecuTorchPredictor:
    """A .pte program's `forward` on ExecuTorch's runtime (XNNPACK-delegated where the export put it)."""

    def __init__(
        self, path: str | os.PathLike[str], options: RuntimeOptions | None = None, load: LoadOptions | None = None
    ) -> None:
        options, load = options or RuntimeOptions(), load or LoadOptions()
        threads = options.threads
        self.path = exported_file(path, load)  # `device` is always the CPU: Runtime.open refuses others
        runtime, bindings = _runtime()
        _set_threads(bindings, threads or os.cpu_count() or 1)
        try:
            with _quiet():  # its loader logs why it fails; the exception says it as well
                program = runtime.load_program(self.path)
            self.method = program.load_method("forward")
            entries = self._entries(program)
        except Exception as exc:  # the bindings raise RuntimeError for damaged and foreign programs alike
            raise ModelFileError(f"{self.path}: not a loadable ExecuTorch program ({gist(exc)})") from None
        self.card, self.io = card_from_entries(entries, self.path, load)
        self.isa = isa_from_entries(entries)
        self.fixed_batch = int(self.method.metadata.input_tensor_meta(0).sizes()[0])
        _open.add(self)

    def _entries(self, program: Any) -> dict[str, str]:
        if METADATA_METHOD not in program.method_names:
            return {}  # a .pte from elsewhere: card_from_entries asks for the card options
        entries: dict[str, str] = json.loads(program.load_method(METADATA_METHOD).execute([])[0])
        return entries

    def _run(self, x: np.ndarray) -> np.ndarray:
        import torch

        return np.asarray(self.method.execute([torch.from_numpy(np.ascontiguousarray(x))])[0], dtype=np.float32)

    def prepare(self, batch: np.ndarray) -> Any:
        """Native input (a torch tensor) for an NCHW float batch of exactly the file's batch size."""
        import torch

        if len(batch) != self.fixed_batch:
            raise ModelFileError(
                f"{self.path}: takes batches of {self.fixed_batch}, not {len(batch)}; "
                f"export with --batch {len(batch)} to run that batch size"
            )
        data = to_layout(batch.astype(np.float32, copy=False), self.io.layout)
        return torch.from_numpy(np.ascontiguousarray(data))

    def invoke(self, native: Any) -> None:
        """One inference on prepared input: what a benchmark times."""
        self.method.execute([native])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        data = to_layout(batch.astype(np.float32, copy=False), self.io.layout)
        return run_in_chunks(data, self.fixed_batch, self._run)

    def close(self) -> None:
        self.method = None
