"""Runtimes come from one torch-free registry."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

from edgeres.runtimes import registry

from .conftest import ROOT


def test_registry_is_torch_free_and_names_each_runtime_once():
    code = (
        "import sys, json; from edgeres.runtimes import registry as r; "
        "print(json.dumps([[x.name, list(x.suffixes)] for x in r.runtimes()])); "
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    declared = json.loads(done.stdout)
    assert declared == [["ort", [".onnx"]], ["litert", [".tflite"]], ["torch", []]]
    for runtime in registry.runtimes():  # every opener resolves without opening anything
        module, _, name = runtime.opener.partition(":")
        assert callable(getattr(importlib.import_module(f"edgeres.runtimes.{module}"), name))
    defaults = {s: registry.runtime_for(Path(f"m{s}")).name for s in (".onnx", ".ONNX", ".tflite", ".pth", ".th")}
    assert defaults == {".onnx": "ort", ".ONNX": "ort", ".tflite": "litert", ".pth": "torch", ".th": "torch"}
    assert registry.board_suffixes() == (".onnx", ".tflite")
    assert [r.name for r in registry.usable({"onnxruntime-gpu": "1", "tflite-runtime": "2", "torch": "2"})] == [
        "ort",
        "litert",
    ]  # torch does not run on boards
