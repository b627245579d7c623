"""Batched crop / flip against hand computations, and each dataset's augmentation and
normalisation as in REFERENCE.md "Data"."""
import pytest
import torch

from conftest import random_dataset
from dcl.data import DATASETS, BatchLoader, random_crop, random_flip


def test_random_crop_by_hand():
    x = torch.arange(1, 10).view(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    x = x.repeat(4, 2, 1, 1)                   # 4 samples, 2 channels
    x[:, 1] += 10
    offsets = torch.tensor([[0, 0], [1, 1], [2, 2], [0, 2]])
    out = random_crop(x, 1, offsets)
    assert out.shape == x.shape
    assert out[0, 0].tolist() == [[0, 0, 0], [0, 1, 2], [0, 4, 5]]      # top-left corner
    assert torch.equal(out[1], x[1])                                      # centre: unchanged
    assert out[2, 0].tolist() == [[5, 6, 0], [8, 9, 0], [0, 0, 0]]      # bottom-right corner
    assert out[3, 0].tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]      # top (row 0), right (col 2)
    assert out[3, 1].tolist() == [[0, 0, 0], [12, 13, 0], [15, 16, 0]]  # same window in every channel


def test_random_flip_by_hand():
    x = torch.arange(6).view(2, 1, 1, 3)
    out = random_flip(x, torch.tensor([True, False]))
    assert out[0, 0, 0].tolist() == [2, 1, 0] and out[1, 0, 0].tolist() == [3, 4, 5]


# name: (crop padding, flip, mean, std) from REFERENCE.md "Data"
CIFAR = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
REFERENCE = {
    "mnist": (0, False, (0.5,), (0.5,)),
    "fashion-mnist": (0, True, (0.286,), (0.353,)),
    "cifar10": (4, True, *CIFAR),
    "cifar100": (0, True, *CIFAR),
    "cifar20": (0, True, *CIFAR),
    "svhn": (4, False, (0.431, 0.430, 0.446), (0.197, 0.198, 0.199)),
    "svhn-noextra": (4, False, (0.431, 0.430, 0.446), (0.197, 0.198, 0.199)),
    "stl10": (4, True, (0.447, 0.440, 0.407), (0.260, 0.257, 0.271)),
    "kmnist": (0, False, (0.1918,), (0.3483,)),
}


def test_every_dataset_has_a_reference_row():
    assert set(REFERENCE) == set(DATASETS.names())


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_spec_matches_reference(name):
    spec = DATASETS.get(name)
    assert (spec.crop_padding, spec.flip, spec.mean, spec.std) == REFERENCE[name]
    assert len(spec.mean) == len(spec.std) == spec.in_shape[0]


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "svhn", "stl10", "kmnist"])
def test_loader_augments_as_specified(name):
    """Reproduce a training batch by hand: same generator, permutation, crop offsets, then flips."""
    ds = random_dataset(name, n_train=12, n_test=4, seed=1)
    pad, flip, mean, std = REFERENCE[name]
    loader = BatchLoader(ds.train, ds.spec, 8, train=True, seed=5)
    loader.set_epoch(2)
    x, y = next(iter(loader))
    g = torch.Generator().manual_seed(5 * 1_000_003 + 2)
    idx = torch.randperm(12, generator=g)[:8]
    img = ds.train.images[idx]
    if pad:
        offsets = torch.randint(0, 2 * pad + 1, (8, 2), generator=g)
        img = random_crop(img, pad, offsets)
    if flip:
        mask = torch.rand(8, generator=g) < 0.5
        img = random_flip(img, mask)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    assert torch.allclose(x, (img.float() / 255 - m) / s, atol=1e-5)
    assert torch.equal(y, ds.train.labels[idx])
    plain = (ds.train.images[idx].float() / 255 - m) / s
    assert torch.allclose(x, plain, atol=1e-5) == (not pad and not flip)  # augmentation did something


@pytest.mark.parametrize("name", ["cifar10", "stl10"])
def test_test_loader_and_augment_false_only_normalise(name):
    ds = random_dataset(name, n_train=6, n_test=4, seed=2)
    _, _, mean, std = REFERENCE[name]
    m, s = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    x, _ = next(iter(BatchLoader(ds.test, ds.spec, 4, train=False)))
    assert torch.allclose(x, (ds.test.images.float() / 255 - m) / s, atol=1e-5)
    loader = BatchLoader(ds.train, ds.spec, 6, train=True, augment=False, seed=0)
    x, _ = next(iter(loader))
    order = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x, (ds.train.images[order].float() / 255 - m) / s, atol=1e-5)
