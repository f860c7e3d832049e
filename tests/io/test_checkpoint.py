"""Checkpoint loading/saving: official layout, strict errors, safetensors round trips, ``spsr convert``."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from spsr_lib.cli import main
from spsr_lib.errors import CheckpointError, SPSRError
from spsr_lib.io.checkpoint import (
    export_official_state_dict,
    load_discriminator,
    load_generator,
    load_rrdb,
    load_sr_branch_from_rrdb,
    save_discriminator,
    save_generator,
)
from spsr_lib.models.discriminator import VGGDiscriminator
from spsr_lib.models.rrdb import RRDBNet
from spsr_lib.models.spsr_net import SPSRNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")



@pytest.fixture(scope="module")
def official_small(parity_dir):
    return torch.load(parity_dir / "g_small_state_dict.pth", weights_only=True)


def _same_outputs(a, b, x=None):
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3)) if x is None else x
    with torch.no_grad():
        for p, q in zip(a(x), b(x)):
            torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_official_layout_round_trip_is_exact(official_small):
    model = load_generator(official_small)
    assert (model.nf, model.nb, model.gc, model.scale) == (4, 23, 4, 4)
    exported = export_official_state_dict(model)
    assert list(exported) == list(official_small)
    assert all(torch.equal(exported[k], official_small[k]) for k in official_small)


def test_module_prefix_and_training_checkpoint_entry(official_small, tmp_path):
    wrapped = {"generator": {f"module.{k}": v for k, v in official_small.items()}, "step": 7}
    torch.save(wrapped, tmp_path / "train.pth")
    _same_outputs(load_generator(tmp_path / "train.pth"), load_generator(official_small))


def test_missing_and_unexpected_keys_are_named(official_small):
    sd = dict(official_small)
    sd.pop("f_block.RDB2.conv3.0.weight")
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as err:
        load_generator(sd)
    msg = str(err.value)
    assert "fusion.block.rdb2.conv3.weight" in msg and "extra.weight" in msg and "\n" not in msg


def test_wrong_architecture_is_a_shape_error(official_small):
    with pytest.raises(CheckpointError, match="shape mismatches: .*conv_first.weight"):
        load_generator(official_small, nf=8)


def test_alias_and_kernel_checks(official_small):
    sd = dict(official_small)
    sd["model.8.bias"] = sd["model.8.bias"] + 1
    with pytest.raises(CheckpointError, match="alias"):
        load_generator(sd)
    sd = dict(official_small)
    sd["get_g_nopadding.weight_h"] = torch.zeros(1, 1, 3, 3)
    with pytest.raises(CheckpointError, match="get_g_nopadding.weight_h"):
        load_generator(sd)
    sd = {k: v for k, v in official_small.items() if not k.startswith(("model.8.", "get_g_nopadding"))}
    _same_outputs(load_generator(sd), load_generator(official_small))  # one alias copy and no kernels suffice


def test_bad_files_give_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_generator(tmp_path / "absent.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_generator(tmp_path / "garbage.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_generator(tmp_path / "bad.safetensors")
    (tmp_path / "code.pth").write_bytes(pickle.dumps(print))  # an arbitrary global: refused by weights_only
    with pytest.raises(CheckpointError, match="weights-only"):
        load_generator(tmp_path / "code.pth")
    torch.save({"conv_first.weight": torch.zeros(4, 3, 3, 3), "RRDB_trunk.0.RDB1.conv1.weight": torch.zeros(1)},
               tmp_path / "esrgan.pth")
    with pytest.raises(CheckpointError, match="RRDBNet"):
        load_generator(tmp_path / "esrgan.pth")


@pytest.mark.parametrize("scale,nb,taps", [(4, 23, None), (3, 5, (1, 4)), (2, 6, None)])
def test_safetensors_round_trip_keeps_architecture(tmp_path, scale, nb, taps):
    torch.manual_seed(scale)
    model = SPSRNet(nf=4, nb=nb, gc=4, scale=scale, taps=taps)
    save_generator(model, tmp_path / "g.safetensors")
    from safetensors import safe_open

    with safe_open(str(tmp_path / "g.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["arch"])["scale"] == scale
    back = load_generator(tmp_path / "g.safetensors")
    assert (back.scale, back.nb, back.taps) == (scale, nb, model.taps)
    _same_outputs(model, back)


def test_x3_official_layout_needs_scale(tmp_path):
    torch.manual_seed(0)
    model = SPSRNet(nf=4, nb=2, gc=4, scale=3)
    sd = export_official_state_dict(model)
    assert load_generator(sd).scale == 2  # one upconv stage: ambiguous without the hint
    _same_outputs(model, load_generator(sd, scale=3))


def test_discriminator_round_trip_and_errors(parity_dir, tmp_path):
    d = load_discriminator(parity_dir / "d_small_state_dict.pth")
    d.train()(torch.rand(2, 3, 128, 128))  # move the running stats
    save_discriminator(d, tmp_path / "d.safetensors")
    back = load_discriminator(tmp_path / "d.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(d.state_dict().values(), back.state_dict().values()))
    torch.save({"discriminator": d.state_dict(), "generator": {}}, tmp_path / "train.pth")
    assert load_discriminator(tmp_path / "train.pth").nf == 4
    with pytest.raises(CheckpointError, match="missing keys: classifier.2.weight"):
        sd = dict(d.state_dict())
        sd.pop("classifier.2.weight")
        load_discriminator(sd)
    assert isinstance(load_discriminator(VGGDiscriminator(nf=8, input_size=130).state_dict()), VGGDiscriminator)


def test_rrdb_into_sr_branch_like_official_pretrain():
    torch.manual_seed(0)
    rrdb = RRDBNet(nf=4, nb=3, gc=4)
    g = SPSRNet(nf=4, nb=3, gc=4)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    filled = load_sr_branch_from_rrdb(g, export_official_state_dict(rrdb))  # old ESRGAN layout, model.10 dropped
    own = g.state_dict()
    assert torch.equal(own["conv_hr.weight"], rrdb.conv_hr.weight)
    assert torch.equal(own["body.2.rdb3.conv5.bias"], rrdb.body[2].rdb3.conv5.bias)
    untouched = [k for k in own if k not in filled]
    assert "conv_hr_feat.weight" in untouched and all(torch.equal(own[k], before[k]) for k in untouched)
    with pytest.raises(CheckpointError, match="missing keys: body.3"):
        load_sr_branch_from_rrdb(SPSRNet(nf=4, nb=5, gc=4), rrdb)
    with pytest.raises(CheckpointError):  # new-arch SPSR layout is not an RRDB trunk at all
        load_sr_branch_from_rrdb(g, export_official_state_dict(g))


def test_convert_command_both_directions(official_small, tmp_path, capsys):
    torch.save(official_small, tmp_path / "spsr.pth")
    assert main(["convert", str(tmp_path / "spsr.pth"), str(tmp_path / "g.safetensors")]) == 0
    assert main(["convert", str(tmp_path / "g.safetensors"), str(tmp_path / "back.pth")]) == 0
    back = torch.load(tmp_path / "back.pth", weights_only=True)
    assert list(back) == list(official_small)
    assert all(torch.equal(back[k], official_small[k]) for k in back)
    assert back["model.8.weight"].data_ptr() == back["HR_conv0_new.0.weight"].data_ptr()  # shared like official
    (tmp_path / "junk.pth").write_bytes(b"\x00" * 10)
    assert main(["convert", str(tmp_path / "junk.pth"), str(tmp_path / "x.safetensors")]) == 2
    assert main(["convert", str(tmp_path / "nothing.pth"), str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("spsr convert: error:" in line for line in err)
    assert not (tmp_path / "x.safetensors").exists()


def test_convert_rrdb_and_discriminator(tmp_path, parity_dir):
    torch.manual_seed(0)
    rrdb = RRDBNet(nf=4, nb=2, gc=4)
    torch.save(export_official_state_dict(rrdb), tmp_path / "RRDB_PSNR_x4.pth")
    assert main(["convert", str(tmp_path / "RRDB_PSNR_x4.pth"), str(tmp_path / "r.safetensors")]) == 0
    x = torch.rand(1, 3, 6, 6)
    torch.testing.assert_close(load_rrdb(tmp_path / "r.safetensors")(x), rrdb(x), rtol=0, atol=0)
    d_src = parity_dir / "d_small_state_dict.pth"
    assert main(["convert", str(d_src), str(tmp_path / "d.safetensors")]) == 0
    assert main(["convert", str(tmp_path / "d.safetensors"), str(tmp_path / "d.pth")]) == 0
    ref = torch.load(d_src, weights_only=True)
    back = torch.load(tmp_path / "d.pth", weights_only=True)
    assert list(back) == list(ref) and all(torch.equal(back[k], ref[k]) for k in ref)


def test_checkpoint_error_is_an_spsr_error():
    assert issubclass(CheckpointError, SPSRError)


def test_load_sr_model_takes_spsr_and_esrgan_files_and_evaluate_uses_it(tmp_path):
    from spsr_lib.inference.evaluate import model_source
    from spsr_lib.io.checkpoint import load_sr_model

    rrdb, spsr = RRDBNet(nf=8, nb=2, gc=4).eval(), SPSRNet(nf=8, nb=2, gc=4).eval()
    save_generator(rrdb, tmp_path / "rrdb.safetensors")
    save_generator(spsr, tmp_path / "spsr.safetensors")
    torch.save(export_official_state_dict(rrdb), tmp_path / "RRDB_PSNR_like.pth")  # ESRGAN's own layout
    assert type(load_sr_model(tmp_path / "spsr.safetensors")) is SPSRNet
    for name in ("rrdb.safetensors", "RRDB_PSNR_like.pth"):
        loaded = load_sr_model(tmp_path / name)
        assert type(loaded) is RRDBNet
        torch.testing.assert_close(loaded.state_dict(), rrdb.state_dict())
    with pytest.raises(CheckpointError):
        load_sr_model({"foo.weight": torch.zeros(1)})

    class Item:
        lr = (torch.rand(12, 10, 3) * 255).byte().numpy()

    assert model_source(tmp_path / "rrdb.safetensors", device="cpu")(Item).shape == (48, 40, 3)


def test_load_sr_model_and_warm_start_read_the_file_once(tmp_path, monkeypatch):
    import spsr_lib.io.checkpoint as ck
    import spsr_lib.io.checkpoint_esrgan
    import spsr_lib.io.checkpoint_files
    from spsr_lib.train.config import load_config
    from spsr_lib.train.warm_start import load_pretrained

    calls = []
    real = ck.read_checkpoint
    for module in (ck, spsr_lib.io.checkpoint_esrgan, spsr_lib.io.checkpoint_files):  # every name a loader reads through
        monkeypatch.setattr(module, "read_checkpoint", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    rrdb = RRDBNet(nf=8, nb=2, gc=4)
    save_generator(rrdb, tmp_path / "rrdb.safetensors")
    save_generator(SPSRNet(nf=8, nb=2, gc=4), tmp_path / "spsr.safetensors")
    for name, kind in (("rrdb.safetensors", RRDBNet), ("spsr.safetensors", SPSRNet)):
        calls.clear()
        assert type(ck.load_sr_model(tmp_path / name)) is kind and len(calls) == 1
    calls.clear()
    cfg = load_config(None, ["model.nf=8", "model.nb=2", "model.gc=4", f"train.pretrained={tmp_path / 'rrdb.safetensors'}"])
    G = SPSRNet(nf=8, nb=2, gc=4)
    assert "SR branch initialised" in load_pretrained(cfg, G) and len(calls) == 1
    torch.testing.assert_close(G.conv_first.weight, rrdb.conv_first.weight)
