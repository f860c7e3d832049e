"""The hostile-input corpus of issue 19: files and settings a demanding (or unlucky) user hands the kit.

Every maker writes into a folder the test owns and returns the path; nothing is downloaded. The command tests
(``tests/cli/test_*_corpus.py``) feed these to ``spsr_lib.cli.main(argv)`` in-process and check the rules of
the command line: exit status 2 for a user error (1 where a batch command went on with the good inputs), one
stderr line naming the file or key and the fix, no traceback, no partial or overwritten output.

- images: a decompression-bomb header, truncated / empty / non-image files, odd modes (16-bit, grey, RGBA,
  palette, CMYK) that must work, and a 1x1 / 5x5 image;
- models: a tiny SPSRNet (nf=4, nb=1) as kit safetensors, and broken copies: bad ``arch`` metadata (not JSON,
  an extra key, a string nf, nf=4000000, a list), NaN / Inf / 1e30 weights;
- outputs: a path under a regular file, a file where a folder is expected, a folder where a file is expected
  (these fail for root too, unlike chmod);
- config values that are out of range.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np

IMAGE_SIDE = 12  # LR side of the good images: a few ms through the tiny model


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, side: int = 100_000) -> Path:
    """A valid PNG whose header declares side x side RGB pixels (10^10 for the default): Pillow's bomb check."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))
    path.write_bytes(data)
    return path


def photo(side: int = IMAGE_SIDE, seed: int = 0) -> np.ndarray:
    """A smooth uint8 RGB test image (gradients and a disc: something to super-resolve)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / max(side - 1, 1)
    disc = ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1).astype(float)
    img = np.stack([x, y, 0.5 * disc + 0.25], -1) * 200 + rng.uniform(0, 40, (side, side, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def good_png(path: Path, side: int = IMAGE_SIDE, seed: int = 0) -> Path:
    from spsr_lib.io.images import write_image

    return write_image(path, photo(side, seed))


def truncated_png(path: Path, side: int = 32) -> Path:
    good_png(path, side)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def truncated_checkpoint(path: Path) -> Path:
    """The tiny model as a torch .pth cut in half (a kill during a copy)."""
    import torch

    torch.save(tiny_model().state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def not_an_image(path: Path) -> Path:
    path.write_text("this is a text file with an image suffix\n")
    return path


def odd_mode_images(folder: Path, side: int = IMAGE_SIDE) -> list[Path]:
    """Inputs the kit must read: 16-bit PNG, grey, RGBA, palette PNG and a CMYK JPEG."""
    import cv2
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rgb = photo(side, 1)
    out = []
    p = folder / "sixteen.png"
    cv2.imwrite(str(p), (rgb.astype(np.uint16) * 257)[:, :, ::-1])
    out.append(p)
    for name, img in (("grey.png", Image.fromarray(rgb).convert("L")),
                      ("rgba.png", Image.fromarray(rgb).convert("RGBA")),
                      ("palette.png", Image.fromarray(rgb).convert("P")),
                      ("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"))):
        img.save(folder / name)
        out.append(folder / name)
    return out


# ---------------------------------------------------------------------------------------------- models
def tiny_model(scale: int = 4):
    import torch

    from spsr_lib.models.spsr_net import SPSRNet

    torch.manual_seed(0)
    return SPSRNet(nf=4, nb=1, gc=4, scale=scale).eval()


def tiny_model_file(path: Path, scale: int = 4) -> Path:
    from spsr_lib.io.checkpoint import save_generator

    save_generator(tiny_model(scale), path)
    return path


def _raw_safetensors(path: Path, sd: dict, meta: dict) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in sd.items()}, str(path), metadata=meta)
    return path


BAD_ARCH_METADATA = {
    "arch_not_json": "{nf: 4",
    "arch_extra_key": json.dumps({"nf": 4, "evil": 1}),
    "arch_string_nf": json.dumps({"nf": "4"}),
    "arch_huge_nf": json.dumps({"nf": 4_000_000}),
    "arch_list": json.dumps([4, 1, 4]),
}


def bad_metadata_model(path: Path, case: str) -> Path:
    """The tiny model's tensors with a crafted ``arch`` metadata entry (see BAD_ARCH_METADATA)."""
    sd = tiny_model().state_dict()
    return _raw_safetensors(path, sd, {"format": "spsr-kit", "kind": "SPSRNet", "arch": BAD_ARCH_METADATA[case]})


BAD_WEIGHTS = {"nan": float("nan"), "inf": float("inf"), "diverged": 1e30}


def bad_weights_model(path: Path, case: str) -> Path:
    """The tiny model with one weight set to NaN, Inf or 1e30 (a diverged run), as kit safetensors."""
    sd = {k: v.clone() for k, v in tiny_model().state_dict().items()}
    sd["conv_first.weight"].view(-1)[0] = BAD_WEIGHTS[case]
    return _raw_safetensors(path, sd, {"format": "spsr-kit", "kind": "SPSRNet"})


# --------------------------------------------------------------------------------------------- outputs
def a_regular_file(path: Path) -> Path:
    path.write_text("the user's own file: must survive\n")
    return path


def under_a_file(tmp: Path, name: str = "out") -> Path:
    """A path whose parent is a regular file: no one (root included) can create it (ENOTDIR)."""
    return a_regular_file(tmp / f"{name}_parent_is_a_file") / name


