"""Kuzushiji-MNIST (Clanuwat et al. 2018): 10 classes of cursive Japanese characters, in the
MNIST IDX format with MNIST's file names (``DATA_DIR/kmnist/train-images-idx3-ubyte.gz`` ...;
gzipped or not), 28x28 grey, 60,000 train / 10,000 test.

The DCL paper leaves K-MNIST out (App. J: the available version differs from the one
Nøkland & Eidnes used), so there is no preset. No augmentation (characters are not
mirror-symmetric). Normalisation: the training set's pixel mean 0.1918 and std 0.3483 (on
[0, 1] pixels), the figures commonly tabulated for the K-MNIST training set; they can be
checked with :func:`dcl.data.info.pixel_stats` once the data is present (the same function
gives MNIST's 0.1307 / 0.3081 and Fashion-MNIST's 0.2860 / 0.3530).
"""
from __future__ import annotations

from .datasets import DatasetSpec, read_idx_dataset, register_dataset

KMNIST_MEAN, KMNIST_STD = 0.1918, 0.3483

_spec = DatasetSpec(name="kmnist", in_shape=(1, 28, 28), num_classes=10, mean=(KMNIST_MEAN,), std=(KMNIST_STD,),
                    description="Kuzushiji-MNIST, 28x28 grey, 60k/10k; no augmentation (not in the paper)")
object.__setattr__(_spec, "read", lambda folder, s=_spec: read_idx_dataset(s, folder))
register_dataset(_spec)
