"""The runner as one file for the board: a zipapp of edgeres's pure-Python package, run with `python x.pyz`.

Only the torch-free parts get imported there (runtimes, bench, data, card); shipping the whole package keeps
the board's code identical to the laptop's, so statistics and accuracy are computed the same way.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

_MAIN = "import sys\nfrom edgeres.remote.runner import main\nsys.exit(main())\n"


def build_bundle(folder: Path) -> Path:
    """Write edgeres-runner.pyz into `folder` and return its path (deterministic bytes for one source tree)."""
    package = Path(__file__).resolve().parents[1]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("__main__.py", (2020, 1, 1, 0, 0, 0)), _MAIN)
        for path in sorted(package.rglob("*.py")):
            name = "edgeres/" + path.relative_to(package).as_posix()
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), path.read_bytes())
    out = folder / "edgeres-runner.pyz"
    out.write_bytes(buffer.getvalue())
    return out
