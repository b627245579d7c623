"""Local losses. ``dictionary`` holds L_dict (paper Eq. 2)."""
from .dictionary import (
    DEFAULT_COSINE_TEMPERATURE,
    DictionaryContrastiveLoss,
    dict_logits,
    dict_loss,
    feature_vectors_mean,
    init_dictionary,
    pool_dictionary,
)

__all__ = [
    "DEFAULT_COSINE_TEMPERATURE",
    "DictionaryContrastiveLoss",
    "dict_logits",
    "dict_loss",
    "feature_vectors_mean",
    "init_dictionary",
    "pool_dictionary",
]
