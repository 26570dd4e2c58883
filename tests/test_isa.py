"""Int8 that is right on every x86 CPU: CPU features, recipe targets, 16-bit saturation on AVX2-only CPUs
(run natively there, under qemu-user's Haswell elsewhere), and the warnings that name a mismatch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgeres.isa import NEEDS_VNNI, NO_ASSUMPTION, Cpu, local_cpu, mismatch, target_for_cpu
from edgeres.quantize import QuantizeSettings, quantize_model, recipe_for
from edgeres.quantize.check import HeldOutCheck, sqnr_db
from edgeres.quantize.recipe_target import resolve_quantize_target
from edgeres.remote.targets import TargetError, load_targets
from edgeres.runtimes.embedded import QUANT_KEY
from edgeres.runtimes.onnx_isa import graph_isa

from .avx2 import run_avx2
from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli

AVX2 = Cpu("Haswell", "x86_64", ("avx2", "fma"))
VNNI = Cpu("Ice Lake", "x86_64", ("avx2", "avx512_vnni", "avx512f", "fma"))
ARM = Cpu("Cortex-A76", "aarch64", ("asimd", "asimddp"))

# One 1x1 QDQ convolution over 4 input channels, every activation 255 and every weight `w`: the exact sum is
# 255 * w * 4. u8*s8 kernels without VNNI add pairs of products into a saturating 16-bit lane.
PROBE = """
import json, sys, numpy as np, onnxruntime as ort
from onnx import helper as h, numpy_helper as nh, TensorProto as T
def model(w):
    c = lambda a, n: nh.from_array(np.asarray(a), n)
    inits = [c(np.float32(1), "s"), c(np.uint8(0), "z"), c(np.int8(0), "zw"), c(np.float32(512), "so"),
             c(np.full((8, 4, 1, 1), w, np.int8), "w")]
    n = h.make_node
    nodes = [n("QuantizeLinear", ["x", "s", "z"], ["xq"]), n("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
             n("DequantizeLinear", ["w", "s", "zw"], ["wd"]), n("Conv", ["xd", "wd"], ["y"]),
             n("QuantizeLinear", ["y", "so", "z"], ["yq"]), n("DequantizeLinear", ["yq", "so", "z"], ["out"])]
    io = [h.make_tensor_value_info(k, T.FLOAT, [1, c_, 2, 2]) for k, c_ in (("x", 4), ("out", 8))]
    m = h.make_model(h.make_graph(nodes, "probe", io[:1], io[1:], inits), opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 9
    return m.SerializeToString()
x = np.full((1, 4, 2, 2), 255, np.float32)
out = {w: float(ort.InferenceSession(model(w), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0].max())
       for w in (127, 64)}
print(json.dumps(out))
"""


def _exact(w: int) -> float:
    return 512.0 * round(255 * w * 4 / 512)  # the exact sum, requantized to the probe's output scale


def test_avx2_kernels_saturate_full_range_weights_but_not_portable_ones():
    result = run_avx2("-c", PROBE)
    assert result.returncode == 0, result.stderr
    out = {int(k): v for k, v in json.loads(result.stdout).items()}
    assert out[64] == _exact(64)  # weights within +-64 (the portable x86 recipe): exact on AVX2
    # The premise of the x86/x86-vnni split: full-range weights saturate there (255*127*2 > 32767).
    assert out[127] < 0.6 * _exact(127), out


def test_this_cpu_computes_what_its_recipe_assumes():
    cpu = local_cpu()
    if not (cpu.is_x86 and cpu.has_vnni):
        pytest.skip(f"no VNNI here ({cpu.describe()}): covered by the AVX2 test")
    out = json.loads(subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout)
    assert out == {"127": _exact(127), "64": _exact(64)}


def test_local_cpu_agrees_with_cpuid():
    cpu = local_cpu()
    if not cpu.is_x86:
        pytest.skip("x86 flags only")
    from edgeres.isa import _cpuid_view

    cpuid = _cpuid_view()
    assert cpuid is not None
    assert ("avx2" in cpu.flags) == bool(cpuid["AVX2"])
    assert ("avx512_vnni" in cpu.flags) == bool(cpuid["AVX512VNNI"])


def test_targets_follow_cpu_features():
    assert (target_for_cpu(AVX2), target_for_cpu(VNNI), target_for_cpu(ARM)) == ("x86", "x86-vnni", "arm64")
    assert target_for_cpu(Cpu("?", "riscv64", ())) == "generic"
    assert resolve_quantize_target("auto").target == target_for_cpu(local_cpu())
    assert resolve_quantize_target("local-cpu").target == target_for_cpu(local_cpu())
    assert resolve_quantize_target("raspberry-pi-5").target == "arm64"
    portable, vnni = recipe_for("onnx", "x86"), recipe_for("onnx", "x86-vnni")
    assert (portable.weight_bits, portable.activations, portable.isa) == (7, "uint8", NO_ASSUMPTION)
    assert (vnni.weight_bits, vnni.activations, vnni.isa) == (8, "uint8", NEEDS_VNNI)
    assert recipe_for("onnx", "arm64").isa == NEEDS_VNNI  # S8S8 runs as u8*s8 on x86: full range saturates
    assert recipe_for("tflite", "x86-vnni").isa == NO_ASSUMPTION


def test_profiles_state_cpu_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGERES_CONFIG_DIR", str(tmp_path))
    (tmp_path / "targets").mkdir()
    board = 'transport = "ssh"\nhost = "epyc.example"\nquantize_target = "auto"\ncpu_flags = ["avx2", "fma"]\n'
    (tmp_path / "targets" / "epyc.toml").write_text(board)
    resolved = resolve_quantize_target("epyc")
    assert resolved.target == "x86" and "cpu_flags in its profile" in resolved.reason
    (tmp_path / "targets" / "epyc.toml").write_text(board.replace('"avx2", "fma"', '"avx2", "avx512_vnni"'))
    assert resolve_quantize_target("epyc").target == "x86-vnni"
    (tmp_path / "targets" / "bad.toml").write_text('quantize_target = "x86-avx2"\n')
    with pytest.raises(TargetError, match="quantize_target must be one of auto, x86, x86-vnni"):
        load_targets()


def test_mismatch_is_one_line_naming_the_remedy():
    line = mismatch("m.onnx", NEEDS_VNNI, AVX2)
    assert line and "\n" not in line and "--target x86" in line and "avx2 fma" in line
    assert mismatch("m.onnx", NEEDS_VNNI, VNNI) is None
    assert mismatch("m.onnx", NEEDS_VNNI, ARM) is None  # ARM int8 kernels widen first
    assert mismatch("m.onnx", NO_ASSUMPTION, AVX2) is None


def test_held_out_check_warns_only_when_agreement_is_low():
    reference = np.random.default_rng(0).standard_normal((8, 10))
    assert sqnr_db(reference, reference) == 200.0
    assert 19 < sqnr_db(reference, reference * 1.1) < 21  # noise 10% of the signal: 20 dB
    assert HeldOutCheck(128, 0.99, 30.0, "cpu").warning() is None
    warning = HeldOutCheck(128, 0.88, 12.0, "AMD EPYC (x86_64; avx2 fma)").warning()
    assert warning and "88.0% of 128" in warning and "--target x86" in warning


@pytest.mark.shared
def test_portable_file_is_exact_on_avx2_and_the_vnni_file_says_what_it_needs(tmp_path):
    files = {}
    for target in ("x86", "x86-vnni"):
        result = quantize_model(
            CHECKPOINTS / "resnet20-12fca82f.th",
            tmp_path / f"{target}.onnx",
            QuantizeSettings(calib=CIFAR / "train", num=64, target=target, optimize="none"),
        )
        files[target] = result.path
        model = onnx.load(str(result.path))
        recorded = json.loads({p.key: p.value for p in model.metadata_props}[QUANT_KEY])
        assert recorded["target"] == target and graph_isa(model) == (NO_ASSUMPTION if target == "x86" else NEEDS_VNNI)
        assert recorded["isa"]["needs_any"] == list(graph_isa(model).needs_any)
        assert result.check is not None and result.check.n == 128 and result.check.agreement > 0.9
    files["tflite"] = quantize_model(
        CHECKPOINTS / "resnet20-12fca82f.th",
        tmp_path / "x86.tflite",
        QuantizeSettings(calib=CIFAR / "train", num=64, optimize="none"),
    ).path
    from edgeres.predict import open_predictor

    x = np.load(_inputs(tmp_path))
    script = (
        "import sys, numpy as np; from edgeres.predict import open_predictor as p; "
        "np.save(sys.argv[3], p(sys.argv[1]).predict(np.load(sys.argv[2])))"
    )
    for kind in ("x86", "tflite"):  # the portable ONNX file and XNNPACK's int8: the same integers on AVX2
        native, out = open_predictor(files[kind]).predict(x), tmp_path / f"avx2-{kind}.npy"
        result = run_avx2("-c", script, str(files[kind]), str(tmp_path / "x.npy"), str(out))
        assert result.returncode == 0, result.stderr
        assert (np.load(out).argmax(1) == native.argmax(1)).mean() >= 0.99, kind
    edgeres = str(Path(sys.executable).parent / "edgeres")
    evaluated = run_avx2(edgeres, "eval", str(files["x86-vnni"]), "--data", str(CIFAR / "test"), "--limit", "20")
    warnings = [line for line in evaluated.stderr.splitlines() if line.startswith("warning:")]
    assert evaluated.returncode == 0 and len(warnings) == 1 and "--target x86" in warnings[0], evaluated.stderr


def _inputs(folder):
    from edgeres.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
    from edgeres.data import iter_batches, open_images, stratified_subset

    images = open_images(CIFAR / "test")
    card = ModelCard("probe", 10, (32, 32), IMAGENET_MEAN, IMAGENET_STD)
    indices = stratified_subset(images.labels, len(images), 200, 7)
    np.save(folder / "x.npy", next(iter(iter_batches(images, card, indices, batch_size=200))).x)
    return folder / "x.npy"


@pytest.mark.shared
def test_bad_targets_and_too_few_images_for_a_fixed_batch_are_one_line_errors(tmp_path):
    from edgeres.export import ExportOptions, export_model

    ckpt = CHECKPOINTS / "resnet20-12fca82f.th"
    line = one_line_error(
        run_cli("quantize", ckpt, "--calib", CIFAR / "train", "--out", tmp_path / "q.onnx", "--target", "x86-avx2")
    )
    assert "unknown --target 'x86-avx2'" in line and "x86-vnni" in line and "auto" in line
    fixed = export_model(ckpt, tmp_path / "b8.onnx", options=ExportOptions(batch=8)).path
    result = run_cli("quantize", fixed, "--calib", CIFAR / "train", "--num", "4", "--out", tmp_path / "q.onnx")
    errors = [x for x in result.stderr.splitlines() if x.startswith("error: ")]  # after the calibration bar
    assert result.exit_code == 1 and len(errors) == 1 and "Traceback" not in result.stderr
    line = errors[0]
    assert "4 calibration image(s), but b8.onnx takes batches of 8" in line and "--num" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b8.onnx", "b8.onnx.card.json", "b8.onnx.report.json"]
