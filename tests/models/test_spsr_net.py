"""SPSRNet against the official parity vectors, the official key layout and parameter counts."""

from __future__ import annotations

import json

import pytest
import torch

from spsr_lib.io.checkpoint import export_official_state_dict, load_generator, official_spsr_pairs
from spsr_lib.models.spsr_net import SPSRNet, SPSROutput

TOL = {"rtol": 1e-4, "atol": 1e-5}

pytestmark = pytest.mark.usefixtures("one_torch_thread")



@pytest.fixture(scope="module")
def small_g(parity_dir):
    return load_generator(parity_dir / "g_small_state_dict.pth")


@pytest.fixture(scope="module")
def default_g():
    torch.manual_seed(0)
    return SPSRNet()


@pytest.fixture(scope="module")
def manifest(parity_dir):
    return json.loads((parity_dir / "manifest.json").read_text())


def test_small_generator_outputs_and_input_gradient(small_g, parity_dir):
    io = torch.load(parity_dir / "g_small_io.pt", weights_only=True)
    x = io["input"].clone().requires_grad_(True)
    out = small_g(x)
    assert isinstance(out, SPSROutput) and SPSROutput._fields == ("sr", "grad_sr", "grad_lr")
    grad_branch, sr, grad_lr = io["outputs"]  # official order: (branch, SR, LR gradient)
    torch.testing.assert_close(out.sr, sr, **TOL)
    torch.testing.assert_close(out.grad_sr, grad_branch, **TOL)
    torch.testing.assert_close(out.grad_lr, grad_lr, **TOL)
    loss = out.sr.pow(2).mean() + 0.5 * out.grad_sr.abs().mean()
    loss.backward()
    assert loss.item() == pytest.approx(io["backward_loss"], rel=1e-5)
    torch.testing.assert_close(x.grad, io["input_grad"], **TOL)


def test_small_generator_parameter_gradients(small_g, parity_dir, manifest):
    """Gradient L2 norms per official parameter (manifest) after the parity loss."""
    io = torch.load(parity_dir / "g_small_io.pt", weights_only=True)
    small_g.zero_grad()
    out = small_g(io["input"])
    (out.sr.pow(2).mean() + 0.5 * out.grad_sr.abs().mean()).backward()
    kit_of = dict(official_spsr_pairs(small_g.nb, len(small_g.upsample), len(small_g.taps)))
    params = dict(small_g.named_parameters())
    norms = manifest["g_small"]["param_grad_l2_norms (non-RRDB params + RDB1.conv1 of each RRDB)"]
    assert len(norms) > 50
    for key, ref in norms.items():
        prefix, _, p = key.rpartition(".")
        got = params[f"{kit_of[prefix]}.{p}"].grad.norm().item()
        assert got == pytest.approx(ref, rel=2e-4, abs=1e-6), key


def test_small_generator_intermediate_taps(small_g, parity_dir, manifest):
    io = torch.load(parity_dir / "g_small_io.pt", weights_only=True)
    stats = manifest["g_small"]["intermediate_stats (forward hooks, module outputs)"]
    with torch.no_grad():  # also exercises the buffer (no-autograd) dense-block path
        taps, hr_feature = small_g.features(io["input"])
        sr = small_g(io["input"]).sr
    for tap, name in zip(taps, ["model.1.sub.4", "model.1.sub.9", "model.1.sub.14", "model.1.sub.19"]):
        assert tap.abs().sum().item() == pytest.approx(stats[name]["abs_sum"], rel=1e-5)
    assert hr_feature.mean().item() == pytest.approx(stats["HR_conv1_new"]["mean"], rel=1e-5)
    torch.testing.assert_close(sr, io["outputs"][1], **TOL)


def test_default_parameter_count_and_groups(default_g):
    trainable = sum(p.numel() for p in default_g.parameters() if p.requires_grad)
    assert trainable == 24_796_230
    groups = default_g.parameter_groups()
    assert {k: sum(p.numel() for p in v) for k, v in groups.items()} == {
        "sr_branch": 16_733_184, "gradient_branch": 6_456_835, "fusion": 1_606_211}
    assert sum(len(v) for v in groups.values()) == len(list(default_g.parameters()))


def test_export_has_official_keys_shapes_and_alias(default_g, spec_dir):
    spec = json.loads((spec_dir / "official_state_dict_keys.json").read_text())
    ref = spec["state_dict (key -> shape, in official state_dict order)"]
    exported = export_official_state_dict(default_g)
    assert len(exported) == 884 == spec["n_keys"]
    assert list(exported) == list(ref)
    assert all(list(exported[k].shape) == ref[k] for k in ref)
    assert sum(v.numel() for v in exported.values()) == spec["n_state_dict_elements"]
    assert exported["model.8.weight"] is exported["HR_conv0_new.0.weight"]
    # official Branch_pretrain trains the names containing "f_": exactly the fusion group
    f_numel = sum(v.numel() for k, v in exported.items() if "f_" in k)
    assert f_numel == sum(p.numel() for p in default_g.parameter_groups()["fusion"])


@pytest.mark.parametrize("scale,nb,taps", [(2, 4, None), (3, 5, None), (4, 7, (0, 3, 6)), (4, 2, None)])
def test_other_scales_blocks_and_taps_run(scale, nb, taps):
    torch.manual_seed(0)
    m = SPSRNet(nf=8, nb=nb, gc=4, scale=scale, taps=taps)
    out = m(torch.rand(2, 3, 10, 12))
    assert out.sr.shape == out.grad_sr.shape == (2, 3, 10 * scale, 12 * scale)
    assert out.grad_lr.shape == (2, 3, 10, 12)
    assert len(m.grad_branch.blocks) == len(m.taps) and max(m.taps) < nb


def test_default_taps_and_invalid_taps():
    assert SPSRNet(nf=4, gc=4).taps == (4, 9, 14, 19)
    assert SPSRNet(nf=4, nb=8, gc=4).taps == (1, 3, 5, 7)
    with pytest.raises(ValueError):
        SPSRNet(nf=4, nb=4, gc=4, taps=(0, 4))
    with pytest.raises(ValueError):
        SPSRNet(nf=4, nb=4, gc=4, scale=5)


def test_grad_and_no_grad_paths_and_channels_last_agree():
    torch.manual_seed(1)
    m = SPSRNet(nf=8, nb=3, gc=8)
    for p in m.parameters():
        p.data.mul_(5)  # larger weights than the 0.1 init make differences visible
    x = torch.rand(1, 3, 9, 11)
    ref = m(x)
    with torch.no_grad():
        fast = m(x)
        cl = m.to(memory_format=torch.channels_last)(x)
    for a, b, c in zip(ref, fast, cl):
        torch.testing.assert_close(b, a.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(c, a.detach(), rtol=1e-4, atol=1e-5)


def test_bf16_autocast_fast_path_is_close_to_fp32():
    """The documented CPU fast path (bf16 autocast + channels_last) runs forward and backward near fp32."""
    torch.manual_seed(2)
    m = SPSRNet(nf=8, nb=3, gc=8)
    x = torch.rand(1, 3, 10, 10)
    ref = m(x)
    fast = m.to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fast(x)
    assert out.sr.dtype == torch.bfloat16
    rel = ((out.sr.float() - ref.sr).norm() / ref.sr.norm()).item()
    assert rel < 5e-2
    (out.sr.float().pow(2).mean() + out.grad_sr.float().abs().mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
