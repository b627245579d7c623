"""The paper's analyses of a trained run, each a function that returns the numbers and a
function that draws them (PNG, matplotlib on the Agg backend) plus a CSV writer.

================  =====================================  ====================================
analysis          numbers                                figure (paper)
================  =====================================  ====================================
saliency          :func:`saliency_maps`                  Fig. 5, VIII-X
embeddings        :func:`analyze_embeddings`             Fig. 6, VII (t-SNE), VI a (cosine)
confusion         :func:`analyze_confusion`              Fig. 7, VI b
layers            :func:`layer_errors`                   Fig. II
mutual-info       :func:`estimate_mutual_information`    Fig. 3, I (App. J.2.7)
sweeps            :mod:`dcl.analysis.sweeps`             Fig. 1, 4, III, IV, V
================  =====================================  ====================================

Numbers need only torch; figures need the optional extra ``analysis`` (matplotlib and
scikit-learn, which t-SNE also uses): ``pip install 'dcl-local[analysis]'``. ``dcl analyze KIND``
is the command line over these functions.
"""
from ..lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(("analyze_confusion", "confusion_counts", "confusion_rates", "pair_rates", "pearson"), ".confusion"),
    **dict.fromkeys(("analyze_embeddings", "cosine_similarity", "label_embeddings", "tsne_2d"), ".embeddings"),
    "layer_errors": ".layers", "estimate_mutual_information": ".mutual_info", "probe_errors": ".probe",
    "saliency_maps": ".saliency", "describe": ".structure",
})

__all__ = [
    "analyze_confusion", "analyze_embeddings", "confusion_counts", "confusion_rates", "cosine_similarity",
    "describe", "estimate_mutual_information", "label_embeddings", "layer_errors", "pair_rates", "pearson",
    "probe_errors", "saliency_maps", "tsne_2d",
]
