"""image_io: formats against OpenCV's independent decoder, 16-bit, alpha, EXIF, and each bad-file error text."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from spsr_lib.errors import SPSRError
from spsr_lib.io.images import (
    ImageReadError,
    check_min_size,
    image_size,
    read_image,
    read_image_uint8,
    to_tensor,
    to_uint8,
    write_image,
)


@pytest.fixture()
def img(sample_image):
    return sample_image[:48, :64].copy()


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".jpg"])
def test_formats_match_opencv(tmp_path, img, suffix):
    path = tmp_path / f"x{suffix}"
    cv2.imwrite(str(path), img[:, :, ::-1])  # written by another library
    ours = read_image_uint8(path)
    ref = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert ours.dtype == np.uint8 and ours.shape == (48, 64, 3)
    if suffix == ".jpg":  # two JPEG decoders may differ by a level on some pixels
        assert np.abs(ours.astype(int) - ref).max() <= 2
    else:
        np.testing.assert_array_equal(ours, ref)
        np.testing.assert_array_equal(ours, img)
    f = read_image(path)
    assert f.dtype == np.float32 and f.shape == (48, 64, 3)
    np.testing.assert_allclose(f, ours / 255.0, atol=1e-7)


def test_webp_lossless_and_tensor(tmp_path, img):
    path = tmp_path / "x.webp"
    Image.fromarray(img).save(path, lossless=True)
    np.testing.assert_array_equal(read_image_uint8(path), img)
    t = read_image(path, as_tensor=True)
    assert t.shape == (1, 3, 48, 64) and t.dtype == torch.float32
    np.testing.assert_allclose(t[0].permute(1, 2, 0).numpy(), img / 255.0, atol=1e-7)


def test_grayscale_becomes_three_equal_channels(tmp_path, img):
    gray = img[:, :, 1]
    path = tmp_path / "g.png"
    cv2.imwrite(str(path), gray)
    out = read_image_uint8(path)
    assert out.shape == (48, 64, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], gray)


def test_alpha_is_dropped_and_warned_once(tmp_path, img, monkeypatch):
    monkeypatch.setattr("spsr_lib.io.notices._said", set())
    rgba = np.dstack([img, np.full(img.shape[:2], 7, np.uint8)])
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    with pytest.warns(UserWarning, match="alpha channel; it is dropped"):
        out = read_image_uint8(path)
    np.testing.assert_array_equal(out, img)  # the stored colour, not a composite
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image_uint8(path)  # second time: silent


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_scaled_by_65535(tmp_path, suffix):
    rng = np.random.default_rng(1)
    a16 = (rng.random((20, 30, 3)) * 65535).astype(np.uint16)
    path = tmp_path / f"c16{suffix}"
    cv2.imwrite(str(path), a16[:, :, ::-1])
    np.testing.assert_allclose(read_image(path), a16 / 65535.0, atol=1e-7)
    np.testing.assert_array_equal(read_image_uint8(path), np.round(a16 / 257.0).astype(np.uint8))
    gpath = tmp_path / f"g16{suffix}"
    cv2.imwrite(str(gpath), a16[:, :, 0])
    g = read_image(gpath)
    assert g.shape == (20, 30, 3)
    np.testing.assert_allclose(g[:, :, 2], a16[:, :, 0] / 65535.0, atol=1e-7)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, img, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(img).save(path, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    out = read_image_uint8(path)
    np.testing.assert_array_equal(out, expected)
    assert image_size(path) == expected.shape[:2]


def test_exif_orientation_on_sixteen_bit(tmp_path):
    """The 16-bit path decodes with OpenCV (no EXIF); the kit applies the rotation itself."""
    g16 = (np.arange(6 * 4).reshape(6, 4) * 2500).astype(np.uint16)
    path = tmp_path / "r16.png"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(g16).save(path, exif=exif.tobytes())
    assert Image.open(path).mode.startswith("I")  # really stored at 16 bits
    out = read_image(path)
    assert out.shape == (4, 6, 3)
    np.testing.assert_allclose(out[:, :, 0], np.rot90(g16, -1) / 65535.0, atol=1e-7)


def _bad_files(tmp_path, img):
    good = tmp_path / "good.png"
    Image.fromarray(img).save(good)
    data = good.read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    Image.fromarray(img).save(tmp_path / "good.jpg")
    jpg = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("this is not an image\n")
    (tmp_path / "folder.png").mkdir()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.png", "file not found; check the path"),
        ("empty.png", "file is empty (0 bytes); re-download or re-export it"),
        ("notes.png", "not a readable image (unknown format); use PNG, JPEG, BMP, TIFF or WebP"),
        ("truncated.png", "image data is truncated or corrupt; re-download or re-export it"),
        ("truncated.jpg", "image data is truncated or corrupt; re-download or re-export it"),
        ("folder.png", "is a folder, not an image file; pass an image file"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, img, name, message):
    _bad_files(tmp_path, img)
    path = tmp_path / name
    for reader in (read_image, read_image_uint8):
        with pytest.raises(ImageReadError) as info:
            reader(path)
        assert str(info.value) == f"{path}: {message}"
        assert "\n" not in str(info.value) and isinstance(info.value, SPSRError)


def test_check_min_size_message(tmp_path):
    check_min_size((128, 200), 128, "ok.png")
    with pytest.raises(ImageReadError) as info:
        check_min_size(np.zeros((100, 300, 3), np.uint8), 128, "small.png", why="HR patch 128")
    assert str(info.value) == (
        "small.png: image is 300x100 px, smaller than the 128x128 px needed (HR patch 128); "
        "remove it or use a smaller size"
    )
    with pytest.raises(ImageReadError):
        check_min_size(torch.zeros(1, 3, 64, 500), 128, "t.png")


def test_to_uint8_is_official_tensor2img_in_rgb():
    rng = np.random.default_rng(2)
    t = torch.from_numpy(rng.normal(0.5, 0.4, (1, 3, 9, 11)).astype(np.float32))
    ref = (np.clip(t[0].numpy(), 0, 1).transpose(1, 2, 0) * 255.0).round().astype(np.uint8)
    np.testing.assert_array_equal(to_uint8(t), ref)
    np.testing.assert_array_equal(to_uint8(t[0]), ref)
    with pytest.raises(ValueError):
        to_uint8(torch.zeros(2, 3, 4, 4))


def test_to_tensor_roundtrip(img):
    t = to_tensor(img)
    assert t.shape == (1, 3, 48, 64) and t.dtype == torch.float32
    np.testing.assert_array_equal(to_uint8(t), img)
    assert to_tensor(img[:, :, 0]).shape == (1, 3, 48, 64)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".webp", ".jpg"])
def test_write_image_roundtrip_and_atomic(tmp_path, img, suffix):
    path = tmp_path / "sub" / f"out{suffix}"
    write_image(path, to_tensor(img))
    back = read_image_uint8(path)
    if suffix in (".jpg", ".webp"):
        assert np.abs(back.astype(int) - img).mean() < 3
    else:
        np.testing.assert_array_equal(back, img)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left
    write_image(path, img)  # uint8 HWC too, overwriting atomically
    with pytest.raises(SPSRError):
        write_image(tmp_path / "out.xyz", img)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_float_pixels_are_refused_in_one_line(tmp_path, bad):
    from tests import corpus

    path = corpus.float_tiff(tmp_path / "f.tif", bad=bad)
    for read in (read_image, read_image_uint8):
        with pytest.raises(ImageReadError, match=r"1 pixel\(s\) are NaN or infinite \(first at x=2, y=3\)") as err:
            read(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    good = read_image(corpus.float_tiff(tmp_path / "g.tif", bad=None))
    assert np.isfinite(good).all() and good.shape == (12, 12, 3)


def test_integer_pixels_beyond_16_bits_are_refused_not_wrapped(tmp_path):
    from tests import corpus

    with pytest.raises(ImageReadError, match="do not fit 16 bits"):
        read_image(corpus.int32_tiff(tmp_path / "big.tif"))
    ok = read_image(corpus.int32_tiff(tmp_path / "ok.tif", top=65535))
    assert ok.max() == pytest.approx(1.0) and ok.min() == 0.0


def test_a_non_finite_image_is_never_written(tmp_path):
    t = torch.full((1, 3, 4, 4), 0.5)
    t[0, 1, 2, 2] = float("nan")
    with pytest.raises(SPSRError, match="not written: 1 NaN"):
        write_image(tmp_path / "o.png", t)
    with pytest.raises(SPSRError, match="not written"):
        write_image(tmp_path / "o.png", np.full((4, 4, 3), np.inf, np.float32))
    assert list(tmp_path.iterdir()) == []
