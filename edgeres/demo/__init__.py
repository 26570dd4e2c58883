"""The self-contained demo: procedural data, a small trained model, every stage that exists."""

from .run import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
