"""CIFAR-10 as its authors ship it: python-pickle or binary batches, in a folder or a .tar(.gz) archive. The
pickles are read by an unpickler that rebuilds numpy arrays and nothing else."""

from __future__ import annotations

import codecs
import pickle
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..errors import DataError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class CifarSplit(NamedTuple):
    name: str
    images: np.ndarray  # NHWC uint8
    labels: np.ndarray
    classes: tuple[str, ...]


Reader = Callable[[str], bytes | None]


def cifar_dir(root: Path) -> tuple[Path, str] | None:
    for folder in (root, root / "cifar-10-batches-py", root / "cifar-10-batches-bin"):
        if (folder / "test_batch").is_file() or (folder / "data_batch_1").is_file():
            return folder, "py"
        if (folder / "test_batch.bin").is_file() or (folder / "data_batch_1.bin").is_file():
            return folder, "bin"
    return None


def dir_reader(folder: Path) -> Reader:
    def read(name: str) -> bytes | None:
        file = folder / name
        return file.read_bytes() if file.is_file() else None

    return read


def read_cifar_tar(path: Path, split: str) -> CifarSplit:
    """One split of a CIFAR-10 .tar(.gz) archive, read without extracting anything."""
    try:
        with tarfile.open(path, "r:*") as archive:
            members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
            kind = "bin" if any(n.endswith(".bin") for n in members) else "py"

            def read(name: str) -> bytes | None:
                member = members.get(name)
                handle = archive.extractfile(member) if member is not None else None
                return handle.read() if handle is not None else None

            return read_cifar(path, kind, split, read)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path}: corrupt or truncated archive ({exc}); re-download it") from None


def read_cifar(origin: Path, kind: str, split: str, read: Reader) -> CifarSplit:
    """One split of a CIFAR-10 archive's batches (python pickles or binary records), read through `read`."""
    suffix = ".bin" if kind == "bin" else ""
    names = [f"data_batch_{i}{suffix}" for i in range(1, 6)] if split == "train" else [f"test_batch{suffix}"]
    parts = [(name, read(name)) for name in names]
    missing = [name for name, blob in parts if blob is None]
    if missing:
        raise DataError(f"{origin}: CIFAR-10 {split} split incomplete, missing {missing}")
    decode = _decode_cifar_bin if kind == "bin" else _decode_cifar_py
    batches = [decode(blob, f"{origin}:{name}") for name, blob in parts if blob is not None]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    return CifarSplit(f"{origin}:{split}", images, labels, _cifar_classes(kind, read))


def _cifar_classes(kind: str, read: Reader) -> tuple[str, ...]:
    if kind == "bin":
        text = read("batches.meta.txt")
        names = tuple(t for t in (text or b"").decode().split() if t)
    else:
        meta = read("batches.meta")
        names = tuple(n.decode() for n in _safe_unpickle(meta, "batches.meta")[b"label_names"]) if meta else ()
    return names if len(names) == 10 else CIFAR10_CLASSES


def _decode_cifar_bin(blob: bytes, origin: str) -> tuple[np.ndarray, np.ndarray]:
    if len(blob) % 3073:
        raise DataError(f"{origin}: size {len(blob)} is not a whole number of 3073-byte CIFAR records")
    records = np.frombuffer(blob, np.uint8).reshape(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), records[:, 0].astype(np.int64)


def _decode_cifar_py(blob: bytes, origin: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _safe_unpickle(blob, origin)
    try:
        data = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.asarray(batch[b"labels"], np.int64)
    except (KeyError, ValueError) as exc:
        raise DataError(f"{origin}: not a CIFAR-10 batch ({exc})") from None
    return data.copy(), labels


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's array-rebuilding function, wherever it lives


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR's python batches are pickles; allow only what rebuilds numpy arrays."""

    _ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles store bytes; a pure function
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def _safe_unpickle(blob: bytes, origin: str) -> Any:
    import io

    try:
        return _NumpyOnlyUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"{origin}: not a CIFAR-10 python batch ({exc})") from None
