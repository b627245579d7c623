"""Local losses. ``dictionary`` holds L_dict (paper Eq. 2); ``goodness`` the Forward-Forward
family's (FF, SymBa, PFF); ``target_projection`` DRTP's fixed random target projection."""
from .dictionary import (
    DEFAULT_COSINE_TEMPERATURE,
    DictionaryContrastiveLoss,
    dict_logits,
    dict_loss,
    feature_vectors_mean,
    init_dictionary,
    pool_dictionary,
)
from .goodness import ff_loss, goodness, pff_energy_loss, symba_loss
from .target_projection import FixedFeedback, drtp_loss

__all__ = [
    "DEFAULT_COSINE_TEMPERATURE",
    "DictionaryContrastiveLoss",
    "FixedFeedback",
    "dict_logits",
    "dict_loss",
    "drtp_loss",
    "feature_vectors_mean",
    "ff_loss",
    "goodness",
    "init_dictionary",
    "pff_energy_loss",
    "pool_dictionary",
    "symba_loss",
]
