"""Where an int8 file's output error comes from: the real file beside PyTorch simulations of its parts.

Usage: python benchmarks/int8_error_sources.py [--shared ../shared] [--target auto] [--format tflite]
       [--optimize best] [--checkpoints resnet20-12fca82f.th,...] [--held-out 1024] [--json int8_error_sources.json]

Output SQNR against the fp32 PyTorch model on held-out train images (never used for calibration), for:
the prepared model with float activations (the weights' error alone); every quantized layer's input on the
8-bit grid (what preparation simulates and optimizes against); that plus the conv outputs that the engines
also quantize but the input simulation does not see (a conv whose output goes to anything but a ReLU: in a
ResNet, the tensor before each residual add); and the int8 file itself. The layers the file keeps wider are
left float in the simulations too. Ranges in the simulations are calibration min/max (preparation's own).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from _table import machine_header, print_rows, recipe
from _table import parser as make_parser
from torch import nn

from edgeres.export.base import get_exporter
from edgeres.models.loader import load_model
from edgeres.quantize import QuantizeSettings, quantize_model
from edgeres.quantize.calibration import calibration_set
from edgeres.quantize.check import sqnr_db
from edgeres.quantize.prepare.capture import input_ranges, quantized_layers, simulated_activations
from edgeres.quantize.prepare.equalize import is_relu, skip_identity
from edgeres.quantize.prepare.fold import trace
from edgeres.quantize.prepare.grid import Grid
from edgeres.quantize.prepare.optimize import Techniques, prepare_model
from edgeres.quantize.recipe_target import resolve_quantize_target
from edgeres.quantize.recipes import recipe_for

CHECKPOINTS = ("resnet20-12fca82f.th", "resnet32-d509ac18.th", "resnet18_cifar10.pth")


def unsimulated_outputs(model: nn.Module) -> list[str]:
    """Convs whose output the engine quantizes as a tensor of its own (not a ReLU's input, fused away)."""
    graph = trace(model)
    return [
        str(node.target)
        for node in graph.graph.nodes
        if node.op == "call_module"
        and isinstance(graph.get_submodule(str(node.target)), nn.Conv2d)
        and not (len(node.users) == 1 and is_relu(skip_identity(next(iter(node.users)), graph), graph))
    ]


def output_ranges(model: nn.Module, names: list[str], inputs: torch.Tensor) -> dict[str, tuple[float, float]]:
    found: dict[str, tuple[float, float]] = {}

    def record(name: str, out: torch.Tensor) -> None:
        lo, hi = found.get(name, (float("inf"), float("-inf")))
        found[name] = (min(lo, float(out.min())), max(hi, float(out.max())))

    hooks = [model.get_submodule(n).register_forward_hook(lambda _m, _a, out, n=n: record(n, out)) for n in names]
    with torch.no_grad():
        for start in range(0, len(inputs), 64):
            model(inputs[start : start + 64])
    for hook in hooks:
        hook.remove()
    return found


def _simulate(model: nn.Module, grid: Grid, inputs: dict[str, tuple[float, float]],
              outputs: dict[str, tuple[float, float]], x: torch.Tensor) -> np.ndarray:  # fmt: skip
    hooks = [
        model.get_submodule(n).register_forward_hook(lambda _m, _a, out, r=r: grid.fake_quant_activation(out, *r))
        for n, r in outputs.items()
    ]
    try:
        with torch.no_grad(), simulated_activations(model, grid, inputs):
            return model(x).numpy()
    finally:
        for hook in hooks:
            hook.remove()


def measure(shared: Path, name: str, fmt: str, target: str, level: str, held_out: int) -> dict[str, object]:
    drawn = recipe(shared)
    loaded = load_model(shared / "checkpoints" / name)
    calib = calibration_set(
        drawn.data, loaded.card, num=drawn.num, seed=drawn.seed, split=drawn.split, held_out=held_out
    )
    resolved = resolve_quantize_target(target)
    engine_recipe = recipe_for(fmt, resolved.target)
    prepared, _ = prepare_model(loaded.model, engine_recipe, calib.inputs, Techniques.level(level))
    with tempfile.TemporaryDirectory() as tmp:
        result = quantize_model(
            loaded, Path(tmp) / f"int8.{fmt}", QuantizeSettings(calib=drawn, target=target, optimize=level)
        )
        predictor = get_exporter(fmt).open(result.path)
        real = predictor.predict(calib.held_out)
        predictor.close()
    x, held = torch.from_numpy(calib.inputs), torch.from_numpy(calib.held_out)
    with torch.no_grad():
        reference = loaded.model.eval()(held).numpy()
        weights_only = prepared(held).numpy()
    layers = quantized_layers(prepared, x)
    wide = set(result.precision["kept"]) if result.precision else set()
    # Only the ends are ever widened (edgeres.quantize.precision); the engine names the last layer its own way.
    wide_layers = {layers[0]} & wide | ({layers[-1]} if wide - {layers[0]} else set())
    inputs = {k: v for k, v in input_ranges(prepared, x, layers).items() if k not in wide_layers}
    grid = Grid.of(engine_recipe)
    extra = output_ranges(prepared, [n for n in unsimulated_outputs(prepared) if n not in wide_layers], x)
    score = lambda y: round(sqnr_db(reference, y), 2)  # noqa: E731
    return {
        "checkpoint": name,
        "format": fmt,
        "target": result.recipe.target,
        "optimize": level,
        "wider": ",".join(sorted(wide)),
        "weights only dB": score(weights_only),
        "+ layer inputs dB": score(_simulate(prepared, grid, inputs, {}, held)),
        "+ pre-add outputs dB": score(_simulate(prepared, grid, inputs, extra, held)),
        "int8 file dB": score(real),
        "file agreement": round(float(np.mean(real.argmax(1) == reference.argmax(1))), 4),
        "held-out": len(held),
        "outputs added": len(extra),
    }


def main() -> None:
    parser = make_parser(__doc__, "int8_error_sources.json")
    parser.add_argument("--target", default="auto")
    parser.add_argument("--format", default="tflite", choices=["onnx", "tflite"])
    parser.add_argument("--optimize", default="best")
    parser.add_argument("--checkpoints", default=",".join(CHECKPOINTS[:1]))
    parser.add_argument("--held-out", type=int, default=1024)
    args = parser.parse_args()
    rows = []
    for name in args.checkpoints.split(","):
        rows.append(measure(args.shared, name, args.format, args.target, args.optimize, args.held_out))
        args.json.write_text(json.dumps({**machine_header(), "rows": rows}, indent=1))
    print_rows("Int8 output SQNR by error source (held-out images)", rows)


if __name__ == "__main__":
    main()
