"""`edgeres deploy`: every candidate made cheaply (int8 without preparation), measured on this machine, the
fastest few int8 files re-made with preparation and measured again beside their fp32 twins, and the fastest
candidate within the accuracy bound written to the output folder with what was measured."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import own_folder
from ..bench.record import machine_info
from ..card import ModelCard
from ..errors import EdgeresError
from ..formats import registry as formats
from ..models import LoadedModel, load_model
from ..quantize.calibration import calibration_set
from ..quantize.calibration_recipes import resolve_calibration
from ..quantize.recipe_target import for_profile
from ..remote.targets import Target, resolve_target
from ..runtimes import registry as runtimes
from . import build, measure
from .candidates import Candidate, Measured, for_file, local_runtimes
from .choose import choose, pareto_front
from .settings import DeploySettings


class DeployError(EdgeresError):
    """No candidate can run, or none is within the accuracy bound."""


@dataclass
class DeployResult:
    out: Path
    chosen: Measured
    rows: list[Measured]
    reference: float
    metric: str
    seconds: float
    notes: list[str]  # candidates left out (a converter failed, a runtime could not open a file) and why


@dataclass
class _Run:
    """What every step of one deploy run needs."""

    model: Path
    files: Path  # where the candidate files are made
    target: Target
    available: list[str]  # the runtimes installed here
    settings: DeploySettings
    notes: list[str]  # what was left out, and why


def deploy_model(model: str | os.PathLike[str], out: str | os.PathLike[str], settings: DeploySettings) -> DeployResult:
    """Build, measure and choose (see the module); the folder `out` appears only when a candidate was chosen.
    Raises DeployError when nothing can run here or nothing meets `settings.max_drop`."""
    start, target, out = time.perf_counter(), _local_target(settings.target), Path(out)
    _check_out(out, settings.force)
    loaded = load_model(model, settings.load)
    available, notes = local_runtimes(), list[str]()
    with own_folder(out) as work:
        files = work / "candidates"
        files.mkdir()
        run = _Run(Path(model), files, target, available, settings, notes)
        rows, reference, metric = _screen(loaded, run)
        rows += _finalists(rows, run)
        chosen = choose(rows, reference, settings.max_drop)
        if chosen is None:
            raise DeployError(_nothing_within(rows, reference, metric, settings.max_drop))
        result = DeployResult(out, chosen, rows, reference, metric, time.perf_counter() - start, notes)
        _write(work, result, target, settings)
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    return result


def _local_target(name: str) -> Target:
    target = resolve_target(name)
    if target.transport != "local" or target.device != "cpu":
        raise DeployError(
            f"--target {name}: deploy measures on this machine's CPU for now; run `edgeres deploy` on the board "
            "itself (its local-cpu), or `edgeres bench --target` to time files made here"
        )
    return target


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not (force and (out / "deploy.json").is_file()):
        why = "pass --force to replace it" if (out / "deploy.json").is_file() else "it is not an edgeres deploy folder"
        raise DeployError(f"{out}: exists; {why}")


def _screen(loaded: LoadedModel, run: _Run) -> tuple[list[Measured], float, str]:
    """Every format's fp32 file and plain-recipe int8 file, in every runtime here that opens it, measured."""
    recipe, available = for_profile(run.target).target, run.available
    asked = run.settings.formats or formats.writable()
    missing = [fmt for fmt in asked if fmt not in formats.writable()]
    if missing:
        package = formats.named(missing[0]).packages[0]
        raise DeployError(f"--formats {missing[0]}: this environment cannot write it; pip install {package}")
    candidates: list[Candidate] = []
    for fmt in asked:
        if not any(fmt in runtimes.named(name).formats for name in available):
            continue
        try:
            fp32 = build.fp32_file(loaded, fmt, run.files)
            candidates += for_file(fp32, fmt, "fp32", available)
            if fmt in formats.int8_names():
                int8 = build.int8_file(fp32, run.model, fmt, recipe, "none", run.files, run.settings)
                candidates += for_file(int8, fmt, "int8", available)
        except EdgeresError as exc:  # one format's converter failing leaves the others to choose from
            run.notes.append(f"{fmt}: {exc}")
    if not candidates:
        raise DeployError(
            f"no runtime here opens any format edgeres writes (runtimes: {', '.join(available) or 'none'}); "
            "install one: pip install onnxruntime"
        )
    return _measure(candidates, loaded.card, run)


