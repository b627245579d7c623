"""Human-readable class names of the registered datasets, and their super-label groups.

One table for every dataset that has names (figures put them on axes and legends):

    class_names("fashion-mnist")       -> ("T-shirt/top", "Trouser", ..., "Ankle boot")
    class_names("kmnist")               -> ("o", "ki", "su", ...)
    class_names("custom", num_classes=3) -> ("0", "1", "2")   # no names: the class indices
    superlabel_groups("cifar100")       -> ((0, ..), ("aquatic mammals", ...))  # CIFAR-100 only

Names are in each dataset's label-index order (the order of its distribution files).
"""
from __future__ import annotations

#: the 100 CIFAR-100 fine labels in their standard (alphabetical) index order
CIFAR100_FINE_LABELS = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)

#: the 20 CIFAR-100 coarse labels (super-labels) in their standard index order, with their 5 sub-labels
CIFAR100_SUPERLABELS = (
    ("aquatic_mammals", ("beaver", "dolphin", "otter", "seal", "whale")),
    ("fish", ("aquarium_fish", "flatfish", "ray", "shark", "trout")),
    ("flowers", ("orchid", "poppy", "rose", "sunflower", "tulip")),
    ("food_containers", ("bottle", "bowl", "can", "cup", "plate")),
    ("fruit_and_vegetables", ("apple", "mushroom", "orange", "pear", "sweet_pepper")),
    ("household_electrical_devices", ("clock", "keyboard", "lamp", "telephone", "television")),
    ("household_furniture", ("bed", "chair", "couch", "table", "wardrobe")),
    ("insects", ("bee", "beetle", "butterfly", "caterpillar", "cockroach")),
    ("large_carnivores", ("bear", "leopard", "lion", "tiger", "wolf")),
    ("large_man-made_outdoor_things", ("bridge", "castle", "house", "road", "skyscraper")),
    ("large_natural_outdoor_scenes", ("cloud", "forest", "mountain", "plain", "sea")),
    ("large_omnivores_and_herbivores", ("camel", "cattle", "chimpanzee", "elephant", "kangaroo")),
    ("medium_mammals", ("fox", "porcupine", "possum", "raccoon", "skunk")),
    ("non-insect_invertebrates", ("crab", "lobster", "snail", "spider", "worm")),
    ("people", ("baby", "boy", "girl", "man", "woman")),
    ("reptiles", ("crocodile", "dinosaur", "lizard", "snake", "turtle")),
    ("small_mammals", ("hamster", "mouse", "rabbit", "shrew", "squirrel")),
    ("trees", ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree")),
    ("vehicles_1", ("bicycle", "bus", "motorcycle", "pickup_truck", "train")),
    ("vehicles_2", ("lawn_mower", "rocket", "streetcar", "tank", "tractor")),
)

CIFAR100_COARSE_LABELS = tuple(name for name, _ in CIFAR100_SUPERLABELS)


def _fine_to_coarse() -> tuple[int, ...]:
    index = {name: i for i, name in enumerate(CIFAR100_FINE_LABELS)}
    out = [-1] * len(CIFAR100_FINE_LABELS)
    for c, (_, members) in enumerate(CIFAR100_SUPERLABELS):
        for m in members:
            out[index[m]] = c
    assert min(out) >= 0
    return tuple(out)


#: CIFAR-100 fine label index -> CIFAR-20 coarse label index (100 entries, 5 per coarse class)
CIFAR100_FINE_TO_COARSE: tuple[int, ...] = _fine_to_coarse()


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
