"""``dcl analyze KIND ...``: the paper's analyses of a user's own runs, as PNG + CSV.

    dcl analyze saliency RUN [--images 0,1,2]       saliency maps per block (Fig. 5, X)
    dcl analyze embeddings RUN                      t-SNE + cosine similarity of the dictionary (Fig. 6, VI a)
    dcl analyze confusion RUN                       confusion matrix, confusion vs similarity (Fig. 7, VI b)
    dcl analyze layers RUN [RUN ...]                test error of every block and the head (Fig. II)
    dcl analyze mutual-info RUN [RUN ...]           I(h,x), I(h,y), I(h,r) per block (Fig. 3, I)
    dcl analyze segments   --arch fc --data D --out DIR     sweep K (Fig. IV)
    dcl analyze similarity --arch A --data D --out DIR      dot vs cosine over tau (Fig. V)
    dcl analyze dictionary --arch A --data D --out DIR      D^Z vs D^N vs D^⊥ (Fig. 4)
    dcl analyze ensemble [RUN ...] | --arch A --data D --out DIR    ensemble exponent p (Fig. III)
    dcl analyze losses --methods feat,ll-cont,dcl --arch A --data D --out DIR   (Fig. 1)

Run analyses write into ``--out`` (default ``RUN/analysis``); sweeps keep their runs in
``--runs`` (default ``OUT/runs``), one folder per point, reused and resumed on a rerun.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DCLError
from ._common import add_data_dir, fmt, stderr_is_a_terminal

RUN_KINDS = ("saliency", "embeddings", "confusion", "layers", "mutual-info")


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise DCLError(f"bad {what} {text!r}: expected comma-separated integers, e.g. 0,1,2") from None


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise DCLError(f"bad {what} {text!r}: expected comma-separated numbers, e.g. 0.1,0.5,1") from None


def _samples(text: str) -> int | None:
    if text == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise DCLError(f"bad sample count {text!r}: expected a positive integer or 'all'") from None
    if n < 2:
        raise DCLError(f"sample count must be >= 2, got {n}")
    return n


def add_parser(sub) -> None:
    p = sub.add_parser("analyze", help="the paper's analyses of trained runs and training sweeps (PNG + CSV)",
                       description=__doc__.split("\n\n")[1] if __doc__ else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="kind", metavar="KIND", parser_class=type(p))
    kinds.required = True

    def common(q, runs: str | None) -> None:
        if runs == "one":
            q.add_argument("run", help="run folder (dcl train --out) or its checkpoint.pt")
        elif runs == "many":
            q.add_argument("runs", nargs="+", metavar="RUN", help="run folders (several: one line each)")
        q.add_argument("--out", help="folder for the PNG and CSV (default: RUN/analysis)" if runs else
                       "sweep folder: PNG, CSV and (unless --runs) the runs")
        add_data_dir(q)
        q.add_argument("--device", help="cpu, cuda, cuda:N (default: the training device if present)")
        q.add_argument("--no-progress", action="store_true", help="no progress bars")
        q.set_defaults(func=run)

    q = kinds.add_parser("saliency", help="saliency maps of the top labels per block (Fig. 5, VIII-X)")
    common(q, "one")
    q.add_argument("--images", default="0,1,2", help="test image indices (default 0,1,2)")
    q.add_argument("--blocks", help="block numbers, e.g. 1,2 (default: all)")
    q.add_argument("--top", type=int, default=2, help="how many top-ranked labels (default 2)")
    q.add_argument("--rank-by", default="head", help="prediction that ranks the labels: head | block:N | ensemble")
    q = kinds.add_parser("embeddings", help="t-SNE and cosine similarity of the label embeddings (Fig. 6, VII, VI a)")
    common(q, "one")
    q.add_argument("--block", type=int, help="dcl-ld: whose dictionary (default: the last block's)")
    q.add_argument("--perplexity", type=float, help="t-SNE perplexity (default: min(30, (Z-1)/3))")
    q.add_argument("--seed", type=int, default=0)
    q = kinds.add_parser("confusion", help="confusion matrix and confusion rate vs embedding similarity (Fig. 7, VI b)")
    common(q, "one")
    q.add_argument("--predict", help="prediction mode: head | block:N | ensemble (default: the method's own)")
    q.add_argument("--p", type=float, default=1.0, help="ensemble exponent p (with --predict ensemble)")
    q = kinds.add_parser("layers", help="test error of every block and the head, runs side by side (Fig. II)")
    common(q, "many")
    q.add_argument("--names", help="legend names, comma-separated, one per RUN (default: folder names)")
    q = kinds.add_parser("mutual-info", help="I(h,x), I(h,y) and the bound on I(h,r) per block (Fig. 3, I)")
    common(q, "many")
    q.add_argument("--names", help="legend names, comma-separated, one per RUN (default: folder names)")
    q.add_argument("--train-samples", help="training images for the estimators, or 'all' (default: 2000 on the "
                                          "CPU, 10000 on a GPU; --paper: all)")
    q.add_argument("--test-samples", default="2000", help="test images for the classifier's accuracy, or 'all'")
    q.add_argument("--epochs", type=int, help="estimator epochs (default: 2 on the CPU, 3 on a GPU; --paper: 10)")
    q.add_argument("--paper", action="store_true", help="the paper's budget: all training images, 10 epochs "
                                                        "(hours on a CPU)")
    q.add_argument("--batch-size", type=int, default=128)
    q.add_argument("--no-input", action="store_true", help="leave out the input itself (layer 0)")

    def sweep(q) -> None:
        common(q, None)
        q.add_argument("--arch", help="architecture (dcl list archs)")
        q.add_argument("--data", help="dataset (dcl list datasets)")
        q.add_argument("--preset", help="hyperparameter preset (default: the method's or the pair's)")
        q.add_argument("--epochs", type=int, help="epochs of every run")
        q.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override any config field")
        q.add_argument("--runs", help="folder of the sweep's run folders (default: OUT/runs; share it across sweeps)")

    q = kinds.add_parser("segments", help="sweep: feature segments K of FC blocks (Fig. IV)")
    sweep(q)
    q.add_argument("--values", default="1,2,4,8,16", help="K values (default 1,2,4,8,16)")
    q = kinds.add_parser("similarity", help="sweep: dot product vs cosine similarity over tau (Fig. V)")
    sweep(q)
    q.add_argument("--values", default="0.05,0.1,0.5,1", help="cosine temperatures tau (default 0.05,0.1,0.5,1)")
    q = kinds.add_parser("dictionary", help="sweep: adaptive D^Z vs static D^N and D^⊥ (Fig. 4)")
    sweep(q)
    q = kinds.add_parser("ensemble", help="ensemble exponent p of trained RUNs, or of a run it trains (Fig. III)")
    sweep(q)
    q.add_argument("run_dirs", nargs="*", metavar="RUN", help="trained runs (else one is trained from --arch/--data, "
                                                              "or reused from --runs)")
    q.add_argument("--values", default="0,1,2,3,4,5,6,7,8,9,10", help="p values (default 0..10)")
    q.add_argument("--names", help="legend names, comma-separated, one per RUN")
    q = kinds.add_parser("losses", help="sweep: local losses compared block by block, any methods (Fig. 1)")
    sweep(q)
    q.add_argument("--methods", default="feat,ll-cont,dcl", help="methods (default feat,ll-cont,dcl)")
    q.add_argument("--probe-samples", default="10000", help="training images of each linear probe, or 'all'")
    q.add_argument("--probe-epochs", type=int, default=30)


def _names(args, n: int) -> list[str] | None:
    if not getattr(args, "names", None):
        return None
    names = [v.strip() for v in args.names.split(",")]
    if len(names) != n:
        raise DCLError(f"--names gives {len(names)} names for {n} runs")
    return names


def _out(args, first_run: str | None) -> Path:
    if args.out:
        return Path(args.out)
    if first_run is None:
        raise DCLError(f"dcl analyze {args.kind} needs --out DIR (the sweep folder)")
    p = Path(first_run)
    return (p.parent if p.is_file() else p) / "analysis"


def _written(*paths) -> None:
    for p in paths:
        print(f"wrote {p}")


def run(args) -> int:
    from ..analysis.plotting import pyplot

    pyplot()  # a missing extra fails here, before any work
    if args.kind in RUN_KINDS:  # else a sweep: segments, similarity, dictionary, ensemble, losses
        return _run_analysis(args)
    return _run_sweep(args)


def _run_analysis(args) -> int:
    from ..analysis.plotting import run_label
    from ..predictor import load

    progress = stderr_is_a_terminal() and not args.no_progress
    paths = [args.run] if args.kind in ("saliency", "embeddings", "confusion") else args.runs
    out = _out(args, paths[0])
    loaded = [load(p, device=args.device, data_dir=args.data_dir) for p in paths]
    names = _names(args, len(paths)) or [run_label(p, r.cfg) for p, r in zip(paths, loaded)]
    if args.kind == "saliency":
        from ..analysis import saliency as S
        s = S.saliency_maps(loaded[0], _ints(args.images, "image indices"),
                            blocks=_ints(args.blocks, "block numbers") if args.blocks else None,
                            top=args.top, rank_by=args.rank_by)
        _written(S.plot_saliency(s, out / "saliency.png", names[0]), S.saliency_csv(s, out / "saliency.csv"))
    elif args.kind == "embeddings":
        from ..analysis import embeddings as E
        a = E.analyze_embeddings(loaded[0], block=args.block, perplexity=args.perplexity, seed=args.seed)
        _written(E.plot_tsne(a, out / "embeddings-tsne.png", names[0]),
                 E.plot_similarity(a, out / "embeddings-similarity.png", names[0]),
                 E.embeddings_csv(a, out / "embeddings.csv"))
    elif args.kind == "confusion":
        from ..analysis import confusion as C
        a = C.analyze_confusion(loaded[0], predict=args.predict, p=args.p)
        files = [C.plot_confusion_matrix(a, out / "confusion-matrix.png", names[0])]
        if a.r is not None:
            files.append(C.plot_confusion_vs_similarity(a, out / "confusion-vs-similarity.png", names[0]))
        files += C.confusion_csv(a, out / "confusion.csv", out / "confusion-pairs.csv")
        _written(*files)
        print(f"test error ({a.predict}): {fmt(a.error)}%" +
              (f"; Pearson r(confusion rate, embedding similarity) = {a.r:.3f} over {len(a.pairs)} pairs"
               if a.r is not None else ""))
    elif args.kind == "layers":
        from ..analysis import layers as L
        res = [L.layer_errors(r, n) for r, n in zip(loaded, names)]
        _written(L.plot_layers(res, out / "layers.png"), L.layers_csv(res, out / "layers.csv"))
        for r in res:
            print(f"{r.name}: blocks [{', '.join(fmt(e) for e in r.blocks)}]%, head {fmt(r.head)}%")
    else:
        from ..analysis import mutual_info as M
        cpu = loaded[0].device.type == "cpu"
        samples = args.train_samples or ("all" if args.paper else "2000" if cpu else "10000")
        epochs = args.epochs or (10 if args.paper else 2 if cpu else 3)
        res = [M.estimate_mutual_information(r, name=n, train_samples=_samples(samples),
                                             test_samples=_samples(args.test_samples), epochs=epochs,
                                             batch_size=args.batch_size, include_input=not args.no_input,
                                             progress=progress, log=print) for r, n in zip(loaded, names)]
        _written(M.plot_mutual_info(res, out / "mutual-info.png"), M.mutual_info_csv(res, out / "mutual-info.csv"))
        for r in res:
            for k, layer in enumerate(r.layers):
                print(f"{r.name} {layer}: I(h,x) {r.i_hx[k]:.4f}  I(h,y) {r.i_hy[k]:.4f}  I(h,r)+1 {r.i_hr[k]:.4f}")
    return 0


def _run_sweep(args) -> int:
    from ..analysis.sweeps.base import Sweep
    from ..config import parse_set_options

    progress = stderr_is_a_terminal() and not args.no_progress
    if args.kind == "ensemble" and not args.run_dirs and args.runs and (Path(args.runs) / "summary.json").is_file():
        args.run_dirs = [args.runs]  # --runs names a run folder itself: that run, as it is
    if args.kind == "ensemble" and args.run_dirs:
        return _ensemble_of_runs(args)
    if not args.arch or not args.data:
        raise DCLError(f"dcl analyze {args.kind} needs --arch and --data (the network and dataset to train)")
    out = _out(args, None)
    overrides = parse_set_options(args.set)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.device is not None:
        overrides["device"] = args.device
    sw = Sweep(args.arch, args.data, Path(args.runs) if args.runs else out / "runs", overrides, args.preset,
               args.data_dir, progress, print)
    if args.kind == "segments":
        from ..analysis.sweeps import segments as S
        res = S.segments_sweep(sw, _ints(args.values, "K values"))
        files = [S.plot_segments(res, out / "segments.png")]
    elif args.kind == "similarity":
        from ..analysis.sweeps import similarity as S
        res = S.similarity_sweep(sw, _floats(args.values, "temperatures"))
        files = [S.plot_similarity_sweep(res, out / "similarity.png")]
    elif args.kind == "dictionary":
        from ..analysis.sweeps import dictionary as S
        res = S.dictionary_sweep(sw)
        files = [S.plot_dictionary_sweep(res, out / "dictionary.png")]
    elif args.kind == "ensemble":
        from ..analysis.sweeps import ensemble as S
        from ..predictor import load
        pr = S.train_ensemble_run(sw, str(overrides.get("method", "dcl")))
        r = S.ensemble_errors(load(pr.folder, device=args.device, dataset=sw.dataset, data_dir=args.data_dir),
                              _floats(args.values, "p values"), name=pr.point.label)
        _written(S.plot_ensemble([r], out / "ensemble.png"), S.ensemble_csv([r], out / "ensemble.csv"))
        return 0
    else:
        from ..analysis.sweeps import losses as S
        res = S.losses_sweep(sw, [m.strip() for m in args.methods.split(",") if m.strip()],
                             probe_samples=_samples(args.probe_samples), probe_epochs=args.probe_epochs,
                             device=args.device, progress=progress)
        _written(S.plot_losses(res, out / "losses.png"), S.losses_csv(res, out / "losses.csv"))
        for r in res:
            print(f"{r.method}: probe errors [{', '.join(fmt(e) for e in r.blocks)}]%, head {fmt(r.head)}%")
        return 0
    from ..analysis.sweeps.report import sweep_csv
    files.append(sweep_csv(res, out / f"{args.kind}.csv", {"segments": "K", "similarity": "tau"}.get(args.kind, "value")))
    _written(*files)
    return 0


def _ensemble_of_runs(args) -> int:
    from ..analysis.plotting import run_label
    from ..analysis.sweeps import ensemble as S
    from ..predictor import load

    out = _out(args, args.run_dirs[0])
    loaded = [load(p, device=args.device, data_dir=args.data_dir) for p in args.run_dirs]
    names = _names(args, len(args.run_dirs)) or [run_label(p, r.cfg) for p, r in zip(args.run_dirs, loaded)]
    res = [S.ensemble_errors(r, _floats(args.values, "p values"), name=n) for r, n in zip(loaded, names)]
    _written(S.plot_ensemble(res, out / "ensemble.png"), S.ensemble_csv(res, out / "ensemble.csv"))
    for r in res:
        best = min(r.errors, key=lambda t: t[1])
        print(f"{r.name}: best p {best[0]:g} -> {fmt(best[1])}% (head {fmt(r.head)}%)")
    return 0