def _measure(candidates: list[Candidate], card: ModelCard, run: _Run) -> tuple[list[Measured], float, str]:
    """Latency and accuracy of the `candidates` that open here, and the reference accuracy (the PyTorch
    model's)."""
    settings = run.settings
    opened = measure.open_all(candidates, run.target.threads or None, run.notes)
    try:
        stats = measure.latencies(opened, settings.timing)
        reference_model = measure.reference_predictor(run.model, settings.load)
        if settings.data is not None:
            reference, scores = measure.top1(
                reference_model, opened, settings.data, settings.limit, settings.map_by_position
            )
            metric = "top1"
        else:
            images = _held_out(card, settings)
            reference, scores, metric = 1.0, measure.agreement(reference_model, opened, images), "agreement"
    finally:
        for predictor in opened.values():
            getattr(predictor, "close", lambda: None)()
    return [Measured(c, stats[c], scores[c]) for c in opened], reference, metric


def _held_out(card: ModelCard, settings: DeploySettings) -> np.ndarray:
    """Calibration-source images that calibration never drew (quantize's draw: same recipe, seed and count)."""
    drawn = resolve_calibration(settings.calib)
    calibration = calibration_set(
        drawn.data, card, num=settings.num, seed=drawn.seed, split=drawn.split, held_out=settings.held_out
    )
    if len(calibration.held_out) == 0:
        raise DeployError(
            f"{drawn.data}: no calibration image is left over to score agreement on; give labeled images with "
            "--data, or a larger calibration source"
        )
    return calibration.held_out


def _finalists(rows: list[Measured], run: _Run) -> list[Measured]:
    """The fastest int8 files of the screen (their best runtime each) re-made with `settings.optimize`, then
    measured again beside the screen's versions of them and every fp32 file, in one run (latency does not
    depend on the rounding, accuracy does)."""
    settings = run.settings
    if settings.optimize == "none":
        return []
    int8 = sorted((r for r in rows if r.candidate.precision == "int8"), key=lambda r: r.p50)
    picked: list[Measured] = []
    for row in int8:
        if row.candidate.file not in [p.candidate.file for p in picked]:
            picked.append(row)
    picked = picked[: settings.finalists]
    if not picked:
        return []
    recipe = for_profile(run.target).target
    again: list[Candidate] = []
    for row in picked:
        c = row.candidate
        fp32 = run.files / f"fp32{formats.named(c.fmt).suffix}"
        better = build.int8_file(fp32, run.model, c.fmt, recipe, settings.optimize, run.files, settings)
        again += [x for x in for_file(better, c.fmt, "int8", run.available) if x.runtime == c.runtime]
    others = [r.candidate for r in rows if r.candidate.precision == "fp32"] + [r.candidate for r in picked]
    measured, _, _ = _measure(again + others, load_model(run.model, settings.load).card, run)
    fresh = {m.candidate: m for m in measured}
    for row in rows:  # the fp32 files and the screen's picks take their second timing, beside the finalists
        if row.candidate in fresh:
            row.stats = fresh[row.candidate].stats
    return [fresh[c] for c in again]


def _nothing_within(rows: list[Measured], reference: float, metric: str, max_drop: float) -> str:
    best = max(rows, key=lambda r: r.accuracy or 0.0)
    return (
        f"no candidate is within --max-drop {max_drop} points of the PyTorch model's {metric} {reference:.2%}: "
        f"the most accurate, {best.candidate.name}, has {best.accuracy:.2%} at {best.p50:.3f} ms p50; tried "
        f"{len(rows)} candidates ({', '.join(sorted({r.candidate.runtime for r in rows}))}); raise --max-drop, or "
        "give more calibration images"
    )


def _row(row: Measured) -> dict[str, Any]:
    c = row.candidate
    return {
        "file": c.file.name,
        "format": c.fmt,
        "precision": c.precision,
        "runtime": c.runtime,
        "settings": dict(c.settings),
        **row.stats,
        "accuracy": row.accuracy,
    }


def _write(work: Path, result: DeployResult, target: Target, settings: DeploySettings) -> None:
    """The chosen file and its card under their final names, deploy.json and report.json."""
    chosen = result.chosen.candidate
    name = f"model{formats.named(chosen.fmt).suffix}"
    shutil.copyfile(chosen.file, work / name)
    card = chosen.file.with_name(chosen.file.name + ".card.json")
    if card.is_file():
        shutil.copyfile(card, work / f"{name}.card.json")
    record = {
        **_row(result.chosen),
        "file": name,
        "threads": target.threads or None,
        "metric": result.metric,
        "reference": result.reference,
        "max_drop": settings.max_drop,
        "target": target.name,
        "machine": machine_info(),
        "seconds": round(result.seconds, 1),
    }
    (work / "deploy.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    report = {
        "candidates": [_row(r) for r in result.rows],
        "pareto_front": [_row(r) for r in pareto_front(result.rows)],
        "chosen": _row(result.chosen),
        "left_out": result.notes,
    }
    (work / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
