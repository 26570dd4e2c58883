"""What the formats whose int8 files run on XNNPACK's kernels (TFLite, ExecuTorch) share."""

from __future__ import annotations

from ..isa import NO_ASSUMPTION, IsaAssumption


class XnnpackKernels:
    """Recipes whose files run on XNNPACK's int8 kernels: symmetric +-127 weights, 256-level activations."""

    weight_qmax = 127
    weight_min_scale = 0.0
    symmetric_activations = False

    @property
    def isa(self) -> IsaAssumption:
        """XNNPACK's x86 int8 kernels widen to 16 bits before multiplying: exact on every x86 CPU (measured)."""
        return NO_ASSUMPTION
