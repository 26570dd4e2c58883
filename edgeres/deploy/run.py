"""`edgeres deploy`: every candidate made cheaply (int8 without preparation), measured where the model will
run (this machine, or an SSH board as `bench --target` measures), the fastest few int8 files re-made with
preparation and measured again beside the fp32 files, and the fastest candidate within the accuracy bound
written to the output folder with what was measured. What was measured is journaled as it arrives, so a run
cut short goes on with `--resume`."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from .._lock import writes
from ..bench.record import machine_info
from ..errors import EdgeresError
from ..formats import registry as formats
from ..isa import AUTO
from ..models import LoadedModel, load_model
from ..quantize.recipe_target import for_profile
from ..remote.check import check_named_target
from ..remote.targets import Target, resolve_target
from ..runtimes import registry as runtimes
from . import build, pruned
from .board import BoardLostError
from .candidates import CANDIDATES, Candidate, Measured, for_file, local_runtimes
from .choose import choose
from .context import Run
from .journal import JOURNAL, partial_folder, resumable, run_key, work_folder
from .measure_all import measure_candidates
from .record import DeployResult, nothing_within, write_records
from .settings import DeploySettings


class DeployError(EdgeresError):
    """No candidate can run, or none is within the accuracy bound."""


@writes("out")
def deploy_model(model: str | os.PathLike[str], out: str | os.PathLike[str], settings: DeploySettings) -> DeployResult:
    """Build, measure and choose (see the module); the folder `out` appears only when a candidate was chosen.
    Raises DeployError when nothing can run there or nothing meets `settings.max_drop` (what was measured is
    kept for `--resume`)."""
    start, target, out = time.perf_counter(), resolve_target(settings.target), Path(out)
    _check_out(out, settings.force)
    key = run_key(Path(model), settings.fingerprint())
    if settings.resume:
        resumable(out, key)  # before a board is contacted: a journal of other settings is refused at once
    available, machine, recipe = _target_runtimes(target, settings)
    loaded = load_model(model, settings.load)
    with work_folder(out, key, settings.resume) as journal:
        files = journal.folder / CANDIDATES
        files.mkdir(exist_ok=True)
        run = Run(Path(model), files, target, available, settings, [], journal, recipe)
        try:
            rows, reference, metric = _screen(loaded, run)
            rows += _finalists(rows, loaded, run)
        except BoardLostError as exc:
            kept = sum(map(len, journal.rows.values()))
            where = f"{kept} measurement(s) kept in {partial_folder(out)}: run again with --resume"
            raise DeployError(f"{exc}; {where if kept else 'nothing was measured'}") from None
        chosen = choose(rows, reference, settings.max_drop)
        if chosen is None:
            raise DeployError(nothing_within(rows, reference, metric, settings.max_drop, partial_folder(out)))
        seconds = time.perf_counter() - start
        result = DeployResult(out, chosen, rows, reference, metric, seconds, machine, run.notes)
        write_records(journal.folder, result, target, settings)
        (journal.folder / JOURNAL).unlink()
        if out.exists():
            shutil.rmtree(out)
        journal.folder.rename(out)
    return result


def _target_runtimes(target: Target, settings: DeploySettings) -> tuple[list[str], dict[str, Any], str]:
    """The runtimes that run exported files where `target` is, that machine's record, and the int8 recipe fit
    for its CPU (a board probed once for all three)."""
    if target.device != "cpu":
        raise DeployError(f"--target {target.name}: deploy measures CPUs; its device is {target.device}")
    if target.transport == "local":
        return _timed_in(target, local_runtimes()), machine_info(), for_profile(target).target
    if settings.data is None:
        raise DeployError(
            f"--target {target.name}: a board scores top-1 on labeled images there; give them with --data "
            "(agreement on held-out calibration images is scored on this machine only)"
        )
    check = check_named_target(target.name)
    if problem := check.problem():
        raise problem
    recipe = target.quantize_target if target.quantize_target != AUTO else check.int8_target
    return _timed_in(target, [r.name for r in check.runtimes if r.formats]), check.info, recipe


def _timed_in(target: Target, there: list[str]) -> list[str]:
    """The runtimes of `there` that the profile times files in (its bench_runtimes; all when it names none)."""
    return [name for name in there if name in target.bench_runtimes] if target.bench_runtimes else there


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not (force and (out / "deploy.json").is_file()):
        why = "pass --force to replace it" if (out / "deploy.json").is_file() else "it is not an edgeres deploy folder"
        raise DeployError(f"{out}: exists; {why}")


def _screen(loaded: LoadedModel, run: Run) -> tuple[list[Measured], float, str]:
    """Every format's fp32 file and plain-recipe int8 file, in every runtime there that opens it, measured."""
    asked = run.settings.formats or formats.writable()
    missing = [fmt for fmt in asked if fmt not in formats.writable()]
    if missing:
        package = formats.named(missing[0]).packages[0]
        raise DeployError(f"--formats {missing[0]}: this environment cannot write it; pip install {package}")
    candidates = _candidates(loaded, run.model, run.files, asked, run)
    if not candidates:
        raise DeployError(
            f"{run.target.name}: no runtime there opens any format edgeres writes here (runtimes: "
            f"{', '.join(run.available) or 'none'}); install one there: pip install onnxruntime"
        )
    rows, reference, metric = measure_candidates(candidates, loaded.card, run, "screen")
    return rows + _pruned_rows(rows, asked, run), reference, metric


