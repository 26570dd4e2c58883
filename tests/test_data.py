"""Image sources, preprocessing parity with torchvision, and stratified sampling on real CIFAR-10 JPEGs."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from edgeres.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from edgeres.data import decode_image, iter_batches, open_images, preprocess, stratified_subset
from edgeres.data.cifar import CIFAR10_CLASSES
from edgeres.errors import DataError

from .conftest import CIFAR

pytestmark = pytest.mark.shared
PER_CLASS = 12


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    """PER_CLASS real test images per class, decoded, with their labels."""
    folder = open_images(CIFAR / "test")
    indices = [c * 1000 + i for c in range(10) for i in range(PER_CLASS)]
    return np.stack([folder.read(i) for i in indices]), folder.labels[indices]


def _cifar_py_batch(images: np.ndarray, labels: np.ndarray) -> bytes:
    # The layout of cifar-10-python.tar.gz: pickled dicts with bytes keys, row-major 3072-byte rows.
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": labels.tolist(),
        b"data": rows,
        b"filenames": [b"x.png"] * len(images),
    }
    return pickle.dumps(batch, protocol=2)


def _cifar_bin_batch(images: np.ndarray, labels: np.ndarray) -> bytes:
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([labels.astype(np.uint8)[:, None], rows], axis=1).tobytes()


def _tar(path: Path, folder: str, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, blob in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    return path


def test_image_folder_layout_and_labels():
    folder = open_images(CIFAR / "test")
    assert len(folder) == 10_000 and folder.classes == CIFAR10_CLASSES
    assert np.bincount(folder.labels).tolist() == [1000] * 10


def test_cifar_python_archive(sample, tmp_path):
    images, labels = sample
    meta = pickle.dumps({b"label_names": [c.encode() for c in CIFAR10_CLASSES]}, protocol=2)
    files = {"test_batch": _cifar_py_batch(images, labels), "batches.meta": meta}
    for source in (_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", files), tmp_path / "x"):
        if source.name == "x":  # the extracted folder works too
            with tarfile.open(tmp_path / "cifar-10-python.tar.gz") as archive:
                archive.extractall(source, filter="data")
        opened = open_images(source, split="test")
        assert opened.classes == CIFAR10_CLASSES
        assert np.array_equal(opened.labels, labels)
        assert all(np.array_equal(opened.read(i), images[i]) for i in range(len(images)))
    with pytest.raises(DataError, match="train split incomplete"):
        open_images(tmp_path / "cifar-10-python.tar.gz", split="train")


def test_cifar_python_archive_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    files = {"test_batch": pickle.dumps({b"data": Evil()}, protocol=2)}
    with pytest.raises(DataError, match=r"__builtin__\.print is not allowed"):
        open_images(_tar(tmp_path / "evil.tar.gz", "cifar-10-batches-py", files))


def test_cifar_binary_archive(sample, tmp_path):
    images, labels = sample
    files = {
        "test_batch.bin": _cifar_bin_batch(images, labels),
        "batches.meta.txt": "\n".join(CIFAR10_CLASSES).encode(),
    }
    opened = open_images(_tar(tmp_path / "cifar-10-binary.tar.gz", "cifar-10-batches-bin", files))
    assert np.array_equal(opened.labels, labels)
    assert all(np.array_equal(opened.read(i), images[i]) for i in range(len(images)))


def test_npy_and_npz_arrays(sample, tmp_path):
    images, labels = sample
    np.save(tmp_path / "nhwc.npy", images)
    np.save(tmp_path / "nchw.npy", images.transpose(0, 3, 1, 2))
    np.savez(tmp_path / "set.npz", x=images, y=labels, classes=np.array(CIFAR10_CLASSES))
    for name in ("nhwc.npy", "nchw.npy"):
        opened = open_images(tmp_path / name)
        assert opened.labels is None and np.array_equal(opened.read(5), images[5])
    labeled = open_images(tmp_path / "set.npz")
    assert labeled.classes == CIFAR10_CLASSES and np.array_equal(labeled.labels, labels)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="without pickles"):
        open_images(tmp_path / "objects.npy")


def test_preprocessing_matches_torchvision_resize_crop_normalize(tmp_path):
    jpg = next((CIFAR / "test" / "ship").iterdir())
    big = Image.open(jpg).convert("RGB").resize((301, 257), Image.Resampling.BICUBIC)  # non-square
    card = ModelCard("probe", 10, (224, 224), IMAGENET_MEAN, IMAGENET_STD, resize=256)
    reference = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )(big)
    ours = preprocess(np.asarray(big), card)
    assert ours.shape == (3, 224, 224)
    np.testing.assert_allclose(ours, reference.numpy(), rtol=0, atol=1e-6)


def test_no_resize_card_is_plain_normalisation():
    jpg = next((CIFAR / "test" / "cat").iterdir())
    card = ModelCard("probe", 10, (32, 32), IMAGENET_MEAN, IMAGENET_STD)
    reference = transforms.Compose([transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    assert torch.equal(torch.from_numpy(preprocess(decode_image(jpg, "x"), card)), reference(Image.open(jpg)))


def test_image_modes_become_rgb(tmp_path):
    rgb = decode_image(next((CIFAR / "test" / "dog").iterdir()), "x")
    base = Image.fromarray(rgb)
    cases = {
        "rgba.png": base.convert("RGBA"),
        "palette.png": base.convert("P"),
        "gray16.png": Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257),
        "gray_alpha.png": base.convert("LA"),
    }
    for name, image in cases.items():
        image.save(tmp_path / name)
        out = decode_image(tmp_path / name, name)
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8, name
    assert np.array_equal(decode_image(tmp_path / "rgba.png", "x"), rgb)
    gray = np.asarray(base.convert("L"))
    assert np.array_equal(decode_image(tmp_path / "gray16.png", "x")[..., 0], gray)


def test_stratified_subset_is_proportional_and_deterministic():
    labels = np.repeat(np.arange(4), [100, 200, 300, 400])
    first = stratified_subset(labels, len(labels), 100, seed=1)
    assert np.array_equal(first, stratified_subset(labels, len(labels), 100, seed=1))
    assert not np.array_equal(first, stratified_subset(labels, len(labels), 100, seed=2))
    assert np.bincount(labels[first]).tolist() == [10, 20, 30, 40]
    odd = stratified_subset(labels, len(labels), 7, seed=0)
    assert len(odd) == 7 and len(set(odd)) == 7
    assert len(stratified_subset(None, 50, 10, seed=0)) == 10


def test_limit_subset_through_batches_covers_every_class():
    folder = open_images(CIFAR / "test")
    card = ModelCard("probe", 10, (32, 32), IMAGENET_MEAN, IMAGENET_STD)
    indices = stratified_subset(folder.labels, len(folder), 50, seed=0)
    batches = list(iter_batches(folder, card, indices, batch_size=16))
    labels = np.concatenate([b.y for b in batches])
    assert sum(len(b.x) for b in batches) == 50 and np.bincount(labels).tolist() == [5] * 10
