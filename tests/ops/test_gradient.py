"""gradient_map / GradientMap against the official vectors and an independent conv2d reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spsr_lib.ops.gradient import GradientMap, gradient_map

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def conv_reference(x: torch.Tensor, padding: int) -> torch.Tensor:
    """The official operator literally: per-channel conv2d with the fixed kernels, sqrt(v^2 + h^2 + 1e-6)."""
    kv = torch.tensor([[0, -1, 0], [0, 0, 0], [0, 1, 0]], dtype=x.dtype).view(1, 1, 3, 3)
    kh = torch.tensor([[0, 0, 0], [-1, 0, 1], [0, 0, 0]], dtype=x.dtype).view(1, 1, 3, 3)
    out = []
    for i in range(x.shape[1]):
        xi = x[:, i:i + 1]
        v = F.conv2d(xi, kv, padding=padding)
        h = F.conv2d(xi, kh, padding=padding)
        out.append(torch.sqrt(torch.pow(v, 2) + torch.pow(h, 2) + 1e-6))
    return torch.cat(out, 1)


@pytest.mark.parametrize("padding,key", [(1, "get_gradient_nopadding"), (2, "get_gradient_padding2")])
def test_parity_with_official_vectors(parity_dir, padding, key):
    io = torch.load(parity_dir / "grad_op_io.pt", weights_only=True)
    out = gradient_map(io["input"], padding)
    assert out.shape == io[key].shape
    torch.testing.assert_close(out, io[key], rtol=0, atol=1e-6)


@pytest.mark.parametrize("padding", [1, 2])
@pytest.mark.parametrize("channels", [1, 3, 5])
def test_matches_conv_reference(padding, channels):
    g = torch.Generator().manual_seed(channels * 10 + padding)
    x = torch.randn(2, channels, 13, 17, generator=g)
    torch.testing.assert_close(gradient_map(x, padding), conv_reference(x, padding), rtol=0, atol=1e-6)


def test_constant_image_borders_and_inner_ring():
    ones = torch.ones(1, 3, 6, 7)
    g1 = gradient_map(ones, 1)
    assert torch.allclose(g1[..., 1:-1, 1:-1], torch.full_like(g1[..., 1:-1, 1:-1], 1e-3))
    assert torch.allclose(g1[..., 0, 1:-1], torch.ones(1, 3, 5), atol=1e-6)
    assert torch.allclose(g1[..., 0, 0], torch.full((1, 3), 2**0.5), atol=1e-6)
    x = torch.rand(2, 3, 9, 8, generator=torch.Generator().manual_seed(0))
    g2 = gradient_map(x, 2)
    assert g2.shape == (2, 3, 11, 10)
    assert torch.equal(g2[..., 1:-1, 1:-1], gradient_map(x, 1))
    assert torch.allclose(g2[..., 0, 0], torch.full((2, 3), 1e-3))


def test_module_buffers_load_official_keys_and_backprop():
    m = GradientMap()
    sd = m.state_dict()
    assert set(sd) == {"weight_h", "weight_v"} and sd["weight_h"].shape == (1, 1, 3, 3)
    assert not list(m.parameters())
    official = {"weight_h": torch.tensor([[[[0.0, 0, 0], [-1, 0, 1], [0, 0, 0]]]]),
                "weight_v": torch.tensor([[[[0.0, -1, 0], [0, 0, 0], [0, 1, 0]]]])}
    m.load_state_dict(official)
    assert m.check_kernels()
    m.weight_h.mul_(2)
    assert not m.check_kernels()
    x = torch.rand(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: gradient_map(t, 2), (x,))


def test_rejects_non_4d():
    with pytest.raises(ValueError):
        gradient_map(torch.zeros(3, 4, 4))
