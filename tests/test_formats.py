"""Formats come from one torch-free registry: each declared once, and every consumer reads that declaration."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgeres.export.base import get_exporter
from edgeres.formats import registry
from edgeres.isa import CPU_TARGETS
from edgeres.quantize.engine import EngineClass
from edgeres.quantize.prepare.grid import Grid
from edgeres.quantize.recipes import RecipeError, embedded_record, recipe_for
from edgeres.runtimes import registry as runtimes

from .conftest import ROOT

FORMATS = registry.names()
INT8 = registry.int8_names()


def test_registry_is_torch_free_and_declares_each_format_once():
    code = (
        "import sys, json; from edgeres.formats import registry as r; "
        "print(json.dumps([[f.name, f.suffix] for f in r.formats()])); "
        "assert not {'torch', 'onnx', 'onnxruntime', 'executorch', 'ai_edge_litert'} & set(sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    declared = json.loads(done.stdout)
    assert declared == [["onnx", ".onnx"], ["tflite", ".tflite"], ["pte", ".pte"]]
    assert len({suffix for _, suffix in declared}) == len(declared)
    assert registry.DEFAULT == "onnx" and registry.int8_names() == ("onnx", "tflite", "pte")
    assert registry.probe_names() == ("onnx", "tflite")


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_declaration_resolves_to_its_exporter_engine_and_probes(fmt: str):
    declared = registry.named(fmt)
    assert get_exporter(fmt).name == fmt
    assert registry.by_suffix(f"model{declared.suffix.upper()}") == declared
    if declared.int8 is not None:
        engine: EngineClass = declared.load(declared.int8.engine)
        assert callable(engine.for_job)
        for target in CPU_TARGETS:  # every target gets a recipe of this format, on its engine's grid
            recipe = recipe_for(fmt, target)
            assert recipe.format == fmt and recipe.method == declared.int8.methods[0]
            assert Grid.of(recipe).weight_qmax in (64, 127)
            assert embedded_record(recipe)["format"] == fmt
    if declared.probes is not None:
        assert callable(declared.load(declared.probes).conv)
    # the runtimes that open it are the ones declaring it, and its default runtime opens its suffix
    owners = [r.name for r in runtimes.runtimes() if fmt in r.formats]
    assert owners and runtimes.runtime_for(Path(f"m{declared.suffix}")).name == owners[0]


def test_recipes_refuse_what_their_engine_does_not_offer():
    with pytest.raises(RecipeError, match=r"--method mse is not offered by the onnx engine"):
        recipe_for("onnx", "x86", method="mse")
    with pytest.raises(RecipeError, match=r"--io int8 is for tflite; int8 pte files offer --io float"):
        recipe_for("pte", "arm64", io="int8")
    with pytest.raises(RecipeError, match=r"unknown --target"):
        recipe_for("tflite", "riscv")


@pytest.mark.shared
def test_signatures_name_real_files_whatever_they_are_called(resnet20_files, exported, tmp_path: Path):
    pte = exported("resnet20-12fca82f.th", "pte")
    files = {"onnx": resnet20_files["fp32.onnx"], "tflite": resnet20_files["int8.tflite"], "pte": pte}
    for fmt, path in files.items():
        disguised = tmp_path / f"disguised-{fmt}.bin"
        disguised.write_bytes(path.read_bytes())
        assert registry.by_content(disguised) == registry.named(fmt)
    (tmp_path / "notes.txt").write_text("not a model")
    assert registry.by_content(tmp_path / "notes.txt") is None
    assert registry.by_content(tmp_path / "missing.onnx") is None


def test_help_and_pipeline_schema_read_the_registry():
    from edgeres.pipeline.config import example_config

    from .conftest import run_cli

    quantize_help = run_cli("quantize", "--help").stdout
    export_help = run_cli("export", "--help").stdout
    for declared in registry.formats():
        assert declared.suffix in export_help and declared.name in export_help
        if declared.int8 is not None:
            assert all(method in quantize_help for method in declared.int8.methods)
    defaults = [f.name for f in registry.formats() if f.pipeline_default]
    assert re.search(r"formats = \[" + ", ".join(f'"{name}"' for name in defaults) + r"\]", example_config())


def test_no_module_outside_a_formats_own_names_its_suffix():
    """A format's suffix appears only in modules of its own (named for it or its runtime) and the registry."""
    own = {
        "onnx": ("onnx", "onnxruntime", "openvino"),
        "tflite": ("tflite", "litert"),
        "pte": ("pte", "executorch"),
    }
    package = ROOT / "edgeres"
    for fmt, stems in own.items():
        pattern = re.compile(rf"[\"']{fmt}[\"']|\.{fmt}\b")
        found = {
            path.relative_to(package).as_posix()
            for path in package.rglob("*.py")
            if pattern.search(path.read_text(encoding="utf-8"))
        }
        stray = {p for p in found if p != "formats/registry.py" and not any(stem in p for stem in stems)}
        assert not stray, f"{fmt} named outside its own modules: {sorted(stray)}"
