"""Sweeps that train and plot (resumable; a run folder per point, keyed by its config):

* :mod:`.segments`   K feature segments of FC blocks (Fig. IV)
* :mod:`.similarity` dot product vs cosine similarity over tau (Fig. V)
* :mod:`.dictionary` D^Z vs D^N vs D^⊥ (Fig. 4)
* :mod:`.ensemble`   the ensemble weight exponent p (Fig. III)
* :mod:`.losses`     local losses block by block, any method names (Fig. 1)

The engine is :class:`~.base.Sweep`.
"""
from .base import Point, PointRun, Sweep, config_key

__all__ = ["Point", "PointRun", "Sweep", "config_key"]
