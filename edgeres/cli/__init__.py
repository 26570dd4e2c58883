"""The `edgeres` command: one module per command, each parsing flags into typed settings, calling one library
function and printing; app.py registers them and turns library errors into one line."""

from .app import cli, main

__all__ = ["cli", "main"]
