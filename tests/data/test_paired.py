"""PairedImageDataset: alignment against a whole-image resize, official augmentation, determinism, skipping."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from spsr_lib.data.paired import PairedImageDataset, augment, modcrop
from spsr_lib.errors import SPSRError
from spsr_lib.io.images import read_image_uint8, to_uint8, write_image
from spsr_lib.ops.imresize import imresize

SMALL_T91 = {"t12", "t20", "t21", "t23", "t24", "t34", "t9"}  # < 128 px on a side (MANIFEST.tsv)


@pytest.fixture(scope="module")
def sample_folder(tmp_path_factory):
    from tests.conftest import load_sample

    folder = tmp_path_factory.mktemp("hr")
    for name in ("astronaut", "chelsea", "coffee", "rocket", "camera"):
        write_image(folder / f"{name}.png", load_sample(name)[:203, :246])  # not multiples of 4: mod-crop matters
    return folder


def _u8(t: torch.Tensor) -> np.ndarray:
    return to_uint8(t)


def _locate(big: np.ndarray, patch: np.ndarray) -> tuple[int, int]:
    """Top-left of ``patch`` inside ``big`` by exhaustive comparison (independent of the dataset's RNG)."""
    ph, pw = patch.shape[:2]
    ys, xs = np.nonzero((big[: big.shape[0] - ph + 1, : big.shape[1] - pw + 1] == patch[0, 0]).all(axis=2))
    hits = [(y, x) for y, x in zip(ys, xs) if np.array_equal(big[y : y + ph, x : x + pw], patch)]
    assert hits, "patch not found in the image"
    return hits[0]


def test_crops_are_aligned_with_a_whole_image_resize(sample_folder):
    ds = PairedImageDataset(sample_folder, scale=4, patch_size=64, augment=False, seed=3)
    assert len(ds) == 5 and ds.names == sorted(ds.names)
    for i in range(len(ds)):
        item = ds[i]
        assert item["lr"].shape == (3, 16, 16) and item["hr"].shape == (3, 64, 64)
        assert item["lr"].dtype == torch.float32 and item["name"] == ds.names[i]
        hr = modcrop(read_image_uint8(sample_folder / f"{item['name']}.png"), 4)
        y, x = _locate(hr, _u8(item["hr"]))
        assert y % 4 == 0 and x % 4 == 0
        full_lr = imresize(hr, 0.25)  # MATLAB uint8 LR of the whole image, then crop
        np.testing.assert_array_equal(_u8(item["lr"]), full_lr[y // 4 : y // 4 + 16, x // 4 : x // 4 + 16])


def test_crop_positions_cover_the_inclusive_range(sample_folder):
    """randint is inclusive like the official code: the last LR row/column can be the top-left."""
    ds = PairedImageDataset([sample_folder / "astronaut.png"], scale=4, patch_size=196, augment=False)
    seen = set()
    for epoch in range(60):
        ds.set_epoch(epoch)
        hr = _u8(ds[0]["hr"])
        seen.add(_locate(modcrop(read_image_uint8(sample_folder / "astronaut.png"), 4), hr))
    # 200x244 mod-cropped -> 50x61 LR, patch 49: tops {0, 1}, lefts {0..12}; both ends must occur
    tops = {y // 4 for y, _ in seen}
    assert tops == {0, 1}


def test_official_augmentation_order():
    a = np.arange(6).reshape(2, 3, 1)
    # hflip then transpose (official order), not transpose then hflip
    np.testing.assert_array_equal(augment([a], True, False, True)[0][:, :, 0], [[2, 5], [1, 4], [0, 3]])
    np.testing.assert_array_equal(augment([a], False, True, False)[0][:, :, 0], [[3, 4, 5], [0, 1, 2]])
    np.testing.assert_array_equal(augment([a], True, True, True)[0][:, :, 0], [[5, 2], [4, 1], [3, 0]])


def test_augmented_pairs_stay_aligned_and_all_eight_transforms_occur(sample_folder):
    ds = PairedImageDataset([sample_folder / "chelsea.png"], scale=4, patch_size=32, augment=True, seed=1)
    plain = PairedImageDataset([sample_folder / "chelsea.png"], scale=4, patch_size=32, augment=False, seed=1)
    seen = set()
    for epoch in range(48):
        ds.set_epoch(epoch)
        plain.set_epoch(epoch)
        got, ref = ds[0], plain[0]  # same crop, then the augmentation
        lr, hr = _u8(got["lr"]), _u8(got["hr"])
        lr0, hr0 = _u8(ref["lr"]), _u8(ref["hr"])
        matches = [
            f for f in np.ndindex(2, 2, 2)
            if np.array_equal(augment([hr0], *map(bool, f))[0], hr) and np.array_equal(augment([lr0], *map(bool, f))[0], lr)
        ]
        assert matches, "LR and HR were not transformed together"
        seen.add(matches[0])
    assert len(seen) == 8


def test_deterministic_in_seed_epoch_index(sample_folder):
    a = PairedImageDataset(sample_folder, patch_size=32, seed=7)
    b = PairedImageDataset(sample_folder, patch_size=32, seed=7)
    for i in range(len(a)):
        assert torch.equal(a[i]["hr"], b[i]["hr"]) and torch.equal(a[i]["lr"], b[i]["lr"])
    a.set_epoch(1)
    assert any(not torch.equal(a[i]["hr"], b[i]["hr"]) for i in range(len(a)))
    assert torch.equal(a[(0, 2)]["hr"], b[(0, 2)]["hr"])  # an explicit (epoch, index) wins over set_epoch
    c = PairedImageDataset(sample_folder, patch_size=32, seed=8)
    assert any(not torch.equal(c[i]["hr"], b[i]["hr"]) for i in range(len(c)))


def test_same_batches_with_any_number_of_workers(sample_folder):
    ds = PairedImageDataset(sample_folder, patch_size=32, seed=5)
    ds.set_epoch(3)

    def batches(workers):
        loader = torch.utils.data.DataLoader(ds, batch_size=2, shuffle=False, num_workers=workers)
        return [b["lr"] for b in loader]

    ref = batches(0)
    for got, want in zip(batches(2), ref):
        assert torch.equal(got, want)


def test_small_images_are_reported_once_and_skipped(shared_data):
    with pytest.warns(UserWarning) as record:
        ds = PairedImageDataset(shared_data / "train" / "T91" / "HR", patch_size=128, seed=0)
    messages = [str(r.message) for r in record if "PairedImageDataset" in str(r.message)]
    assert len(messages) == 1 and "skipping 7 image(s) smaller than 128x128 px" in messages[0]
    assert "t20.png (78x78)" in messages[0]
    assert {n for n, _ in ds.skipped} == {f"{s}.png" for s in SMALL_T91}
    assert len(ds) == 91 - 7 and not SMALL_T91 & set(ds.names)
    item = ds[len(ds) - 1]
    assert item["hr"].shape == (3, 128, 128) and item["lr"].shape == (3, 32, 32)
    with pytest.raises(SPSRError, match="every image is smaller than 512x512 px"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        PairedImageDataset(shared_data / "train" / "T91" / "HR", patch_size=512)


def test_lr_folder_and_disk_cache_give_the_same_samples(sample_folder, tmp_path):
    lr_dir = tmp_path / "lr"
    for p in sorted(sample_folder.iterdir()):
        write_image(lr_dir / f"{p.stem}x4.png", imresize(modcrop(read_image_uint8(p), 4), 0.25))
    fly = PairedImageDataset(sample_folder, patch_size=48, seed=2)
    from_folder = PairedImageDataset(sample_folder, patch_size=48, seed=2, lr=lr_dir)
    cached = PairedImageDataset(sample_folder, patch_size=48, seed=2, cache_dir=tmp_path / "cache")
    in_memory = PairedImageDataset(sample_folder, patch_size=48, seed=2, cache_images=True)
    for i in range(len(fly)):
        for other in (from_folder, cached, in_memory, in_memory):
            assert torch.equal(other[i]["lr"], fly[i]["lr"]) and torch.equal(other[i]["hr"], fly[i]["hr"])
    assert len(list((tmp_path / "cache").glob("*.png"))) == len(fly)
    again = PairedImageDataset(sample_folder, patch_size=48, seed=2, cache_dir=tmp_path / "cache")
    assert torch.equal(again[0]["lr"], fly[0]["lr"])


def test_lr_folder_errors(sample_folder, tmp_path):
    lr_dir = tmp_path / "lr"
    write_image(lr_dir / "astronaut.png", np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(SPSRError, match=r"no LR image for camera.png \(looked for camera\.\* and camerax4\.\*\)"):
        PairedImageDataset(sample_folder, patch_size=32, lr=lr_dir)
    ds = PairedImageDataset([sample_folder / "astronaut.png"], patch_size=32, lr=lr_dir)
    with pytest.raises(SPSRError) as info:
        ds[0]
    assert str(info.value) == (
        f"{lr_dir / 'astronaut.png'}: LR is 10x10 px but astronaut.png needs 61x50 "
        "(HR mod-cropped / 4); regenerate the LR folder"
    )


def test_official_float_mode_is_the_unrounded_float_port(sample_folder):
    ds = PairedImageDataset([sample_folder / "coffee.png"], patch_size=200, seed=0, augment=False, lr_mode="official_float")
    item = ds[0]
    hr = modcrop(read_image_uint8(sample_folder / "coffee.png"), 4)
    y, x = _locate(hr, _u8(item["hr"]))
    full = imresize(hr.astype(np.float32) / 255, 0.25, mode="official_float")
    np.testing.assert_allclose(item["lr"].permute(1, 2, 0).numpy(), full[y // 4 : y // 4 + 50, x // 4 : x // 4 + 50], atol=1e-6)
    assert not np.allclose(item["lr"].numpy() * 255, np.round(item["lr"].numpy() * 255))  # not quantised


def test_val_phase_returns_whole_mod_cropped_images(shared_data):
    ds = PairedImageDataset(shared_data / "benchmarks" / "Set5" / "HR", phase="val")
    sizes = {ds[i]["name"]: (tuple(ds[i]["hr"].shape), tuple(ds[i]["lr"].shape)) for i in range(len(ds))}
    assert sizes["woman"] == ((3, 344, 228), (3, 86, 57))
    assert sizes["baby"] == ((3, 512, 512), (3, 128, 128))


def test_bad_arguments():
    with pytest.raises(SPSRError, match="patch_size 30 must be a positive multiple of scale 4"):
        PairedImageDataset([], patch_size=30)
    with pytest.raises(SPSRError, match="lr_mode must be one of"):
        PairedImageDataset([], lr_mode="cv2")
    with pytest.raises(SPSRError, match="image folder not found"):
        PairedImageDataset("/nonexistent/folder")


def test_subimage_starts_follow_the_official_script():
    from spsr_lib.data.paired import subimage_starts

    assert subimage_starts(2040, 480, 240, 48) == [0, 240, 480, 720, 960, 1200, 1440, 1560]  # 120 px left
    assert subimage_starts(1356, 480, 240, 48) == [0, 240, 480, 720, 876]  # 156 px left > 48: flush crop
    assert subimage_starts(1000, 480, 240, 48) == [0, 240, 480]  # 40 px left <= 48: dropped
    assert subimage_starts(479, 480, 240, 48) == []


def test_prepare_cuts_sub_images_and_their_lr(tmp_path, sample_image):
    from spsr_lib.cli import main

    src = tmp_path / "src"
    write_image(src / "big.png", sample_image[:200, :170])
    write_image(src / "tiny.png", sample_image[:50, :50])
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match=r"skipped 1 image\(s\) smaller than 96 px: tiny.png"):
        rc = main(["data", "prepare", str(src), str(out), "--crop", "96", "--step", "48", "--thresh", "8", "--no-progress"])
    assert rc == 0
    names = sorted(p.name for p in (out / "HR").iterdir())
    # rows 0, 48, 96 (8 px left, not > 8: no flush crop); columns 0, 48 and a flush 72 (24 px left)
    assert names == [f"big_s{i:03d}.png" for i in range(1, 10)]
    big = read_image_uint8(src / "big.png")  # 200x170 -> mod-crop 200x168: columns 0, 48, 72 (flush)
    np.testing.assert_array_equal(read_image_uint8(out / "HR" / "big_s006.png"), big[48:144, 72:168])
    # the LR sub-image is the window of the whole image's LR (official: LR first, then cut with crop / 4)
    full_lr = imresize(big[:200, :168], 0.25)
    np.testing.assert_array_equal(read_image_uint8(out / "LR_x4" / "big_s006.png"), full_lr[12:36, 18:42])
    ds = PairedImageDataset(out / "HR", lr=out / "LR_x4", patch_size=64)
    assert len(ds) == 9 and ds[0]["lr"].shape == (3, 16, 16)
