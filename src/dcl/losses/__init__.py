"""Local losses. ``dictionary`` holds L_dict (paper Eq. 2); ``supcon`` the supervised
contrastive loss (Eq. 1: L_feat, L_contrast); ``similarity`` N&E's similarity matching;
``feedback`` LL-bpf's fixed label projection and feedback-alignment layer;
``reconstruction`` InfoPro's image decoder (LL-contrec); ``goodness`` the Forward-Forward
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
from .feedback import LabelProjection, LinearFA, binary_code_loss, binary_code_targets
from .reconstruction import ImageDecoder
from .similarity import label_similarity, similarity_matching_loss, similarity_matrix
from .supcon import SupConLoss, pooled_features, supcon_loss
from .goodness import ff_loss, goodness, pff_energy_loss, symba_loss
from .target_projection import FixedFeedback, drtp_loss

__all__ = [
    "DEFAULT_COSINE_TEMPERATURE",
    "DictionaryContrastiveLoss",
    "FixedFeedback",
    "ImageDecoder",
    "LabelProjection",
    "LinearFA",
    "SupConLoss",
    "binary_code_loss",
    "binary_code_targets",
    "dict_logits",
    "dict_loss",
    "drtp_loss",
    "feature_vectors_mean",
    "ff_loss",
    "goodness",
    "init_dictionary",
    "label_similarity",
    "pff_energy_loss",
    "pool_dictionary",
    "pooled_features",
    "similarity_matching_loss",
    "similarity_matrix",
    "supcon_loss",
    "symba_loss",
]
