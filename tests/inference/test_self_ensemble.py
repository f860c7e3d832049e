"""x8 self-ensemble (spsr_lib.inference.self_ensemble): upscale(..., self_ensemble=True), with tiles, in evaluate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spsr_lib.inference.infer import upscale
from spsr_lib.inference.self_ensemble import TRANSFORMS, forward_transform, inverse_transform
from spsr_lib.inference.tiling import tiled_apply

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def lively_spsr(residual: str = "none"):
    """A tiny SPSRNet with an image-like, context-dependent output (the default init outputs ~1e-7)."""
    from spsr_lib.models.spsr_net import SPSRNet
    from spsr_lib.ops.blocks import init_weights

    torch.manual_seed(0)
    model = SPSRNet(nf=8, nb=2, gc=4, residual=residual)
    init_weights(model, 0.6)
    with torch.no_grad():
        model.fusion.conv_last.bias.fill_(0.5)
    return model.eval()


@pytest.fixture(scope="module")
def lr() -> torch.Tensor:
    return torch.rand(1, 3, 20, 27, generator=torch.Generator().manual_seed(0))


def by_hand(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sr, grad_sr) averaged over the 8 symmetries, written out without the module's helpers."""
    srs, grads = [], []
    with torch.no_grad():
        for flip in (False, True):
            for k in range(4):
                t = x.flip(-1) if flip else x
                out = model(torch.rot90(t, k, dims=(2, 3)))
                back = [torch.rot90(o, -k, dims=(2, 3)) for o in (out.sr, out.grad_sr)]
                back = [o.flip(-1) if flip else o for o in back]
                srs.append(back[0])
                grads.append(back[1])
    return torch.stack(srs).mean(0), torch.stack(grads).mean(0)


def test_the_eight_transforms_are_distinct_and_undone():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    seen = set()
    for i in range(len(TRANSFORMS)):
        y = forward_transform(x, i)
        seen.add((tuple(y.shape), tuple(y.flatten().tolist())))
        assert torch.equal(inverse_transform(y, i), x)
    assert len(TRANSFORMS) == 8 and len(seen) == 8


def test_equals_the_mean_of_the_eight_passes_by_hand(lr):
    model = lively_spsr()
    sr_hand, grad_hand = by_hand(model, lr)
    res = upscale(lr, model, device="cpu", self_ensemble=True, return_gradients=True)
    assert torch.allclose(res.sr, sr_hand.clamp(0, 1), atol=1e-6)
    assert torch.allclose(res.grad_sr, grad_hand, atol=1e-6)
    plain = upscale(lr, model, device="cpu")
    assert (plain - res.sr).abs().max() > 1e-2  # the ensemble really differs for a non-equivariant net


def test_with_tiles_each_tile_is_ensembled_then_blended(lr):
    model = lively_spsr()
    want = tiled_apply(lambda t: [by_hand(model, t)[0]], lr, 12, 4)[0].clamp(0, 1)
    got = upscale(lr, model, device="cpu", tile=12, overlap=4, self_ensemble=True)
    assert torch.allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("what", ["bicubic only", "constant"])
def test_an_equivariant_model_is_unchanged(lr, what):
    """Zeroed weights: with residual=bicubic the net is bicubic upsampling, else a constant (the output bias)."""
    model = lively_spsr("bicubic" if what == "bicubic only" else "none")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if what == "bicubic only" or name != "fusion.conv_last.bias":
                p.zero_()
    x = (lr * 255).round().to(torch.uint8).permute(0, 2, 3, 1)[0].numpy()  # uint8 HWC: the kit's usual input
    plain = upscale(lr, model, device="cpu")
    ens = upscale(lr, model, device="cpu", self_ensemble=True)
    assert (plain - ens).abs().max() < 1e-6
    tiled = {"device": "cpu", "tile": 12, "overlap": 4}
    assert np.array_equal(upscale(x, model, **tiled), upscale(x, model, self_ensemble=True, **tiled))


def test_evaluate_names_the_row_and_the_sources(tmp_path):
    from spsr_lib.inference.evaluate import evaluate
    from tests import corpus

    hr = tmp_path / "hr"
    hr.mkdir()
    corpus.good_png(hr / "a.png", side=40)
    model = lively_spsr()
    kw = dict(metrics=("psnr", "ssim"), mode="standard", device="cpu", progress=False, bicubic=False)
    res = evaluate([str(hr)], model=model, self_ensemble=True, **kw)
    plain = evaluate([str(hr)], model=model, **kw)
    assert res.methods[0].name == "SPSRNet (x8)" and plain.methods[0].name == "SPSRNet"
    assert "self-ensemble" in res.sources and "self-ensemble" not in plain.sources
    table = res.table("standard")
    assert "| SPSRNet (x8) | PSNR/SSIM |" in table and "- self-ensemble: x8" in table
    assert res.methods[0].mean("hr", "psnr_standard") != plain.methods[0].mean("hr", "psnr_standard")
