"""Outputs nobody else owns and caches that heal (issue 32): --force replaces files only, a pipeline writes
only into an empty folder or one of its own runs, one writer at a time per output, and a damaged cache entry is
dropped with a warning and built again."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli

pytestmark = pytest.mark.shared
RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"


def test_force_replaces_files_and_links_only(tmp_path):
    pipe = tmp_path / "pipe.onnx"
    os.mkfifo(pipe)
    line = one_line_error(run_cli("export", RESNET20, "--out", pipe, "--force"))
    assert "pipe.onnx" in line and "not a file" in line and stat.S_ISFIFO(pipe.lstat().st_mode)
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    assert "is a directory" in one_line_error(run_cli("export", RESNET20, "--out", folder, "--force"))
    assert folder.is_dir() and not any(folder.iterdir())
    kept = tmp_path / "elsewhere.onnx"
    kept.write_bytes(b"not mine to replace")
    link = tmp_path / "link.onnx"
    link.symlink_to(kept)
    result = run_cli("export", RESNET20, "--out", link, "--force", "--no-verify")
    assert result.exit_code == 0, result.stderr
    assert kept.read_bytes() == b"not mine to replace" and not link.is_symlink()  # the link replaced, not its target


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[model]\ncheckpoint = "{RESNET20}"\n[data]\ncalibration = "{CIFAR / "train"}"\n'
        f'evaluation = "{CIFAR / "test"}"\n',
        encoding="utf-8",
    )
    return config


@pytest.mark.parametrize("planted", ["report.html", "manifest.json"])
def test_a_pipeline_never_writes_into_a_folder_that_is_not_its_run(tmp_path, planted):
    run = tmp_path / "run"
    run.mkdir()
    (run / planted).write_text("the user's own file, not JSON of a pipeline", encoding="utf-8")
    line = one_line_error(run_cli("pipeline", _config(tmp_path), "--out", run))
    assert str(run) in line and "not an edgeres pipeline run" in line and "--force" in line
    assert sorted(p.name for p in run.iterdir()) == [planted]  # nothing added, nothing replaced
    assert (run / planted).read_text(encoding="utf-8").startswith("the user's own file")


def test_one_writer_at_a_time_and_a_dead_writers_lock_is_taken_over(tmp_path):
    out = tmp_path / "model.onnx"
    lock = tmp_path / ".model.onnx.lock"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        lock.write_text(str(other.pid))  # another live process holds the output
        line = one_line_error(run_cli("export", RESNET20, "--out", out))
        assert f"pid {other.pid}" in line and "model.onnx" in line and not out.exists()
    finally:
        other.kill()
        other.wait()
    result = run_cli("export", RESNET20, "--out", out, "--no-verify")  # that process is gone: its lock is stale
    assert result.exit_code == 0, result.stderr
    assert out.is_file() and not lock.exists()


def test_damaged_cache_entries_are_dropped_with_a_warning_and_rebuilt(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGERES_CACHE_DIR", str(cache))
    args = ["quantize", RESNET20, "--calib", CIFAR / "train", "--num", "64", "--optimize", "none", "--format", "onnx"]
    first = run_cli(*args, "--out", tmp_path / "a.onnx")
    assert first.exit_code == 0, first.stderr
    exports = list((cache / "exports").glob("*.onnx"))
    ranges = list(cache.glob("ort-calibration-*.json"))
    assert len(exports) == 1 and len(ranges) == 1
    exports[0].write_bytes(exports[0].read_bytes()[:1000])  # truncated, as a full disk or a kill leaves it
    ranges[0].write_text(ranges[0].read_text()[:-40])
    again = run_cli(*args, "--out", tmp_path / "b.onnx")
    assert again.exit_code == 0, again.stderr
    warned = [line for line in again.stderr.splitlines() if line.startswith("warning: ")]
    assert sum("damaged cache entry" in line for line in warned) == 2
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()  # the same file, rebuilt
    from edgeres._io import read_cache_json

    rebuilt = list((cache / "exports").glob("*.onnx"))
    assert len(rebuilt) == 1 and read_cache_json(ranges[0]) is not None  # healed: whole entries again
    assert rebuilt[0].stat().st_size > 1000


def test_a_whole_cache_entry_reads_back_whatever_its_keys(tmp_path, recwarn):
    """Latency group effects are keyed by int widths: JSON turns them into strings, and the hash taken before
    that never matched on reading, so every run measured them again and warned of a damaged entry."""
    from edgeres._io import read_cache_json, write_cache_json

    entry = tmp_path / "groups.json"
    write_cache_json(entry, {"fp32": {"effects": {"k": {32: -0.04, 128: 0.0, 64: -0.02}}}})
    assert read_cache_json(entry) == {"fp32": {"effects": {"k": {"32": -0.04, "128": 0.0, "64": -0.02}}}}
    assert entry.exists() and not recwarn.list


def test_bench_reports_are_named_for_what_they_hold_and_replace_only_reports(tmp_path, exported):
    """`bench --json model.onnx` destroyed the model it had just timed; a report folder replaced the user's notes."""
    model = tmp_path / "model.onnx"
    model.write_bytes(exported("resnet20-12fca82f.th", "onnx").read_bytes())
    before = model.read_bytes()
    quick = ("bench", model, "--min-runs", "1", "--min-seconds", "0", "--warmup", "0")
    line = one_line_error(run_cli(*quick, "--json", model))
    assert "model.onnx" in line and "--json" in line and ".json" in line and model.read_bytes() == before
    assert "--csv" in one_line_error(run_cli(*quick, "--csv", tmp_path / "rows.txt"))
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}')
    line = one_line_error(run_cli(*quick, "--json", notes))
    assert "notes.json" in line and "not an edgeres bench report" in line and notes.read_text() == '{"mine": true}'
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "bench.md").write_text("# my own notes\n")
    assert "bench.md" in one_line_error(run_cli(*quick, "--report", folder))
    assert (folder / "bench.md").read_text() == "# my own notes\n" and sorted(os.listdir(folder)) == ["bench.md"]
    (folder / "bench.md").unlink()
    report, rows = tmp_path / "run.json", tmp_path / "run.csv"
    for _ in range(2):  # a bench run replaces its own earlier reports
        result = run_cli(*quick, "--json", report, "--csv", rows, "--report", folder)
        assert result.exit_code == 0, result.stderr
    assert json.loads(report.read_text())["schema"] == "edgeres.bench/1" and (folder / "latency.png").is_file()
