"""``residual="bicubic"``: RRDBNet and SPSRNet add the bicubic-upsampled LR (and SPSRNet its gradient map), the
option survives save/load, an identity-fused SPSRNet starts as its RRDBNet, and a mismatch is refused."""

import pytest
import torch
import torch.nn.functional as F

from spsr_lib.io.checkpoint import load_generator, load_rrdb, load_sr_branch_from_rrdb
from spsr_lib.io.checkpoint_files import save_safetensors
from spsr_lib.models.rrdb import RRDBNet
from spsr_lib.models.spsr_net import SPSRNet
from spsr_lib.ops.gradient import gradient_map
from spsr_lib.train.warm_start import init_fusion_as_identity

TINY = dict(nf=8, nb=2, gc=4)


def test_rrdb_residual_adds_the_bicubic_lr():
    torch.manual_seed(0)
    plain, res = RRDBNet(**TINY), RRDBNet(**TINY, residual="bicubic")
    res.load_state_dict(plain.state_dict())
    lr = torch.rand(1, 3, 12, 10)
    up = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(res(lr), plain(lr) + up, atol=1e-6)
    assert plain.base(lr) is None


def test_spsr_residual_adds_image_and_gradient_map():
    torch.manual_seed(0)
    plain, res = SPSRNet(**TINY), SPSRNet(**TINY, residual="bicubic")
    res.load_state_dict(plain.state_dict())
    lr = torch.rand(1, 3, 12, 10)
    up = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    a, b = plain(lr), res(lr)
    assert torch.allclose(b.sr, a.sr + up, atol=1e-6)
    assert torch.allclose(b.grad_sr, a.grad_sr + gradient_map(up, padding=1), atol=1e-6)


def test_residual_round_trips_and_warm_starts(tmp_path):
    torch.manual_seed(0)
    rrdb, spsr = RRDBNet(**TINY, residual="bicubic"), SPSRNet(**TINY, residual="bicubic")
    load_sr_branch_from_rrdb(spsr, rrdb)
    init_fusion_as_identity(spsr, rrdb)
    lr = torch.rand(1, 3, 8, 8)
    out = spsr(lr)
    assert torch.allclose(out.sr, rrdb(lr), atol=1e-6)
    up = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(out.grad_sr, gradient_map(up, padding=1), atol=1e-6)  # the branch starts at M(bicubic)
    save_safetensors(spsr, tmp_path / "g.safetensors")
    save_safetensors(rrdb, tmp_path / "r.safetensors")
    assert load_generator(tmp_path / "g.safetensors").residual == "bicubic"
    assert load_rrdb(tmp_path / "r.safetensors").residual == "bicubic"
    save_safetensors(RRDBNet(**TINY), tmp_path / "plain.safetensors")
    assert load_rrdb(tmp_path / "plain.safetensors").residual == "none"


def test_bad_residual_is_refused():
    with pytest.raises(ValueError, match="residual"):
        RRDBNet(**TINY, residual="bilinear")


def test_identity_branch_init_reads_the_branch_from_the_first_step():
    torch.manual_seed(0)
    rrdb, spsr = RRDBNet(**TINY, residual="bicubic"), SPSRNet(**TINY, residual="bicubic")
    load_sr_branch_from_rrdb(spsr, rrdb)
    init_fusion_as_identity(spsr, rrdb, random_branch=True)
    with torch.no_grad():
        spsr.grad_branch.conv_hr_feat.bias.fill_(0.5)  # a branch feature that is not ~0
        lr = torch.rand(1, 3, 8, 8)
        out = spsr(lr).sr
        assert spsr.fusion.concat.weight[:, :TINY["nf"]].abs().sum() > 0  # the branch half is not zero
        assert (out - rrdb(lr)).abs().max() > 1e-4  # so the image depends on the branch at once
        init_fusion_as_identity(spsr, rrdb)  # the plain identity ignores it
        assert torch.allclose(spsr(lr).sr, rrdb(lr), atol=1e-6)
