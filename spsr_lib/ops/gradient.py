"""The gradient operator of SPSR (Ma et al., CVPR 2020, Sec. 3.1, Eq. 1).

    I_x(x) = I(x+1, y) - I(x-1, y),   I_y(x) = I(x, y+1) - I(x, y-1),
    dI = (I_x, I_y),   M(I) = || dI ||_2

The official code (``Get_gradient_nopadding`` / ``Get_gradient`` in ``architecture.py`` and
``SPSR_model.py``) computes this per channel (no grayscale conversion) as a cross-correlation with the
fixed kernels ``weight_v = [[0,-1,0],[0,0,0],[0,1,0]]`` and ``weight_h = [[0,0,0],[-1,0,1],[0,0,0]]``
over a zero-padded input, and takes ``sqrt(V**2 + H**2 + 1e-6)``: flat regions give 1e-3, not 0.

- ``padding=1`` keeps the size (the LR map fed into the gradient branch, and the branch-loss target);
- ``padding=2`` gives (H+2)x(W+2) (the gradient pixel loss and the gradient discriminator: 130x130 maps
  for 128x128 patches); its inner HxW equals the padding-1 map exactly.

Here the two differences are computed by slicing one padded copy, which matches the official convolution
bit for bit (a +-1 kernel with zeros elsewhere is exactly ``b - a``) and avoids a per-channel conv loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EPS = 1e-6

# The official fixed kernels, (1, 1, 3, 3): cross-correlation, rows = y (vertical), cols = x (horizontal).
KERNEL_V = ((0.0, -1.0, 0.0), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0))
KERNEL_H = ((0.0, 0.0, 0.0), (-1.0, 0.0, 1.0), (0.0, 0.0, 0.0))


def gradient_map(x: Tensor, padding: int = 1) -> Tensor:
    """Per-channel gradient magnitude of an N x C x H x W tensor, as the official SPSR operator.

    ``padding`` is the zero padding of the official 3x3 convolution: 1 keeps H x W, 2 gives
    (H+2) x (W+2). The result has the same dtype as ``x`` and is differentiable.
    """
    if x.dim() != 4:
        raise ValueError(f"gradient_map expects an N x C x H x W tensor, got shape {tuple(x.shape)}")
    if padding < 0:
        raise ValueError(f"gradient_map padding must be >= 0, got {padding}")
    p = F.pad(x, (padding, padding, padding, padding)) if padding else x
    v = p[..., 2:, 1:-1] - p[..., :-2, 1:-1]
    h = p[..., 1:-1, 2:] - p[..., 1:-1, :-2]
    # same operation order as the official code: sqrt(pow(v,2) + pow(h,2) + 1e-6)
    return torch.sqrt(v * v + h * h + EPS)


class GradientMap(nn.Module):
    """``nn.Module`` form of :func:`gradient_map`.

    The fixed kernels are persistent buffers ``weight_h`` / ``weight_v`` of shape (1, 1, 3, 3) so the
    official ``get_g_nopadding.weight_h`` / ``weight_v`` checkpoint entries load into them (they are
    ``requires_grad=False`` Parameters upstream). They are never trained; :func:`check_kernels` verifies
    that a loaded checkpoint did not carry different values.
    """

    def __init__(self, padding: int = 1) -> None:
        super().__init__()
        self.padding = padding
        self.register_buffer("weight_h", torch.tensor(KERNEL_H).view(1, 1, 3, 3))
        self.register_buffer("weight_v", torch.tensor(KERNEL_V).view(1, 1, 3, 3))

    def forward(self, x: Tensor) -> Tensor:
        return gradient_map(x, self.padding)

    def check_kernels(self) -> bool:
        """True when the buffers hold the official fixed kernels."""
        ref_h = torch.tensor(KERNEL_H).view(1, 1, 3, 3)
        ref_v = torch.tensor(KERNEL_V).view(1, 1, 3, 3)
        return bool(torch.equal(self.weight_h.float().cpu(), ref_h) and torch.equal(self.weight_v.float().cpu(), ref_v))

    def extra_repr(self) -> str:
        return f"padding={self.padding}"
