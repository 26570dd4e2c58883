"""Which onnxruntime execution provider runs a file, with what options: CPU, CUDA, or TensorRT.

TensorRT (`tensorrt`, or `tensorrt-fp16` for its fp16 mode) builds an engine per model, input shape and
precision, which takes seconds to minutes: edgeres keeps the engines (and TensorRT's timing cache) in a folder
beside the model, `<model>.trt/`, so that the next session starts from them. An int8 QDQ file is explicit
quantization for TensorRT: its scales come from the file, no calibration table is involved, and TensorRT
takes symmetric int8 Q/DQ only, so files quantized with uint8 activations (the `x86` recipes) are refused
with the recipe that fits (`--target generic`).
onnxruntime silently runs on the next provider (or the CPU) when one fails to load; a session whose first
provider is not the one asked for is an error here, never a CUDA or CPU number reported as TensorRT's.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._quiet import output_captured
from ..errors import EdgeresError, ModelFileError, RuntimeMissingError
from ..oneline import gist

# --provider values: tensorrt-fp16 is TensorRT with its fp16 mode (--fp16 stays PyTorch's, so that one bench can
# compare a checkpoint in float16 with ONNX files on any provider).
PROVIDERS = {
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "tensorrt-fp16": "TensorrtExecutionProvider",
}
_TENSORRT_INSTALL = "pip install onnxruntime-gpu tensorrt (TensorRT's libraries on the library path)"
INSTALL = {
    "cuda": "pip install onnxruntime-gpu (CUDA 13 builds since 1.31)",
    "tensorrt": _TENSORRT_INSTALL,
    "tensorrt-fp16": _TENSORRT_INSTALL,
}


@dataclass(frozen=True)
class ProviderChoice:
    """What the user asked for: the device and a GPU provider (None: the device's default)."""

    device: str = "cpu"
    provider: str | None = None

    def check(self, path: Path) -> None:
        """Options that do not apply are errors, before any session is made."""
        if self.provider is not None and self.provider not in PROVIDERS:
            raise EdgeresError(f"unknown --provider {self.provider!r}; choose one of {', '.join(PROVIDERS)}")
        if self.provider is not None and self.device == "cpu":
            raise EdgeresError(f"{path}: --provider {self.provider} runs on the GPU; add --device cuda")

    @property
    def name(self) -> str:
        return "cpu" if self.device == "cpu" else self.provider or "cuda"

    @property
    def tensorrt(self) -> bool:
        return self.name.startswith("tensorrt")


def session_providers(ort: Any, path: Path, choice: ProviderChoice, qdq: str | None) -> list[Any]:
    """onnxruntime's providers argument for `path`. `qdq` is the file's activation type when it is a QDQ int8
    file ("int8" or "uint8"), else None. Raises EdgeresError subclasses for what cannot run."""
    choice.check(path)
    if choice.name == "cpu":
        return ["CPUExecutionProvider"]
    if choice.tensorrt and qdq == "uint8":  # wrong for TensorRT wherever it is installed
        raise ModelFileError(
            f"{path}: int8 with uint8 activations (an x86 recipe); TensorRT runs symmetric int8 Q/DQ only: "
            "quantize with --target generic"
        )
    available = ort.get_available_providers()
    wanted = PROVIDERS[choice.name]
    if wanted not in available:
        raise RuntimeMissingError(
            f"--device {choice.device} --provider {choice.name}: onnxruntime has no {wanted} here (has "
            f"{', '.join(available)}); {INSTALL[choice.name]}"
        )
    if choice.name == "cuda":
        return [wanted, "CPUExecutionProvider"]
    fp16 = choice.name == "tensorrt-fp16"
    return [(wanted, tensorrt_options(path, fp16, qdq is not None)), PROVIDERS["cuda"], "CPUExecutionProvider"]


def tensorrt_options(path: Path, fp16: bool, int8: bool) -> dict[str, str]:
    """TensorRT provider options: engines and timing cache beside the model, fp16 and int8 modes."""
    cache = path.with_name(path.name + ".trt")
    return {
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(cache),
        "trt_fp16_enable": str(fp16),
        "trt_int8_enable": str(int8),  # explicit quantization: the scales are the file's Q/DQ nodes
    }


def open_session(ort: Any, path: Path, settings: Any, choice: ProviderChoice, graph: Any) -> Any:
    """An InferenceSession of `path` on the provider asked for (`graph`: the file's onnx graph, or None on boards
    without `onnx`). What onnxruntime prints while it sets up a GPU provider is kept to say why one failed."""
    providers = session_providers(ort, path, choice, qdq_activations(graph))
    capture = output_captured() if choice.name != "cpu" else contextlib.nullcontext([""])
    try:
        with capture as log:
            session = ort.InferenceSession(str(path), settings, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ModelFileError(f"{path}: onnxruntime cannot load it ({gist(exc)})") from None
    check_session(session, path, choice, "".join(log))
    return session


def check_session(session: Any, path: Path, choice: ProviderChoice, log: str = "") -> None:
    """The session runs on the provider asked for: onnxruntime falls back to the next provider, or the CPU,
    saying why only in what it prints (`log`, captured while the session was made)."""
    if choice.name == "cpu":
        return
    first = session.get_providers()[0]
    if first != PROVIDERS[choice.name]:
        raise RuntimeMissingError(
            f"{path}: onnxruntime could not start {PROVIDERS[choice.name]} ({fallback_reason(log)}) and fell back "
            f"to {first}; {INSTALL[choice.name]}"
        )


def fallback_reason(log: str) -> str:
    """The library that failed to load, or the first line of onnxruntime's provider error, from its output."""
    missing = re.search(r"Failed to load library (\S+) with error: ([^\n\x1b]+)", log)
    if missing:
        return f"{Path(missing.group(1)).name}: {missing.group(2).strip()}"
    error = re.search(r"^EP Error ([^\n]+?)(?: when using|$)", log, re.MULTILINE)
    return error.group(1).strip()[-240:] if error else "no reason printed"


def qdq_activations(graph: Any) -> str | None:
    """ "int8" or "uint8" for a QDQ file (the type of its activations' QuantizeLinear zero points), else None."""
    if graph is None:
        return None
    initializers = {t.name: t.data_type for t in graph.graph.initializer}
    types = {
        initializers.get(node.input[2]) for node in graph.graph.node if node.op_type == "QuantizeLinear"
        and len(node.input) > 2
    }  # fmt: skip
    if not types:
        return None
    return "uint8" if 2 in types else "int8"  # onnx.TensorProto.UINT8 == 2, INT8 == 3
