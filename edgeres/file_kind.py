"""What kind of bytes a file holds, said without quoting them.

Errors about a file that is not what its name says describe it ("text", "an HTML page") rather than echo its
first bytes: a checkpoint path may be a link to a file the user should not read back through edgeres's
messages (a key, a password file).
"""

from __future__ import annotations

import os

_PEEK = 512


def kind_of(path: str | os.PathLike[str]) -> str:
    """A short description of a file's content for an error message, e.g. 'an HTML page (a failed download?)'."""
    try:
        with open(path, "rb") as handle:
            return kind_of_bytes(handle.read(_PEEK))
    except OSError:
        return "unreadable"


def kind_of_bytes(data: bytes) -> str:
    """kind_of for a file's bytes already read."""
    head = data[:_PEEK]
    if not head:
        return "an empty file"
    start = head.lstrip().lower()
    if start.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the file itself (run `git lfs pull`)"
    if start.startswith((b"<!doctype html", b"<html")):
        return "an HTML page (a failed download?)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = head[: exc.start].decode("utf-8") if exc.start > len(head) - 4 else ""
    if text and "\x00" not in text:
        return "text"
    return "binary data of another kind"
