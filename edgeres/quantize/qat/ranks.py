"""QAT's fine-tuning shared by the processes of a torchrun job, as pruning's fine-tuning is.

Rank 0 does what happens once: calibration, the post-training int8 file, finding where the model computes each
of its quantized tensors, the resume check. It hands the others a TrainingKit: the prepared model, the grid of
each rounded graph node, the teacher and the training options. Every rank builds the same simulated model from
it and trains on its share of each global batch (DistributedDataParallel, prune/finetune.py); rank 0 then
quantizes the fine-tuned model and writes the file alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import fx, nn

from ...card import ModelCard
from ...progress import TrainProgress
from ...prune.distributed import Ranks, from_main
from ...prune.finetune import FinetuneLog, finetune
from ...prune.options import FinetuneOptions
from ..prepare.grid import Grid
from .graph import Rounding, input_roundings, insert_rounding, trace
from .settings import QatSettings
from .simulate import ActivationGrid, Simulation


@dataclass(frozen=True)
class TrainingKit:
    """What every rank needs to train the same simulated model (picklable: it travels from rank 0)."""

    prepared: nn.Module  # the folded float model QAT starts from
    teacher: nn.Module | None  # distilled from; None when training on labels
    card: ModelCard
    grid: Grid  # the recipe's weight grid
    node_grids: dict[str, ActivationGrid]  # graph node (of `trace(prepared)`) -> the grid its output is rounded to
    float_layers: list[str]  # layers the file keeps in float: trained off the grid
    settings: QatSettings
    options: FinetuneOptions
    request: str  # what a saved state must have been trained for
    state_path: Path


def simulated_student(kit: TrainingKit) -> tuple[fx.GraphModule, Simulation, dict[str, Rounding]]:
    """The prepared model's graph computing on the grid: a rounding node after each node of `kit.node_grids`
    (scales trained with `learn_scales`), weights and biases on their grids. Returns it, its Simulation and
    the rounding of each node."""
    graph = trace(kit.prepared)
    placed = insert_rounding(graph, kit.node_grids, kit.settings.learn_scales)
    simulation = Simulation(graph, kit.grid, kit.float_layers)
    simulation.round_biases({name: rounding.current_scale for name, rounding in input_roundings(graph).items()})
    return graph, simulation, placed


def train_student(
    kit: TrainingKit, student: nn.Module, ranks: Ranks, progress: TrainProgress | None = None
) -> FinetuneLog:
    """Fine-tune `student` (in place) as `kit` says, this process's share of the job `ranks`."""
    return finetune(
        student, kit.card, kit.settings.data, kit.options, state_path=kit.state_path,
        state_extra={"qat_request": kit.request}, teacher=kit.teacher, resume=kit.settings.resume, progress=progress,
        by_position=kit.settings.map_by_position, ranks=ranks,
    )  # fmt: skip


def _only_rank_0_packs() -> TrainingKit:
    raise AssertionError("from_main calls the work on rank 0 only")


def train_beside_rank_0(ranks: Ranks) -> FinetuneLog:
    """A rank other than 0: wait for rank 0's kit, then train with it (rank 0 writes everything)."""
    kit = from_main(ranks, _only_rank_0_packs)
    student, _, _ = simulated_student(kit)
    return train_student(kit, student, ranks)
