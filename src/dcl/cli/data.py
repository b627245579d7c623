"""``dcl data``: fetch a dataset (checksummed, resumable download) or list what data is where.

    dcl data fetch fashion-mnist            # no-op if present (data dir or system folder)
    dcl data info [--data-dir D]            # every dataset: folder, train/test counts, checksums
"""
from __future__ import annotations

from ._common import add_data_dir, print_json, stderr_is_a_terminal, table


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="fetch datasets and show what data is where",
                       description="Download a dataset with checksums (fetch) or list every dataset's "
                                   "folder, sample counts and file checksums (info).")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(p))
    dsub.required = True

    f = dsub.add_parser("fetch", help="download a dataset into the data folder unless it is present")
    f.add_argument("name", help="dataset (dcl list datasets)")
    add_data_dir(f)
    f.add_argument("--mirror", help="base URL laid out as MIRROR/<folder>/<file> (default: $DCL_DATA_MIRROR, "
                                    "else each file's canonical URL)")
    f.add_argument("--deadline", metavar="SECONDS",
                   help="stop the downloads after this many seconds in all (default: $DCL_DOWNLOAD_DEADLINE, else "
                        "each file 2 minutes plus its bytes at 50 KiB/s: a stalled or dripping server is cut off)")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    f.set_defaults(func=run_fetch)

    i = dsub.add_parser("info", help="list datasets: folder, train/test counts, checksum status")
    i.add_argument("names", nargs="*", help="datasets to show (default: all)")
    add_data_dir(i)
    i.add_argument("--no-verify", action="store_true", help="skip the MD5 checks")
    i.add_argument("--files", action="store_true", help="one line per checked file")
    i.add_argument("--json", action="store_true", help="print the result as JSON")
    i.set_defaults(func=run_info)


def run_fetch(args) -> int:
    from ..data import fetch_dataset, find_dataset_folder
    from ..data.download import deadline_seconds, missing_files

    deadline = deadline_seconds(args.deadline) if args.deadline is not None else None  # a bad value: one line
    before = find_dataset_folder(args.name, args.data_dir)
    if before is not None and not missing_files(args.name, before):
        print(f"{args.name}: already present in {before}")
        return 0
    folder = fetch_dataset(args.name, args.data_dir, mirror=args.mirror,
                           progress=stderr_is_a_terminal() and not args.no_progress, log=print, deadline=deadline)
    print(f"{args.name}: ready in {folder}")
    return 0


def run_info(args) -> int:
    from ..data import DATASETS, dataset_info, data_root

    names = args.names or DATASETS.names()
    for n in names:
        DATASETS.get(n)  # unknown name -> DCLError with the choices
    infos = [dataset_info(n, args.data_dir, verify=not args.no_verify) for n in names]
    if args.json:
        print_json({"data_root": str(data_root(args.data_dir)), "datasets": [{
            "name": i.name, "folder": str(i.folder) if i.folder else None, "train": i.n_train, "test": i.n_test,
            "error": i.error,
            "files": [{"path": str(c.path), "status": c.status, "md5": c.got, "expected": c.expected} for c in i.files],
        } for i in infos]})
        return 0
    print(f"data folder: {data_root(args.data_dir)}")
    rows = []
    for i in infos:
        where = str(i.folder) if i.folder else "missing"
        counts = ("-", "-") if i.n_train is None else (i.n_train, i.n_test)
        status = f"error: {i.error}" if i.error else i.checksum_summary
        rows.append([i.name, where, *counts, status])
    print(table(rows, ["dataset", "where", "train", "test", "checksums"]))
    if args.files:
        for i in infos:
            for c in i.files:
                print(f"  {i.name}: {c.path}  {c.status}  md5 {c.got}")
    return 0
