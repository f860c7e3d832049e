"""``spsr data``: list, download, verify and prepare datasets.

    spsr data list [--root DIR]
    spsr data download NAME [NAME ...] [--root DIR] [--no-progress] [--keep-downloads]
    spsr data verify NAME [--root DIR]
    spsr data prepare HR_DIR OUT_DIR [--crop 480 --step 240 --thresh 48 --scale 4 --lr-mode matlab]

Sets land in ``<root>/<NAME>/HR`` (root: ``--root``, else ``$SPSR_DATA``, else ``./datasets``), where
``spsr evaluate`` and the training configs find them.  ``prepare`` is the official
``extract_subimgs_single.py`` (480 crop, 240 step, threshold 48) plus pre-generated LR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="the sets the kit knows, with source, checksum status and whether installed")
    p.add_argument("--root", type=Path, default=None, help="datasets folder (default: $SPSR_DATA or ./datasets)")

    p = sub.add_parser("download", help="download, check and install sets as ROOT/NAME/HR")
    p.add_argument("names", nargs="+", metavar="NAME", help="e.g. Set5 Set14 BSD100 Urban100 DIV2K-val DIV2K-train T91")
    p.add_argument("--root", type=Path, default=None, help="datasets folder (default: $SPSR_DATA or ./datasets)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--keep-downloads", action="store_true", help="keep the archives in ROOT/.downloads")

    p = sub.add_parser("verify", help="re-check an installed set against the registry's per-file checksums")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--root", type=Path, default=None)

    p = sub.add_parser("prepare", help="cut HR images into sub-images and pre-generate their LR")
    p.add_argument("hr", type=Path, metavar="HR_DIR", help="folder of HR images (e.g. datasets/DIV2K-train/HR)")
    p.add_argument("out", type=Path, metavar="OUT_DIR", help="writes OUT_DIR/HR and OUT_DIR/LR_x<scale>")
    p.add_argument("--crop", type=int, default=480, help="HR sub-image size (official: 480)")
    p.add_argument("--step", type=int, default=240, help="stride (official: 240)")
    p.add_argument("--thresh", type=int, default=48, help="add a last crop when more than this is left (official: 48)")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--lr-mode", default="matlab", choices=["matlab", "official_float"],
                   help="matlab: bit-exact MATLAB uint8 (default); official_float: the official float port")
    p.add_argument("--no-progress", action="store_true")


def _list(args) -> int:
    from spsr_lib.data.download import MARKER, default_root, load_registry

    root = args.root or default_root()
    print(f"{'name':<12} {'kind':<10} {'source':<8} {'checks':<34} installed in {root}")
    for name, spec in load_registry().items():
        src = spec["source"]
        if src["type"] == "files":
            check = "per-file SHA-256 (bytes or pixels)"
        elif src.get("sha256"):
            check = "archive SHA-256 (published)"
        elif src.get("md5"):
            check = "archive MD5 only (SHA-256 unknown)"
        else:
            check = "manual download"
        done = "yes" if (root / name / MARKER).is_file() else "no"
        print(f"{name:<12} {spec['kind']:<10} {src['type']:<8} {check:<34} {done}")
    return 0


def _download(args) -> int:
    from spsr_lib.data.download import download_dataset

    for name in args.names:
        target = download_dataset(name, args.root, progress=not args.no_progress, keep_downloads=args.keep_downloads)
        marker = target.parent / ".complete.json"
        import json

        info = json.loads(marker.read_text())
        print(f"{info['name']}: {info['images']} images in {target} ({info['check']})")
    return 0


def _verify(args) -> int:
    from spsr_lib.data.download import DownloadError, _verify_file, default_root, load_registry
    from spsr_lib.errors import short_repr

    sets = load_registry()
    name = next((k for k in sets if k.lower() == args.name.lower()), None)
    if name is None:
        raise DownloadError(f"unknown dataset {short_repr(args.name)}; choose one of: {', '.join(sets)}")
    folder = (args.root or default_root()) / name / "HR"
    entries = sets[name].get("files", [])
    if not entries:
        print(f"{name}: the registry has no per-file checksums for this set; nothing to verify")
        return 0
    missing = [e["name"] for e in entries if not (folder / e["name"]).is_file()]
    if missing:
        raise DownloadError(f"{folder}: {len(missing)} file(s) missing (e.g. {missing[0]}); run `spsr data download {name}`")
    for e in entries:
        _verify_file(folder / e["name"], e)
    print(f"{name}: {len(entries)} files match the registry")
    return 0


def _prepare(args) -> int:
    from spsr_lib.data.paired import prepare_subimages

    counts = prepare_subimages(args.hr, args.out, crop=args.crop, step=args.step, thresh=args.thresh,
                               scale=args.scale, lr_mode=args.lr_mode, progress=not args.no_progress)
    print(f"{counts['subimages']} sub-images from {counts['images']} images -> {args.out / 'HR'} and "
          f"{args.out / f'LR_x{args.scale}'}" + (f"; skipped {len(counts['skipped'])} small image(s)" if counts["skipped"] else ""))
    return 0


def run(args) -> int:
    action = {"list": _list, "download": _download, "verify": _verify, "prepare": _prepare}[args.data_command]
    result = action(args)
    sys.stdout.flush()
    return result
