"""Image files in and out: the only place where uint8 HxWx3 RGB arrays and files meet the library.

Inside the kit everything is an NCHW float32 RGB tensor in [0, 1]; this module converts at the edges.
What it does differently from the official code (``SPSR_REFERENCE.md`` §6, ``read_img``, which uses
cv2 and divides every image by 255):

* 16-bit images are scaled by 65535 (the official ``/255`` maps them to [0, 257]);
* EXIF orientation is applied (a phone JPEG shows the way it was taken);
* grayscale becomes three equal channels; an alpha channel is **dropped** (the stored colour is kept,
  exactly as cv2's ``imread`` and therefore the official code does); that, a 16-bit or float file (outputs are
  8-bit), an embedded colour profile (not carried over) and float values clipped to 0..1 are each said once
  per run (:mod:`spsr_lib.io.notices`);
* a missing, empty (0 byte), non-image or truncated file, or one whose header declares more pixels than
  Pillow's decompression-bomb limit (about 179 Mpx), raises :class:`ImageReadError` with one line naming
  the file; so does a float image with NaN or infinite values (refused, never replaced: a NaN spreads through
  the network into a black output) and an integer image whose values do not fit 16 bits.

Conversions: :func:`to_tensor` (uint8 / float HWC -> 1x3xHxW float32) and :func:`to_uint8` (clamp to
[0, 1], x255, round half to even, uint8 HxWx3: the official ``tensor2img`` without the BGR swap).
Formats: PNG, JPEG, BMP, TIFF, WebP through Pillow; 16-bit PNG/TIFF through OpenCV (Pillow reduces
16-bit colour to 8 bits).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from spsr_lib.errors import SPSRError
from spsr_lib.io.atomic import atomic_path
from spsr_lib.io.notices import notice

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_EIGHT_BIT_MODES = {"1", "L", "P", "RGB", "RGBA", "LA", "PA", "La", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}


class ImageReadError(SPSRError, OSError):
    """An image file cannot be used: missing, empty, not an image, truncated, or too small."""


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _warn_alpha_once(path: Path) -> None:
    notice("alpha", f"{path}: has an alpha channel; it is dropped and the stored RGB kept (as the official cv2 "
                    "reader does)")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageReadError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image file; pass an image file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: file is empty (0 bytes); re-download or re-export it")


@contextlib.contextmanager
def _pil_errors(path: Path) -> Iterator[None]:
    """Turn every Pillow failure inside the block into one ImageReadError line naming ``path``."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except Image.DecompressionBombError:
        raise ImageReadError(
            f"{path}: its header declares more than {2 * (Image.MAX_IMAGE_PIXELS or 0) // 10**6} million pixels "
            "(a possible decompression bomb), refused unread; check the file or split the image into parts"
        ) from None
    except UnidentifiedImageError:
        raise ImageReadError(
            f"{path}: not a readable image (unknown format); use PNG, JPEG, BMP, TIFF or WebP"
        ) from None
    except PermissionError:
        raise ImageReadError(f"{path}: permission denied; make the file readable") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageReadError(f"{path}: image data is truncated or corrupt; re-download or re-export it") from None


def _open_pil(path: Path):
    """Open and fully decode with Pillow, turning every failure into one ImageReadError line."""
    from PIL import Image

    with _pil_errors(path):
        img = Image.open(path)
        img.load()
    return img


