"""Colour shift: how far the SR image's mean colour is from the HR image's, in grey levels.

A short GAN stage can move every output pixel by the same few grey levels per channel (the perceptual
term's features barely change under a global offset, so nothing pulls it back; see
``../shared/spec/STAGE2_PROBES.md``).  PSNR sees such a drift only as a few dB among other errors and LPIPS
hardly at all, so it gets a metric of its own::

    offset_c = mean(SR_c) - mean(HR_c)        for c in R, G, B, on the 0..255 scale
    colour_shift = max_c |offset_c|           per image; a set's value is the mean over its images

The means are taken over the whole image as it would be saved (uint8-rounded for float tensors), after
shaving ``scale`` px from every side like PSNR.  A known offset gives the known value: HR + 3 grey levels in
G gives 3.0 (clipping at 0/255 aside).
"""

from __future__ import annotations

import torch

from spsr_lib.metrics.color import ImageLike, as_batch255, check_pair, quantize, shave


def colour_offset(sr: ImageLike, hr: ImageLike, scale: int = 4) -> tuple[float, float, float] | torch.Tensor:
    """Signed per-channel mean difference SR - HR in grey levels: ``(R, G, B)`` for one image, (N, 3) for a batch."""
    a, from_numpy = as_batch255(sr, "SR image")
    b, _ = as_batch255(hr, "HR image")
    check_pair(a, b)
    a, b = shave(quantize(a), scale), shave(quantize(b.to(a.device)), scale)
    v = a.mean(dim=(2, 3)) - b.mean(dim=(2, 3))
    return tuple(float(x) for x in v[0]) if from_numpy else v


def colour_shift(sr: ImageLike, hr: ImageLike, scale: int = 4) -> float | torch.Tensor:
    """The largest absolute channel-mean difference between SR and HR, in grey levels (lower is better)."""
    off = colour_offset(sr, hr, scale)
    if isinstance(off, tuple):
        return max(abs(x) for x in off)
    return off.abs().amax(dim=1)
