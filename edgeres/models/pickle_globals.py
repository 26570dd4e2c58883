"""Which globals a pickled checkpoint would import when loaded, found without loading it.

Safe loading refuses a checkpoint whose pickle names a global outside torch's allowlist; the error then names
those globals so the user can judge the file (`os.system` is not a model). torch finds them in its zip
archives; a plain pickle of protocol 4 or later (written by `pickle`, never by `torch.save`) stops torch's
safe loader at its first opcode, so its globals are read here with pickletools, which never runs anything.
"""

from __future__ import annotations

import io
import pickletools
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import torch

_SCAN_BYTES = 64 << 20


def unsafe_globals(path: Path, message: str, allowed: Iterable[str]) -> list[str]:
    """The globals `path` needs beyond torch's allowlist and `allowed` ("module.name"), sorted."""
    permitted = set(allowed) | _torch_allowed_globals()
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy (non-zip) files: the name in torch's message, or the pickle's own opcodes
        found = []
    found += re.findall(r"Unsupported global: GLOBAL ([\w.]+)", message)
    if not found and not zipfile.is_zipfile(path):
        found = _pickle_globals(path)
    return sorted({name for name in found if name not in permitted})


def _torch_allowed_globals() -> set[str]:
    """What torch's safe loader itself allows (a private table: empty if a torch version moves it)."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        return set(_get_allowed_globals())
    except (ImportError, AttributeError, TypeError):
        return set()


def _pickle_globals(path: Path) -> list[str]:
    """The globals a plain pickle names, in order; what was found before damage or the size limit."""
    found: list[str] = []
    strings: list[str] = []  # the strings last pushed, which STACK_GLOBAL takes as module and name
    memo: dict[int, str | None] = {}
    try:
        with path.open("rb") as handle:
            for opcode, arg, _ in pickletools.genops(io.BytesIO(handle.read(_SCAN_BYTES))):
                pushed: str | None = None
                if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                    pushed = str(arg)
                elif opcode.name in ("BINGET", "LONG_BINGET", "GET"):
                    pushed = memo.get(int(arg)) if isinstance(arg, int) else None
                elif opcode.name == "MEMOIZE":
                    memo[len(memo)] = strings[-1] if strings else None
                    continue
                elif opcode.name == "STACK_GLOBAL" and len(strings) == 2:
                    found.append(".".join(strings))
                elif opcode.name == "GLOBAL":
                    found.append(str(arg).replace(" ", "."))
                strings = [*strings[-1:], pushed] if pushed is not None else []
    except Exception:  # damaged, or cut at the limit
        pass
    return found
