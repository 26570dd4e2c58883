"""Output files: a set of files appears together or not at all, with the user's umask, and nothing that a
failed, interrupted or killed run leaves behind survives the next run on the same output.

Every temporary name carries the writer's process id (`.<name>.<pid>.<random>.tmp`, and `.work` for
scratch folders), so a later run can tell a dead writer's leftovers from a live one's work in progress.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import EdgeresError, EdgeresWarning, OutputError, OutputExistsError

_LEFTOVER = re.compile(r"\.(?P<pid>\d+)\.[^.]+\.(tmp|work)$")
_FIXES = {
    errno.ENOSPC: "free space there or choose another --out",
    errno.EDQUOT: "free space there or choose another --out",
    errno.EROFS: "choose a writable --out",
    errno.EACCES: "check the permissions of that path (or choose another --out)",
    errno.EPERM: "check the permissions of that path (or choose another --out)",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another --out",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter --out",
}
_LOW_SPACE = 1 << 20  # below this many free bytes, a failed write is taken for a full disk


def os_error_message(exc: OSError, path: str | os.PathLike[str] | None = None) -> str:
    """One line for an OS error: the path, what went wrong, and the fix when one is known."""
    where = exc.filename if exc.filename is not None else path
    what = exc.strerror or str(exc)
    fix = _FIXES.get(exc.errno or 0)
    return f"{where}: {what}" + (f"; {fix}" if fix else "") if where is not None else what


def output_mode() -> int:
    """File mode a plain `open(..., 'w')` would give: 0o666 less the process umask."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc: read the umask by setting it, and put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def sweep_leftovers(target: Path) -> list[Path]:
    """Remove temp files and scratch folders that dead writers of `target` (or its sidecars) left beside it."""
    removed: list[Path] = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _LEFTOVER.search(entry.name)
        if not entry.name.startswith(f".{target.name}") or match is None or _pid_alive(int(match["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def require_new(target: str | os.PathLike[str], *, force: bool = False) -> None:
    """Before any work: OutputExistsError when `target` exists and `force` is false; sweep dead leftovers."""
    path = Path(target)
    sweep_leftovers(path)
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputExistsError(f"{path}: already exists; pass --force to overwrite it or choose another --out")
    replaceable(path)


def replaceable(path: Path) -> None:
    """OutputError unless `path` is absent, a regular file or a symbolic link (the link is replaced, never what
    it points to): --force must not turn a device, a pipe or a folder into a file."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(os_error_message(exc, path)) from None
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return
    kind = "folder" if stat.S_ISDIR(mode) else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"
    raise OutputError(f"{path}: is a {kind}, not a file; edgeres replaces files only: choose another --out")


def _full_disk(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _LOW_SPACE
    except OSError:
        return False


@contextlib.contextmanager
def _as_output_error(target: Path) -> Iterator[None]:
    """OS errors while producing `target`, and any failure on a full disk, become one OutputError line that
    names `target` (not the hidden temp file or scratch folder the user never asked for)."""
    try:
        yield
    except OutputError as exc:
        raise OutputError(_named_for(str(exc), target)) from exc
    except OSError as exc:
        raise OutputError(_named_for(os_error_message(exc, target), target)) from exc
    except Exception as exc:
        if isinstance(exc, EdgeresError) or not _full_disk(target.parent):
            raise
        cause = str(exc)[:120]
        raise OutputError(f"{target}: the disk is full; {_FIXES[errno.ENOSPC]} (failed with: {cause})") from exc


def _named_for(message: str, target: Path) -> str:
    """`message` with paths inside `target`'s temp files and scratch folders replaced by `target` itself."""
    hidden = re.escape(str(target.parent / f".{target.name}.")) + r"\d+\.[^./\s]+\.(tmp|work)(/[^\s:;]*)?"
    return re.sub(hidden, str(target), message)


def _temp_file(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | os.PathLike[str]], *, force: bool = False) -> Iterator[list[Path]]:
    """Yield one temp path per output; when the block succeeds, move them all into place, else remove them.

    The first path is the main output: OutputExistsError when it exists and `force` is false. The rest are
    its sidecars (card, report) and are always replaced. Temp files sit beside their targets, so the moves
    need no space and cannot fail half-way for a full disk.
    """
    targets = [Path(p) for p in paths]
    require_new(targets[0], force=force)
    temps: list[Path] = []
    try:
        with _as_output_error(targets[0]):
            for target in targets:
                target.parent.mkdir(parents=True, exist_ok=True)
                sweep_leftovers(target)
                replaceable(target)
                temps.append(_temp_file(target))
            yield temps
            mode = output_mode()
            for temp in temps:
                os.chmod(temp, mode)
            for temp, target in zip(temps[1:], targets[1:], strict=True):
                os.replace(temp, target)
            os.replace(temps[0], targets[0])  # the main file last: it never stands without its sidecars
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it onto `path` only if the block succeeds."""
    with atomic_outputs([path], force=force) as temps:
        yield temps[0]


def write_text_atomic(path: str | os.PathLike[str], text: str, *, force: bool = False) -> Path:
    """Write `text` to `path` atomically; return the path."""
    with atomic_output(path, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def own_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh folder `.<target name>.<pid>.<random>.work` beside `target`, removed when the block ends and
    swept by the next use of the same `target` if this process is killed."""
    out = Path(target)
    with _as_output_error(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(out)
        folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".work", dir=out.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def scratch_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """An `own_folder` beside `target` for the files made on the way to it, this process's temp folder too.

    Converters and quantizers (onnxruntime, LiteRT) write large intermediates through `tempfile`; they land
    here, on the output's own disk, and go with the folder. Not for threads: the temp folder is per process.
    """
    out = Path(target)
    with own_folder(out) as folder:
        saved = tempfile.tempdir, os.environ.get("TMPDIR")
        tempfile.tempdir, os.environ["TMPDIR"] = str(folder), str(folder)
        try:
            with _as_output_error(out):
                yield folder
        finally:
            tempfile.tempdir = saved[0]
            if saved[1] is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = saved[1]


def system_temp(name: str) -> contextlib.AbstractContextManager[Path]:
    """An `own_folder` in the system's temp folder (for files that are no output's, e.g. uploads to a board)."""
    return own_folder(Path(tempfile.gettempdir()) / f"edgeres-{name}")


def cache_dir() -> Path:
    """Where edgeres keeps what it can reuse between runs ($EDGERES_CACHE_DIR, else ~/.cache/edgeres):
    calibration statistics and verified fp32 exports."""
    return Path(os.environ.get("EDGERES_CACHE_DIR") or Path.home() / ".cache" / "edgeres")


def write_cache_json(path: Path, data: object) -> None:
    """Write a cache entry atomically, with the sha256 of its content inside (read_cache_json checks it), best
    effort: an unwritable cache folder costs time, never the result."""
    data = json.loads(json.dumps(data))  # as it reads back (int keys become strings), which is what is hashed
    text = json.dumps(data, indent=1, sort_keys=True)
    record = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "data": data}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as fh:
            fh.write(json.dumps(record, indent=1, sort_keys=True))
        os.replace(fh.name, path)
    except OSError:
        pass


def read_cache_json(path: Path) -> Any:
    """A cache entry's data when it is whole (its sha256 holds); None when absent. A damaged entry is removed,
    with a warning, and None returned: the caller builds it again."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        text = ""
    try:
        record = json.loads(text)
        if isinstance(record, dict) and "sha256" not in record:  # written before entries carried their hash
            return None
        data = record["data"]
        whole = hashlib.sha256(json.dumps(data, indent=1, sort_keys=True).encode()).hexdigest() == record["sha256"]
    except (ValueError, KeyError, TypeError):
        whole = False
    if whole:
        return data
    damaged_cache_entry(path)
    return None


def damaged_cache_entry(path: Path) -> None:
    """Remove a cache entry that failed its check, and say so once (the result is still right: it is rebuilt)."""
    with contextlib.suppress(OSError):
        path.unlink()
    warnings.warn(EdgeresWarning(f"{path}: a damaged cache entry; removed and built again"), stacklevel=3)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
