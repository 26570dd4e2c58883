"""The pipeline's config file: a documented TOML schema, validated with errors that name key and type.

Relative paths in the file are relative to the file's folder, so a config travels with its project.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EdgeresError
from ..formats import registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(EdgeresError):
    """The pipeline config is malformed: the message names the key and what it expects."""


# section -> key -> (types, default, meaning). A default of ... means required.
SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], Any, str]]] = {
    "model": {
        "checkpoint": ((str,), ..., "the trained checkpoint (any layout `edgeres inspect` reads)"),
        "arch": ((str,), "", "architecture name, when it cannot be inferred"),
        "trust": ((bool,), False, "allow pickled modules / TorchScript (runs code from the file)"),
    },
    "data": {
        "calibration": ((str,), ..., "images for int8 calibration, a recipe .toml, or a shipped recipe's name"),
        "evaluation": ((str,), ..., "labeled images for top-1 (ImageFolder)"),
        "calibration_images": ((int,), 0, "calibration subset size; 0: the recipe's (256 for images given directly)"),
        "evaluation_images": ((int,), 1000, "evaluation subset size (class-stratified); 0: all"),
        "map_by_position": ((bool,), False, "score class folder i as model output i when the names differ"),
    },
    "prune": {
        "enabled": ((bool,), False, "add a pruned variant"),
        "target_macs": ((float, int), 0.5, "fraction of the MACs to keep"),
        "target_latency": ((float, int), 0.0, "fraction of the latency to keep, as measured (0: use target_macs)"),
        "latency_precision": ((str,), "int8", "what target_latency times: int8 or fp32"),
        "latency_target": (
            (str,),
            "",
            "target profile whose threads, runtime and int8 recipe are timed, on the board for an SSH one "
            "(empty: the first [bench] target)",
        ),
        "keep_depth": ((bool,), False, "with target_latency: narrow channels only, never remove residual blocks"),
        "importance": ((str,), "l1", "l1, l2, bn-scale or taylor"),
        "round_to": ((int,), 8, "channel multiple (1: any; with target_latency, measured unless given)"),
        "train": ((str,), "", "labeled training images for fine-tuning (empty: no fine-tuning)"),
        "epochs": ((int,), 1, "fine-tuning epochs"),
        "train_images": ((int,), 0, "fine-tuning subset size (0: all)"),
        "lr": ((float, int), 0.01, "initial learning rate (cosine schedule)"),
        "distill": ((bool,), True, "distil from the unpruned model"),
        "processes": ((int,), 1, "fine-tuning processes (torchrun on this machine, DistributedDataParallel)"),
        "device": ((str,), "cpu", "where fine-tuning runs: cpu, or cuda (one GPU per process)"),
    },
    "export": {
        "formats": (
            (list,),
            [f.name for f in registry.formats() if f.pipeline_default],
            ", ".join(registry.names()),
        ),
    },
    "quantize": {
        "enabled": ((bool,), True, "add int8 files (recipe from each target's quantize_target)"),
        "max_drop": ((float, int), 0.0, "accuracy gate in pp on the evaluation subset (0: no gate)"),
        "optimize": ((str,), "fast", "preparation before int8: none, fast or best (edgeres quantize --optimize)"),
        "qat": ((str,), "", "labeled training images: fine-tune each int8 file on its grid (quantize --qat)"),
        "qat_epochs": (
            (int,),
            2,
            "QAT epochs (with [prune] train too: the last of the pruned model's [prune] epochs, on its first int8 "
            "file's grid: one fine-tuning)",
        ),
        "qat_images": ((int,), 0, "QAT on a class-stratified subset of this many images (0: all)"),
    },
    "bench": {
        "targets": ((list,), ["local-cpu"], "target profiles or ssh:// URLs"),
        "batches": ((list,), [1], "batch sizes"),
        "warmup": ((int,), 10, "warm-up calls"),
        "min_runs": ((int,), 100, "timed calls at least"),
        "min_seconds": ((float, int), 1.0, "timed seconds at least"),
    },
    "deploy": {
        "enabled": ((bool,), False, "choose the fastest file for [deploy] target per variant (edgeres deploy)"),
        "max_drop": ((float, int), 1.0, "points of top-1 on the evaluation subset a deployed file may lose"),
        "finalists": ((int,), 2, "int8 files re-made with [deploy] optimize and measured again"),
        "optimize": ((str,), "fast", "preparation of the finalists: none, fast or best"),
        "target": ((str,), "local-cpu", "where the candidates are measured: local-cpu or a board profile (SSH)"),
    },
}
# (section, key) -> (test, what the value must be): checked before any stage runs
Check = Callable[[Any], bool]
_RANGES: dict[tuple[str, str], tuple[Check, str]] = {
    ("data", "calibration_images"): (lambda v: v >= 0, "0 (the recipe's) or more"),
    ("data", "evaluation_images"): (lambda v: v >= 0, "0 (all) or more"),
    ("prune", "target_macs"): (lambda v: 0 < v < 1, "between 0 and 1 (exclusive), e.g. 0.5"),
    ("prune", "target_latency"): (lambda v: 0 <= v < 1, "0 (use target_macs) or a fraction below 1, e.g. 0.7"),
    ("prune", "latency_precision"): (lambda v: v in ("int8", "fp32"), "int8 or fp32"),
    ("prune", "importance"): (lambda v: v in ("l1", "l2", "bn-scale", "taylor"), "l1, l2, bn-scale or taylor"),
    ("prune", "round_to"): (lambda v: v >= 1, "at least 1"),
    ("prune", "epochs"): (lambda v: v >= 1, "at least 1"),
    ("prune", "train_images"): (lambda v: v >= 0, "0 (all) or more"),
    ("prune", "lr"): (lambda v: v > 0 and math.isfinite(v), "a positive number"),
    ("prune", "processes"): (lambda v: v >= 1, "at least 1"),
    ("prune", "device"): (lambda v: v in ("cpu", "cuda"), "cpu or cuda"),
    ("quantize", "max_drop"): (lambda v: v >= 0 and math.isfinite(v), "0 (no gate) or a positive number"),
    ("quantize", "optimize"): (lambda v: v in ("none", "fast", "best"), "none, fast or best"),
    ("quantize", "qat_epochs"): (lambda v: v >= 1, "at least 1"),
    ("quantize", "qat_images"): (lambda v: v >= 0, "0 (all) or more"),
    ("bench", "targets"): (lambda v: bool(v) and all(isinstance(t, str) and t for t in v), "a list of names"),
    ("bench", "batches"): (
        lambda v: bool(v) and all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in v),
        "a list of batch sizes of at least 1, e.g. [1, 8]",
    ),
    ("bench", "warmup"): (lambda v: v >= 0, "0 or more"),
    ("bench", "min_runs"): (lambda v: v >= 1, "at least 1"),
    ("bench", "min_seconds"): (lambda v: v >= 0 and math.isfinite(v), "0 or more seconds"),
    ("deploy", "max_drop"): (lambda v: v >= 0 and math.isfinite(v), "0 or more points"),
    ("deploy", "finalists"): (lambda v: v >= 1, "at least 1"),
    ("deploy", "optimize"): (lambda v: v in ("none", "fast", "best"), "none, fast or best"),
}
_ONE_OF = {("prune", "target_macs"): "give this or target_latency, not both"}
_REQUIRED_EXAMPLES = {"checkpoint": "model.pth", "calibration": "data/train", "evaluation": "data/test"}
TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", float: "a number", list: "a list"}


@dataclass(frozen=True)
class PipelineConfig:
    """Validated config: sections as dicts of known keys, with paths made absolute."""

    source: Path
    sections: dict[str, dict[str, Any]]
    given: frozenset[tuple[str, str]] = frozenset()  # (section, key) written in the file, not defaulted

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]


def _check_value(origin: str, section: str, key: str, value: Any) -> Any:
    types, _, _ = SCHEMA[section][key]
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        expected = " or ".join(TYPE_NAMES[t] for t in types)
        raise ConfigError(f"{origin}: [{section}] {key} must be {expected}, got {value!r}")
    if float in types and isinstance(value, int):
        value = float(value)
    test, must = _RANGES.get((section, key), (lambda v: True, ""))
    if not test(value):
        raise ConfigError(f"{origin}: [{section}] {key} must be {must}, got {value!r}")
    return value


def load_config(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline config. Raises ConfigError naming the offending key."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"{file}: cannot read ({exc.strerror}); `edgeres pipeline --example` prints a starter"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - set(SCHEMA))
    if unknown:
        raise ConfigError(f"{file}: unknown section(s) {unknown}; known: {list(SCHEMA)}")
    sections: dict[str, dict[str, Any]] = {}
    for section, keys in SCHEMA.items():
        given = data.get(section, {})
        if not isinstance(given, dict):
            raise ConfigError(f"{file}: [{section}] must be a table")
        extra = sorted(set(given) - set(keys))
        if extra:
            raise ConfigError(f"{file}: [{section}] unknown key(s) {extra}; known: {list(keys)}")
        values = {}
        for key, (_, default, _) in keys.items():
            if key not in given and default is ...:
                raise ConfigError(f"{file}: [{section}] {key} is required ({keys[key][2]})")
            values[key] = _check_value(str(file), section, key, given[key]) if key in given else default
        sections[section] = values
    _resolve_paths(file, sections)
    given = frozenset((section, key) for section in SCHEMA for key in data.get(section, {}))
    _check_prune_goal(file, sections["prune"], given)
    return PipelineConfig(file.resolve(), sections, given)


def _check_prune_goal(file: Path, prune: dict[str, Any], given: frozenset[tuple[str, str]]) -> None:
    """One goal per pruning: a target_macs written beside target_latency would be ignored, so it is refused."""
    if prune["target_latency"] and ("prune", "target_macs") in given:
        raise ConfigError(
            f"{file}: [prune] target_macs and target_latency are two goals; keep one (target_latency = 0 "
            "prunes to target_macs)"
        )


def _resolve_calibration(file: Path, data: dict[str, Any]) -> None:
    """[data] calibration: images or a recipe file (paths from the config's folder), or a shipped recipe's
    name; calibration_images 0 becomes the recipe's count (256 for images given directly)."""
    from ..errors import DataError
    from ..quantize.calibration_recipes import resolve_calibration

    value = data["calibration"]
    path = (file.resolve().parent / Path(value).expanduser()).resolve()
    try:
        recipe = resolve_calibration(path if path.exists() or value.endswith(".toml") else value)
    except DataError as exc:
        raise ConfigError(f"{file}: [data] calibration = {value!r}: {exc}") from None
    data["calibration"] = str(path) if path.exists() else value
    if data["calibration_images"] == 0:
        data["calibration_images"] = 256 if recipe.given_directly else recipe.num


def _resolve_paths(file: Path, sections: dict[str, dict[str, Any]]) -> None:
    base = file.resolve().parent
    paths = (("model", "checkpoint"), ("data", "calibration"), ("data", "evaluation"), ("prune", "train"))
    for section, key in (*paths, ("quantize", "qat")):
        if key == "calibration":
            _resolve_calibration(file, sections["data"])
            continue
        value = sections[section][key]
        if value:
            path = (base / Path(value).expanduser()).resolve()
            if not path.exists():
                raise ConfigError(f"{file}: [{section}] {key} = {value!r}: {path} does not exist; fix the path")
            sections[section][key] = str(path)
    formats = sections["export"]["formats"]
    if not formats or set(formats) - set(registry.names()):
        raise ConfigError(
            f"{file}: [export] formats must list some of {', '.join(map(repr, registry.names()))}, got {formats!r}"
        )
    no_int8 = [fmt for fmt in formats if fmt not in registry.int8_names()]
    if no_int8 and sections["quantize"]["enabled"]:
        raise ConfigError(
            f"{file}: [export] formats lists {', '.join(no_int8)}, which has no int8 engine; drop it, or set "
            "[quantize] enabled = false"
        )
    prune = sections["prune"]
    if prune["enabled"] and (prune["processes"] > 1 or prune["device"] != "cpu") and not prune["train"]:
        raise ConfigError(f"{file}: [prune] processes and device are for fine-tuning: set [prune] train too")
    _check_qat(file, sections)


def _check_qat(file: Path, sections: dict[str, dict[str, Any]]) -> None:
    """[quantize] qat fine-tunes every int8 file: each listed format must offer QAT, int8 must be made, and a
    pruned model fine-tuned with [prune] train must have the epochs its QAT takes."""
    if not sections["quantize"]["qat"]:
        return
    if not sections["quantize"]["enabled"]:
        raise ConfigError(f"{file}: [quantize] qat fine-tunes int8 files, and enabled = false makes none")
    prune, epochs = sections["prune"], sections["quantize"]["qat_epochs"]
    if prune["enabled"] and prune["train"] and epochs > prune["epochs"]:
        raise ConfigError(
            f"{file}: [quantize] qat_epochs = {epochs} is more than [prune] epochs = {prune['epochs']}: the pruned "
            "model is fine-tuned once, its last qat_epochs epochs on the int8 grid; set qat_epochs <= epochs"
        )
    offered = list(registry.qat_names())
    without = [f for f in sections["export"]["formats"] if f not in offered]
    if without:
        raise ConfigError(
            f"{file}: [quantize] qat is offered for {', '.join(offered)}, not {', '.join(without)}; set [export] "
            f"formats = {offered!r}, or drop qat"
        )


def example_config() -> str:
    """A commented starter config covering every key, with its default."""
    lines = ["# edgeres pipeline config: `edgeres pipeline THIS.toml --out run/`. Paths are relative to this file."]
    for section, keys in SCHEMA.items():
        lines += ["", f"[{section}]"]
        for key, (_, default, meaning) in keys.items():
            if default is ...:
                lines.append(f"{key} = {_toml(_REQUIRED_EXAMPLES[key])}  # required: {meaning}")
            elif (section, key) in _ONE_OF:  # written, it would be a second goal beside its alternative
                lines.append(f"# {key} = {_toml(default)}  # {meaning} (the default; {_ONE_OF[section, key]})")
            else:
                lines.append(f"{key} = {_toml(default)}  # {meaning}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)
