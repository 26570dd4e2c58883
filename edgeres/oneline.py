"""Text that stays on its line: what the CLI's messages and tables print file names and errors through."""

from __future__ import annotations

import unicodedata


def one_line(text: object) -> str:
    """`text` with control and format characters (newlines, escapes, bidi overrides) written as escapes, so a
    file named `evil\\nerror: fake.jpg` cannot forge a message nor a terminal escape recolour one."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c).startswith("C") else c for c in str(text))


_NOISE = ("Exception from ", "Check '", "Traceback", 'File "')


def gist(text: object, limit: int = 300) -> str:
    """The useful line of a library's multi-line diagnostic: OpenVINO's "Exception from src/...:" frames, torch's
    traceback lines and headers ending in ":" dropped, the last line left (where OpenVINO names the operator and
    Python the error), shortened."""
    lines = [line.strip().lstrip("-* ").strip() for line in str(text).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(_NOISE) and not line.endswith(":")]
    chosen = (useful or lines or [""])[-1]
    return one_line(chosen if len(chosen) <= limit else chosen[: limit - 3] + "...")