def _pruned_rows(rows: list[Measured], asked: tuple[str, ...], run: Run) -> list[Measured]:
    """With --prune: each latency-pruned variant's candidates, measured like the model's (a variant that cannot
    be made is said in the notes; the others go on)."""
    if not run.settings.prune:
        return []
    setting, found = pruned.latency_setting(rows, run), []
    for fraction in run.settings.prune:
        try:
            path = pruned.pruned_model(fraction, setting, run)
            variant = load_model(path)
            made = _candidates(variant, path, path.parent, asked, run)
            found += measure_candidates(made, variant.card, run, "screen")[0]
        except BoardLostError:
            raise
        except EdgeresError as exc:
            run.notes.append(f"pruned to {fraction:g}: {exc}")
    return found


def _candidates(loaded: LoadedModel, model: Path, folder: Path, asked: tuple[str, ...], run: Run) -> list[Candidate]:
    """Each format's fp32 file of `loaded` and its plain-recipe int8 file(s), in every runtime that opens them."""
    candidates: list[Candidate] = []
    for fmt in asked:
        if not any(fmt in runtimes.named(name).formats for name in run.available):
            continue
        try:
            fp32 = build.fp32_file(loaded, fmt, folder)
            candidates += for_file(fp32, fmt, "fp32", run.available)
            if fmt in formats.int8_names():
                int8 = build.int8_file(fp32, model, fmt, run.recipe, "none", folder, run.settings)
                for file, names in build.per_runtime(
                    int8, [n for n in run.available if fmt in runtimes.named(n).formats]
                ):
                    candidates += for_file(file, fmt, "int8", names)
        except EdgeresError as exc:  # one format's converter failing leaves the others to choose from
            run.notes.append(f"{fmt}: {exc}")
    return candidates


def _finalists(rows: list[Measured], loaded: LoadedModel, run: Run) -> list[Measured]:
    """The fastest int8 files of the screen (their best runtime each) re-made with `settings.optimize`, then
    measured again beside the screen's versions of them and every fp32 file, in one run (latency does not
    depend on the rounding, accuracy does)."""
    settings = run.settings
    if settings.optimize == "none":
        return []
    picked: list[Measured] = []
    for row in sorted((r for r in rows if r.candidate.precision == "int8"), key=lambda r: r.p50):
        if row.candidate.file not in [p.candidate.file for p in picked]:
            picked.append(row)
    picked = picked[: settings.finalists]
    if not picked:
        return []
    again: list[Candidate] = []
    for row in picked:
        c = row.candidate
        folder = c.file.parent
        fp32 = folder / f"fp32{formats.named(c.fmt).suffix}"
        model = pruned.source_of(c.file, run)
        better = build.int8_file(fp32, model, c.fmt, run.recipe, settings.optimize, folder, settings)
        for file, _ in build.per_runtime(better, [c.runtime]):
            again += [x for x in for_file(file, c.fmt, "int8", [c.runtime]) if x.settings == c.settings]
    others = [r.candidate for r in rows if r.candidate.precision == "fp32"] + [r.candidate for r in picked]
    measured, _, _ = measure_candidates(again + others, loaded.card, run, "final")
    fresh = {m.candidate: m for m in measured}
    for row in rows:  # the fp32 files and the screen's picks take their second timing, beside the finalists
        if row.candidate in fresh:
            row.stats = fresh[row.candidate].stats
    return [fresh[c] for c in again if c in fresh]
