"""Benchmarks on boards over SSH, against a real OpenSSH server on 127.0.0.1 whose "board" Python is a
virtualenv without torch. Faults are real too: a wrong host key, a closed port, a board without
onnxruntime, a connection killed mid-run, and hostile remote arguments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from edgeres.bench import TimingConfig
from edgeres.isa import local_cpu, target_for_cpu
from edgeres.quantize.recipe_target import resolve_quantize_target
from edgeres.remote import (
    HostKeyError,
    RemoteRunError,
    TargetError,
    TargetRunOptions,
    bench_remote,
    load_targets,
    resolve_target,
    with_runner,
)
from edgeres.report.schema import TARGETS_SCHEMA

from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli
from .sshd import Sshd, free_port, keygen


def runner_processes(sshd: Sshd) -> list[str]:
    """Board runners still alive that this test session's sshd started (another pytest worker may run its own)."""
    out = subprocess.run(["pgrep", "-af", "edgeres-runner.pyz"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line and str(sshd.folder) in line]


def test_user_profiles_override_shipped_ones_and_bad_keys_are_named(config_dir):
    shipped = load_targets()
    assert {"local-cpu", "local-cuda", "raspberry-pi-4", "raspberry-pi-5", "jetson-orin-nano", "generic-arm64"} <= set(
        shipped
    )
    (config_dir / "raspberry-pi-5.toml").write_text('transport = "ssh"\nhost = "10.0.0.7"\nuser = "me"\n')
    mine = resolve_target("raspberry-pi-5")
    assert (mine.host, mine.user, mine.source) == ("10.0.0.7", "me", str(config_dir / "raspberry-pi-5.toml"))
    url = resolve_target("ssh://pi@192.168.1.9:2222")
    assert (url.host, url.user, url.port, url.transport) == ("192.168.1.9", "pi", 2222, "ssh")
    (config_dir / "bad.toml").write_text('transport = "ssh"\nhost = "x"\nthreds = 4\n')
    with pytest.raises(TargetError, match="unknown keys \\['threds'\\]"):
        load_targets()
    (config_dir / "bad.toml").write_text('transport = "ssh"\nhost = "x"\nport = "22"\n')
    with pytest.raises(TargetError, match="port must be an integer, got '22'"):
        load_targets()
    (config_dir / "bad.toml").unlink()
    line = one_line_error(run_cli("bench", "m.onnx", "--target", "nowhere"))
    assert "unknown target 'nowhere'" in line and "raspberry-pi-5" in line


def test_check_reports_the_boards_python_and_runtimes(board, sshd, torch_free_python):
    result = run_cli("targets", "check", board, "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    board_versions = subprocess.run(
        [torch_free_python, "-c", "import onnxruntime, numpy; print(onnxruntime.__version__, numpy.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [info["packages"]["onnxruntime"], info["packages"]["numpy"]] == board_versions
    assert info["executable"].startswith(str(Path(torch_free_python).parent.parent))
    # The board is this machine: its int8 recipe follows this CPU, found by probing (the profile states no flags).
    recipe = target_for_cpu(local_cpu())
    assert f"int8      --target {recipe} fits this CPU" in run_cli("targets", "check", board).stdout
    resolved = resolve_quantize_target(board)
    assert resolved.target == recipe and "probed over SSH" in resolved.reason
    assert sshd.leftovers() == []


@pytest.mark.shared
def test_remote_bench_equals_local_and_leaves_nothing(board, sshd, resnet20_files, tmp_path):
    models = [resnet20_files["int8.onnx"], resnet20_files["int8.tflite"]]
    result = run_cli(
        "bench",
        *models,
        "--target",
        board,
        "--target",
        "local-cpu",
        "--data",
        CIFAR / "test",
        "--limit",
        "300",
        "--min-runs",
        "20",
        "--min-seconds",
        "0",
        "--json",
        tmp_path / "targets.json",
        "--report",
        tmp_path / "r",
    )
    assert result.exit_code == 0, result.stderr
    record = json.loads((tmp_path / "targets.json").read_text())
    jsonschema.validate(record, TARGETS_SCHEMA)
    by_target = {t["target"]["name"]: t for t in record["targets"]}
    assert set(by_target) == {"loopback", "local-cpu"} and all(t["error"] is None for t in record["targets"])
    top1 = {
        name: {e["model"]: e["accuracy"]["top1"] for run in t["runs"] for e in run["entries"]}
        for name, t in by_target.items()
    }
    assert top1["loopback"] == top1["local-cpu"] and set(top1["loopback"]) == {str(m) for m in models}
    remote_run = by_target["loopback"]["runs"][0]
    assert remote_run["config"]["threads"] == 1 and "torch" not in remote_run["machine"]["versions"]
    assert "loopback p50 ms" in result.stdout and "local-cpu top-1" in result.stdout
    assert (tmp_path / "r" / "targets.md").read_text().count("|") > 10
    assert sshd.leftovers() == [] and runner_processes(sshd) == []


def test_unknown_host_key_is_refused_before_anything_is_copied(sshd, torch_free_python, config_dir, tmp_path):
    keygen(tmp_path / "other")
    other = (tmp_path / "other.pub").read_text().split()
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    profile = sshd.profile("impostor", torch_free_python).replace(str(sshd.known_hosts), str(tmp_path / "known_hosts"))
    (config_dir / "impostor.toml").write_text(profile)
    line = one_line_error(run_cli("targets", "check", "impostor"))
    assert "host key verification failed" in line and "--accept-new-host-key" in line
    (tmp_path / "known_hosts").write_text("")  # unknown, not changed: still refused without the flag
    with pytest.raises(HostKeyError):
        bench_remote(resolve_target("impostor"), [Path("m.onnx")])
    assert sshd.leftovers() == []
    result = run_cli("targets", "check", "impostor", "--accept-new-host-key", "--json")
    assert result.exit_code == 0, result.stderr
    host_key = (sshd.folder / "host_key.pub").read_text().split()[1]
    assert host_key in (tmp_path / "known_hosts").read_text()  # accepted, on request only


def test_closed_port_is_a_clear_error(config_dir, sshd, torch_free_python):
    profile = sshd.profile("closed", torch_free_python).replace(f"port = {sshd.port}", f"port = {free_port()}")
    (config_dir / "closed.toml").write_text(profile)
    line = one_line_error(run_cli("targets", "check", "closed"))
    assert "closed" in line and "cannot connect" in line and "Connection refused" in line


@pytest.mark.shared
def test_board_without_onnxruntime_gets_the_pip_command(sshd, runtime_free_python, config_dir, resnet20_files):
    (config_dir / "bare.toml").write_text(sshd.profile("bare", runtime_free_python))
    result = run_cli("bench", resnet20_files["int8.onnx"], "--target", "bare", "--min-runs", "5")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1 and "Traceback" not in result.stderr
    assert f"{runtime_free_python} -m pip install onnxruntime" in errors[0] and "kept" not in errors[0]
    check = one_line_error(run_cli("targets", "check", "bare"))
    assert "-m pip install" in check and "onnxruntime" in check
    assert sshd.leftovers() == []


@pytest.mark.shared
def test_connection_killed_mid_run_keeps_partial_results_and_leaves_no_process(board, sshd, resnet20_files):
    """Batch 1 completes, then the server side of the connection is killed during batch 2."""
    seen: dict[str, int] = {}
    killed = threading.Event()

    def progress(phase: str, done: int, total: int) -> None:
        if phase.endswith(".onnx") and done < seen.get(phase, 0) and not killed.is_set():
            killed.set()  # the counter restarted: batch 2 is being timed
            for pid in sshd.session_pids():
                os.kill(pid, signal.SIGKILL)
        seen[phase] = max(done, seen.get(phase, 0))

    timing = TimingConfig(warmup=2, min_runs=50, min_seconds=3)
    with pytest.raises(RemoteRunError, match="connection lost") as caught:
        options = TargetRunOptions(batches=(1, 2), timing=timing)
        bench_remote(resolve_target(board), [resnet20_files["int8.onnx"]], options, progress)
    assert killed.is_set()
    partial = caught.value.partial
    assert len(partial) == 1 and partial[0]["entries"][0]["batch"] == 1
    assert partial[0]["entries"][0]["model"] == str(resnet20_files["int8.onnx"])
    deadline = time.monotonic() + 10
    while (runner_processes(sshd) or sshd.leftovers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert runner_processes(sshd) == [] and sshd.leftovers() == []


def test_stale_run_folders_are_swept_by_the_clean_command(board, sshd):
    stale = sshd.folder / "board" / "edgeres-run-stale0001"
    stale.mkdir()
    (stale / "deadline").write_text(str(time.time() - 5))
    (stale / "m0.onnx").write_bytes(b"x")
    live = sshd.folder / "board" / "edgeres-run-live0001"
    live.mkdir()
    (live / "deadline").write_text(str(time.time() + 3600))
    (live / "pid").write_text(str(os.getpid()))  # a running process: kept
    result = run_cli("targets", "clean", board)
    assert result.exit_code == 0 and "removed 1 stale" in result.stdout
    assert sshd.leftovers() == ["edgeres-run-live0001"]
    (live / "deadline").unlink()
    (live / "pid").unlink()
    live.rmdir()


def test_remote_arguments_arrive_byte_identical(board, tmp_path):
    marker = tmp_path / "pwned"
    hostile = [
        "two words",
        "it's",
        'say "hi"',
        "a;b",
        f"$(touch {marker})",
        f"`touch {marker}`",
        "-leading",
        "--model=x",
        "*",
        "",
        "tab\there",
        "new\nline",
        "ünïcødé",
        "back\\slash",
        "&& echo no",
        "| cat",
        "> /tmp/x",
    ]
    target = resolve_target(board)
    echoed = with_runner(target, False, lambda ssh, pyz: json.loads(ssh.run([target.python, pyz, "args", *hostile])))
    assert echoed["args"] == hostile and not marker.exists()


@pytest.mark.shared
def test_remote_data_already_on_the_board_gives_the_local_accuracy(board, sshd, resnet20_files):
    from edgeres.bench import BenchSettings, bench_models

    model = resnet20_files["int8.tflite"]
    timing = TimingConfig(warmup=1, min_runs=5, min_seconds=0)
    options = TargetRunOptions(remote_data=str(CIFAR / "test"), limit=200, timing=timing)
    runs = bench_remote(resolve_target(board), [model], options)
    local = bench_models([model], BenchSettings(data=CIFAR / "test", limit=200, timing=timing))
    assert runs[0]["entries"][0]["accuracy"] == local.entries[0].accuracy
    assert sshd.leftovers() == []


@pytest.mark.shared
def test_board_times_a_file_in_the_runtimes_its_profile_names(sshd, torch_free_python, config_dir, resnet20_files):
    from edgeres.bench import BenchSettings, bench_models
    from edgeres.options import RuntimeOptions

    (config_dir / "typo.toml").write_text(sshd.profile("typo", torch_free_python, bench_runtimes=["tensorrt"]))
    with pytest.raises(TargetError, match="bench_runtimes: 'tensorrt' is not a runtime; choose among ort, openvino"):
        resolve_target("typo")
    (config_dir / "typo.toml").unlink()
    profile = sshd.profile("two-runtimes", torch_free_python, bench_runtimes=["ort", "openvino"])
    (config_dir / "two-runtimes.toml").write_text(profile)
    model = resnet20_files["int8.onnx"]
    timing = TimingConfig(warmup=1, min_runs=5, min_seconds=0)
    options = TargetRunOptions(remote_data=str(CIFAR / "test"), limit=200, timing=timing)
    runs = bench_remote(resolve_target("two-runtimes"), [model], options)
    settings = BenchSettings(
        data=CIFAR / "test", limit=200, timing=timing, runtimes=("ort", "openvino"), options=RuntimeOptions(threads=1)
    )
    local = bench_models([model], settings)
    remote = runs[0]["entries"]
    assert [e["runtime"] for e in remote] == ["ort", "openvino"] and "torch" not in runs[0]["machine"]["versions"]
    assert [e["accuracy"] for e in remote] == [e.accuracy for e in local.entries]
    assert remote[1]["accuracy"]["agreement_across_runtimes"] >= 0.97
    assert sshd.leftovers() == []


@pytest.mark.shared
def test_deploy_on_a_board_lost_mid_search_keeps_what_it_measured_and_resumes(
    sshd, torch_free_python, config_dir, tmp_path
):
    """Measured on the SSH board (a real sshd on 127.0.0.1, a torch-free Python); its connections are killed
    once the first candidate is journaled; --resume measures only the rest. The profile times files in
    onnxruntime only (two candidates: the fp32 and the int8 file)."""
    (config_dir / "board-ort.toml").write_text(sshd.profile("board-ort", torch_free_python, bench_runtimes=["ort"]))
    board = "board-ort"
    out = tmp_path / "deployed"
    args = ["deploy", CHECKPOINTS / "resnet20-12fca82f.th", "--calib", CIFAR / "train", "--out", out, "--target"]
    args += [board, "--data", CIFAR / "test", "--limit", "30", "--formats", "onnx", "--num", "32"]
    args += ["--optimize", "none", "--max-drop", "3"]
    stop = threading.Event()

    def cut_when_journaled() -> None:
        while not stop.is_set():
            journals = [json.loads(p.read_text()) for p in tmp_path.glob(".deployed.*.work/journal.json")]
            if any(j["rows"].get("screen") for j in journals):
                for pid in sshd.session_pids():
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    cutter = threading.Thread(target=cut_when_journaled, daemon=True)
    cutter.start()
    try:
        lost = one_line_error(run_cli(*args))
    finally:
        stop.set()
        cutter.join()
    partial = tmp_path / "deployed.partial"
    assert "--resume" in lost and str(partial) in lost and not out.exists()
    kept = json.loads((partial / "journal.json").read_text())["rows"]["screen"]
    assert kept and all(row["accuracy"] is not None for row in kept)

    other = one_line_error(run_cli(*[a if a != "32" else "16" for a in map(str, args)], "--resume"))
    assert "another model or other settings" in other  # --num differs: the measurements do not apply

    result = run_cli(*args, "--resume", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["measured_on"].endswith(f"127.0.0.1:{sshd.port}") and record["metric"] == "top1"
    assert record["machine"]["python"] and record["accuracy"] >= record["reference"] - 0.03
    rows = json.loads((out / "report.json").read_text())["candidates"]
    assert sorted((r["precision"], r["runtime"]) for r in rows) == [("fp32", "ort"), ("int8", "ort")]
    first = kept[0]
    again = [r for r in rows if r["runtime"] == first["runtime"] and r["settings"] == dict(first["settings"])]
    assert any(r["p50_ms"] == first["stats"]["p50_ms"] for r in again)  # kept, not measured again
    assert not partial.exists() and not list(tmp_path.glob(".deployed*")) and sshd.leftovers() == []
