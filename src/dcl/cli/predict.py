"""``dcl predict RUN IMAGES...``: classes and probabilities of image files by a trained run.

    dcl predict runs/fc-mnist digit.png shoe.jpg          PNG / JPEG (needs Pillow: the extra images)
    dcl predict runs/fc-mnist batch.npy --predict block:2  a .npy array of images (N, C, H, W) ...
    dcl predict runs/mine x.npy --net mymodels.py:build    a run of your own network

Files must have the model's input size; grey files go to one-channel models and colour files
to three-channel ones as they are converted.
"""
from __future__ import annotations

from pathlib import Path

from ._common import print_json, table


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict the classes of PNG / JPEG files or a .npy array with a trained run")
    p.add_argument("run", help="run folder, its checkpoint.pt or best.pt")
    p.add_argument("images", nargs="+", help="PNG / JPEG files, or .npy arrays of uint8 (or [0, 1] float) images")
    p.add_argument("--predict", metavar="MODE", help="head | block:N | ensemble | a method's own mode "
                                                     "(default: the run's reported mode)")
    p.add_argument("--p", type=float, default=1.0, help="ensemble exponent p (default 1)")
    p.add_argument("--net", metavar="MODULE:FUNCTION", help="builds your own network (runs of dcl.train(net=...))")
    p.add_argument("--device", help="cpu, cuda, ... (default: the training device if present)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def read_image(path: str, channels: int):
    """One file as a numpy array: a ``.npy`` as saved; a PNG / JPEG as uint8 ``(C, H, W)``."""
    import numpy as np

    from ..errors import DCLError
    p = Path(path)
    if not p.is_file():
        raise DCLError(f"no such file: {path}")
    if p.suffix.lower() == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DCLError(f"cannot read {path}: {e}") from None
    try:
        from PIL import Image
    except ImportError:
        raise DCLError("reading PNG / JPEG files needs Pillow: pip install 'dcl-local[images]' (or give .npy)") from None
    try:
        with Image.open(p) as im:
            a = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    except OSError as e:
        raise DCLError(f"cannot read image {path}: {e}") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def run(args) -> int:
    from ..predictor import load, load_net_factory
    net = load_net_factory(args.net)() if args.net else None
    model = load(args.run, net=net, device=args.device)
    rows, mode = [], None
    for path in args.images:
        pred = model.predict(read_image(path, model.spec.in_shape[0]), mode=args.predict, p=args.p)
        mode = pred.mode
        many = len(pred.classes) > 1
        rows += [{"image": f"{path}[{i}]" if many else path, "class": int(c), "probability": float(pr[c])}
                 for i, (c, pr) in enumerate(zip(pred.classes, pred.probs))]
    if args.json:
        print_json({"mode": mode, "predictions": rows})
    else:
        print(table([[r["image"], r["class"], f"{r['probability']:.3f}"] for r in rows],
                    ["image", f"class ({mode})", "probability"]))
    return 0
