"""VGGDiscriminator against the official small-D vectors, sizes and init."""

from __future__ import annotations

import pytest
import torch

from spsr_lib.io.checkpoint import load_discriminator
from spsr_lib.models.discriminator import VGGDiscriminator

TOL = {"rtol": 1e-4, "atol": 1e-5}

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def _parity(parity_dir):
    io = torch.load(parity_dir / "d_small_io.pt", weights_only=True)
    return io, io["input_uint8"].float() / 255


def test_eval_mode_uses_running_stats(parity_dir):
    io, x = _parity(parity_dir)
    d = load_discriminator(parity_dir / "d_small_state_dict.pth").eval()
    with torch.no_grad():
        torch.testing.assert_close(d(x), io["out_eval"], **TOL)


def test_train_mode_batch_stats_and_running_mean_update(parity_dir):
    io, x = _parity(parity_dir)
    d = load_discriminator(parity_dir / "d_small_state_dict.pth").train()
    before = d.features[3].running_mean.clone()
    torch.testing.assert_close(d(x), io["out_train_batchstats"], **TOL)
    after = d.features[3].running_mean
    assert not torch.equal(before, after)
    torch.testing.assert_close(after, io["running_mean_features3_after_one_train_forward"], **TOL)


def test_official_key_layout_and_default_size():
    d = VGGDiscriminator()
    keys = list(d.state_dict())
    assert len(keys) == 69
    convs = {k.split(".")[1] for k in keys if k.endswith("weight") and d.state_dict()[k].dim() == 4}
    assert convs == {"0", "2", "5", "8", "11", "14", "17", "20", "23", "26"}
    assert sum(p.numel() for p in d.parameters()) == 14_502_281
    assert d.classifier[0].in_features == 512 * 4 * 4


@pytest.mark.parametrize("size", [128, 130])
def test_gradient_map_size_and_small_nf(size):
    d = VGGDiscriminator(nf=4, input_size=size)
    assert d(torch.rand(3, 3, size, size)).shape == (3, 1)
    assert VGGDiscriminator(nf=8, input_size=64).classifier[0].in_features == 64 * 2 * 2


def test_wrong_input_size_is_a_clear_error():
    d = VGGDiscriminator(nf=4, input_size=128)
    with pytest.raises(ValueError, match="input_size"):
        d(torch.rand(2, 3, 96, 96))


def test_init_follows_official_train_mode():
    torch.manual_seed(0)
    d = VGGDiscriminator()
    bn = d.features[3]
    assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(bn.bias, torch.zeros_like(bn.bias))
    w = d.features[17].weight  # conv5: 3x3, 4nf -> 4nf
    fan_in = w.shape[1] * w.shape[2] * w.shape[3]
    assert w.std().item() == pytest.approx((2.0 / fan_in) ** 0.5, rel=0.05)
    assert torch.count_nonzero(d.features[17].bias) == 0


def test_spectral_norm_bounds_every_layer_and_round_trips():
    torch.manual_seed(0)
    d = VGGDiscriminator(nf=4, input_size=32, spectral_norm=True).train()
    x = torch.rand(2, 3, 32, 32)
    for _ in range(20):  # a few power iterations converge the singular-vector estimates
        d(x)
    layers = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 12 and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    with torch.no_grad():
        for m in layers:
            sigma = torch.linalg.matrix_norm(m.weight.reshape(m.weight.shape[0], -1), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=0.05)
    assert "spectral_norm=True" in repr(d)
    d.eval()
    d2 = VGGDiscriminator(nf=4, input_size=32, spectral_norm=True).eval()
    d2.load_state_dict(d.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(d2(x), d(x), rtol=0, atol=0)
    # off (the default): the official 69-key layout, no parametrization
    assert not any("parametrizations" in k for k in VGGDiscriminator(nf=4, input_size=32).state_dict())
