"""Training past one device, on PyTorch's own distributed engine (docs/parallel.md).

    torchrun --nproc-per-node 4 -m dcl train ...              # 4 data-parallel replicas
    torchrun --nproc-per-node 4 -m dcl train --stages 4 ...   # a 4-stage local pipeline
    torchrun --nproc-per-node 4 -m dcl train --stages 2 ...   # 2 replicas x 2 stages

Modules, one idea each:

* :mod:`.mesh`        ranks as replicas x stages; process groups, timeouts
* :mod:`.comm`        one-line errors when a rank dies or times out; traffic counters
* :mod:`.loaders`     each rank's batches: its shard, or what the previous stage sent
* :mod:`.transfer`    activations + labels to the next stage, bounded in flight
* :mod:`.gradients`   data-parallel gradient averaging (overlapped with backward), BatchNorm
* :mod:`.plan`        contiguous stages balanced by measured block cost
* :mod:`.dictionaries` shared dictionaries under stages (dcl, dcl-o)
* :mod:`.stage`       the method as a replica or as one pipeline stage
* :mod:`.state`       every stage's state gathered into one checkpoint
* :mod:`.scores`      evaluation parts gathered from every rank
* :mod:`.runtime`     the hooks the engine (:mod:`dcl.train`) calls; in one process they do nothing
* :mod:`.standalone`  a ``--stages`` run's method built in one process (``dcl describe --stages``)
* :mod:`.bench`, :mod:`.costmodel`   ``dcl bench --stages``; speed-up model for N devices
"""
from .comm import PeerError
from .mesh import launched
from .plan import StagePlan, balanced_split
from .runtime import Parallel, SingleProcess

__all__ = ["Parallel", "PeerError", "SingleProcess", "StagePlan", "balanced_split", "launched"]