# ---------------------------------------------------------------------------------------------- config
# (override, the key the one-line error must name); each is refused before any work
BAD_CONFIG_VALUES = [
    ("train.lr_g=-1e-3", "train.lr_g"),
    ("train.lr_d=0", "train.lr_d"),
    ("model.scale=0", "model.scale"),
    ("model.nf=0", "model.nf"),
    ("model.nb=-1", "model.nb"),
    ("data.num_workers=-1", "data.num_workers"),
    ("train.betas=[2,3]", "train.betas"),
    ("runtime.num_threads=-4", "runtime.num_threads"),
    ("data.train=[]", "data.train"),
    ("train.gamma=-1", "train.gamma"),
    ("train.ema.decay=2", "train.ema.decay"),
    ("data.patch_size=0", "data.patch_size"),
    ("train.nitre=5", "train.nitre"),
]


# (issue 26) config files that are not UTF-8 YAML text, and YAML whose aliases explode
def alias_bomb_yaml(path: Path, levels: int = 9) -> Path:
    """'Billion laughs' as ``data.train`` (a str-or-list field: type checks and error messages walk it): a list of
    ``levels`` anchored lists, each 9 aliases of the one before: 9^levels strings from ~40*levels bytes."""
    items = ["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    items += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    path.write_text(f"data:\n  train: [{', '.join(items)}]\n")
    return path


def bad_config_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """{case: (file, a word its one-line error must say)}."""
    name = "name: tiny\ntrain:\n  niter: 4\n"
    cases = {
        "utf16": (name.encode("utf-16"), "UTF-16"),
        "utf16_be_no_bom": (name.encode("utf-16-be"), "binary"),
        "utf32": (name.encode("utf-32"), "UTF-32"),
        "latin1": ("name: caf\xe9\n".encode("latin-1"), "UTF-8"),
        "binary": (bytes(range(256)) * 8, "binary"),
        "checkpoint_zip": (b"PK\x03\x04" + b"\0" * 60, "binary"),
        "huge": (b"# padding\n" * 120_000, "MB"),
        "deep": (b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n", "nested"),
    }
    out = {}
    for case, (data, word) in cases.items():
        path = folder / f"{case}.yaml"
        path.write_bytes(data)
        out[case] = (path, word)
    return out


def float_tiff(path: Path, side: int = IMAGE_SIDE, bad: float | None = float("nan"), seed: int = 0) -> Path:
    """A single-channel 32-bit float TIFF (Pillow mode F) in [0, 1], with one ``bad`` value (NaN, inf) at (2, 3)."""
    from PIL import Image

    arr = np.random.default_rng(seed).uniform(0, 1, (side, side)).astype(np.float32)
    if bad is not None:
        arr[3, 2] = bad
    Image.fromarray(arr).save(path)
    return path


def int32_tiff(path: Path, side: int = IMAGE_SIDE, top: int = 3_000_000) -> Path:
    """A 32-bit integer TIFF (Pillow mode I) with values up to ``top`` (beyond 16 bits by default)."""
    from PIL import Image

    arr = np.linspace(0, top, side * side).reshape(side, side).astype(np.int32)
    Image.fromarray(arr).save(path)
    return path


def icc_png(path: Path, side: int = IMAGE_SIDE, seed: int = 0) -> Path:
    """A good PNG with an embedded colour profile (an iCCP chunk; its bytes are not a real profile: never parsed)."""
    from PIL import Image

    Image.fromarray(photo(side, seed)).save(path, icc_profile=b"\0\0\0\x80not a real ICC profile" + b"\0" * 100)
    return path


# --------------------------------------------------------------------------- issue 26: files that are not files
def symlink_loop(path: Path) -> Path:
    """``path -> path``: every open fails with ELOOP; a walk that follows links must not spin."""
    import os

    os.symlink(path.name, path)
    return path


def dangling_symlink(path: Path) -> Path:
    """``path -> <missing>``: writing through it would create a file somewhere else."""
    import os

    os.symlink(f"{path.name}.missing-target", path)
    return path


def fifo(path: Path) -> Path:
    """A named pipe: a plain ``open()`` for reading waits for ever for a writer."""
    import os

    os.mkfifo(path)
    return path


def sparse_huge(path: Path, size: int = 3 * 2**30) -> Path:
    """A 3 GB file of zeros that takes no disk (sparse): must be refused without being read whole."""
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def junk_inputs(folder: Path, suffix: str) -> dict[str, Path]:
    """{case: file} with ``suffix`` that are not what the suffix says: UTF-16 text, binary bytes, empty, a folder,
    a symlink loop, a dangling link, a FIFO, a 3 GB sparse file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"folder{suffix}").mkdir()
    return {
        "utf16": _bytes(folder / f"utf16{suffix}", "name: not a model\n".encode("utf-16")),
        "binary": _bytes(folder / f"binary{suffix}", bytes(range(256)) * 8),
        "empty": empty_file(folder / f"empty{suffix}"),
        "folder": folder / f"folder{suffix}",
        "symlink_loop": symlink_loop(folder / f"loop{suffix}"),
        "dangling": dangling_symlink(folder / f"dangling{suffix}"),
        "fifo": fifo(folder / f"fifo{suffix}"),
        "sparse_huge": sparse_huge(folder / f"huge{suffix}"),
    }


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
