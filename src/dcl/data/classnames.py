"""Human-readable class names of the registered datasets, and their super-label groups.

One table for every dataset that has names (figures put them on axes and legends):

    class_names("fashion-mnist")       -> ("T-shirt/top", "Trouser", ..., "Ankle boot")
    class_names("kmnist")               -> ("o", "ki", "su", ...)
    class_names("custom", num_classes=3) -> ("0", "1", "2")   # no names: the class indices
    superlabel_groups("cifar100")       -> ((0, ..), ("aquatic mammals", ...))  # CIFAR-100 only

Names are in each dataset's label-index order (the order of its distribution files).
"""
from __future__ import annotations

from ..superlabels import CIFAR100_COARSE_LABELS, CIFAR100_FINE_LABELS, CIFAR100_FINE_TO_COARSE

_DIGITS = tuple(str(i) for i in range(10))

#: dataset name -> class names in label order
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": _DIGITS,
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    # Kuzushiji-MNIST: the romanised hiragana of its 10 classes (Clanuwat et al. 2018)
    "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "cifar100": tuple(n.replace("_", " ") for n in CIFAR100_FINE_LABELS),
    "cifar20": tuple(n.replace("_", " ") for n in CIFAR100_COARSE_LABELS),
    "svhn": _DIGITS,            # label 0 is the digit 0 (the files' 10 is mapped to 0)
    "svhn-noextra": _DIGITS,
    "stl10": ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"),
}

#: dataset name -> (super-label index of every class, super-label names)
SUPERLABELS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "cifar100": (CIFAR100_FINE_TO_COARSE, tuple(n.replace("_", " ") for n in CIFAR100_COARSE_LABELS)),
}


def class_names(dataset: str, num_classes: int | None = None) -> tuple[str, ...]:
    """The class names of ``dataset`` in label order; for a dataset without names (or a
    model whose class count differs from the table) the indices ``"0" .. "Z-1"``."""
    names = CLASS_NAMES.get(dataset)
    if names is None or (num_classes is not None and len(names) != num_classes):
        if num_classes is None:
            raise ValueError(f"dataset {dataset!r} has no class names; give num_classes")
        return tuple(str(i) for i in range(num_classes))
    return names


def superlabel_groups(dataset: str, num_classes: int | None = None) -> tuple[tuple[int, ...], tuple[str, ...]] | None:
    """``(group of every class, group names)`` for a dataset with super-labels, else None."""
    groups = SUPERLABELS.get(dataset)
    if groups is None or (num_classes is not None and len(groups[0]) != num_classes):
        return None
    return groups
