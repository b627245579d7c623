"""The engine around training: a run built from a config, the loop over epochs, the run
folder it writes, and what protects it.

* :mod:`.run`        - :class:`Run`, :func:`build_run`, :func:`evaluate_run`, :func:`eval_error`
* :mod:`.loop`       - :func:`train` (the public entry), :func:`fit`, one epoch
* :mod:`.callbacks`  - hooks on every step and epoch; the CSV / TensorBoard loggers
* :mod:`.state`      - what a checkpoint holds, the summary, restoring a run
* :mod:`.checkpoint` - atomic writes and safe loading
* :mod:`.runfolder`, :mod:`.lock` - where a run's files go, what a resume may change, the lock
* :mod:`.lossguard`  - stop at a loss that is not a number

A trained run is loaded by :func:`dcl.load` (:mod:`dcl.predictor`).
"""
from ..lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "Callback": ".callbacks", "fit": ".loop", "train": ".loop", "Run": ".run", "build_run": ".run",
    "evaluate_run": ".run",
})

__all__ = ["Callback", "Run", "build_run", "evaluate_run", "fit", "train"]
