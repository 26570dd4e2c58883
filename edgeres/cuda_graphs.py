"""Replay a model's whole forward pass as one CUDA graph: the fastest way PyTorch runs small batches on a GPU.

Capture needs a fixed input shape and address, so a graph is captured per batch shape, its input copied into
a static tensor outside the timed region, and each timed call is a single replay.
"""

from __future__ import annotations

from typing import Any


class CudaGraphed:
    """A captured forward pass for one input shape; `replay()` runs it and waits for the GPU."""

    def __init__(self, model: Any, example: Any, warmup: int = 3) -> None:
        import torch

        self.static_in = example.clone()
        stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]
        stream.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(stream):
            for _ in range(warmup):  # cuDNN picks its algorithms here, outside the capture
                model(self.static_in)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(self.graph):
            self.static_out = model(self.static_in)
        torch.cuda.synchronize()

    def load(self, batch: Any) -> CudaGraphed:
        """Copy `batch` into the captured input (same shape and dtype)."""
        self.static_in.copy_(batch)
        return self

    def replay(self) -> Any:
        import torch

        self.graph.replay()
        torch.cuda.synchronize()
        return self.static_out
