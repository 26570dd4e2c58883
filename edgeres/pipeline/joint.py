"""Pruning and QAT as one fine-tuning. With both [prune] train and [quantize] qat set, the pruned model would
otherwise be fine-tuned twice (its float fine-tuning, then QAT of each int8 file from it). Instead its last
`qat_epochs` epochs run on the int8 grid of its first file, distilling from the unpruned model as pruning's
fine-tuning does: the prune stage fine-tunes `epochs - qat_epochs` in float (none when they are equal) and
writes the model before QAT; QAT of the first (format, recipe) then writes that int8 file and the pruned
variant's checkpoint (its fine-tuned float weights, which the fp32 exports and the other int8 files start
from)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import PipelineConfig
from .stage_runner import load_options

if TYPE_CHECKING:
    from ..quantize.qat.settings import QatSettings
    from ..quantize.result import QuantizeResult

BEFORE_QAT = "pruned_before_qat.safetensors"  # the pruned model before its QAT epochs, in models/


def joint(config: PipelineConfig) -> bool:
    """Whether the pruned variant's fine-tuning and its first QAT are one."""
    prune, quantize = config["prune"], config["quantize"]
    return bool(prune["enabled"] and prune["train"] and quantize["enabled"] and quantize["qat"])


def float_epochs(config: PipelineConfig) -> int:
    """The pruned model's fine-tuning epochs in float: all of [prune] epochs, less those QAT runs when joint."""
    epochs: int = config["prune"]["epochs"]
    return epochs - config["quantize"]["qat_epochs"] if joint(config) else epochs


def prune_key(config: PipelineConfig) -> dict[str, Any]:
    """What joint fine-tuning adds to the prune stage's key (nothing otherwise: earlier runs' keys stay)."""
    return {"float_epochs": float_epochs(config)} if joint(config) else {}


@dataclass(frozen=True)
class Qat:
    """How one int8 file of the run is fine-tuned on its grid: [quantize] qat's settings; for the pruned
    model's first file when its fine-tuning is joint, with the unpruned teacher and `keep`, where the
    fine-tuned float model is saved as the pruned variant's checkpoint."""

    settings: QatSettings
    resume: bool = False  # the run's --resume: continue from a saved state when one is there
    keep: Path | None = None

    def key(self) -> dict[str, Any]:
        """What the quantize stage's key holds of it."""
        key: dict[str, Any] = {"qat": str(self.settings.data), "qat_epochs": self.settings.epochs}
        key["qat_images"] = self.settings.limit or 0
        if self.keep is not None:  # only then: keys of runs recorded before joint fine-tuning stay unchanged
            key |= {"teacher": str(self.settings.teacher), "keep": str(self.keep), "device": self.settings.device}
        return key

    def settings_for(self, out: Path) -> QatSettings:
        from ..quantize.qat.train import state_file

        return dataclasses.replace(self.settings, resume=self.resume and state_file(out).is_file())

    def keep_trained(self, result: QuantizeResult) -> Path:
        """Save QAT's fine-tuned float model to `keep`; returns `keep`."""
        from ..models import save_model

        assert self.keep is not None and result.trained is not None, "QAT ran and a checkpoint was asked for"
        trained = result.trained
        return save_model(trained.model, trained.spec, trained.card, self.keep, force=True)


def file_qat(config: PipelineConfig, resume: bool) -> Qat | None:
    """[quantize] qat as the settings every int8 file of the run is fine-tuned with; None when not set."""
    from ..quantize.qat.settings import QatSettings

    section = config["quantize"]
    if not section["qat"]:
        return None
    limit, by_position = section["qat_images"] or None, config["data"]["map_by_position"]
    return Qat(
        QatSettings(data=section["qat"], epochs=section["qat_epochs"], limit=limit, map_by_position=by_position),
        resume,
    )


def joint_qat(config: PipelineConfig, resume: bool, keep: Path) -> Qat:
    """The QAT that ends the pruned model's fine-tuning: on the first int8 file's grid, distilling from the
    unpruned checkpoint ([prune] distill; else on the labels), where [prune] device says, saving the model
    to `keep`."""
    qat = file_qat(config, resume)
    assert qat is not None and joint(config), "joint fine-tuning is asked for"
    prune = config["prune"]
    distill = prune["distill"]
    teacher, load = (config["model"]["checkpoint"], load_options(config)) if distill else (None, None)
    settings = dataclasses.replace(
        qat.settings, distill=distill, device=prune["device"], teacher=teacher, teacher_load=load
    )
    return Qat(settings, resume, keep)
