"""The board side of a remote benchmark: a torch-free entry point shipped to the board inside a zipapp.

Commands: `probe` (Python, CPU, runtime versions), `sha256 FILE...`, `args ARG...` (echoes its arguments:
a quoting check), `sweep ROOT` (removes stale run folders), `bench ...` (the same `bench_models` as a local
run; progress as JSON lines on stderr, one JSON result line per batch size on stdout), `visits --plan FILE`
(latency-model files timed as a local latency table times them; one JSON result line). A run stops by
itself at its deadline, and as soon as its SSH connection goes away (its stdin closes), so no process is
left behind on the board.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tarfile
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..runtimes.registry import packages

RUN_PREFIX = "edgeres-run-"
DEADLINE_FILE = "deadline"
PID_FILE = "pid"
BASE_PACKAGES = ("numpy", "pillow")


def _emit(stream: Any, record: dict[str, Any]) -> None:
    stream.write(json.dumps(record) + "\n")
    stream.flush()


def probe(board: bool = True) -> dict[str, Any]:
    """Machine facts and the versions of the runtimes' packages: board runtimes only on a board; every runtime
    (ExecuTorch and PyTorch too) for this machine."""
    from ..bench.record import machine_info

    info = machine_info()
    versions: dict[str, str | None] = {}
    for package in (*BASE_PACKAGES, *packages(board=board)):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return info | {"executable": sys.executable, "packages": versions}


def _stale(folder: Path) -> bool:
    """Past its deadline, or its runner process is gone."""
    try:
        deadline = float((folder / DEADLINE_FILE).read_text())
    except (OSError, ValueError):
        deadline = folder.stat().st_mtime + 24 * 3600  # a folder from a failed start
    try:
        pid = int((folder / PID_FILE).read_text())
    except (OSError, ValueError):
        return deadline < time.time()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return deadline < time.time()


def sweep(root: Path, keep: str | None) -> list[str]:
    """Remove run folders under `root` left by runs that ended without cleaning up."""
    removed = []
    for folder in root.glob(RUN_PREFIX + "*"):
        if folder.is_dir() and folder.name != keep and _stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def _watchdog(deadline: float, run_dir: Path) -> None:
    """Remove the run folder and exit when the client disconnects (stdin closes) or the deadline passes."""

    def stdin_closed() -> None:
        # The raw descriptor, not sys.stdin: a thread blocked in sys.stdin holds its lock, and a library that
        # forks (OpenVINO's import sends telemetry from a multiprocessing child, which closes sys.stdin first)
        # would leave a child deadlocked on that lock, holding the SSH channel open.
        while os.read(0, 1024):
            pass
        shutil.rmtree(run_dir, ignore_errors=True)
        os._exit(3)

    def past_deadline() -> None:
        time.sleep(max(0.0, deadline - time.time()))
        _emit(sys.stderr, {"error": "the run reached its deadline on the board"})
        shutil.rmtree(run_dir, ignore_errors=True)
        os._exit(124)

    (run_dir / PID_FILE).write_text(str(os.getpid()))

    threading.Thread(target=stdin_closed, daemon=True).start()
    threading.Thread(target=past_deadline, daemon=True).start()


def _data_folder(data: str | None) -> str | None:
    """A shipped .tar of labeled images is unpacked beside it (tarfile's safe 'data' filter)."""
    if data is None or not data.endswith(".tar"):
        return data
    target = Path(data).with_suffix("")
    with tarfile.open(data) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(target, filter="data")
        else:  # Python before 3.10.12 / 3.11.4: check the members ourselves
            for member in archive.getmembers():
                parts = Path(member.name).parts
                if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts:
                    raise ValueError(f"{data}: unsafe member {member.name!r}")
            archive.extractall(target)
    return str(target)


def bench(args: argparse.Namespace) -> None:
    from ..bench import BenchSettings, TimingConfig, bench_models
    from ..options import RuntimeOptions

    _watchdog(args.deadline, Path(args.model[0]).parent)
    timing = TimingConfig(warmup=args.warmup, min_runs=args.min_runs, min_seconds=args.min_seconds)
    data = _data_folder(args.data)
    batches = [int(b) for b in args.batch.split(",")]
    for index, batch in enumerate(batches):
        scored = index == len(batches) - 1  # accuracy once, with the last batch size
        settings = BenchSettings(
            data=data if scored else None,
            limit=args.limit if scored else None,
            map_by_position=args.map_by_position and scored and data is not None,
            runtimes=tuple(args.runtime.split(",")) if args.runtime else (),
            options=RuntimeOptions(threads=args.threads or None, precision=args.precision),
            batches=(batch,),
            timing=timing,
        )
        run = bench_models(
            args.model,
            settings,
            progress=lambda phase, done, total: _emit(sys.stderr, {"progress": [phase, done, total]}),
        )
        _emit(sys.stdout, {"run": run.to_dict()})


def visits(args: argparse.Namespace) -> None:
    """Time latency-model files as this machine's own latency tables do: the plan (edgeres.bench.visits
    VisitPlan.to_json) names files beside it."""
    from ..bench.visits import VisitPlan, timed_visits

    plan_path = Path(args.plan)
    _watchdog(args.deadline, plan_path.parent)
    plan = VisitPlan.from_json(plan_path.read_text(encoding="utf-8"), plan_path.parent)
    _emit(sys.stdout, {"visits": timed_visits(plan)})


def _guarded(command: Any, args: argparse.Namespace) -> int:
    """Run a measuring command; its errors become one JSON error line on stderr and exit status 1."""
    from ..errors import EdgeresError, RuntimeMissingError

    try:
        command(args)
    except RuntimeMissingError as exc:  # name this board's own Python in the install command
        _emit(sys.stderr, {"error": str(exc).replace("pip install", f"{sys.executable} -m pip install")})
        return 1
    except EdgeresError as exc:
        _emit(sys.stderr, {"error": str(exc)})
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeres-runner")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("probe")
    commands.add_parser("sha256").add_argument("files", nargs="*")
    sweep_parser = commands.add_parser("sweep")
    sweep_parser.add_argument("root")
    sweep_parser.add_argument("--keep")
    run = commands.add_parser("bench")
    run.add_argument("--model", action="append", required=True)
    run.add_argument("--data")
    run.add_argument("--limit", type=int)
    run.add_argument("--map-by-position", action="store_true")
    run.add_argument("--batch", default="1")
    run.add_argument("--threads", type=int, default=0)
    run.add_argument("--runtime")
    run.add_argument("--precision")
    run.add_argument("--warmup", type=int, default=10)
    run.add_argument("--min-runs", type=int, default=100)
    run.add_argument("--min-seconds", type=float, default=1.0)
    run.add_argument("--deadline", type=float, required=True)
    timed = commands.add_parser("visits")
    timed.add_argument("--plan", required=True)
    timed.add_argument("--deadline", type=float, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["args"]:  # echoed before any parsing, so that no argument is interpreted
        _emit(sys.stdout, {"args": argv[1:]})
        return 0
    args = _parser().parse_args(argv)
    if args.command == "probe":
        _emit(sys.stdout, probe())
    elif args.command == "sha256":
        _emit(sys.stdout, {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in args.files})
    elif args.command == "sweep":
        _emit(sys.stdout, {"removed": sweep(Path(args.root), args.keep)})
    else:
        code = _guarded(bench if args.command == "bench" else visits, args)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # the watchdog thread blocks on stdin; a normal shutdown would abort on its lock
    return 0


if __name__ == "__main__":
    sys.exit(main())
