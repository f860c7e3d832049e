"""Identity-initialised fusion (spsr_lib.train.warm_start) and the train.fusion_init / train.time_limit_s options."""

from __future__ import annotations

import pytest
import torch

from spsr_lib.errors import ConfigError
from spsr_lib.io.checkpoint import load_sr_branch_from_rrdb
from spsr_lib.models.rrdb import RRDBNet
from spsr_lib.models.spsr_net import SPSRNet
from spsr_lib.train.config import load_config
from spsr_lib.train.state import list_states
from spsr_lib.train.trainer import Trainer
from spsr_lib.train.warm_start import init_fusion_as_identity
from tests.train.conftest import tiny


def _random_rrdb(nf: int = 8, nb: int = 2, gc: int = 4) -> RRDBNet:
    torch.manual_seed(3)
    net = RRDBNet(nf=nf, nb=nb, gc=gc).eval()
    with torch.no_grad():  # weights far from the 0.1-scaled init so that negative activations occur
        for p in net.parameters():
            p.normal_(0, 0.1)
    return net


def test_identity_fusion_reproduces_the_rrdb_output_and_still_learns():
    rrdb = _random_rrdb()
    spsr = SPSRNet(nf=8, nb=2, gc=4).eval()
    lr = torch.rand(2, 3, 10, 12)
    with torch.no_grad():
        before = (spsr(lr).sr - rrdb(lr)).abs().max().item()
    load_sr_branch_from_rrdb(spsr, rrdb)
    init_fusion_as_identity(spsr, rrdb)
    with torch.no_grad():
        ref = rrdb(lr)
        out = spsr(lr)
        h = rrdb.features(lr)[1]
    assert before > 1e-2  # a randomly initialised fusion does not give the RRDB image
    assert (h < 0).any()  # the LReLU pass-through is exercised on negative features
    torch.testing.assert_close(out.sr, ref, rtol=0, atol=1e-5)
    # nothing is frozen: every fusion tensor and the zero-initialised convs get gradients
    spsr.zero_grad()
    spsr(lr).sr.square().mean().backward()
    for name, p in spsr.fusion.named_parameters():
        if name.endswith("conv5.weight") or name in ("concat.weight", "conv_hr.weight", "conv_last.weight"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_identity_fusion_needs_room_for_the_signed_head():
    with pytest.raises(ValueError, match="nf >= 6"):
        init_fusion_as_identity(SPSRNet(nf=4, nb=1, gc=4), _random_rrdb(nf=4, nb=1))


def test_fusion_init_identity_in_the_trainer(tmp_path, image_folder):
    s1 = Trainer(load_config(None, tiny(tmp_path / "s1", image_folder, "stage=psnr", "loss.pixel.weight=1",
                                        "model.nf=8", "train.niter=2")))
    s1.fit()
    g1 = tmp_path / "s1" / "models" / "G_latest.safetensors"
    tr = Trainer(load_config(None, tiny(tmp_path / "s2", image_folder, f"train.pretrained={g1}", "model.nf=8",
                                        "train.fusion_init=identity")))
    assert "fusion as identity" in tr.init_note
    batch = next(iter(tr.loader))
    with torch.no_grad():
        torch.testing.assert_close(tr.G(batch["lr"]).sr, s1.export_model.eval()(batch["lr"]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("extra,match", [
    (["train.fusion_init=identity"], "needs stage 'spsr' and train.pretrained"),
    (["train.fusion_init=identity", "stage=psnr", "train.pretrained=x.safetensors"], "needs stage 'spsr'"),
])
def test_fusion_init_identity_config_errors(extra, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, extra)


def test_time_limit_stops_with_a_checkpoint_and_resume_goes_on(tmp_path, image_folder):
    cfg = load_config(None, tiny(tmp_path, image_folder, "train.niter=50", "logging.save_freq=100",
                                 "train.time_limit_s=0"))
    tr = Trainer(cfg)
    tr.fit()
    assert tr.stopped_early and tr.step == 1  # the limit is checked after each step
    assert [s for s, _ in list_states(tmp_path)] == [1]
    assert (tmp_path / "models" / "G_latest.safetensors").is_file()
    cfg2 = load_config(None, tiny(tmp_path, image_folder, "train.niter=3", "logging.save_freq=100"))
    tr2 = Trainer(cfg2, resume=True)
    assert tr2.step == 1
    tr2.fit()
    assert tr2.step == 3 and not tr2.stopped_early
