"""Quantization-aware fine-tuning of a prepared model on the grid its post-training int8 file uses.

It starts where post-training quantization ended (the prepared weights, the engine's activation scales and
zero points read from the int8 file) and fine-tunes the weights with every quantized tensor rounded as the
engine rounds it, distilling from the float model. The activation grids stay fixed (unless their scales
are learned too), so the engine asked for those grids writes a file whose integers are the ones the model
trained with.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ...card import ModelCard
from ...errors import EdgeresError, RecipeError
from ...progress import TrainProgress
from ...prune.distributed import Ranks, from_main
from ...prune.finetune import FinetuneLog, read_state
from ...prune.options import FinetuneOptions
from ..engine import Int8Engine
from ..prepare.grid import Grid
from ..recipes import Recipe
from .graph import PREFIX, Rounding, match_nodes, node_values, trace
from .ranks import TrainingKit, simulated_student, train_student
from .settings import QatSettings
from .simulate import ActivationGrid

MATCH_IMAGES = 4  # enough for no two different tensors to hold the same values


class GridReader(Protocol):
    """A format's view of its fp32 file and the int8 file its engine made (onnx_qat.OnnxQatGrid), made by the
    format's `Int8Support.qat` class from (fp32 file, int8 file, the engine that made it)."""

    grids: dict[str, ActivationGrid]

    def float_values(self, names: list[str], inputs: np.ndarray) -> dict[str, np.ndarray]: ...

    def source(self, name: str) -> str | None: ...

    def ranges(self, engine: Int8Engine, grids: dict[str, ActivationGrid]) -> dict[str, tuple[float, float]]: ...


@dataclass
class QatOutcome:
    model: nn.Module  # weights on the grid, no hooks: export it and quantize with `ranges`
    ranges: dict[str, tuple[float, float]]
    grids: dict[str, ActivationGrid]  # each quantized tensor's grid as trained (what `ranges` make the engine use)
    log: FinetuneLog
    simulated: int  # quantized tensors rounded in the model
    simulated_logits: np.ndarray  # the model on the grid, on the check images, just before the grid came off
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"log": self.log.to_dict(), "simulated_tensors": self.simulated, "seconds": round(self.seconds, 1)}


def state_file(out: Path) -> Path:
    """Where QAT for the int8 file `out` keeps its resumable training state."""
    return out.with_name(out.name + ".qat.pt")


def _lost(found: dict[str, Any], reader: GridReader) -> None:
    """RecipeError when a quantized tensor has no place in the model (and is no copy of its input's grid)."""
    lost = sorted(name for name, place in found.items() if place is None and reader.source(name) is None)
    if lost:
        raise RecipeError(
            f"QAT cannot find where this model computes {len(lost)} quantized tensor(s) ({', '.join(lost[:3])}); "
            "quantize it without --qat"
        )


def _engine_nodes(prepared: nn.Module, reader: GridReader, inputs: np.ndarray) -> dict[str, str]:
    """Each engine tensor QAT rounds -> the node of `trace(prepared)` that computes it. Raises RecipeError
    (the model does not trace, or a tensor has no node)."""
    graph = trace(prepared)
    values = reader.float_values(list(reader.grids), inputs)
    nodes = match_nodes(values, node_values(graph, torch.from_numpy(inputs)))
    _lost(nodes, reader)
    # A tensor an op only moved (a flatten, a slice) keeps its source's grid: rounded at the source alone, so
    # that a learned scale stays one scale (XNNPACK refuses a squeeze whose input and output grids differ).
    return {name: node for name, node in nodes.items() if node is not None and reader.source(name) is None}


def _final_grids(reader: GridReader, placed: dict[str, Rounding]) -> dict[str, ActivationGrid]:
    """Every quantized tensor's grid after training: a rounding node's as trained, a moved tensor's its
    source's, the others' as they started."""
    final = {**reader.grids, **{name: rounding.learned() for name, rounding in placed.items()}}

    def resolved(name: str) -> ActivationGrid:
        source = reader.source(name) if name not in placed else None
        return final[name] if source is None else resolved(source)

    return {name: resolved(name) for name in final}


