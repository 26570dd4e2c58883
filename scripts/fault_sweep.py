"""The fault sweep: bad inputs, foreign outputs and damaged files through the real CLI, each judged as a user would.

Every case runs `edgeres ...` in a fresh folder and passes when it ends as the house rules say: an `error` case
exits non-zero with exactly one `error:` line (warnings aside), no traceback, no file added to or changed in its
folder, and none of the bytes it must not echo; a `warning` case exits 0 with a `warning:` line; a `works` case
(a request that looks odd but is honoured) exits 0. Prints a table
and writes JSON (issue 32: the result is in docs/reliability.md).

Usage: python scripts/fault_sweep.py [--shared ../shared] [--json fault_sweep.json] [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_cases import Assets, cases

EDGERES = [sys.executable, "-m", "edgeres.cli"]


@dataclass
class Case:
    name: str
    argv: list[str]
    setup: Callable[[Path, Assets], None] | None = None
    expect: str = "error"  # "warning": the result is right and a warning says what happened; "works": no fault
    must_not_show: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def _snapshot(folder: Path) -> dict[str, str]:
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            found[key] = "link" if path.is_symlink() else f"special {path.lstat().st_mode:o}"
        elif path.is_file():
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir() and not any(path.iterdir()):
            found[key + "/"] = "folder"
    return found


def _judge(case: Case, rc: int, stderr: str, before: dict[str, str], after: dict[str, str]) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    progress = "\u2501"  # rich's bar: a run that got under way shows how far it got, on stderr
    others = [line for line in lines if not line.startswith(("error: ", "warning: ")) and progress not in line]
    problems = []
    if "Traceback" in stderr:
        problems.append("traceback")
    if others:
        problems.append(f"stray stderr: {others[0][:80]!r}")
    if any(secret in stderr for secret in case.must_not_show):
        problems.append("echoed bytes it must not")
    if case.expect in ("warning", "works"):
        if rc != 0:
            problems.append(f"exit {rc}")
        if case.expect == "warning" and not any(line.startswith("warning: ") for line in lines):
            problems.append("no warning")
        return problems
    if rc == 0:
        problems.append("exit 0")
    if len(errors) != 1:
        problems.append(f"{len(errors)} error lines")
    added = sorted(set(after) - set(before))
    changed = sorted(k for k in before if k in after and after[k] != before[k])
    removed = sorted(set(before) - set(after))
    for what, names in (("left", added), ("changed", changed), ("removed", removed)):
        if names:
            problems.append(f"{what} {names[:3]}")
    return problems


def run_case(case: Case, assets: Assets, root: Path) -> dict[str, object]:
    folder = root / case.name
    folder.mkdir()
    if case.setup is not None:
        case.setup(folder, assets)
    argv = [a.format(w=folder, **assets.names()) for a in case.argv]
    before = _snapshot(folder)
    env = {**os.environ, "EDGERES_CACHE_DIR": str(root / "cache"), **case.env}
    start = time.perf_counter()
    done = subprocess.run(EDGERES + argv, cwd=folder, capture_output=True, text=True, env=env, timeout=900)
    seconds = time.perf_counter() - start
    problems = _judge(case, done.returncode, done.stderr, before, _snapshot(folder))
    last = [line for line in done.stderr.splitlines() if line.startswith(("error: ", "warning: "))]
    return {
        "case": case.name,
        "expect": case.expect,
        "ok": not problems,
        "problems": problems,
        "exit": done.returncode,
        "said": last[-1] if last else done.stderr.strip()[-300:],
        "seconds": round(seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--json", type=Path, default=Path("fault_sweep.json"))
    parser.add_argument("--only", default="", help="Run only the cases whose name holds this.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeres-faults-") as tmp:
        root = Path(tmp)
        assets = Assets.make(root / "assets", args.shared)
        chosen = [Case(**c) for c in cases() if args.only in c["name"]]
        rows = []
        for case in chosen:
            row = run_case(case, assets, root)
            rows.append(row)
            mark = "ok " if row["ok"] else "BAD"
            print(f"{mark} {case.name:<48} {row['seconds']:>6}s  {'; '.join(row['problems']) or row['said'][:90]}")
        assets.check_unchanged()
        shutil.rmtree(root / "cache", ignore_errors=True)
    good = sum(bool(r["ok"]) for r in rows)
    print(f"\n{good} of {len(rows)} cases end as they should")
    args.json.write_text(json.dumps({"cases": rows, "good": good, "total": len(rows)}, indent=1))
    print(f"wrote {args.json}")
    return 0 if good == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
