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
