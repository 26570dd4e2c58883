"""The benchmark harness: honest statistics, timing that matches a bare loop, reports, torch-free runners."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time

import jsonschema
import numpy as np
import pytest

from edgeres.bench import BenchSettings, TimingConfig, bench_models
from edgeres.bench.harness import time_interleaved
from edgeres.bench.stats import latency_stats
from edgeres.isa import local_cpu
from edgeres.options import RuntimeOptions
from edgeres.report import BENCH_SCHEMA
from edgeres.report.plots import pareto_front

from .conftest import CHECKPOINTS, CIFAR, ROOT, one_line_error, run_cli

RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"


def test_statistics_match_the_raw_samples():
    rng = np.random.default_rng(0)
    samples = rng.lognormal(-7, 0.3, size=700)
    stats = latency_stats(samples)
    ms = samples * 1e3
    assert stats.n == 700 and stats.unreliable == ()
    assert stats.p50_ms == pytest.approx(np.median(ms)) and stats.p99_ms == pytest.approx(np.percentile(ms, 99))
    assert stats.mean_ms == pytest.approx(ms.mean()) and stats.std_ms == pytest.approx(ms.std(ddof=1))
    assert (stats.min_ms, stats.max_ms) == (pytest.approx(ms.min()), pytest.approx(ms.max()))
    assert latency_stats(samples[:100]).unreliable == ("p99",)
    assert latency_stats(samples[:10]).unreliable == ("p90", "p99")
    with pytest.raises(ValueError):
        latency_stats([])


def test_pareto_front_keeps_only_unbeaten_points():
    points = [(1.0, 0.80), (2.0, 0.85), (1.5, 0.79), (3.0, 0.84), (0.5, 0.70)]
    assert [points[i] for i in pareto_front(points)] == [(0.5, 0.70), (1.0, 0.80), (2.0, 0.85)]


@pytest.fixture
def files(resnet20_files) -> dict[str, object]:
    return resnet20_files


@pytest.mark.timing
@pytest.mark.shared
def test_harness_p50_matches_a_bare_loop_on_the_same_session(files):
    from edgeres.runtimes.onnxruntime import OrtPredictor

    predictor = OrtPredictor(files["fp32.onnx"], RuntimeOptions(threads=1))
    x = predictor.prepare(np.zeros((1, 3, 32, 32), np.float32))
    config = TimingConfig(warmup=0, min_runs=40, min_seconds=0, runs_per_round=10)
    harness, bare = [], []
    for _ in range(40):  # interleaved: drift hits both alike
        harness += time_interleaved({"m": lambda: predictor.invoke(x)}, config)["m"].samples_s
        for _ in range(40):
            start = time.perf_counter()
            predictor.session.run(None, {predictor.input_name: x})
            bare.append(time.perf_counter() - start)
    assert np.median(harness) == pytest.approx(np.median(bare), rel=0.05)


@pytest.mark.shared
@pytest.mark.slow
def test_bench_reports_schema_stats_and_the_accuracy_eval_gives(files, tmp_path):
    models = [files[k] for k in ("fp32.onnx", "int8.onnx", "fp32.tflite", "int8.tflite")]
    result = run_cli(
        "bench",
        *models,
        "--data",
        CIFAR / "test",
        "--limit",
        "2000",
        "--min-runs",
        "30",
        "--min-seconds",
        "0.2",
        "--batch",
        "1,4",
        "--json",
        tmp_path / "run.json",
        "--csv",
        tmp_path / "run.csv",
        "--report",
        tmp_path / "report",
    )
    assert result.exit_code == 0, result.stderr
    run = json.loads((tmp_path / "run.json").read_text())
    jsonschema.validate(run, BENCH_SCHEMA)
    assert {(s["model"], s["batch"]) for s in run["skipped"]} == {(str(m), 4) for m in models[2:]}
    assert "export with --batch 4" in result.stderr
    for entry in run["entries"]:
        recomputed = latency_stats(np.asarray(entry["samples_ms"]) / 1e3)
        assert entry["stats"]["p50_ms"] == pytest.approx(recomputed.p50_ms)
        assert entry["stats"]["n"] == len(entry["samples_ms"]) >= 30
        assert entry["throughput_per_s"] == pytest.approx(entry["batch"] / (entry["stats"]["p50_ms"] / 1e3))
    for model in models:
        evaluated = json.loads(run_cli("eval", model, "--data", CIFAR / "test", "--limit", "2000", "--json").stdout)
        entry = next(e for e in run["entries"] if e["model"] == str(model) and e["batch"] == 1)
        assert entry["accuracy"]["top1"] == evaluated["top1"] and entry["accuracy"]["n"] == 2000
        # int8 files say which CPUs they assume; the default (portable x86) ONNX file and TFLite assume none
        assert entry["isa"] == (None if "fp32" in model.name else {"needs_any": [], "why": ""})
    assert run["warnings"] == [] and run["machine"]["cpu_flags"] == sorted(local_cpu().flags)
    markdown = (tmp_path / "report" / "bench.md").read_text()
    assert f"Machine: {local_cpu().model}" in markdown and "| p50 ms |" in markdown and "onnxruntime " in markdown
    assert result.stdout.startswith(f"machine  {local_cpu().model}") and "images/s" in result.stdout
    assert run["entries"][0]["accuracy"]["agreement_with_baseline"] == 1.0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "run.csv").read_text())))
    assert len(rows) == len(run["entries"]) == 6
    for name in ("bench.json", "bench.md", "latency.png", "accuracy_vs_latency.png"):
        assert (tmp_path / "report" / name).stat().st_size > 500
    assert (tmp_path / "report" / "latency.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.shared
def test_bench_errors_are_clear(files, tmp_path):
    line = one_line_error(run_cli("bench", files["fp32.onnx"], "--runtime", "litert"))
    assert "runs in ort" in line
    line = one_line_error(run_cli("bench", RESNET20, "--device", "cuda", "--min-runs", "1"))
    assert "cuda" in line.lower() and ("is_available" in line or "execution provider" in line)
    line = one_line_error(run_cli("bench", files["fp32.tflite"], "--device", "cuda"))
    assert "LiteRT runs on the CPU" in line
    line = one_line_error(run_cli("bench", files["fp32.onnx"], "--compile", "default"))
    assert "applies to PyTorch checkpoints" in line
    line = one_line_error(run_cli("bench", RESNET20, "--cuda-graphs", "--min-runs", "1"))
    assert "CUDA graphs need --device cuda" in line


@pytest.mark.shared
@pytest.mark.slow
def test_torch_compile_runner_matches_eager(files):
    """torch.compile (inductor on this CPU) gives eager's accuracy; its compile time lands in first_ms only (a
    compilation takes seconds, a call milliseconds: no quiet machine needed, so not a `timing` test)."""
    timing = TimingConfig(warmup=2, min_runs=10, min_seconds=0)
    data = CIFAR / "test"
    # Two full evaluation batches (128): a ragged last batch would cost a recompilation, not a finding.
    eager = bench_models([RESNET20], BenchSettings(data=data, limit=256, timing=timing))
    compiled = bench_models(
        [RESNET20],
        BenchSettings(data=data, limit=256, timing=timing, options=RuntimeOptions(compile_mode="default")),
    )
    assert compiled.config["compile"] == "default" and compiled.gpu_memory is None
    e, c = eager.entries[0], compiled.entries[0]
    assert c.accuracy["top1"] == e.accuracy["top1"] and c.accuracy["n"] == 256
    assert c.first_ms > 20 * c.stats.p50_ms  # compilation happened in the first call, not in the samples


@pytest.mark.shared
def test_cpus_pins_the_process(files):
    import os

    before = os.sched_getaffinity(0)
    try:
        run = bench_models(
            [files["int8.tflite"]], BenchSettings(cpus=(0,), timing=TimingConfig(min_runs=5, min_seconds=0))
        )
        assert run.machine["affinity"] == [0] and run.config["cpus"] == [0]
    finally:
        os.sched_setaffinity(0, before)


@pytest.mark.shared
def test_library_call_with_baseline_ratios(files):
    run = bench_models(
        [files["int8.onnx"]],
        BenchSettings(baseline=files["fp32.onnx"], timing=TimingConfig(min_runs=20, min_seconds=0)),
    )
    assert [e.model for e in run.entries] == [str(files["fp32.onnx"]), str(files["int8.onnx"])]
    assert run.entries[0].speedup_vs_baseline == 1.0 and run.entries[1].speedup_vs_baseline > 0
    assert run.machine["cores"] >= 1 and "onnxruntime" in run.machine["versions"]


@pytest.mark.shared
@pytest.mark.slow
def test_onnxruntime_and_litert_runners_work_without_torch(files, torch_free_python):
    code = (
        "import sys, json; from edgeres.bench import bench_models, BenchSettings, TimingConfig; "
        f"run = bench_models([{str(files['int8.onnx'])!r}, {str(files['int8.tflite'])!r}], BenchSettings("
        f"data={str(CIFAR / 'test')!r}, limit=200, timing=TimingConfig(min_runs=10, min_seconds=0))); "
        "assert 'torch' not in sys.modules, 'torch was imported'; "
        "print(json.dumps([e.accuracy['top1'] for e in run.entries]))"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([torch_free_python, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert subprocess.run([torch_free_python, "-c", "import torch"], capture_output=True).returncode != 0
    missing = subprocess.run(
        [torch_free_python, str(ROOT / "cli.py"), "bench", str(RESNET20)], capture_output=True, text=True, env=env
    )
    assert missing.returncode == 1 and "PyTorch, which is not installed here: pip install torch" in missing.stderr
    assert all(0.7 < top1 < 0.9 for top1 in json.loads(done.stdout.strip().splitlines()[-1]))
