"""Open any model file as a benchmark runner: onnxruntime, LiteRT or PyTorch behind one interface."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import EdgeresError, RuntimeMissingError

RUNTIMES = ("ort", "litert", "torch")


def runtime_for(path: Path, runtime: str | None) -> str:
    """The runtime a file runs in; a --runtime that cannot run it is an error."""
    natural = {".onnx": "ort", ".tflite": "litert"}.get(path.suffix.lower(), "torch")
    if runtime is not None and runtime != natural:
        raise EdgeresError(f"{path}: a {path.suffix or 'checkpoint'} file runs in {natural}, not --runtime {runtime}")
    return natural


def open_runner(
    path: Path,
    runtime: str,
    *,
    device: str = "cpu",
    threads: int | None = None,
    fp16: bool = False,
    compile_mode: str | None = None,
    cuda_graphs: bool = False,
) -> Any:
    """A Predictor with prepare()/invoke(). Raises RuntimeMissingError when the device or package is absent.

    `fp16`, `compile_mode` and `cuda_graphs` are PyTorch options; exported files carry their own precision.
    """
    if runtime != "torch" and (compile_mode or cuda_graphs):
        raise EdgeresError(f"{path}: --compile and --cuda-graphs apply to PyTorch checkpoints, not {runtime} files")
    if runtime == "ort":
        from ..runtimes.onnxruntime import OrtPredictor

        return OrtPredictor(path, threads=threads, providers=_ort_providers(device))
    if device != "cpu" and runtime == "litert":
        raise EdgeresError(f"{path}: LiteRT runs on the CPU here (XNNPACK); drop --device {device}")
    if runtime == "litert":
        from ..runtimes.litert import LiteRtPredictor

        return LiteRtPredictor(path, threads=threads)
    try:
        import torch
    except ImportError:
        raise RuntimeMissingError(
            f"{path}: checkpoints run in PyTorch, which is not installed here: pip install torch, "
            "or bench the exported .onnx/.tflite file"
        ) from None

    from ..models import load_model
    from ..predict import TorchPredictor

    if device != "cpu" and not torch.cuda.is_available():
        raise RuntimeMissingError("--device cuda: torch.cuda.is_available() is False on this machine; use --device cpu")
    if threads:
        torch.set_num_threads(threads)
    loaded = load_model(path)
    return TorchPredictor(
        loaded.model, loaded.card, device=device, half=fp16, compile_mode=compile_mode, cuda_graphs=cuda_graphs
    )


def _ort_providers(device: str) -> list[str]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    if not wanted:
        raise RuntimeMissingError(
            f"--device {device}: onnxruntime has no CUDA execution provider (has {available}); "
            "pip install onnxruntime-gpu"
        )
    return [*wanted, "CPUExecutionProvider"]


def file_bytes(path: Path) -> int:
    return os.path.getsize(path)
