"""Inference at any image size: ``upscale(image, model, tile=..., overlap=...)``.

The official ``test.py`` (SPSR_REFERENCE.md section 8) runs the generator on the whole LR image under
``no_grad`` and keeps output 1 of the forward (the SR image), converted with ``tensor2img``: clamp to
[0, 1], x255, round.  :func:`upscale` does the same for numpy arrays, tensors and PIL images, returns
the same kind it was given, and can also return the two gradient maps of the forward (the gradient
branch's SR-gradient prediction and the LR gradient map, paper Fig. 2).

With ``tile`` set, the LR image is processed in overlapping tiles blended in HR space
(:mod:`spsr_lib.inference.tiling`), so memory is bounded by the tile, not the image: the default SPSR model at
x4 needs about 75 KB per LR pixel untiled (78 GB for 1024x1024), a few GB tiled.
``tile="auto"`` picks the largest tile whose estimated activations fit a memory budget.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from spsr_lib.errors import SPSRError, short_repr
from spsr_lib.inference.tiling import check_tile_args, count_tiles, tiled_apply

# Peak inference memory of the default SPSR (nf=64, gc=32, x4) per LR pixel, measured untiled with
# torch's CPU allocator (SPSR_REFERENCE.md section 11: +4.94 GB at 256x256 LR).  Activations grow
# roughly with nf and with scale^2 (f_block runs at HR), which is how other sizes are estimated.
DEFAULT_BYTES_PER_LR_PIXEL = 75_000
DEFAULT_OVERLAP = 16
_AUTO_TILE_RANGE = (32, 1024)


class UpscaleResult(NamedTuple):
    """Returned by ``upscale(..., return_gradients=True)``; each field has the input's kind."""

    sr: Any
    grad_sr: Any  # the gradient branch's prediction of the SR gradient map (HR size)
    grad_lr: Any  # the gradient map of the LR input (LR size), as the network computes it


# ----------------------------------------------------------------------------- device and memory


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; an unavailable CUDA is a one-line error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SPSRError(f"device {short_repr(device)} was asked for but CUDA is not available here; use --device cpu or auto")
    try:
        return torch.device(device)
    except RuntimeError:
        raise SPSRError(f"unknown device {short_repr(device)}; use auto, cpu or cuda") from None


def estimate_bytes_per_lr_pixel(model: torch.nn.Module) -> int:
    """Estimated peak activation bytes per LR pixel of one forward (see DEFAULT_BYTES_PER_LR_PIXEL)."""
    nf = getattr(model, "nf", 64)
    scale = getattr(model, "scale", 4)
    return int(DEFAULT_BYTES_PER_LR_PIXEL * max(nf, 8) / 64 * scale**2 / 16)


def _available_memory(device: torch.device) -> int:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 1024**3  # no /proc (macOS, Windows): assume a modest laptop


def check_output_fits(x: torch.Tensor, model: torch.nn.Module, n_outputs: int = 1) -> None:
    """Refuse up front when the HR result itself cannot fit in host memory: tiles bound the activations, not the
    output (float32 accumulators of every output plus the blending weights, then the uint8 copy)."""
    scale = int(getattr(model, "scale", 4))
    h, w = int(x.shape[-2]) * scale, int(x.shape[-1]) * scale
    need = h * w * (n_outputs * int(x.shape[1]) * 4 + 4 + 3)
    have = _available_memory(torch.device("cpu"))
    if need > have:
        raise SPSRError(f"the x{scale} result is {w}x{h} px and its output buffers alone need {need / 2**30:.1f} GiB, "
                        f"more than the {have / 2**30:.1f} GiB of memory available (a smaller --tile does not help); "
                        "crop or downscale the input, or split it into parts and super-resolve them one by one")


