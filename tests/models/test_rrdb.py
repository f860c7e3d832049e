"""RRDBNet (ESRGAN): an independent functional reference, the official taps, and all checkpoint layouts."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from spsr_lib.errors import CheckpointError
from spsr_lib.io.checkpoint import export_official_state_dict, load_rrdb
from spsr_lib.models.rrdb import RRDBNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def reference_esrgan(sd: dict, x: torch.Tensor, nb: int, factors: list[int]) -> torch.Tensor:
    """ESRGAN forward written from SPSR_REFERENCE.md 2.1 on the *old* layout keys, with torch.cat."""
    def conv(t, key, act=False):
        y = F.conv2d(t, sd[f"{key}.weight"], sd[f"{key}.bias"], padding=1)
        return F.leaky_relu(y, 0.2) if act else y

    def rdb(t, key):
        feats = [t]
        for j in range(1, 5):
            feats.append(conv(torch.cat(feats, 1), f"{key}.conv{j}.0", act=True))
        return conv(torch.cat(feats, 1), f"{key}.conv5.0") * 0.2 + t

    f0 = conv(x, "model.0")
    t = f0
    for i in range(nb):
        key = f"model.1.sub.{i}"
        t = rdb(rdb(rdb(t, f"{key}.RDB1"), f"{key}.RDB2"), f"{key}.RDB3") * 0.2 + t
    t = f0 + conv(t, f"model.1.sub.{nb}")
    idx = 3
    for f in factors:
        t = conv(F.interpolate(t, scale_factor=f, mode="nearest"), f"model.{idx}", act=True)
        idx += 3
    return conv(conv(t, f"model.{idx - 1}", act=True), f"model.{idx + 1}")


@pytest.mark.parametrize("scale,factors", [(4, [2, 2]), (3, [3]), (2, [2])])
def test_matches_functional_reference(scale, factors):
    torch.manual_seed(scale)
    m = RRDBNet(nf=8, nb=3, gc=4, scale=scale)
    for p in m.parameters():
        p.data.mul_(4)
    sd = export_official_state_dict(m)
    x = torch.rand(2, 3, 7, 9)
    ref = reference_esrgan(sd, x, 3, factors)
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


def test_taps_match_official_intermediate_stats(parity_dir):
    """The SR branch of the official small G inside RRDBNet gives the official trunk taps."""
    official = torch.load(parity_dir / "g_small_state_dict.pth", weights_only=True)
    old = {k: v for k, v in official.items() if k.startswith("model.")}
    old["model.10.weight"], old["model.10.bias"] = torch.zeros(3, 4, 3, 3), torch.zeros(3)
    m = load_rrdb(old)
    assert (m.nf, m.nb, m.gc, m.scale, m.taps) == (4, 23, 4, 4, (4, 9, 14, 19))
    io = torch.load(parity_dir / "g_small_io.pt", weights_only=True)
    stats = json.loads((parity_dir / "manifest.json").read_text())["g_small"][
        "intermediate_stats (forward hooks, module outputs)"]
    with torch.no_grad():
        taps, _ = m.features(io["input"])
    for tap, n in zip(taps, (4, 9, 14, 19)):
        s = stats[f"model.1.sub.{n}"]
        assert tap.mean().item() == pytest.approx(s["mean"], rel=1e-5)
        assert tap.abs().sum().item() == pytest.approx(s["abs_sum"], rel=1e-5)


def _to_new_layout(old: dict, nb: int) -> dict:
    """Old ESRGAN keys -> new RRDBNet_arch keys, written out independently of spsr_lib.io.checkpoint."""
    names = {"model.0": "conv_first", f"model.1.sub.{nb}": "trunk_conv", "model.3": "upconv1",
             "model.6": "upconv2", "model.8": "HRconv", "model.10": "conv_last"}
    new = {}
    for k, v in old.items():
        prefix, _, p = k.rpartition(".")
        if prefix in names:
            new[f"{names[prefix]}.{p}"] = v
        else:
            new[k.replace("model.1.sub.", "RRDB_trunk.").replace(".0.weight", ".weight").replace(".0.bias", ".bias")] = v
    return new


def test_loads_old_new_and_kit_layouts(tmp_path):
    torch.manual_seed(0)
    m = RRDBNet(nf=4, nb=2, gc=4)
    old = export_official_state_dict(m)
    assert "model.10.weight" in old and "model.1.sub.1.RDB3.conv5.0.bias" in old
    new = _to_new_layout(old, 2)
    assert "RRDB_trunk.1.RDB3.conv5.bias" in new and "HRconv.weight" in new
    torch.save({"params": new}, tmp_path / "new.pth")
    x = torch.rand(1, 3, 6, 6)
    ref = m(x)
    for src in (old, tmp_path / "new.pth", m.state_dict()):
        torch.testing.assert_close(load_rrdb(src)(x), ref, rtol=0, atol=0)
    assert isinstance(load_rrdb(old), RRDBNet)


def test_strict_errors_name_keys():
    torch.manual_seed(0)
    old = export_official_state_dict(RRDBNet(nf=4, nb=2, gc=4))
    del old["model.1.sub.0.RDB2.conv4.0.weight"]
    with pytest.raises(CheckpointError, match=r"missing keys: body\.0\.rdb2\.conv4\.weight"):
        load_rrdb(old)
    with pytest.raises(CheckpointError, match="not an ESRGAN"):
        load_rrdb({"foo.weight": torch.zeros(1)})
