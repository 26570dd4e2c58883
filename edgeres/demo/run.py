"""`edgeres demo`: generate data, train a small ResNet, then run the whole pipeline on it, with no download."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._io import write_text_atomic
from ..card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from ..data import iter_batches, open_images
from ..errors import OutputExistsError
from ..formats import registry
from ..models import build_model, save_model, spec_from_name
from ..pipeline import PipelineResult, run_pipeline
from ..summary import ModelSummary, summarize
from .synthetic import CLASSES, SIZE, write_image_folder
from .train import DEMO_STEPS
from .train import train_steps as train

ARCH = "cifar_resnet8"
MARKER = ".edgeres-demo"  # written first into a demo folder: what `--force` may remove is recognised by it
_CONFIG_TITLE = "# edgeres demo:"


@dataclass
class DemoResult:
    out: Path
    model_path: Path
    config_path: Path
    train_images: int
    test_images: int
    steps: int
    images_seen: int
    train_seconds: float  # measured, for the terminal; the work done is `steps`
    summary: ModelSummary
    pipeline: PipelineResult
    timings: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """What the demo did, one step a line, for the terminal."""
        run = self.pipeline
        prune = json.loads(run.manifest.read_text())["stages"]["prune"]["meta"]
        return [
            f"data      {self.train_images} train / {self.test_images} test procedural images, "
            f"10 classes, in {self.out / 'data'} ({self.timings['data']:.1f} s)",
            f"model     {ARCH}: {self.summary.params / 1e3:.0f} K params, "
            f"{self.summary.macs / 1e6:.1f} M MACs at {SIZE}x{SIZE}",
            f"train     {self.steps} SGD steps, {self.images_seen} images in {self.train_seconds:.0f} s",
            f"saved     {self.model_path} (safetensors + architecture spec + model card)",
            f"pipeline  {self.config_path}: {len(run.ran)} stages in {self.timings['pipeline']:.0f} s "
            f"(prune + fine-tune, export {'/'.join(f.title for f in registry.formats() if f.pipeline_default)}, "
            "int8, bench with accuracy, report)",
            f"prune     {prune['after']['macs'] / prune['before']['macs']:.0%} of the MACs, fine-tuned "
            f"{len(prune['finetune']['epochs'])} epochs; top-1 {prune['top1']['after']:.4f} "
            f"(unpruned {prune['top1']['before']:.4f})",
            f"manifest  {run.manifest}",
            f"report    {run.report}",
            f"next      edgeres pipeline {self.config_path} --out {run.out}   (re-run: unchanged stages are skipped)",
        ]


def demo_config(out: Path, model: Path) -> str:
    """The built-in pipeline config of the demo, on its own generated data."""
    data = out / "data"
    return f"""{_CONFIG_TITLE} the whole journey on procedural images (edgeres pipeline --example lists every key)
[model]
checkpoint = "{model}"

[data]
calibration = "{data / "train"}"
evaluation = "{data / "test"}"
calibration_images = 256
evaluation_images = 0

[prune]
enabled = true
target_macs = 0.5
train = "{data / "train"}"
epochs = 2
lr = 0.02
distill = true

[quantize]
enabled = true

[bench]
targets = ["local-cpu"]
min_runs = 100
min_seconds = 0.5
"""


def _is_demo_folder(out: Path) -> bool:
    """A folder an earlier demo made: it holds the marker, or (before the marker) the demo's own config."""
    config = out / "pipeline.toml"
    if (out / MARKER).is_file():
        return True
    return config.is_file() and config.read_text(encoding="utf-8", errors="replace").startswith(_CONFIG_TITLE)


def _clear(out: Path, force: bool) -> None:
    """Make room for a demo: `force` replaces an earlier demo's folder, never a folder of the user's."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputExistsError(f"{out}: --out is a folder for the demo, and this is not one; choose another --out")
    if not out.exists() or not any(out.iterdir()):
        return
    if not force:
        raise OutputExistsError(f"{out}: already exists; pass --force to replace it or choose another --out")
    if not _is_demo_folder(out):
        raise OutputExistsError(
            f"{out}: holds files that no edgeres demo wrote, so --force will not delete it; choose another --out"
        )
    shutil.rmtree(out)


def run_demo(
    out: Path,
    *,
    train_steps: int = DEMO_STEPS,
    seed: int = 0,
    force: bool = False,
    per_class: tuple[int, int] = (500, 100),
    progress: Callable[[str, int, int], None] = lambda _p, _d, _t: None,
) -> DemoResult:
    """Generate data, train a small model, then run the pipeline on it. Raises OutputExistsError unless `force`."""
    _clear(out, force)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("an edgeres demo output folder: `edgeres demo --force` may replace it\n")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    write_image_folder(out / "data" / "train", per_class[0], seed, lambda d, t: progress("data (train)", d, t))
    write_image_folder(out / "data" / "test", per_class[1], seed + 1, lambda d, t: progress("data (test)", d, t))
    timings["data"] = time.perf_counter() - start

    train_set = open_images(out / "data" / "train")
    labels = train_set.classes  # folder order (sorted), which is what the label indices refer to
    card = ModelCard(ARCH, len(CLASSES), (SIZE, SIZE), IMAGENET_MEAN, IMAGENET_STD, labels=labels, source="demo")
    batches = list(iter_batches(train_set, card, np.arange(len(train_set)), batch_size=512))
    x = np.concatenate([b.x for b in batches])
    y = np.concatenate([b.y for b in batches if b.y is not None])

    spec = spec_from_name(ARCH, len(CLASSES))
    torch.manual_seed(seed)
    model = build_model(spec)
    start = time.perf_counter()
    seen = train(model, x, y, steps=train_steps, seed=seed, progress=lambda d, t: progress("train", d, t))
    timings["train"] = time.perf_counter() - start
    model_path = save_model(model, spec, card, out / "model.safetensors")
    config = write_text_atomic(out / "pipeline.toml", demo_config(out.resolve(), model_path.resolve()))
    start = time.perf_counter()
    result = run_pipeline(config, out / "run", progress=progress)
    timings["pipeline"] = time.perf_counter() - start
    test_images = len(open_images(out / "data" / "test"))
    summary = summarize(model, card)
    return DemoResult(
        out, model_path, config, len(x), test_images, train_steps, seen, timings["train"], summary, result, timings
    )