def auto_tile_size(model: torch.nn.Module, overlap: int, device: torch.device,
                   memory_budget: int | None = None) -> int:
    """Largest tile (LR pixels, multiple of 8) whose estimated activations fit ``memory_budget`` bytes.

    The default budget is half the free memory of the device, at most 4 GiB on the CPU (larger tiles
    are not faster there, and other programs need room).
    """
    if memory_budget is None:
        memory_budget = _available_memory(device) // 2
        if device.type == "cpu":
            memory_budget = min(memory_budget, 4 * 1024**3)
    side = int(math.sqrt(memory_budget / estimate_bytes_per_lr_pixel(model)))
    lo, hi = _AUTO_TILE_RANGE
    return max(lo, 2 * overlap, min(hi, side // 8 * 8))


# ----------------------------------------------------------------------------- image kinds


def _numpy_to_tensor(arr: np.ndarray) -> tuple[torch.Tensor, str]:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise SPSRError(f"expected an HxW or HxWxC image array, got shape {arr.shape}")
    if arr.shape[2] == 4:
        warnings.warn("upscale: dropping the alpha channel of an RGBA array", stacklevel=3)
        arr = arr[..., :3]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.shape[2] != 3:
        raise SPSRError(f"expected 1, 3 or 4 colour channels, got an array of shape {arr.shape}")
    if arr.dtype == np.uint8:
        x, kind = arr.astype(np.float32) / 255.0, "uint8"
    elif arr.dtype == np.uint16:
        x, kind = arr.astype(np.float32) / 65535.0, "uint16"
    elif np.issubdtype(arr.dtype, np.floating):
        x, kind = arr.astype(np.float32), "float"
    else:
        raise SPSRError(f"unsupported array dtype {arr.dtype}; pass uint8, uint16 or float in [0, 1]")
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None], kind


def _pil_to_tensor(img: Any) -> torch.Tensor:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: keep the precision
        return _numpy_to_tensor(np.asarray(img).astype(np.uint16))[0]
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        warnings.warn("upscale: dropping the alpha channel of the PIL image", stacklevel=3)
    return _numpy_to_tensor(np.asarray(img.convert("RGB")))[0]


def _to_nchw(image: Any) -> tuple[torch.Tensor, tuple[str, Any]]:
    """(float32 NCHW tensor in [0, 1], how to give results back in the caller's kind)."""
    if isinstance(image, torch.Tensor):
        if image.ndim not in (3, 4):
            raise SPSRError(f"expected a CHW or NCHW tensor, got shape {tuple(image.shape)}")
        x = image if image.ndim == 4 else image[None]
        if x.shape[1] != 3:
            raise SPSRError(f"expected 3 colour channels (RGB) in dim 1, got shape {tuple(image.shape)}")
        if x.dtype == torch.uint8:
            return x.float() / 255.0, ("tensor_uint8", image.ndim)
        return x.float(), ("tensor", (image.ndim, image.dtype, image.device))
    if isinstance(image, np.ndarray):
        x, kind = _numpy_to_tensor(image)
        return x, ("numpy", kind)
    if type(image).__module__.startswith("PIL."):
        return _pil_to_tensor(image), ("pil", None)
    raise SPSRError(f"upscale() takes a numpy array, a torch tensor or a PIL image, not {type(image).__name__}")


def _quantise(x: torch.Tensor, peak: int) -> torch.Tensor:
    # tensor2img of the official code: clamp to [0, 1], scale, round (half to even, as image_io.to_uint8)
    return torch.round(x.clamp(0, 1) * peak)


def _from_nchw(x: torch.Tensor, how: tuple[str, Any], clamp: bool) -> Any:
    kind, info = how
    if kind == "tensor":
        ndim, dtype, device = info
        y = x.clamp(0, 1) if clamp else x
        y = y.to(device=device, dtype=dtype)
        return y if ndim == 4 else y[0]
    if kind == "tensor_uint8":
        y = _quantise(x, 255).to(torch.uint8)
        return y if info == 4 else y[0]
    hwc = x[0].permute(1, 2, 0)
    if kind == "numpy" and info == "float":
        return (hwc.clamp(0, 1) if clamp else hwc).numpy().astype(np.float32)
    if kind == "numpy" and info == "uint16":
        return _quantise(hwc, 65535).numpy().astype(np.uint16)
    u8 = _quantise(hwc, 255).numpy().astype(np.uint8)
    if kind == "pil":
        from PIL import Image

        return Image.fromarray(u8, mode="RGB")
    return u8


# ----------------------------------------------------------------------------- the network call


def _split_output(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(sr, grad_sr) from an SPSROutput-like object or a plain SR tensor."""
    if isinstance(out, torch.Tensor):
        return out, None
    if hasattr(out, "sr"):
        return out.sr, getattr(out, "grad_sr", None)
    raise SPSRError(
        f"the model returned {type(out).__name__}; upscale() needs an SPSRNet (SPSROutput) or a model that "
        "returns the SR tensor"
    )


def run_model(x: torch.Tensor, model: torch.nn.Module,
              call: Callable[[torch.nn.Module, torch.Tensor], Sequence[torch.Tensor]], *, n_outputs: int = 1,
              tile: int | str | None = None, overlap: int = DEFAULT_OVERLAP, device: str | torch.device = "auto",
              half: bool = False, bf16: bool = False, memory_budget: int | None = None,
              progress: bool = False, self_ensemble: bool = False) -> list[torch.Tensor]:
    """The machinery of :func:`upscale` for any per-tile computation: ``call(model, lr_tile)`` returns HR tensors
    (``n_outputs`` of them); they come back blended over the tiles as float32 CPU tensors (1 x C x sH x sW).
    The arguments mean what they mean for :func:`upscale`; the model is moved to the device (and to channels_last
    with ``bf16``) in place."""
    dev = resolve_device(device)
    if half and bf16:
        raise SPSRError("--half and --bf16 pick two different autocast types; use one of them")
    if (half or bf16) and getattr(model, "runs_in_onnxruntime", False):
        raise SPSRError("--half / --bf16 are PyTorch autocast and do not apply to an ONNX model, which runs in the "
                        "precision it was exported in; drop them, or export with `spsr export --fp16`")
    if self_ensemble:
        from spsr_lib.inference.self_ensemble import ensemble_call

        call = ensemble_call(call)
    if half and dev.type != "cuda":
        raise SPSRError("--half (float16) needs a CUDA device; on the CPU float16 convolutions are ~100x slower")
    if tile == "auto":
        tile = auto_tile_size(model, max(overlap, 0), dev, memory_budget)
    elif isinstance(tile, str) and tile.isdigit():
        tile = int(tile)
    if tile is not None:
        check_tile_args(tile, overlap)
    check_output_fits(x, model, n_outputs)
    layout = torch.channels_last if bf16 else torch.contiguous_format
    model = model.to(dev, memory_format=layout).eval()
    n_tiles = 1 if tile is None else count_tiles(x.shape[-2], x.shape[-1], tile, overlap)

    def forward(lr_tile: torch.Tensor) -> list[torch.Tensor]:
        with torch.autocast(dev.type, dtype=torch.bfloat16 if bf16 else torch.float16, enabled=half or bf16):
            outs = call(model, lr_tile.to(dev).contiguous(memory_format=layout))
        return [o.float().cpu() for o in outs]

    bar = None
    if progress and n_tiles > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_tiles, desc="tiles", unit="tile", leave=False, disable=None)  # off when not a tty
    try:
        with torch.inference_mode():
            if tile is None:
                return forward(x)
            return tiled_apply(forward, x, tile, overlap, on_tile=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()


def upscale(
    image: Any,
    model: torch.nn.Module,
    *,
    tile: int | str | None = None,
    overlap: int = DEFAULT_OVERLAP,
    device: str | torch.device = "auto",
    half: bool = False,
    bf16: bool = False,
    return_gradients: bool = False,
    memory_budget: int | None = None,
    progress: bool = False,
    self_ensemble: bool = False,
) -> Any:
    """Super-resolve ``image`` with ``model`` and return the result in the same kind as the input.

    ``image``: numpy uint8/uint16/float HxWx3 (HxW grey is replicated, RGBA loses its alpha), a float
    (or uint8) NCHW/CHW tensor, or a PIL image (returned as 8-bit RGB).  Float results are clamped to
    [0, 1]; integer ones are rounded like the official ``tensor2img``.

    ``tile``: None runs the whole image at once; an int processes tiles of that many LR pixels that
    overlap by ``overlap`` LR pixels; ``"auto"`` picks the tile from ``memory_budget`` bytes (default:
    half the free memory, at most 4 GiB on the CPU).  ``device``: "auto", "cpu" or "cuda"; the model is
    moved there (in place, like ``nn.Module.to``).  ``half``: float16 autocast, CUDA only.  ``bf16``:
    bfloat16 autocast with channels_last tensors (the model is converted in place), the kit's CPU fast path:
    2.9-3.0x faster than fp32 on whole Set5/Set14/BSD100 images on a Zen 4 CPU, PSNR within 0.02 dB, at most
    4 grey levels apart (``benchmarks/bench_infer_bf16.py``); for CPUs with native bf16 (AVX512-BF16, AMX) and
    Ampere or newer GPUs, slower elsewhere.
    ``return_gradients``: return an :class:`UpscaleResult` (sr, grad_sr, grad_lr) instead of sr.
    ``self_ensemble``: x8 geometric self-ensemble (:mod:`spsr_lib.inference.self_ensemble`; 8x the time): every
    tile runs under the four rotations with and without a flip, the outputs (SR and ``grad_sr``) are transformed
    back and averaged before the tiles are blended.
    ``model`` may also be an ONNX file loaded with :func:`spsr_lib.io.onnx_model.load_onnx_model` (onnxruntime).
    """
    x, how = _to_nchw(image)

    def call(net: torch.nn.Module, lr_tile: torch.Tensor) -> list[torch.Tensor]:
        sr, grad_sr = _split_output(net(lr_tile))
        if return_gradients and grad_sr is None:
            raise SPSRError("this model has no gradient branch (it returns a plain tensor); "
                            "drop --save-gradients / return_gradients")
        return [sr] if not return_gradients else [sr, grad_sr]

    outs = run_model(x, model, call, n_outputs=2 if return_gradients else 1, tile=tile, overlap=overlap,
                     device=device, half=half, bf16=bf16, memory_budget=memory_budget, progress=progress,
                     self_ensemble=self_ensemble)
    sr = _from_nchw(outs[0], how, clamp=True)
    if not return_gradients:
        return sr
    from spsr_lib.ops.gradient import gradient_map

    # The LR map is cheap and exact on the whole image (padding 1, like get_g_nopadding).
    grad_lr = gradient_map(x, padding=1)
    return UpscaleResult(sr, _from_nchw(outs[1], how, clamp=False), _from_nchw(grad_lr, how, clamp=False))

