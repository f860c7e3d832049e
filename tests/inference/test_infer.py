"""Tiled inference (spsr_lib.inference.tiling, spsr_lib.inference.infer.upscale) and the `spsr infer` command."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from spsr_lib.errors import SPSRError
from spsr_lib.inference.infer import UpscaleResult, auto_tile_size, upscale
from spsr_lib.inference.tiling import tile_starts, tiled_apply

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def random_spsr(seed: int = 0, nf: int = 8, nb: int = 4, gc: int = 8):
    """A small SPSRNet whose output depends strongly on context.

    At the default init (kaiming x 0.1) an untrained SPSRNet outputs ~1e-7 everywhere, which any tiling
    reproduces; x0.6 weights and a 0.5 output bias give an image-like output (std ~0.26) whose
    receptive field is wide enough that tiles without overlap visibly disagree with the whole image.
    """
    from spsr_lib.models.spsr_net import SPSRNet
    from spsr_lib.ops.blocks import init_weights

    torch.manual_seed(seed)
    model = SPSRNet(nf=nf, nb=nb, gc=gc, scale=4)
    init_weights(model, 0.6)
    with torch.no_grad():
        model.fusion.conv_last.bias.fill_(0.5)
    return model.eval()


@pytest.fixture(scope="module")
def lr64(sample_image) -> torch.Tensor:
    crop = sample_image[100:164, 150:214]
    return torch.from_numpy(crop.astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()


@pytest.fixture(scope="module")
def model():
    return random_spsr()


@pytest.fixture(scope="module")
def tiny():
    return random_spsr(seed=3, nf=4, nb=1, gc=4)


@pytest.fixture(scope="module")
def untiled(lr64, model):
    return upscale(lr64, model, device="cpu", return_gradients=True)


@pytest.fixture(scope="module")
def tiled(lr64, model):
    # 2x2 tiles of 40 px on the 64 px input: starts 0 and 24, i.e. 16 px shared
    return upscale(lr64, model, tile=40, overlap=12, device="cpu", return_gradients=True)


# ----------------------------------------------------------------------------- tiling geometry


@settings(max_examples=200, deadline=None)
@given(length=st.integers(1, 3000), tile=st.integers(4, 512), frac=st.floats(0, 0.5))
def test_tile_starts_cover_with_full_tiles_and_overlap(length, tile, frac):
    overlap = int(tile * frac)
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    assert all(0 <= s <= length - size for s in starts)
    for a, b in zip(starts, starts[1:]):
        assert a < b and a + size - b >= overlap  # neighbours share at least `overlap`
    # fewest tiles: one fewer could not keep the overlap
    n = len(starts)
    assert n == 1 or (n - 1) * (tile - overlap) + overlap < length


def test_blend_reproduces_a_context_free_upscaler_exactly():
    """Nearest x3 upsampling is exact on every tile, so any correct blend (weights summing to 1) gives it back."""
    torch.manual_seed(1)
    x = torch.rand(2, 3, 37, 53)
    calls = []

    def fn(t):
        calls.append(tuple(t.shape[-2:]))
        up = F.interpolate(t, scale_factor=3, mode="nearest")
        return [up, up[:, :1] * 2]

    sr, extra = tiled_apply(fn, x, tile=16, overlap=5)
    ref = F.interpolate(x, scale_factor=3, mode="nearest")
    torch.testing.assert_close(sr, ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(extra, ref[:, :1] * 2, rtol=0, atol=1e-6)
    assert set(calls) == {(16, 16)} and len(calls) == len(tile_starts(37, 16, 5)) * len(tile_starts(53, 16, 5))


def test_network_never_sees_more_than_one_tile(lr64, tiny):
    """Memory is bounded by the tile: the model is only ever called on tile-sized inputs."""
    seen = []
    handle = tiny.register_forward_pre_hook(lambda m, inp: seen.append(tuple(inp[0].shape)))
    try:
        upscale(lr64, tiny, tile=24, overlap=6, device="cpu")
    finally:
        handle.remove()
    assert seen and all(s[-2:] == (24, 24) for s in seen)


def test_bad_tile_arguments_are_one_line_errors(lr64, tiny):
    for kwargs in ({"tile": 2}, {"tile": 16, "overlap": 9}, {"tile": 16, "overlap": -1}):
        with pytest.raises(SPSRError) as info:
            upscale(lr64, tiny, device="cpu", **kwargs)
        assert "\n" not in str(info.value)


def test_half_needs_cuda(lr64, tiny):
    with pytest.raises(SPSRError, match="CUDA"):
        upscale(lr64, tiny, device="cpu", half=True)


# ----------------------------------------------------------------------------- tiled vs untiled


def test_tiled_matches_untiled_and_overlap_is_what_makes_it(lr64, model, untiled, tiled):
    sr = untiled.sr
    assert float(sr.std()) > 0.1, "the test model must produce an image-like, context-dependent output"
    overlapped = tiled.sr
    no_overlap = upscale(lr64, model, tile=32, overlap=0, device="cpu")  # 2x2 tiles that just touch
    p_overlap, p_none = psnr(overlapped, sr), psnr(no_overlap, sr)
    # measured: 93.5 dB with 16 px shared, 28.2 dB without overlap (seams)
    assert p_overlap > 50, p_overlap
    assert p_none < p_overlap - 15, (p_none, p_overlap)
    assert float((overlapped - sr).abs().max()) < 0.5 / 255  # identical once written as uint8


def test_tiled_gradient_outputs_match(lr64, model, untiled, tiled):
    from spsr_lib.ops.gradient import gradient_map

    assert isinstance(tiled, UpscaleResult)
    assert psnr(tiled.grad_sr, untiled.grad_sr) > 50
    torch.testing.assert_close(tiled.grad_lr, gradient_map(lr64, padding=1))
    with torch.inference_mode():
        direct = model(lr64)
    torch.testing.assert_close(untiled.grad_sr, direct.grad_sr)
    torch.testing.assert_close(untiled.sr, direct.sr.clamp(0, 1))


def test_auto_tile_follows_the_memory_budget(lr64, model, tiny):
    cpu = torch.device("cpu")
    small = auto_tile_size(model, 8, cpu, memory_budget=1)
    big = auto_tile_size(model, 8, cpu, memory_budget=10**12)
    assert small == 32 and big == 1024
    mid = auto_tile_size(model, 8, cpu, memory_budget=200 * 1024**2)
    assert 32 < mid < 1024 and mid % 8 == 0
    seen = []
    handle = tiny.register_forward_pre_hook(lambda m, inp: seen.append(tuple(inp[0].shape)))
    try:
        out = upscale(lr64, tiny, tile="auto", overlap=8, device="cpu", memory_budget=1)
    finally:
        handle.remove()
    assert set(seen) == {(1, 3, 32, 32)} and out.shape == (1, 3, 256, 256)


# ----------------------------------------------------------------------------- input kinds


def test_numpy_pil_and_tensor_kinds_round_trip(lr64, tiny):
    from PIL import Image

    from spsr_lib.io.images import to_uint8

    lr = lr64[..., :16, :12].contiguous()
    ref = upscale(lr, tiny, device="cpu")
    u8 = to_uint8(lr)
    out = upscale(u8, tiny, device="cpu")
    assert out.dtype == np.uint8 and out.shape == (64, 48, 3)
    np.testing.assert_array_equal(out, to_uint8(upscale(torch.from_numpy(u8).permute(2, 0, 1)[None] / 255.0,
                                                        tiny, device="cpu")))
    pil = upscale(Image.fromarray(u8), tiny, device="cpu")
    assert isinstance(pil, Image.Image) and pil.size == (48, 64) and pil.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(pil), out)
    chw = upscale(lr[0], tiny, device="cpu")
    assert chw.shape == (3, 64, 48)
    torch.testing.assert_close(chw, ref[0])
    grey = upscale(u8[..., 0], tiny, device="cpu")
    np.testing.assert_array_equal(grey, upscale(np.repeat(u8[..., :1], 3, axis=2), tiny, device="cpu"))
    u16 = (lr[0].permute(1, 2, 0).numpy() * 65535).round().astype(np.uint16)
    o16 = upscale(u16, tiny, device="cpu")
    assert o16.dtype == np.uint16
    assert np.abs(o16.astype(np.float64) / 65535 - ref[0].permute(1, 2, 0).numpy()).max() < 1e-3
    grads = upscale(u8, tiny, device="cpu", return_gradients=True)
    assert grads.sr.shape == grads.grad_sr.shape == (64, 48, 3) and grads.grad_lr.shape == (16, 12, 3)


def test_unknown_input_kind_is_an_error(tiny):
    with pytest.raises(SPSRError, match="numpy array"):
        upscale([[0, 1]], tiny)


# ----------------------------------------------------------------------------- `spsr infer`


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory) -> Path:
    from spsr_lib.io.checkpoint import save_generator

    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_generator(random_spsr(seed=3, nf=4, nb=1, gc=4), path)
    return path


def _bad_and_odd_files(folder: Path, rgb: np.ndarray) -> dict[str, np.ndarray | None]:
    """Write the issue's list of awkward inputs; returns name -> expected LR RGB (None = must fail)."""
    import cv2
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(folder / "good.png")
    full = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(full[: len(full) // 2])
    (folder / "text.png").write_text("this is not an image\n")
    (folder / "empty.png").write_bytes(b"")
    Image.fromarray(rgb[:1, :1]).save(folder / "one_by_one.png")
    rng = np.random.default_rng(0)
    deep = rng.integers(0, 65536, size=(*rgb.shape[:2], 3), dtype=np.uint16)
    cv2.imwrite(str(folder / "sixteen.png"), deep[..., ::-1])  # cv2 wants BGR
    grey = rgb[..., 1]
    Image.fromarray(grey, mode="L").save(folder / "grey.png")
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(folder / "rgba.png")
    return {
        "good": rgb, "truncated": None, "text": None, "empty": None, "one_by_one": rgb[:1, :1],
        "sixteen": deep, "grey": np.repeat(grey[..., None], 3, axis=2), "rgba": rgb,
    }


def test_cli_bad_files_each_get_the_stated_behaviour(tmp_path, sample_image, tiny_model_file, capsys):
    from PIL import Image

    from spsr_lib.cli import main
    from spsr_lib.io.checkpoint import load_generator
    from spsr_lib.io.images import to_tensor, to_uint8

    expected = _bad_and_odd_files(tmp_path / "in", sample_image[200:216, 220:236].copy())
    out = tmp_path / "out"
    rc = main(["infer", str(tmp_path / "in"), "-o", str(out), "--model", str(tiny_model_file), "--device", "cpu"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "wrote 5 of 8" in captured.out
    model = load_generator(tiny_model_file)
    for name, lr in expected.items():
        dest = out / f"{name}.png"
        if lr is None:
            assert not dest.exists(), name
            lines = [ln for ln in captured.err.splitlines() if f"{name}.png:" in ln and "error" in ln]
            assert len(lines) == 1, (name, captured.err)
        else:  # 1x1 -> 4x4, 16-bit at full precision, grey -> RGB, RGBA -> its RGB
            got = np.asarray(Image.open(dest))
            assert got.shape == (4 * lr.shape[0], 4 * lr.shape[1], 3), name
            np.testing.assert_array_equal(got, to_uint8(upscale(to_tensor(lr), model, device="cpu")), err_msg=name)
    assert "empty" in captured.err and "truncated" in captured.err
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_cli_summary_globs_suffix_and_gradients(tmp_path, sample_image, tiny_model_file, capsys):
    from PIL import Image

    from spsr_lib.cli import main

    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        Image.fromarray(sample_image[i * 20:i * 20 + 12, 0:16]).save(src / f"img{i}.png")
    rc = main(["infer", str(src / "img*.png"), str(tmp_path / "missing.png"), "-o", str(tmp_path / "o"),
               "--model", str(tiny_model_file), "--suffix", "_x4", "--save-gradients", "--tile", "8",
               "--overlap", "2"])
    captured = capsys.readouterr()
    assert rc == 1  # the missing file counts as a failure, the two images are still written
    assert "wrote 2 of 3" in captured.out and "missing.png" in captured.err
    for i in range(2):
        assert Image.open(tmp_path / "o" / f"img{i}_x4.png").size == (64, 48)
        assert Image.open(tmp_path / "o" / f"img{i}_x4_grad_sr.png").size == (64, 48)
        assert Image.open(tmp_path / "o" / f"img{i}_x4_grad_lr.png").size == (16, 12)


def test_cli_interrupted_write_leaves_no_partial_file(tmp_path, sample_image, tiny_model_file, monkeypatch, capsys):
    from PIL import Image

    from spsr_lib.cli import main

    src = tmp_path / "a.png"
    Image.fromarray(sample_image[:8, :8]).save(src)
    real_save = Image.Image.save

    def failing_save(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)
        Path(fp).write_bytes(Path(fp).read_bytes()[:20])  # half-written, then the disk "fills up"
        raise OSError("No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    rc = main(["infer", str(src), "-o", str(tmp_path / "o"), "--model", str(tiny_model_file)])
    assert rc == 1 and "No space left" in capsys.readouterr().err
    assert list((tmp_path / "o").iterdir()) == []


def test_cli_usage_errors_exit_2(tmp_path, tiny_model_file, capsys, monkeypatch):
    from spsr_lib.cli import main

    assert main(["infer", str(tmp_path / "nothing*.png"), "-o", str(tmp_path / "o"),
                 "--model", str(tiny_model_file)]) == 2
    assert "no input images" in capsys.readouterr().err
    img = tmp_path / "x.png"
    __import__("PIL.Image", fromlist=["Image"]).new("RGB", (4, 4)).save(img)
    monkeypatch.setenv("SPSR_DEMO_WEIGHTS", str(tmp_path / "absent.safetensors"))
    assert main(["infer", str(img), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "demo weights not found" in err and "--model" in err and len(err.strip().splitlines()) == 1
    assert main(["infer", str(img), "-o", str(tmp_path / "o"), "--model", str(tiny_model_file),
                 "--tile", "big"]) == 2
    assert main(["infer", str(img), "-o", str(tmp_path), "--model", str(tiny_model_file)]) == 1  # would overwrite x.png
    assert "overwrite an input" in capsys.readouterr().err


def test_cli_takes_an_esrgan_model_and_refuses_its_gradients_once(tmp_path, capsys):
    from PIL import Image

    from spsr_lib.cli import main
    from spsr_lib.io.checkpoint import save_generator
    from spsr_lib.models.rrdb import RRDBNet

    rrdb = tmp_path / "rrdb.safetensors"
    save_generator(RRDBNet(nf=4, nb=1, gc=4), rrdb)
    img = tmp_path / "x.png"
    Image.new("RGB", (6, 5), (90, 120, 30)).save(img)
    assert main(["infer", str(img), "-o", str(tmp_path / "o"), "--model", str(rrdb), "--save-gradients"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "RRDBNet has no gradient branch" in err[0] and not (tmp_path / "o").exists()
    assert main(["infer", str(img), "-o", str(tmp_path / "o"), "--model", str(rrdb)]) == 0
    assert Image.open(tmp_path / "o" / "x.png").size == (24, 20)


@pytest.mark.skipif(not __import__("spsr_lib.io.demo_weights", fromlist=["x"]).default_demo_weights_path().is_file(),
                    reason="demo weights not shipped yet")
def test_tiling_with_the_shipped_demo_weights(lr64):
    """A trained model, not just a random one: tiles of 32 px with 16 px overlap against the whole image."""
    from spsr_lib.io.demo_weights import load_model

    model = load_model()
    lr = lr64[..., :48, :48].contiguous()
    whole = upscale(lr, model, device="cpu")
    tiled = upscale(lr, model, tile=32, overlap=16, device="cpu")
    assert psnr(tiled, whole) > 50


def test_bf16_fast_path_stays_close_to_fp32_on_the_demo_weights(lr64, tmp_path, sample_image, tiny_model_file):
    """bf16 autocast + channels_last (``--bf16``): same image to a fraction of a grey level, tiled or not."""
    from PIL import Image

    from spsr_lib.cli import main
    from spsr_lib.io.demo_weights import load_model

    lr = lr64[..., :40, :40].contiguous()
    fp32 = upscale(lr, load_model(), device="cpu")
    model = load_model()
    fast = upscale(lr, model, device="cpu", bf16=True)
    assert model.conv_first.weight.is_contiguous(memory_format=torch.channels_last)  # converted in place
    assert fast.dtype == torch.float32 and fast.shape == fp32.shape
    assert 0 < (fast - fp32).abs().max() < 0.05 and psnr(fast, fp32) > 40
    tiled = upscale(lr, model, device="cpu", bf16=True, tile=24, overlap=8)
    assert psnr(tiled, fp32) > 38
    with pytest.raises(SPSRError, match="--half and --bf16"):
        upscale(lr, model, device="cpu", bf16=True, half=True)
    Image.fromarray(sample_image[:12, :16]).save(tmp_path / "a.png")
    assert main(["infer", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", str(tiny_model_file),
                 "--bf16"]) == 0
    assert Image.open(tmp_path / "o" / "a.png").size == (64, 48)
