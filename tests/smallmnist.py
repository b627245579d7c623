"""A small copy of the real MNIST (the first 3,000 training and 1,000 test images, IDX files)
for tests that run the command line many times: loading and evaluating it is quick."""
import struct
from pathlib import Path

import pytest

N_TRAIN, N_TEST = 3000, 1000


def write_idx(path: Path, array) -> None:
    path.write_bytes(bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
                     + array.tobytes())


@pytest.fixture(scope="session")
def small_mnist_dir(tmp_path_factory, mnist) -> Path:
    root = tmp_path_factory.mktemp("small-data")
    folder = root / "mnist"
    folder.mkdir()
    for split, stem, n in ((mnist.train, "train", N_TRAIN), (mnist.test, "t10k", N_TEST)):
        write_idx(folder / f"{stem}-images-idx3-ubyte", split.images[:n, 0].numpy())
        write_idx(folder / f"{stem}-labels-idx1-ubyte", split.labels[:n].numpy().astype("uint8"))
    return root