def _request(recipe: Recipe, grids: dict[str, ActivationGrid], *models: nn.Module | None) -> str:
    """What a saved state was trained for: the recipe, the grids, the starting weights and the teacher's."""
    digest = hashlib.sha256()
    for model in models:
        for tensor in model.state_dict().values() if model is not None else ():
            digest.update(tensor.detach().cpu().numpy().tobytes())
    record = {"recipe": repr(recipe), "grids": {k: asdict(v) for k, v in sorted(grids.items())}}
    return json.dumps({**record, "weights": digest.hexdigest()[:16]}, sort_keys=True)


def _check_resume(state_path: Path, request: str, settings: QatSettings) -> None:
    if not settings.resume:
        return
    if not state_path.exists():
        raise EdgeresError(f"--resume: no saved QAT state at {state_path} (no interrupted run of this --out)")
    if read_state(state_path).get("qat_request") != request:
        raise EdgeresError(
            f"{state_path}: was saved by QAT of another model, recipe or calibration; resume with the same "
            "request, or delete it to start over"
        )


def quantization_aware(
    prepared: nn.Module,
    teacher: nn.Module,
    card: ModelCard,
    recipe: Recipe,
    reader: GridReader,
    engine: Int8Engine,
    float_layers: list[str],
    inputs: np.ndarray,
    check_inputs: np.ndarray,
    settings: QatSettings,
    state_path: Path,
    progress: TrainProgress | None = None,
    ranks: Ranks | None = None,
) -> QatOutcome:
    """Fine-tune a copy of `prepared` on the int8 grid of `reader`'s file, distilling from `teacher`; its
    outputs on `check_inputs` before the grid comes off are kept. Under torchrun (`ranks`, this being rank 0)
    the other ranks train with it (ranks.py). Raises RecipeError (the model cannot be simulated), DataError
    (the training images), EdgeresError (resume)."""
    start = time.perf_counter()
    ranks = ranks or Ranks(device=torch.device(settings.device))
    at = _engine_nodes(prepared, reader, inputs[:MATCH_IMAGES])
    kit = from_main(  # handed to the other ranks of a torchrun job
        ranks, lambda: _kit(prepared, teacher, card, recipe, reader, at, float_layers, settings, state_path)
    )
    student, simulation, by_node = simulated_student(kit)
    log = train_student(kit, student, ranks, progress)
    with torch.no_grad():
        simulated = student.eval()(torch.from_numpy(check_inputs)).numpy()
    trained = copy.deepcopy(prepared)  # the model's own structure: it exports to the same tensor names
    weights = {k: v for k, v in simulation.finish().state_dict().items() if not k.startswith(PREFIX)}
    trained.load_state_dict(weights)
    placed = {name: by_node[node] for name, node in at.items()}
    grids = _final_grids(reader, placed)
    ranges = reader.ranges(engine, grids)
    return QatOutcome(trained.eval(), ranges, grids, log, len(placed), simulated,
                      time.perf_counter() - start)  # fmt: skip


def _kit(
    prepared: nn.Module,
    teacher: nn.Module,
    card: ModelCard,
    recipe: Recipe,
    reader: GridReader,
    at: dict[str, str],
    float_layers: list[str],
    settings: QatSettings,
    state_path: Path,
) -> TrainingKit:
    """What the ranks train with; EdgeresError when --resume finds no state, or one of another request."""
    request = _request(recipe, reader.grids, prepared, teacher if settings.distill else None)
    _check_resume(state_path, request, settings)
    options = FinetuneOptions(
        epochs=settings.epochs, lr=settings.lr, weight_decay=0.0, batch_size=settings.batch_size, distill_weight=1.0,
        distill=settings.distill, limit=settings.limit, seed=settings.seed, mixup=settings.mixup,
    )  # fmt: skip
    node_grids = {node: reader.grids[name] for name, node in at.items()}
    return TrainingKit(prepared, teacher if settings.distill else None, card, Grid.of(recipe), node_grids,
                       float_layers, settings, options, request, state_path)  # fmt: skip
