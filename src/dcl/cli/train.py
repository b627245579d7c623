"""``dcl train``: train a network with a method on a dataset (see ``dcl list``).

Values come from, in rising precedence: TrainConfig's defaults, the preset, ``--config FILE``
(TOML; a run folder's ``config.toml`` repeats that run), the flags and ``--set FIELD=VALUE``.
Without ``--out`` the run goes to a fresh folder under ``--runs-dir`` (default ``runs/``).
"""
from __future__ import annotations

import sys

from ..config import merge_options, parse_set_options
from ._common import add_data_dir, fmt, print_json, stderr_is_a_terminal


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a network (DCL, DCL-S, BP, ...) into a run folder",
                       description="Train ARCH on DATA with METHOD. Unset values come from the preset "
                                   "(named by --preset, else ARCH-DATA when the paper has one), then --config, "
                                   "then the flags and --set.",
                       epilog="Every config field (for --set and --config files): `dcl config fields`; "
                              "the resolved config: `dcl config show ...`.")
    p.add_argument("--arch", help="architecture (dcl list archs)")
    p.add_argument("--data", help="dataset (dcl list datasets)")
    p.add_argument("--method", help="training method (dcl list methods); default dcl")
    p.add_argument("--preset", help="named hyperparameter preset (dcl list presets)")
    p.add_argument("--config", metavar="FILE", help="TOML file of config fields (a run's config.toml repeats it)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default: CUDA, else MPS, else CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--val-split", type=int, help="hold out N training samples; the best epoch is chosen on them "
                                                 "(best.pt)")
    p.add_argument("--limit-train-batches", type=int, help="cap each epoch at N batches (quick runs)")
    p.add_argument("--limit-test-batches", type=int, help="cap each evaluation (test, validation) at N batches "
                                                          "(quick runs)")
    p.add_argument("--stages", type=int, help="pipeline stages, one torchrun rank each: every stage trains its "
                                               "own blocks (docs/parallel.md)")
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="also write checkpoint.pt every N steps")
    p.add_argument("--dict-init", help="label dictionary init: normal (D^N, D^Z) | orthogonal (D^⊥)")
    p.add_argument("--dict-norm", metavar="X", help="rescale dictionary rows to L2 norm X, or (X a checkpoint) "
                                                      "to the mean row norm of its trained dictionary (Fig. 4)")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="import a .py file or module that registers methods, networks or datasets of your own "
                        "(repeatable; a run records it)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any config field (list: dcl config fields), e.g. --set milestones=10,20")
    add_data_dir(p)
    p.add_argument("--out", help="run folder (default: a new folder under --runs-dir)")
    p.add_argument("--runs-dir", default="runs", help="where runs without --out go (default runs/)")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--resume", action="store_true", help="continue the run in --out (its own config; only "
                                                         "--epochs, --device and logging fields may change)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def fields_from_command_line(args) -> dict:
    """The config fields this command line asks for: --config, then the flags and --set (a
    field given both as a flag and by --set is refused: one would silently win)."""
    from ..config.files import read_config_file
    asked = dict(read_config_file(args.config)) if args.config else {}
    flags = dict(arch=args.arch, data=args.data, preset=args.preset, method=args.method, epochs=args.epochs,
                 batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                 val_split=args.val_split, limit_train_batches=args.limit_train_batches,
                 limit_test_batches=args.limit_test_batches,
                 checkpoint_every=args.checkpoint_every, dict_init=args.dict_init, stages=args.stages)
    if args.plugin:
        flags["plugins"] = ",".join(args.plugin)
    if args.dict_norm is not None:  # a number, else a checkpoint to read the norm from
        try:
            flags["dict_norm"] = float(args.dict_norm)
        except ValueError:
            flags["dict_norm_from"] = args.dict_norm
    asked.update(merge_options(flags, parse_set_options(args.set)))
    return asked


def resolve_from_fields(asked: dict):
    """resolve_config with ``arch``/``data``/``preset`` taken out of the asked fields."""
    from ..config import resolve_config
    asked = dict(asked)
    names = {k: asked.pop(k, None) for k in ("arch", "data", "preset")}
    if isinstance(names["preset"], str) and names["preset"].lower() in ("none", ""):
        names["preset"] = None
    return resolve_config(arch=names["arch"], data=names["data"], preset=names["preset"], **asked)


def interrupted_line(out, args) -> str:
    """The last line of an interrupted run: the command that resumes it, or that there is none."""
    from ..engine.runfolder import resume_command
    command = resume_command(out, args.data_dir, tuple(args.plugin or ()))
    if command is None:
        return "dcl train: interrupted before its first checkpoint; nothing to resume (start it again)"
    return f"dcl train: interrupted; resume it with: {command}"


def run(args) -> int:
    from ..errors import DCLError
    from ..engine.runfolder import auto_out  # no torch

    asked = fields_from_command_line(args)
    if args.resume:
        if not args.out:
            raise DCLError("--resume needs --out DIR (the folder holding checkpoint.pt)")
        if args.overwrite:
            raise DCLError("--resume continues the run in --out, --overwrite replaces it: give one")
        cfg, out = asked, args.out
    else:
        cfg = resolve_from_fields(asked)  # bad names and values fail here, before torch is imported
        out = args.out if args.out is not None else str(auto_out(cfg, args.runs_dir))
    from ..parallel.mesh import env_rank
    from ..engine.loop import train

    speaker = env_rank() == 0  # under torchrun, rank 0 speaks for the run
    quiet = args.json  # stdout holds only the JSON; the run's lines and notes go to stderr
    log = None if not speaker else (lambda line: print(line, file=sys.stderr)) if quiet else print
    try:
        s = train(cfg, out, data_dir=args.data_dir, resume=args.resume, overwrite=args.overwrite,
                  progress=speaker and stderr_is_a_terminal() and not args.no_progress, log=log)
    except KeyboardInterrupt:
        if speaker:
            print(interrupted_line(out, args), file=sys.stderr)
        return 130
    if not speaker:
        return 0
    if quiet:
        print_json(s)
        return 0
    layers = ", ".join(fmt(e) for e in s["layer_test_errors"]) or "-"
    line = (f"test error {fmt(s['test_error'])}% after epoch {s['epochs']}; best test error "
            f"{fmt(s['best_test_error'])}% at epoch {s['best_test_epoch']}")
    if "test_error_at_best_val" in s:
        line += (f"; chosen on validation: epoch {s['best_epoch']} (val error {fmt(s['best_val_error'])}%), "
                 f"test error there {fmt(s['test_error_at_best_val'])}%")
    print(line)
    print(f"block errors [{layers}]%; params {s['params']:,} (Δθ {s['delta_params']:,}); "
          f"{fmt(s['seconds_per_epoch'], 1)} s/epoch; peak memory {fmt(s['peak_memory_mb'], 0)} MB")
    return 0
