"""The harness on a GPU against a bare CUDA-graph loop: resnet50 fp16 at batch 1 and 256, one process.

Issue 5's GPU acceptance: `edgeres bench --device cuda --fp16 --cuda-graphs` must report images/s within 5%
of a bare loop (capture once, replay + synchronize, time each call) measured in the same run. Rounds
alternate harness and bare so that clock drift hits both. Also records eager fp16 and the GPU memory the
harness reports; onnxruntime's GPU providers are measured by gpu_accuracy.py and `edgeres bench --provider`.

Usage: python benchmarks/gpu_bench.py [--batches 1,256] [--rounds 3] [--json gpu_bench.json]
On a CPU-only machine it says so and exits 2. Random weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from rich.console import Console
from rich.table import Table

from edgeres.bench import BenchSettings, TimingConfig, bench_models
from edgeres.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from edgeres.models import save_model, spec_from_name
from edgeres.options import RuntimeOptions


def bare_cuda_graph_ips(model: torch.nn.Module, batch: int, runs: int) -> float:
    """Images/s of the plainest CUDA-graph loop: p50 of per-call replay + synchronize."""
    x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=torch.half)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(stream):
        for _ in range(3):
            model(x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        model(x)
    for _ in range(10):
        graph.replay()
    torch.cuda.synchronize()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        graph.replay()
        torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return batch / statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", default="1,256")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default="gpu_bench.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: run this on a GPU machine", file=sys.stderr)
        return 2
    batches = tuple(int(b) for b in args.batches.split(","))
    model = torchvision.models.resnet50().eval()
    card = ModelCard(arch="resnet50", num_classes=1000, input_size=(224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD)
    ckpt = Path(tempfile.mkdtemp()) / "resnet50.safetensors"
    save_model(model, spec_from_name("resnet50", 1000), card, ckpt)
    bare_model = model.cuda().half()
    timing = TimingConfig(warmup=10, min_runs=200, min_seconds=2.0)
    rows: dict[str, dict[int, list[float]]] = {"harness cuda-graphs": {}, "bare cuda-graphs": {}, "harness eager": {}}
    memory = None
    for _ in range(args.rounds):
        graphed = RuntimeOptions(device="cuda", fp16=True, cuda_graphs=True)
        run = bench_models([ckpt], BenchSettings(options=graphed, batches=tuple(batches), timing=timing))
        memory = run.gpu_memory
        for entry in run.entries:
            rows["harness cuda-graphs"].setdefault(entry.batch, []).append(entry.throughput_per_s)
        for batch in batches:
            rows["bare cuda-graphs"].setdefault(batch, []).append(bare_cuda_graph_ips(bare_model, batch, 200))
        plain = RuntimeOptions(device="cuda", fp16=True)
        eager = bench_models([ckpt], BenchSettings(options=plain, batches=tuple(batches), timing=timing))
        for entry in eager.entries:
            rows["harness eager"].setdefault(entry.batch, []).append(entry.throughput_per_s)
    result = {
        "gpu": run.machine["gpus"],
        "versions": run.machine["versions"],
        "gpu_memory": memory,
        "images_per_s": {name: {b: statistics.median(v) for b, v in by.items()} for name, by in rows.items()},
    }
    table = Table(title="resnet50 fp16 on " + ", ".join(g["name"] for g in run.machine["gpus"]))
    table.add_column("runner")
    for batch in batches:
        table.add_column(f"img/s b{batch}", justify="right")
    for name, by in result["images_per_s"].items():
        table.add_row(name, *[f"{by[b]:,.0f}" for b in batches])
    ips = result["images_per_s"]
    ratio = {b: ips["harness cuda-graphs"][b] / ips["bare cuda-graphs"][b] for b in batches}
    table.add_row("harness / bare", *[f"{ratio[b]:.3f}" for b in batches])
    result["harness_over_bare"] = ratio
    Console().print(table)
    Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
