"""One measuring round of a deploy run: the candidates not yet in its journal measured where the target is
(this machine, interleaved; or the board), each journaled as it arrives, with the reference accuracy."""

from __future__ import annotations

import numpy as np

from ..bench.harness import TimingConfig
from ..card import ModelCard
from ..errors import EdgeresError
from ..quantize.calibration import calibration_set
from ..quantize.calibration_recipes import resolve_calibration
from . import measure
from .board import measure_on_board
from .candidates import Candidate, Measured
from .context import Run


def measure_candidates(
    candidates: list[Candidate], card: ModelCard, run: Run, stage: str
) -> tuple[list[Measured], float, str]:
    """Every candidate's latency and accuracy in round `stage` (journaled ones are not measured again), the
    PyTorch model's accuracy and the metric's name (top1 on --data, else agreement)."""
    journal = run.journal
    known = journal.measured(stage)
    todo = [c for c in candidates if c not in known]
    if todo or journal.reference is None:
        if run.target.transport == "local":
            fresh, reference = _here(todo, card, run)
            for row in fresh:
                journal.add(stage, row)
        else:
            fresh = measure_on_board(todo, run.target, *_board_data(run), lambda row: journal.add(stage, row))
            reference = _reference_top1(run)
        journal.reference = reference
        journal.save()
        known = journal.measured(stage)
    assert journal.reference is not None
    rows = [known[c] for c in candidates if c in known]
    return rows, journal.reference[0], journal.reference[1]


def _board_data(run: Run) -> tuple[str, int | None, bool, TimingConfig]:
    settings = run.settings
    assert settings.data is not None  # refused earlier: a board scores top-1 on labeled images only
    return str(settings.data), settings.limit, settings.map_by_position, settings.timing


def _reference_top1(run: Run) -> tuple[float, str]:
    settings = run.settings
    assert settings.data is not None
    if run.journal.reference is not None:
        return run.journal.reference
    reference = measure.reference_predictor(run.model, settings.load)
    top1, _ = measure.top1(reference, {}, settings.data, settings.limit, settings.map_by_position)
    return top1, "top1"


def _here(candidates: list[Candidate], card: ModelCard, run: Run) -> tuple[list[Measured], tuple[float, str]]:
    """Latency (interleaved) and accuracy of the `candidates` that open here, and the reference accuracy."""
    settings = run.settings
    opened = measure.open_all(candidates, run.target.threads or None, run.notes)
    try:
        stats = measure.latencies(opened, settings.timing) if opened else {}
        reference_model = measure.reference_predictor(run.model, settings.load)
        if settings.data is not None:
            reference, scores = measure.top1(
                reference_model, opened, settings.data, settings.limit, settings.map_by_position
            )
            metric = "top1"
        else:
            images = _held_out(card, run)
            reference, scores, metric = 1.0, measure.agreement(reference_model, opened, images), "agreement"
    finally:
        for predictor in opened.values():
            getattr(predictor, "close", lambda: None)()
    return [Measured(c, stats[c], scores[c]) for c in opened], (reference, metric)


def _held_out(card: ModelCard, run: Run) -> np.ndarray:
    """Calibration-source images that calibration never drew (quantize's draw: same recipe, seed and count)."""
    settings = run.settings
    drawn = resolve_calibration(settings.calib)
    calibration = calibration_set(
        drawn.data, card, num=settings.num, seed=drawn.seed, split=drawn.split, held_out=settings.held_out
    )
    if len(calibration.held_out) == 0:
        raise EdgeresError(
            f"{drawn.data}: no calibration image is left over to score agreement on; give labeled images with "
            "--data, or a larger calibration source"
        )
    return calibration.held_out
