"""The cases of scripts/fault_sweep.py: what each runs, what it is given, and how it must end.

Argument placeholders: {w} the case's own folder, and the assets' names ({ckpt}, {onnx}, {data}, ...). A setup
function puts the case's own inputs into its folder; the shared assets must never change.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRET = b"zq9x:$6$hunter2secret\n"


@dataclass
class Assets:
    folder: Path
    ckpt: Path  # resnet20, He et al.'s layout
    data: Path  # two CIFAR-10 test images per class
    onnx: Path  # resnet20 exported
    pte: Path
    nan_ckpt: Path  # a BatchNorm with running_var -1
    vector_onnx: Path  # an ONNX whose input is [N, 10]
    sums: dict[str, str]

    @classmethod
    def make(cls, folder: Path, shared: Path) -> Assets:
        import torch

        from edgeres.export import export_model

        folder.mkdir(parents=True)
        ckpt = shared / "checkpoints" / "resnet20-12fca82f.th"
        data = folder / "data"
        for klass in sorted((shared / "datasets" / "cifar10" / "test").iterdir()):
            (data / klass.name).mkdir(parents=True)
            for image in sorted(klass.iterdir())[:2]:
                shutil.copy(image, data / klass.name / image.name)
        onnx = export_model(ckpt, folder / "resnet20.onnx").path
        pte = export_model(ckpt, folder / "resnet20.pte").path
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        weights = state.get("state_dict", state)
        key = next(k for k in weights if k.endswith("bn1.running_var"))
        weights[key] = -torch.ones_like(weights[key])
        torch.save({"state_dict": weights}, folder / "negative_var.th")
        vector = torch.nn.Sequential(torch.nn.Linear(10, 10))
        torch.onnx.export(vector, (torch.zeros(1, 10),), str(folder / "vector.onnx"), dynamo=False)
        made = cls(folder, ckpt, data, onnx, pte, folder / "negative_var.th", folder / "vector.onnx", {})
        made.sums = made._hashes()
        return made

    def _hashes(self) -> dict[str, str]:
        files = [p for p in sorted(self.folder.rglob("*")) if p.is_file()] + [self.ckpt]
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    def check_unchanged(self) -> None:
        if self._hashes() != self.sums:
            raise SystemExit("a case changed the shared assets")

    def names(self) -> dict[str, Path]:
        return {k: getattr(self, k) for k in ("ckpt", "data", "onnx", "pte", "nan_ckpt", "vector_onnx")}


def _write(name: str, data: bytes) -> Any:
    return lambda w, _a: (w / name).write_bytes(data)


def _truncated(name: str, source: str, keep: int) -> Any:
    return lambda w, a: (w / name).write_bytes(getattr(a, source).read_bytes()[:keep])


def _secret_link(name: str) -> Any:
    def setup(w: Path, _a: Assets) -> None:
        (w / "private").mkdir()
        (w / "private" / "key").write_bytes(SECRET)
        (w / name).symlink_to(w / "private" / "key")

    return setup


def _fifo(name: str) -> Any:
    return lambda w, _a: os.mkfifo(w / name)


def _copy(name: str, source: str) -> Any:
    return lambda w, a: shutil.copy(getattr(a, source), w / name)


def _unsafe_pickle(w: Path, _a: Assets) -> None:
    class Boom:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (os.system, ("touch pwned",))

    (w / "evil.pth").write_bytes(pickle.dumps({"state_dict": Boom()}))


def _folder(*files: tuple[str, bytes]) -> Any:
    def setup(w: Path, _a: Assets) -> None:
        for name, data in files:
            (w / name).parent.mkdir(parents=True, exist_ok=True)
            (w / name).write_bytes(data)

    return setup


def _data_with(extra: dict[str, bytes]) -> Any:
    def setup(w: Path, a: Assets) -> None:
        shutil.copytree(a.data, w / "data")
        for name, data in extra.items():
            (w / "data" / name).parent.mkdir(parents=True, exist_ok=True)
            (w / "data" / name).write_bytes(data)

    return setup


def _emptied_class(w: Path, a: Assets) -> None:
    shutil.copytree(a.data, w / "data")
    for image in (w / "data" / "frog").iterdir():
        image.unlink()


def _nan_weights(w: Path, a: Assets) -> None:
    import torch

    state = torch.load(a.ckpt, map_location="cpu", weights_only=True)
    weights = state.get("state_dict", state)
    key = next(k for k in weights if k.endswith("linear.weight") or k.endswith("fc.weight"))
    weights[key] = torch.full_like(weights[key], float("nan"))
    torch.save({"state_dict": weights}, w / "nan.th")


def _three_classes(w: Path, a: Assets) -> None:
    for klass in sorted(a.data.iterdir())[:3]:
        shutil.copytree(klass, w / "data" / klass.name)


QUICK = ["--min-runs", "1", "--min-seconds", "0", "--warmup", "0"]
PIPELINE = '[model]\ncheckpoint = "{ckpt}"\n[data]\ncalibration = "{data}"\nevaluation = "{data}"\n'


def _config(text: str) -> Any:
    return lambda w, a: (w / "cfg.toml").write_text(text.format(**a.names()))


def checkpoint_cases() -> list[dict[str, Any]]:
    return [
        {"name": "inspect-missing", "argv": ["inspect", "{w}/none.pth"]},
        {"name": "inspect-empty", "argv": ["inspect", "{w}/e.pth"], "setup": _write("e.pth", b"")},
        {"name": "inspect-text", "argv": ["inspect", "{w}/t.pth"], "setup": _write("t.pth", b"hello\n")},
        {"name": "inspect-html", "argv": ["inspect", "{w}/h.pt"], "setup": _write("h.pt", b"<!DOCTYPE html><p>")},
        {"name": "inspect-lfs-pointer", "argv": ["inspect", "{w}/l.pth"],
         "setup": _write("l.pth", b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n")},
        {"name": "inspect-truncated", "argv": ["inspect", "{w}/c.th"], "setup": _truncated("c.th", "ckpt", 5000)},
        {"name": "inspect-random-safetensors", "argv": ["inspect", "{w}/r.safetensors"],
         "setup": _write("r.safetensors", os.urandom(3000))},
        {"name": "inspect-a-folder", "argv": ["inspect", "{w}"]},
        {"name": "inspect-unsafe-pickle", "argv": ["inspect", "{w}/evil.pth"], "setup": _unsafe_pickle},
        {"name": "inspect-secret-link", "argv": ["inspect", "{w}/s.pth"], "setup": _secret_link("s.pth"),
         "must_not_show": ("zq9x", "hunter2", "7a 71 39 78")},
        {"name": "inspect-negative-running-var", "argv": ["inspect", "{nan_ckpt}"]},
        {"name": "inspect-not-a-resnet", "argv": ["inspect", "{vector_onnx}"]},
        {"name": "inspect-bad-card", "argv": ["inspect", "{ckpt}", "--card", "{w}/card.toml"],
         "setup": _write("card.toml", b"mean = [0.5, 0.5\n")},
        {"name": "inspect-card-two-means", "argv": ["inspect", "{ckpt}", "--mean", "0.5,0.5"]},
        {"name": "inspect-input-size-zero", "argv": ["inspect", "{ckpt}", "--input-size", "0"]},
        {"name": "inspect-wrong-num-classes", "argv": ["inspect", "{ckpt}", "--num-classes", "7"]},
    ]  # fmt: skip


def eval_cases() -> list[dict[str, Any]]:
    return [
        {"name": "eval-data-missing", "argv": ["eval", "{ckpt}", "--data", "{w}/nothing"]},
        {"name": "eval-data-empty", "argv": ["eval", "{ckpt}", "--data", "{w}/d"], "setup": _folder(("d/.keep", b""))},
        {"name": "eval-data-not-images", "argv": ["eval", "{ckpt}", "--data", "{w}/d"],
         "setup": _folder(("d/a/x.jpg", b"no"), ("d/b/y.jpg", b"no"))},
        {"name": "eval-three-classes-for-ten", "argv": ["eval", "{ckpt}", "--data", "{w}/data"],
         "setup": _three_classes},
        {"name": "eval-limit-zero", "argv": ["eval", "{ckpt}", "--data", "{data}", "--limit", "0"]},
        {"name": "eval-vector-onnx", "argv": ["eval", "{vector_onnx}", "--data", "{data}"]},
        {"name": "eval-pte-named-onnx", "argv": ["eval", "{w}/m.onnx", "--data", "{data}"],
         "setup": _copy("m.onnx", "pte")},
        {"name": "eval-text-tflite", "argv": ["eval", "{w}/m.tflite", "--data", "{data}"],
         "setup": _write("m.tflite", b"just text\n")},
        {"name": "eval-truncated-onnx", "argv": ["eval", "{w}/m.onnx", "--data", "{data}"],
         "setup": _truncated("m.onnx", "onnx", 20000)},
        {"name": "eval-negative-running-var", "argv": ["eval", "{nan_ckpt}", "--data", "{data}"]},
        {"name": "eval-nan-logits", "argv": ["eval", "{w}/nan.th", "--data", "{data}"], "setup": _nan_weights},
        {"name": "export-nan-logits", "argv": ["export", "{w}/nan.th", "--out", "{w}/m.onnx"], "setup": _nan_weights},
        {"name": "eval-forged-name", "argv": ["eval", "{ckpt}", "--data", "{w}/data", "--strict"],
         "setup": _data_with({"cat/evil\nerror: fake.jpg": b"not an image"})},
        {"name": "eval-empty-class-folder", "argv": ["eval", "{ckpt}", "--data", "{w}/data"],
         "setup": _emptied_class, "expect": "warning"},
        {"name": "eval-secret-link-model", "argv": ["eval", "{w}/s.th", "--data", "{data}"],
         "setup": _secret_link("s.th"), "must_not_show": ("zq9x", "hunter2")},
    ]  # fmt: skip


def export_cases() -> list[dict[str, Any]]:
    return [
        {"name": "export-unknown-suffix", "argv": ["export", "{ckpt}", "--out", "{w}/m.xyz"]},
        {"name": "export-suffix-and-format-differ", "argv": ["export", "{ckpt}", "--out", "{w}/m.onnx",
                                                             "--format", "tflite"]},
        {"name": "export-existing-no-force", "argv": ["export", "{ckpt}", "--out", "{w}/m.onnx"],
         "setup": _write("m.onnx", b"mine")},
        {"name": "export-force-onto-fifo", "argv": ["export", "{ckpt}", "--out", "{w}/p.onnx", "--force"],
         "setup": _fifo("p.onnx")},
        {"name": "export-onto-a-folder", "argv": ["export", "{ckpt}", "--out", "{w}/f.onnx", "--force"],
         "setup": _folder(("f.onnx/keep", b"x"))},
        {"name": "export-makes-missing-parents", "argv": ["export", "{ckpt}", "--out", "{w}/no/such/m.onnx"],
         "expect": "works"},
        {"name": "export-nan-model", "argv": ["export", "{nan_ckpt}", "--out", "{w}/m.onnx"]},
        {"name": "quantize-calib-missing", "argv": ["quantize", "{ckpt}", "--calib", "{w}/none", "--out",
                                                    "{w}/q.onnx"]},
        {"name": "quantize-num-zero", "argv": ["quantize", "{ckpt}", "--calib", "{data}", "--num", "0", "--out",
                                               "{w}/q.onnx"]},
        {"name": "quantize-out-safetensors", "argv": ["quantize", "{ckpt}", "--calib", "{data}", "--out",
                                                      "{w}/q.safetensors"]},
        {"name": "quantize-unknown-target", "argv": ["quantize", "{ckpt}", "--calib", "{data}", "--target", "mips",
                                                     "--out", "{w}/q.onnx"]},
        {"name": "quantize-vector-onnx", "argv": ["quantize", "{vector_onnx}", "--calib", "{data}", "--out",
                                                  "{w}/q.onnx"]},
        {"name": "quantize-existing-no-force", "argv": ["quantize", "{onnx}", "--calib", "{data}", "--out",
                                                        "{w}/q.onnx"], "setup": _write("q.onnx", b"mine")},
    ]  # fmt: skip


def prune_cases() -> list[dict[str, Any]]:
    out = ["--out", "{w}/p.safetensors"]
    return [
        {"name": "prune-ratio-above-one", "argv": ["prune", "{ckpt}", *out, "--ratio", "1.5"]},
        {"name": "prune-ratio-zero-keeps-all", "argv": ["prune", "{ckpt}", *out, "--ratio", "0"], "expect": "works"},
        {"name": "prune-out-onnx", "argv": ["prune", "{ckpt}", "--out", "{w}/p.onnx", "--ratio", "0.5"]},
        {"name": "prune-resume-without-state", "argv": ["prune", "{ckpt}", *out, "--ratio", "0.5", "--finetune",
                                                        "{data}", "--resume"]},
        {"name": "prune-finetune-missing", "argv": ["prune", "{ckpt}", *out, "--ratio", "0.5", "--finetune",
                                                    "{w}/none"]},
        {"name": "prune-force-onto-fifo", "argv": ["prune", "{ckpt}", "--out", "{w}/p.safetensors", "--ratio",
                                                   "0.5", "--force"], "setup": _fifo("p.safetensors")},
        {"name": "prune-two-goals", "argv": ["prune", "{ckpt}", *out, "--ratio", "0.5", "--target-macs", "0.5"]},
        {"name": "prune-existing-no-force", "argv": ["prune", "{ckpt}", *out, "--ratio", "0.5"],
         "setup": _write("p.safetensors", b"mine")},
    ]  # fmt: skip


def bench_cases() -> list[dict[str, Any]]:
    return [
        {"name": "bench-json-onto-model", "argv": ["bench", "{w}/m.onnx", *QUICK, "--json", "{w}/m.onnx"],
         "setup": _copy("m.onnx", "onnx")},
        {"name": "bench-json-foreign", "argv": ["bench", "{onnx}", *QUICK, "--json", "{w}/notes.json"],
         "setup": _write("notes.json", b'{"mine": 1}')},
        {"name": "bench-csv-misnamed", "argv": ["bench", "{onnx}", *QUICK, "--csv", "{w}/rows.txt"]},
        {"name": "bench-report-into-notes", "argv": ["bench", "{onnx}", *QUICK, "--report", "{w}/r"],
         "setup": _folder(("r/bench.md", b"# my notes\n"))},
        {"name": "bench-report-is-a-file", "argv": ["bench", "{onnx}", *QUICK, "--report", "{w}/r"],
         "setup": _write("r", b"x")},
        {"name": "bench-unknown-runtime", "argv": ["bench", "{onnx}", "--runtime", "tensorflow"]},
        {"name": "bench-batch-zero", "argv": ["bench", "{onnx}", "--batch", "0"]},
        {"name": "bench-batch-word", "argv": ["bench", "{onnx}", "--batch", "one"]},
        {"name": "bench-threads-zero", "argv": ["bench", "{onnx}", "--threads", "0"]},
        {"name": "bench-missing-model", "argv": ["bench", "{w}/none.onnx"]},
        {"name": "bench-unknown-target", "argv": ["bench", "{onnx}", "--target", "no-such-board"]},
        {"name": "bench-cpus-absent", "argv": ["bench", "{onnx}", "--cpus", "999"]},
        {"name": "bench-vector-onnx", "argv": ["bench", "{vector_onnx}", *QUICK]},
    ]  # fmt: skip


def run_folder_cases() -> list[dict[str, Any]]:
    def config_and(*files: tuple[str, bytes]) -> Any:
        return lambda w, a: (_config(PIPELINE)(w, a), _folder(*files)(w, a))

    return [
        {"name": "pipeline-missing-config", "argv": ["pipeline", "{w}/none.toml", "--out", "{w}/run"]},
        {"name": "pipeline-bad-toml", "argv": ["pipeline", "{w}/cfg.toml", "--out", "{w}/run"],
         "setup": _config("[model\n")},
        {"name": "pipeline-unknown-key", "argv": ["pipeline", "{w}/cfg.toml", "--out", "{w}/run"],
         "setup": _config(PIPELINE + "[quantize]\nturbo = true\n")},
        {"name": "pipeline-foreign-report", "argv": ["pipeline", "{w}/cfg.toml", "--out", "{w}/run"],
         "setup": config_and(("run/report.html", b"<p>mine</p>"))},
        {"name": "pipeline-foreign-manifest", "argv": ["pipeline", "{w}/cfg.toml", "--out", "{w}/run"],
         "setup": config_and(("run/manifest.json", b"not json"))},
        {"name": "pipeline-out-is-a-file", "argv": ["pipeline", "{w}/cfg.toml", "--out", "{w}/run"],
         "setup": config_and(("run", b"x"))},
        {"name": "deploy-foreign-folder", "argv": ["deploy", "{ckpt}", "--calib", "{data}", "--out", "{w}/d"],
         "setup": _folder(("d/notes.txt", b"mine"))},
        {"name": "deploy-foreign-folder-force", "argv": ["deploy", "{ckpt}", "--calib", "{data}", "--out", "{w}/d",
                                                         "--force"], "setup": _folder(("d/notes.txt", b"mine"))},
        {"name": "deploy-negative-drop", "argv": ["deploy", "{ckpt}", "--calib", "{data}", "--out", "{w}/d",
                                                  "--max-drop", "-1"]},
        {"name": "deploy-missing-model", "argv": ["deploy", "{w}/none.pth", "--calib", "{data}", "--out", "{w}/d"]},
        {"name": "deploy-resume-nothing", "argv": ["deploy", "{ckpt}", "--calib", "{data}", "--out", "{w}/d",
                                                   "--resume"]},
        {"name": "demo-force-foreign", "argv": ["demo", "--out", "{w}/mine", "--force"],
         "setup": _folder(("mine/thesis.tex", b"years"))},
        {"name": "demo-out-is-a-file", "argv": ["demo", "--out", "{w}/f"], "setup": _write("f", b"x")},
        {"name": "targets-check-unknown", "argv": ["targets", "check", "no-such-board"]},
    ]  # fmt: skip


def qat_cases() -> list[dict[str, Any]]:
    base = ["quantize", "{ckpt}", "--calib", "{data}", "--num", "16"]
    return [
        {"name": "qat-batch-size-zero", "argv": [*base, "--out", "{w}/q.tflite", "--qat", "{data}", "--batch-size",
                                                 "0"]},
        {"name": "qat-epochs-without-qat", "argv": [*base, "--out", "{w}/q.onnx", "--epochs", "3"]},
        {"name": "qat-exported-file", "argv": ["quantize", "{onnx}", "--calib", "{data}", "--out", "{w}/q.onnx",
                                               "--qat", "{data}"]},
        {"name": "qat-resume-nothing", "argv": [*base, "--out", "{w}/q.onnx", "--qat", "{data}", "--resume"]},
        {"name": "qat-three-classes", "argv": [*base, "--out", "{w}/q.onnx", "--qat", "{w}/data"],
         "setup": _three_classes},
        {"name": "qat-lr-zero", "argv": [*base, "--out", "{w}/q.onnx", "--qat", "{data}", "--lr", "0"]},
        {"name": "qat-torchrun-variables-missing", "argv": [*base, "--out", "{w}/q.onnx", "--qat", "{data}"],
         "env": {"WORLD_SIZE": "2", "RANK": "0"}},
        {"name": "quantize-under-torchrun-without-qat", "argv": [*base, "--out", "{w}/q.onnx"],
         "env": {"WORLD_SIZE": "2", "RANK": "0"}},
        {"name": "pipeline-qat-epochs-beyond-prune", "argv": ["pipeline", "{w}/cfg.toml", "--out", "{w}/run"],
         "setup": _config(PIPELINE + '[prune]\nenabled = true\ntrain = "{data}"\nepochs = 1\n[export]\n'
                          'formats = ["onnx"]\n[quantize]\nqat = "{data}"\nqat_epochs = 2\n')},
    ]  # fmt: skip


def cases() -> list[dict[str, Any]]:
    sets = (checkpoint_cases, eval_cases, export_cases, prune_cases, bench_cases, run_folder_cases, qat_cases)
    return [case for made in sets for case in made()]