def _is_high_bit_depth(path: Path, img) -> bool:
    """True when the file stores more than 8 bits per sample (Pillow may have down-converted it)."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return True
    if img.format == "PNG":
        with open(path, "rb") as fh:
            header = fh.read(26)
        return len(header) >= 25 and header[24] == 16  # IHDR bit depth byte
    if img.format == "TIFF":
        bits = img.tag_v2.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return max(bits) > 8
    return False


def _exif_orientation(img) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block must not make the pixels unreadable
        return 1


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation 1..8 applied to an HxWxC array (as Pillow's ``ImageOps.exif_transpose``)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(arr)) if op else arr


def _read_high_bit_depth(path: Path, orientation: int) -> np.ndarray:
    """uint16 (or float) HxWx3 RGB via OpenCV, which keeps all 16 bits."""
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageReadError(f"{path}: high-bit-depth image could not be decoded; re-export it as 8- or 16-bit PNG")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        _warn_alpha_once(path)
        arr = arr[:, :, [2, 1, 0]]
    elif arr.shape[2] == 3:
        arr = arr[:, :, ::-1]
    else:
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    return _apply_orientation(np.ascontiguousarray(arr), orientation)


def _refuse_non_finite(path: Path, arr: np.ndarray) -> None:
    """One ImageReadError line when a float image holds NaN or infinite values (refused, not replaced)."""
    bad = ~np.isfinite(arr)
    if bad.any():
        bad = bad.any(axis=-1) if arr.ndim == 3 else bad
        y, x = (int(v[0]) for v in np.nonzero(bad))
        raise ImageReadError(f"{path}: {int(bad.sum())} pixel(s) are NaN or infinite (first at x={x}, y={y}), "
                             "refused rather than guessed; replace them in the file (e.g. with 0) and re-export it")


def _decode(path: str | os.PathLike) -> np.ndarray:
    """Decoded pixels as HxWx3 RGB: uint8, uint16, or float32 (already in [0, 1])."""
    path = Path(path)
    _check_file(path)
    img = _open_pil(path)
    orientation = _exif_orientation(img)
    if img.info.get("icc_profile"):
        notice("icc", f"{path}: has an embedded colour profile (ICC); its pixels are used as stored and the kit's "
                      "outputs carry no profile, so colour-managed viewers may show them with other colours")
    if _is_high_bit_depth(path, img):
        arr = _read_high_bit_depth(path, orientation)
        if arr.dtype.kind == "f":
            _refuse_non_finite(path, arr)  # np.clip keeps NaN: one NaN pixel blacked out most of an output
            if arr.size and (arr.min() < 0 or arr.max() > 1):
                notice("float_range", f"{path}: float pixel values from {arr.min():.4g} to {arr.max():.4g} are "
                                      "clipped to 0..1")
            return np.clip(arr, 0, 1).astype(np.float32)
        if arr.dtype in (np.uint8, np.uint16):
            return arr
        if arr.size and (arr.min() < 0 or arr.max() > 65535):  # int32 (Pillow mode I): a cast would wrap
            raise ImageReadError(f"{path}: {arr.dtype} pixel values from {arr.min()} to {arr.max()} do not fit 16 "
                                 "bits; re-export it as 8- or 16-bit PNG")
        return arr.astype(np.uint16)
    if img.mode not in _EIGHT_BIT_MODES:
        raise ImageReadError(f"{path}: unsupported pixel format '{img.mode}'; re-export it as 8-bit RGB PNG")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        _warn_alpha_once(path)
    if img.mode in ("L", "LA", "La", "1"):
        gray = np.asarray(img.convert("L"))
        arr = np.repeat(gray[:, :, None], 3, axis=2)
    elif img.mode in ("RGBA", "RGBa", "RGBX"):
        arr = np.asarray(img)[:, :, :3]
    elif img.mode == "RGB":
        arr = np.asarray(img)  # one copy, not two (convert() would copy first): DIV2K decode cost matters
    else:
        arr = np.asarray(img.convert("RGB"))
    return _apply_orientation(np.ascontiguousarray(arr), orientation)


def _bits(arr: np.ndarray) -> str:
    return "32-bit float" if arr.dtype.kind == "f" else "16-bit"


def read_image_uint8(path: str | os.PathLike) -> np.ndarray:
    """uint8 HxWx3 RGB; 16-bit files are rounded to 8 bits (x / 257)."""
    arr = _decode(path)
    if arr.dtype != np.uint8:
        notice("to_8_bit", f"{path}: a {_bits(arr)} image, used at 8 bits here")
    if arr.dtype == np.uint16:
        return np.round(arr.astype(np.float64) / 257.0).astype(np.uint8)
    if arr.dtype.kind == "f":
        return np.round(arr * 255.0).astype(np.uint8)
    return arr


def read_image(path: str | os.PathLike, *, as_tensor: bool = False) -> np.ndarray | torch.Tensor:
    """float32 HxWx3 RGB in [0, 1] (8-bit / 255, 16-bit / 65535), or a 1x3xHxW tensor."""
    arr = _decode(path)
    if arr.dtype != np.uint8:
        notice("high_bit_depth", f"{path}: a {_bits(arr)} image, read at full precision; the kit writes 8-bit "
                                 "images, so its outputs keep 8 bits per channel")
    if arr.dtype == np.uint16:
        out = arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    else:
        out = arr.astype(np.float32)
    return to_tensor(out) if as_tensor else out


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) from the header only (EXIF rotation considered); no pixel decoding."""
    from PIL import Image

    path = Path(path)
    _check_file(path)
    with _pil_errors(path), Image.open(path) as img:
        w, h = img.size
        if _exif_orientation(img) in (5, 6, 7, 8):
            w, h = h, w
    return h, w


