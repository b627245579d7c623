"""The resumable sweep engine every training sweep shares.

A sweep is a list of :class:`Point`s: a label and the config values that differ from the
sweep's base (user) settings. Each point gets its own run folder under ``runs_dir``, named by
its config (a readable slug plus a hash of every field that changes the numbers), so:

* a point whose folder holds a finished run (``summary.json`` with all its epochs) is reused,
  never trained again, also by another sweep pointed at the same ``runs_dir``;
* a point whose run was interrupted (a ``checkpoint.pt`` with fewer epochs) resumes from it;
* any other point is trained from scratch.

Each folder also holds ``point.json`` (the label and the full config) for the reader.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...engine.checkpoint import write_json
from ...config import TrainConfig, resolve_config

#: config fields that do not change a run's numbers (left out of a point's key)
NOT_IN_KEY = ("preset", "device", "eval_batch_size", "compile", "channels_last")


@dataclass
class Point:
    """One point of a sweep: ``label`` (legend / CSV), ``overrides`` (config fields set on top
    of the sweep's settings) and ``needs``: labels of points whose run folders must exist
    first (e.g. a static dictionary scaled to a trained D^Z's norm); ``overrides`` may then
    hold a callable ``folders -> value`` that is resolved once those folders are known."""

    label: str
    overrides: dict[str, Any]
    needs: tuple[str, ...] = ()
    value: float | None = None          # the swept value, for the x axis (K, tau, p, ...)


@dataclass
class PointRun:
    """A finished point: its run folder, config and ``summary.json``; ``trained`` is False
    when an existing run was reused."""

    point: Point
    folder: Path
    cfg: TrainConfig
    summary: dict[str, Any]
    trained: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def config_key(cfg: TrainConfig, runs_dir: Path | None = None) -> str:
    """A folder name for ``cfg``: ``ARCH-DATA-METHOD-<12 hex of its config hash>``.

    Only fields that differ from :class:`TrainConfig`'s defaults enter the hash, so a newer
    ``dcl`` that adds a field (with a default that keeps the old behaviour) still finds the
    runs an older one trained. Paths to other runs inside ``runs_dir`` (``dict_norm_from``)
    enter by folder name only, so a moved sweep folder keeps its keys."""
    defaults = TrainConfig().to_dict()
    d = {k: v for k, v in cfg.to_dict().items() if k not in NOT_IN_KEY and v != defaults[k]}
    if d.get("dict_norm_from") and runs_dir is not None:
        p = Path(d["dict_norm_from"]).resolve()
        if p.parent == Path(runs_dir).resolve():
            d["dict_norm_from"] = f"<runs>/{p.name}"
    digest = hashlib.sha256(json.dumps(d, sort_keys=True, default=list).encode()).hexdigest()[:12]
    return f"{cfg.arch}-{cfg.data}-{cfg.method}-{digest}"


def finished_epochs(folder: Path) -> int:
    """Epochs a run folder has finished (0 if none)."""
    try:
        return int(json.loads((folder / "summary.json").read_text())["epochs"] or 0)
    except (OSError, ValueError, KeyError, TypeError):
        return 0


@dataclass
class Sweep:
    """Train (or reuse) every point of a sweep.

    ``arch``, ``data``, ``preset`` and ``overrides`` are the user's settings (as for
    ``dcl train``: preset < overrides < the point's own values). ``dataset`` is loaded once
    and shared by every point.
    """

    arch: str
    data: str
    runs_dir: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    data_dir: Any = None
    progress: bool = False
    log: Callable[[str], None] | None = None
    dataset: Any = None
    #: how a run is trained (``dcl.train``; a test may wrap it to count calls)
    train_fn: Callable[..., dict[str, Any]] | None = None

    def config(self, point: Point, folders: dict[str, Path]) -> TrainConfig:
        values = {}
        for k, v in point.overrides.items():
            values[k] = v(folders) if callable(v) else v
        return resolve_config(arch=self.arch, data=self.data, preset=self.preset, **{**self.overrides, **values})

    def _dataset(self, cfg: TrainConfig):
        if self.dataset is None:
            from ...data import load_dataset

            self.dataset = load_dataset(cfg.data, self.data_dir, val_split=cfg.val_split, seed=cfg.seed)
        return self.dataset

    def run_point(self, point: Point, folders: dict[str, Path]) -> PointRun:
        from ...engine.loop import train

        cfg = self.config(point, folders)
        runs_dir = Path(self.runs_dir)
        folder = runs_dir / config_key(cfg, runs_dir)
        done = finished_epochs(folder)
        trained = False
        if done < cfg.epochs:
            resume = (folder / "checkpoint.pt").is_file()
            if self.log:
                how = f"resuming at epoch {done}" if resume else "training"
                self.log(f"[{point.label}] {how} -> {folder}")
            folder.mkdir(parents=True, exist_ok=True)
            write_json(folder / "point.json", {"label": point.label, "config": cfg.to_dict()})
            train_fn = self.train_fn or train
            train_fn(cfg, folder, data_dir=self.data_dir, resume=resume, progress=self.progress,
                     dataset=self._dataset(cfg))
            trained = True
        elif self.log:
            self.log(f"[{point.label}] reusing {folder} ({done} epochs)")
        summary = json.loads((folder / "summary.json").read_text())
        return PointRun(point, folder, cfg, summary, trained)

    def run(self, points: list[Point]) -> list[PointRun]:
        """Every point in order (a point's ``needs`` must come before it); one result each."""
        folders: dict[str, Path] = {}
        out = []
        for point in points:
            missing = [n for n in point.needs if n not in folders]
            if missing:
                raise ValueError(f"point {point.label!r} needs {missing} first")
            res = self.run_point(point, folders)
            folders[point.label] = res.folder
            out.append(res)
        return out
