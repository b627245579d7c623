"""Stop a run whose loss is no longer a number, before it writes a useless checkpoint.

A learning rate that is far too high (or a temperature far too low, or bad data) drives the
weights to inf and the losses to NaN; training on would only overwrite the last good
checkpoint with NaN weights. :class:`FiniteLossGuard` looks at the detached losses that every
``update`` returns anyway (``"block_losses" (L-1,)``, then ``"loss"``) and raises a one-line
DCLError naming the epoch, the step and the first block whose loss is NaN or infinite.

Cost: one ``isfinite(...).all()`` over L values per step. On the CPU it is read at once; on an
accelerator the flag of step t is read after step t+1 has been queued (``flush`` reads the last
one), so the check never stalls the device. The engine calls ``flush`` before it writes a
checkpoint, so no checkpoint is written after a bad step.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import DCLError


class NonFiniteLoss(DCLError):
    """The training loss became NaN or infinite."""


class FiniteLossGuard:
    def __init__(self, device: torch.device, out: Path | None = None, hint: str = ""):
        self.lagged = torch.device(device).type != "cpu"
        self.out = out
        self.hint = hint
        self._pending: tuple[Tensor, Tensor, bool, int, int] | None = None

    def check(self, stats: dict[str, Any], epoch: int, step: int) -> None:
        """Check the losses of ``step`` (1-based) of ``epoch`` (1-based)."""
        loss = torch.as_tensor(stats["loss"]).detach().reshape(1).float()
        blocks = stats.get("block_losses")
        has_blocks = isinstance(blocks, Tensor) and blocks.numel() > 0
        values = torch.cat([blocks.detach().reshape(-1).float().to(loss.device), loss]) if has_blocks else loss
        ok = torch.isfinite(values).all()
        entry = (ok, values, has_blocks, epoch, step)
        if not self.lagged:
            self._verify(entry)
            return
        previous, self._pending = self._pending, entry
        if previous is not None:
            self._verify(previous)

    def flush(self) -> None:
        """Verify the last step still waiting (accelerators)."""
        previous, self._pending = self._pending, None
        if previous is not None:
            self._verify(previous)

    def _verify(self, entry: tuple[Tensor, Tensor, bool, int, int]) -> None:
        ok, values, has_blocks, epoch, step = entry
        if bool(ok):
            return
        values = values.cpu()
        i = int((~torch.isfinite(values)).nonzero()[0])
        where = (f"block {i + 1}" if i < values.numel() - 1 else "the head") if has_blocks else "the network's loss"
        kept = ""
        if self.out is not None:
            kept = (f"; the last good checkpoint in {self.out} is kept" if (self.out / "checkpoint.pt").is_file()
                    else "; no checkpoint was written")
        raise NonFiniteLoss(f"the training loss became {float(values[i])} at epoch {epoch}, step {step} ({where}); "
                            f"stopped{kept}{'; ' + self.hint if self.hint else ''}")
