"""``dcl train``: train a network with a method on a dataset (see ``dcl list``)."""
from __future__ import annotations

from ..config import merge_options, parse_set_options, resolve_config
from ._common import add_data_dir, fmt, print_json, progress_default


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a network (DCL, DCL-S, BP, ...) and write checkpoint, metrics, summary",
                       description="Train ARCH on DATA with METHOD. Unset values come from the preset "
                                   "(named by --preset, else ARCH-DATA when the paper has one).")
    p.add_argument("--arch", help="architecture (dcl list archs)")
    p.add_argument("--data", help="dataset (dcl list datasets)")
    p.add_argument("--method", help="training method (dcl list methods); default dcl")
    p.add_argument("--preset", help="named hyperparameter preset (dcl list presets)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu, cuda, cuda:N")
    p.add_argument("--val-split", type=int, help="hold out N training samples as a validation split")
    p.add_argument("--limit-train-batches", type=int, help="cap each epoch at N batches (quick runs)")
    p.add_argument("--dict-init", help="label dictionary init: normal (D^N, D^Z) | orthogonal (D^⊥)")
    p.add_argument("--dict-norm", metavar="X", help="rescale dictionary rows to L2 norm X, or (X a checkpoint) "
                                                      "to the mean row norm of its trained dictionary (Fig. 4)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any config field, e.g. --set milestones=10,20 --set dropout=0.1")
    add_data_dir(p)
    p.add_argument("--out", help="run folder: checkpoint.pt, metrics.jsonl, summary.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    flags = dict(arch=args.arch, data=args.data, preset=args.preset, method=args.method, epochs=args.epochs,
                 batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                 val_split=args.val_split, limit_train_batches=args.limit_train_batches, dict_init=args.dict_init)
    if args.dict_norm is not None:  # a number, else a checkpoint to read the norm from
        try:
            flags["dict_norm"] = float(args.dict_norm)
        except ValueError:
            flags["dict_norm_from"] = args.dict_norm
    cfg = resolve_config(**merge_options(flags, parse_set_options(args.set)))
    from ..train import train  # torch: only once the arguments are known to be good
    quiet = args.json
    if not quiet:
        print(f"dcl train: {cfg.arch} on {cfg.data} with {cfg.method} (preset {cfg.preset or '-'}), "
              f"{cfg.epochs} epochs, batch {cfg.batch_size}, lr {cfg.lr:g}, device {cfg.device}")
    s = train(cfg, args.out, data_dir=args.data_dir, resume=args.resume,
              progress=progress_default() and not args.no_progress and not quiet,
              log=None if quiet else print)
    if quiet:
        print_json(s)
    else:
        layers = ", ".join(fmt(e) for e in s["layer_test_errors"]) or "-"
        print(f"test error {fmt(s['test_error'])}% (best {fmt(s['best_test_error'])}% at epoch {s['best_epoch']}); "
              f"block errors [{layers}]%; params {s['params']:,} (Δθ {s['delta_params']:,}); "
              f"{fmt(s['seconds_per_epoch'], 1)} s/epoch; peak memory {fmt(s['peak_memory_mb'], 0)} MB")
        if args.out:
            print(f"wrote {args.out}/checkpoint.pt, metrics.jsonl, summary.json")
    return 0
