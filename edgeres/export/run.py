"""export_model: load, convert, verify in the target runtime, and only then move the file and its report into place."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_outputs, require_new, scratch_folder, sha256_file, write_text_atomic
from .._lock import writes
from ..errors import ExportError
from ..formats import registry
from ..models import LoadedModel, load_model
from ..options import LoadOptions
from ..runtimes.embedded import IoSpec
from .base import ExportOptions, get_exporter, resolve_io
from .verify import Verification, verification_inputs, verify


@dataclass
class ExportResult:
    path: Path
    format: str
    io: IoSpec
    seconds: float
    file_bytes: int
    sha256: str
    verification: Verification | None
    report_path: Path
    card_path: Path

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("io", "verification")}
        out.update(path=str(self.path), report_path=str(self.report_path), card_path=str(self.card_path))
        out["io"] = asdict(self.io)
        out["verification"] = self.verification.to_dict() if self.verification else None
        return out


def format_for(out: Path, fmt: str | None) -> str:
    """The format named, else the one whose suffix `out` has. Raises ExportError on a mismatch."""
    guessed = registry.by_suffix(out)
    if fmt is None and guessed is None:
        raise ExportError(
            f"{out}: cannot tell the format from the suffix ({registry.listing()}); "
            f"pass --format {'|'.join(registry.names())}"
        )
    if fmt is not None and fmt not in registry.names():
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(registry.names())}")
    chosen = fmt or guessed.name  # type: ignore[union-attr]
    suffix = registry.named(chosen).suffix
    if out.suffix.lower() != suffix:
        raise ExportError(f"{out}: a {chosen} file must end in {suffix}; fix --out or --format")
    return chosen


@writes("out")
def export_model(
    model: str | os.PathLike[str] | LoadedModel,
    out: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    options: ExportOptions | None = None,
    verify_output: bool = True,
    verify_data: str | os.PathLike[str] | None = None,
    verify_limit: int = 256,
    force: bool = False,
    load_options: LoadOptions | None = None,
) -> ExportResult:
    """Export, verify, and only then move the file into place (with a JSON report and a card sidecar).

    Raises ExportError (conversion or verification failed: no model file is left), OutputExistsError, or
    the loader's errors.
    """
    target = Path(out)
    if not verify_output and verify_data is not None:
        raise ExportError(f"{verify_data}: --verify-data is what verification runs on; drop it or --no-verify")
    chosen = format_for(target, fmt)
    exporter = get_exporter(chosen)
    io = resolve_io(exporter, options or ExportOptions())
    require_new(target, force=force)
    loaded = model if isinstance(model, LoadedModel) else load_model(model, load_options)
    inputs = verification_inputs(loaded.card, verify_data, verify_limit) if verify_output else None
    report_path = target.with_name(target.name + ".report.json")
    card_path = target.with_name(target.name + ".card.json")
    with scratch_folder(target), atomic_outputs([target, report_path, card_path], force=force) as temps:
        tmp = temps[0]
        start = time.perf_counter()
        exporter.export(loaded.model, loaded.card, tmp, io)
        seconds = time.perf_counter() - start
        verification = None
        if inputs is not None:
            predictor = exporter.open(tmp)
            try:
                name = f"the {loaded.card.arch} model" if isinstance(model, LoadedModel) else str(model)
                verification = verify(predictor, loaded.model, inputs[0], inputs[1], io.precision, name)
            finally:
                predictor.close()
        result = ExportResult(
            target, chosen, io, seconds, tmp.stat().st_size, sha256_file(tmp), verification, report_path, card_path
        )
        report = json.dumps(result.to_dict(), indent=2)
        if verification is not None and not verification.passed:
            write_text_atomic(report_path, report, force=True)
            raise ExportError(
                f"{target}: exported file disagrees with PyTorch (top-1 agreement {verification.top1_agreement:.2%}, "
                f"max |diff| {verification.max_abs_diff:.3g}; rule: {verification.rule}); nothing written, "
                f"see {report_path}"
            )
        temps[1].write_text(report, encoding="utf-8")
        temps[2].write_text(loaded.card.to_json(), encoding="utf-8")
    return result
