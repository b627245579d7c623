"""``dcl eval CHECKPOINT``: test errors of a trained model."""
from __future__ import annotations

from ..evaluate import collect_scores, errors
from ..inference import load_trained
from ._common import fmt, print_json


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint on its test set")
    p.add_argument("checkpoint", help="checkpoint.pt or the run folder holding it")
    p.add_argument("--data-dir", help="dataset folder (default: $DCL_DATA_DIR, else the user cache)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: the training device if present)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    run_ = load_trained(args.checkpoint, data_dir=args.data_dir, device=args.device)
    res = errors(collect_scores(run_.net, run_.method, run_.eval_loader("test")))
    if args.json:
        print_json(res)
    else:
        print(f"test error (head): {fmt(res['test_error'])}%")
        for i, e in enumerate(res["layer_test_errors"], start=1):
            print(f"test error (block {i} dictionary): {fmt(e)}%")
    return 0
