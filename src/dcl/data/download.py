"""Checksummed, resumable downloads of the datasets from their canonical URLs.

:data:`CHECKSUMS` is the one table of every known file: its path inside the dataset folder,
size, MD5, the URL it comes from (None for files unpacked from an archive) and, for gzipped
IDX files, the MD5 of the decompressed content (copies that were re-compressed, such as
Debian's or this project's shared data, have other .gz bytes but the same content).
:data:`DOWNLOADS` says which of them each dataset needs.

:func:`fetch_dataset` does nothing when the dataset is already present (the data folder, an
alternative folder, or a system folder such as ``/usr/share/datasets/fashion-mnist``);
otherwise it downloads the missing files into ``data_root(data_dir)/<folder>/``:

* to ``NAME.part`` first, resuming a previous partial download with an HTTP ``Range``
  request (a server that ignores it sends the whole file, which is then written afresh);
* then checks the size and MD5; a mismatch deletes the ``.part`` file and raises DCLError
  naming the file; only a verified file is renamed to its final name;
* bounded in schemes, bytes and time (:mod:`dcl.data.http_download`).

The base URL can be replaced by a mirror laid out like a data folder
(``MIRROR/<folder>/<file>``): the ``mirror`` argument, else the ``DCL_DATA_MIRROR`` variable.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import DCLError, choices_error
from .datasets import DATASETS, data_root, find_dataset_folder
from .http_download import check_url, deadline_seconds, download_file, md5_file  # noqa: F401  (public here too)


@dataclass(frozen=True)
class KnownFile:
    path: str                        # relative to the dataset folder
    md5: str
    size: int | None = None          # bytes; None where no published figure was at hand
    url: str | None = None           # canonical download URL (None: comes out of an archive)
    content_md5: str | None = None   # MD5 of the decompressed content of a .gz file
    unpacks_to: str | None = None    # archives: the folder they unpack to (counts as present)


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_KMNIST = "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"
_CIFAR = "https://www.cs.toronto.edu/~kriz/"
_SVHN = "http://ufldl.stanford.edu/housenumbers/"
_STL10 = "http://ai.stanford.edu/~acoates/stl10/"
_IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz")


def _idx(base: str, rows: list[tuple[str, int | None, str | None]]) -> tuple[KnownFile, ...]:
    return tuple(KnownFile(name, md5, size, base + name, content) for name, (size, md5, content) in zip(_IDX, rows))


#: folder under the data root -> every known file of it (the one checksum table)
CHECKSUMS: dict[str, tuple[KnownFile, ...]] = {
    # MNIST and Fashion-MNIST: the .gz MD5s of the canonical downloads; the content MD5s were
    # computed from the decompressed files of ../shared/data (whose .gz bytes differ).
    "mnist": _idx(_MNIST, [
        (9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
        (28881, "d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
        (1648877, "9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
        (4542, "ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
    ]),
    "fashion-mnist": _idx(_FASHION, [
        (26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        (29515, "25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
        (4422102, "bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
        (5148, "bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
    ]),
    "kmnist": _idx(_KMNIST, [
        (18165135, "bdb82020997e1d708af4cf47b453dcf7", None),
        (None, "e144d726b3acfaa3e44228e80efcd344", None),
        (None, "5c965bf0a639b31b8f53240b1b52f4d7", None),
        (None, "7320c461ea6c1c855c0b718fb2a4b134", None),
    ]),
    "cifar10": (
        KnownFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", 170498071,
                  _CIFAR + "cifar-10-python.tar.gz", unpacks_to="cifar-10-batches-py"),
        KnownFile("cifar-10-batches-py/data_batch_1", "c99cafc152244af753f735de768cd75f"),
        KnownFile("cifar-10-batches-py/data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
        KnownFile("cifar-10-batches-py/data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
        KnownFile("cifar-10-batches-py/data_batch_4", "634d18415352ddfa80567beed471001a"),
        KnownFile("cifar-10-batches-py/data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
        KnownFile("cifar-10-batches-py/test_batch", "40351d587109b95175f43aff81a1287e"),
    ),
    "cifar100": (
        KnownFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85", 169001437,
                  _CIFAR + "cifar-100-python.tar.gz", unpacks_to="cifar-100-python"),
        KnownFile("cifar-100-python/train", "16019d7e3df5f24257cddd939b257f8d"),
        KnownFile("cifar-100-python/test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),
    ),
    "svhn": (
        KnownFile("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", 182040794, _SVHN + "train_32x32.mat"),
        KnownFile("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", 64275384, _SVHN + "test_32x32.mat"),
        KnownFile("extra_32x32.mat", "a93ce644f1a588dc4d68dda5feec44a7", 1329278602, _SVHN + "extra_32x32.mat"),
    ),
    "stl10": (
        KnownFile("stl10_binary.tar.gz", "91f7769df0f17e558f3565bffb0c7dfb", 2640397119,
                  _STL10 + "stl10_binary.tar.gz", unpacks_to="stl10_binary"),
        KnownFile("stl10_binary/train_X.bin", "918c2871b30a85fa023e0c44e0bee87f", 5000 * 27648),
        KnownFile("stl10_binary/train_y.bin", "5a34089d4802c674881badbb80307741", 5000),
        KnownFile("stl10_binary/test_X.bin", "7f263ba9f9e0b06b93213547f721ac82", 8000 * 27648),
        KnownFile("stl10_binary/test_y.bin", "36f9794fa4beb8a2c72628de14fa638e", 8000),
    ),
}
#: dataset -> (folder under the data root that downloads go to, and whose CHECKSUMS row
#: applies; files to download). CIFAR-20 is CIFAR-100 with its coarse labels: same files.
DOWNLOADS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mnist": ("mnist", _IDX),
    "fashion-mnist": ("fashion-mnist", _IDX),
    "kmnist": ("kmnist", _IDX),
    "cifar10": ("cifar10", ("cifar-10-python.tar.gz",)),
    "cifar100": ("cifar100", ("cifar-100-python.tar.gz",)),
    "cifar20": ("cifar100", ("cifar-100-python.tar.gz",)),
    "svhn": ("svhn", ("train_32x32.mat", "test_32x32.mat", "extra_32x32.mat")),
    "svhn-noextra": ("svhn", ("train_32x32.mat", "test_32x32.mat")),
    "stl10": ("stl10", ("stl10_binary.tar.gz",)),
}


def known_file(folder_key: str, path: str) -> KnownFile:
    for f in CHECKSUMS.get(folder_key, ()):
        if f.path == path:
            return f
    raise KeyError(f"{folder_key}/{path}")


def resolve_url(folder: str, f: KnownFile, mirror: str | None = None) -> str:
    """``f``'s canonical URL, or ``MIRROR/<folder>/<path>`` when a mirror is given or set in
    ``DCL_DATA_MIRROR``."""
    mirror = mirror or os.environ.get("DCL_DATA_MIRROR")
    if mirror:
        check_url(mirror, "mirror URL")
        return f"{mirror.rstrip('/')}/{folder}/{f.path}"
    if f.url is None:
        raise DCLError(f"{f.path} has no download URL (it comes out of an archive)")
    return f.url


def _file_present(folder: Path, f: KnownFile) -> bool:
    """The file, its unpacked folder (archives) or its decompressed form (.gz) is there."""
    if (folder / f.path).is_file() or (f.unpacks_to and (folder / f.unpacks_to).is_dir()):
        return True
    return f.path.endswith(".gz") and (folder / f.path[:-3]).is_file()


def missing_files(name: str, folder: Path) -> list[KnownFile]:
    """The download files of dataset ``name`` that ``folder`` lacks (in any accepted form)."""
    key, paths = _downloads(name)
    return [known_file(key, p) for p in paths if not _file_present(folder, known_file(key, p))]


def _downloads(name: str) -> tuple[str, tuple[str, ...]]:
    DATASETS.get(name)  # unknown name -> DCLError listing the datasets
    if name not in DOWNLOADS:
        raise choices_error("dataset to download", name, sorted(DOWNLOADS))
    return DOWNLOADS[name]


def fetch_dataset(name: str, data_dir: str | os.PathLike | None = None, *, mirror: str | None = None,
                  progress: bool | None = None, log=None, deadline: float | None = None) -> Path:
    """Make dataset ``name`` available and return its folder.

    Nothing is downloaded if a folder where :func:`~dcl.data.load_dataset` looks already holds
    all its files; otherwise the missing ones are downloaded (checksummed, resumable) into
    ``data_root(data_dir)/<folder>/``. Archives are unpacked on first load. ``deadline``
    (seconds; default ``$DCL_DOWNLOAD_DEADLINE``) bounds all the downloads together; without
    one each file has the default rule of :func:`~dcl.data.http_download.download_file`.
    """
    deadline = deadline_seconds(deadline)
    key, _ = _downloads(name)
    found = find_dataset_folder(name, data_dir)
    if found is not None and not missing_files(name, found):
        return found
    target = data_root(data_dir) / key
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DCLError(f"cannot create the data folder {target}: {e}") from None
    started = time.monotonic()
    for f in missing_files(name, target):
        url = resolve_url(key, f, mirror)
        if deadline is not None and time.monotonic() - started >= deadline:
            raise DCLError(f"{name}: the downloads did not finish within their deadline of {deadline:g} s; run "
                           f"the command again to resume")
        if log:
            log(f"downloading {url} -> {target / f.path}")
        download_file(url, target / f.path, f.md5, f.size, progress=progress, deadline=deadline,
                      started=None if deadline is None else started)
    return target