def check_min_size(
    img_or_hw: np.ndarray | torch.Tensor | tuple[int, int], min_size: int, path: str | os.PathLike, why: str = ""
) -> None:
    """Raise ImageReadError when the image (HxWxC array, [N]CHW tensor or (h, w)) is below min_size."""
    if isinstance(img_or_hw, tuple):
        h, w = img_or_hw
    elif isinstance(img_or_hw, torch.Tensor):
        h, w = int(img_or_hw.shape[-2]), int(img_or_hw.shape[-1])
    else:
        h, w = int(img_or_hw.shape[0]), int(img_or_hw.shape[1])
    if h < min_size or w < min_size:
        need = f" ({why})" if why else ""
        raise ImageReadError(
            f"{path}: image is {w}x{h} px, smaller than the {min_size}x{min_size} px needed{need}; "
            "remove it or use a smaller size"
        )


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 (/255), uint16 (/65535) or float HxWx3 (or HxW) -> 1x3xHxW float32 tensor."""
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.dtype == np.uint8:
        arr = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        arr = img.astype(np.float32) / 65535.0
    else:
        arr = img.astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]


def to_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """1x3xHxW / 3xHxW tensor or float HxWx3 array in [0, 1] -> uint8 HxWx3 (clamp, x255, round)."""
    if isinstance(img, torch.Tensor):
        t = img.detach().to("cpu", torch.float32)
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError(f"to_uint8: expected a batch of one image, got shape {tuple(t.shape)}")
            t = t[0]
        if t.dim() != 3:
            raise ValueError(f"to_uint8: expected CxHxW or 1xCxHxW, got shape {tuple(t.shape)}")
        arr = t.permute(1, 2, 0).numpy()
    else:
        arr = np.asarray(img)
        if arr.dtype == np.uint8:
            return arr
    return np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_image(path: str | os.PathLike, img: torch.Tensor | np.ndarray, *, quality: int = 95,
                software: str | None = None) -> Path:
    """Write an image atomically; the format follows the suffix (PNG, JPEG, BMP, TIFF, WebP).

    ``img`` is a [1x]3xHxW tensor or float HxWx3 array in [0, 1], or a uint8 HxWx3 / HxW array.
    JPEG and WebP use ``quality`` (95 by default, not Pillow's 75); PNG is lossless. ``software``: a PNG
    ``Software`` text chunk (:data:`spsr_lib.io.output_guard.KIT_SOFTWARE` marks the kit's outputs).
    """
    from PIL import Image

    path = Path(path)
    if not is_image_file(path):
        raise SPSRError(f"{path}: unknown image suffix; use one of {', '.join(IMAGE_EXTENSIONS)}")
    data = img.detach() if isinstance(img, torch.Tensor) else torch.from_numpy(np.asarray(img))
    if data.is_floating_point() and not bool(torch.isfinite(data).all()):  # never a silently black output
        raise SPSRError(f"{path}: not written: {int((~torch.isfinite(data)).sum())} NaN or infinite value(s) in the "
                        "image (a diverged model, or float16 overflow); check the model, or drop --half")
    arr = to_uint8(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    pil = Image.fromarray(np.ascontiguousarray(arr))
    kwargs: dict = {"quality": quality} if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
    if software and path.suffix.lower() == ".png":
        from PIL.PngImagePlugin import PngInfo

        kwargs["pnginfo"] = PngInfo()
        kwargs["pnginfo"].add_text("Software", software)
    with atomic_path(path) as tmp:
        pil.save(tmp, format=_PIL_FORMATS[path.suffix.lower()], **kwargs)
    return path


_PIL_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
