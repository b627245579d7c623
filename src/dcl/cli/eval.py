"""``dcl eval CHECKPOINT``: test errors of a trained model.

    dcl eval runs/x                          head and every block's dictionary error
    dcl eval runs/x --predict block:2        one prediction mode: head | block:N | ensemble
    dcl eval runs/x --predict ensemble --p 4 lambda_l = l^p (App. C.3)
    dcl eval runs/x --sweep-p                the ensemble error for p = 0..10 (Fig. III)
    dcl eval runs/x --superlabels all        CIFAR-100 model -> CIFAR-20 errors (App. D)
"""
from __future__ import annotations

from ..errors import DCLError, choices_error
from ._common import add_data_dir, fmt, print_json, table

SWEEP_PS = tuple(range(11))


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint on its test set (head, block, ensemble, super-labels)",
                       description="Test error of a trained model. Without options: the head and every block's "
                                   "dictionary prediction.")
    p.add_argument("checkpoint", help="checkpoint.pt or the run folder holding it")
    p.add_argument("--predict", metavar="MODE",
                   help="head | block:N (blocks numbered from 1) | ensemble (sum_l l^p * block scores)")
    p.add_argument("--p", type=float, default=1.0, help="ensemble exponent p in lambda_l = l^p (default 1)")
    p.add_argument("--sweep-p", action="store_true", help="ensemble error for p = 0..10 (paper Fig. III)")
    p.add_argument("--superlabels", nargs="?", const="all", metavar="MODE",
                   help="CIFAR-100 model: CIFAR-20 error by naive | mean | super | all (default all)")
    add_data_dir(p)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: the training device if present)")
    p.add_argument("--net", metavar="MODULE:FUNCTION", help="a function building your own network, for runs of "
                                                           "dcl.train(cfg, net=...), e.g. mymodels.py:build")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _superlabel_modes(text: str) -> list[str]:
    from ..analysis.superlabels import MODES
    if text == "all":
        return list(MODES)
    if text not in MODES:
        raise choices_error("super-label mode", text, MODES + ("all",))
    return [text]


def __getattr__(name: str):
    """``load`` (:func:`dcl.load`) is imported on first use, so that importing this module
    (building the CLI's parser) imports no torch; a test may replace it here."""
    if name == "load":
        from ..predictor import load
        return load
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run(args) -> int:
    from ..evaluate import check_prediction, collect_scores, errors, prediction_error, sweep_p
    from ..engine.run import check_run_prediction

    load = globals().get("load") or __getattr__("load")
    from ..analysis.superlabels import CIFAR100_FINE_TO_COARSE, superlabel_errors

    if args.sweep_p and (args.predict or args.superlabels):
        raise DCLError("--sweep-p goes alone (it evaluates the ensemble for p = 0..10)")
    modes = _superlabel_modes(args.superlabels) if args.superlabels else None
    from ..predictor import load_net_factory
    net = load_net_factory(args.net)() if args.net else None
    run_ = load(args.checkpoint, net=net, device=args.device, data_dir=args.data_dir)
    run_.dataset  # noqa: B018  (a run on the user's own data says here how to evaluate it)
    n_blocks = run_.method.num_layerwise
    predict = args.predict or run_.method.default_prediction
    check_run_prediction(run_, predict)
    if args.sweep_p:
        check_prediction("ensemble", n_blocks)

    if modes is not None:
        if run_.net.num_classes != len(CIFAR100_FINE_TO_COARSE):
            raise DCLError(f"--superlabels needs a model trained on the 100 CIFAR-100 classes; this one has "
                           f"{run_.net.num_classes} classes ({run_.cfg.data})")
        res = superlabel_errors(run_, modes, predict=predict, p=args.p)
        if args.json:
            print_json({"superlabels": res, "predict": predict})
        else:
            print(table([[m, fmt(e)] for m, e in res.items()], ["super-label mode", "CIFAR-20 test error %"]))
        return 0

    scores = collect_scores(run_.net, run_.method, run_.eval_loader("test"))
    if args.sweep_p:
        rows = sweep_p(scores, SWEEP_PS)
        head = errors(scores)["test_error"]
        if args.json:
            print_json({"sweep": [{"p": p, "test_error": e} for p, e in rows], "head_test_error": head})
        else:
            print(table([[fmt(p, 0), fmt(e)] for p, e in rows], ["p", "ensemble test error %"]))
            print(f"head (baseline): {fmt(head)}%")
        return 0
    if args.predict is not None:
        err = prediction_error(scores, predict, args.p)
        if args.json:
            out = {"test_error": err, "predict": predict}
            if predict == "ensemble":
                out["p"] = args.p
            print_json(out)
        else:
            label = f"ensemble, p={args.p:g}" if predict == "ensemble" else predict
            print(f"test error ({label}): {fmt(err)}%")
        return 0
    res = errors(scores)
    if args.json:
        print_json(res)
    else:
        print(f"test error ({scores.default}): {fmt(res['test_error'])}%")
        if res.get("head_test_error") is not None and scores.default != "head":
            print(f"test error (head): {fmt(res['head_test_error'])}%")
        for name, e in res.get("prediction_errors", {}).items():
            if name != scores.default:
                print(f"test error ({name}): {fmt(e)}%")
        for i, e in enumerate(res["layer_test_errors"], start=1):
            print(f"test error (block {i}): {fmt(e)}%")
    return 0
