"""Self-ensemble x8 (EDSR+/RCAN+ "geometric self-ensemble", KAIR ``utils_model.test_mode`` mode 3).

The LR input goes through the network eight times, once per symmetry of the square (the identity, the
three rotations by 90/180/270 degrees, and each of those four after a horizontal flip); every output is
transformed back and the eight are averaged.  A network trained with flip/rotation augmentation gives a
slightly better (and eight times slower) result; a network that is already equivariant (bicubic
interpolation, a constant) gives exactly its plain output.

:func:`ensemble_call` wraps any per-tile computation of :func:`spsr_lib.inference.infer.run_model`
(``call(model, lr_tile) -> [HR tensors]``), so it works with tiles (each tile is ensembled on its own, then
the tiles are blended as usual), with the SR image, ``grad_sr`` (the gradient magnitude map is invariant
under these symmetries, so its back-transformed average is meaningful too) and the branch diagnostics pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# (number of 90-degree rotations, flip first): the eight symmetries of the square
TRANSFORMS: tuple[tuple[int, bool], ...] = tuple((k, flip) for flip in (False, True) for k in range(4))


def forward_transform(x: torch.Tensor, index: int) -> torch.Tensor:
    """Apply symmetry ``index`` (0..7 of :data:`TRANSFORMS`) to an NCHW tensor: flip W, then rotate."""
    k, flip = TRANSFORMS[index]
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


def inverse_transform(y: torch.Tensor, index: int) -> torch.Tensor:
    """Undo :func:`forward_transform` ``index``: rotate back, then flip."""
    k, flip = TRANSFORMS[index]
    if k:
        y = torch.rot90(y, -k, dims=(-2, -1))
    return y.flip(-1) if flip else y


Call = Callable[[torch.nn.Module, torch.Tensor], Sequence[torch.Tensor]]


def ensemble_call(call: Call) -> Call:
    """``call`` run on the eight transformed inputs, each output transformed back, then averaged (float32)."""

    def averaged(model: torch.nn.Module, lr: torch.Tensor) -> list[torch.Tensor]:
        sums: list[torch.Tensor] | None = None
        for index in range(len(TRANSFORMS)):
            outs = [inverse_transform(o.float(), index) for o in call(model, forward_transform(lr, index))]
            # the first pass is copied: the identity transform hands back the model's own tensors
            sums = [o.clone() for o in outs] if sums is None else [s.add_(o) for s, o in zip(sums, outs)]
        assert sums is not None
        return [s.div_(len(TRANSFORMS)) for s in sums]

    return averaged
