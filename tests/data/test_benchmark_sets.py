"""load_benchmark_set: name resolution order, layouts, mod-crop and MATLAB LR, one-line errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from spsr_lib.data.benchmark_sets import SHARED_DATA, BenchmarkSet, load_benchmark_set
from spsr_lib.errors import SPSRError
from spsr_lib.io.images import read_image_uint8, write_image
from spsr_lib.ops.imresize import imresize


def _manifest(folder):
    with open(folder / "MANIFEST.tsv") as fh:
        return {row["filename"]: (int(row["height"]), int(row["width"])) for row in csv.DictReader(fh, delimiter="\t")}


def test_set5_from_an_explicit_root(shared_data):
    s = load_benchmark_set("Set5", scale=4, root=shared_data)
    assert isinstance(s, BenchmarkSet) and s.name == "Set5" and len(s) == 5
    assert s.names == ["baby", "bird", "butterfly", "head", "woman"]
    sizes = _manifest(shared_data / "benchmarks" / "Set5")
    for item in s:
        h, w = sizes[f"{item.name}.png"]
        assert item.hr.shape == (h - h % 4, w - w % 4, 3) and item.hr.dtype == np.uint8
        assert item.lr.shape == (item.hr.shape[0] // 4, item.hr.shape[1] // 4, 3) and item.lr.dtype == np.uint8
        np.testing.assert_array_equal(item.hr, read_image_uint8(item.path)[: item.hr.shape[0], : item.hr.shape[1]])
    woman = s[4]
    assert woman.hr.shape == (344, 228, 3)
    # the LR is the antialiased bicubic: Pillow's float reduce agrees away from the border
    pil = np.stack(
        [
            np.asarray(Image.fromarray(woman.hr[:, :, c].astype(np.float32), mode="F").resize((57, 86), Image.BICUBIC))
            for c in range(3)
        ],
        axis=2,
    )
    diff = np.abs(woman.lr[3:-3, 3:-3].astype(float) - np.clip(pil[3:-3, 3:-3], 0, 255))
    assert diff.max() <= 2.0 and diff.mean() < 0.3  # two uint8 roundings vs one float32 pass


def test_scale_changes_the_mod_crop(shared_data):
    s3 = load_benchmark_set("set14", scale=3, root=shared_data)
    sizes = _manifest(shared_data / "benchmarks" / "Set14")
    item = s3[s3.names.index("comic")]
    h, w = sizes["comic.png"]
    assert item.hr.shape == (h - h % 3, w - w % 3, 3) and item.lr.shape == (h // 3, w // 3, 3)
    bridge = s3[s3.names.index("bridge")]  # stored as 8-bit grayscale
    assert bridge.hr.shape[2] == 3 and (bridge.hr[:, :, 0] == bridge.hr[:, :, 2]).all()


def test_aliases_and_environment_root(shared_data, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPSR_DATA", str(shared_data))
    s = load_benchmark_set("B100")
    assert s.name == "BSD100" and len(s) == 100 and s.folder == shared_data / "benchmarks" / "BSD100" / "HR"


def test_default_roots_find_the_shared_copy(shared_data, monkeypatch, tmp_path):
    if shared_data.resolve() != SHARED_DATA.resolve():
        pytest.skip("shared data is not beside the repository on this machine")
    monkeypatch.delenv("SPSR_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_benchmark_set("Set5").folder.resolve() == (SHARED_DATA / "benchmarks" / "Set5" / "HR").resolve()


def test_datasets_folder_layouts_win_in_order(tmp_path, monkeypatch, sample_image):
    monkeypatch.delenv("SPSR_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "datasets" / "Urban100" / "HR" / "img_001.png", sample_image[:65, :70])
    s = load_benchmark_set("urban100")
    assert s.name == "Urban100" and s.names == ["img_001"]
    assert s[0].hr.shape == (64, 68, 3)
    np.testing.assert_array_equal(s[0].lr, imresize(s[0].hr, 0.25))
    # a flat folder of images under the name DIV2K_valid_HR (how the official zip unpacks)
    write_image(tmp_path / "other" / "DIV2K_valid_HR" / "0801.png", sample_image[:40, :40])
    d = load_benchmark_set("DIV2K-val", root=tmp_path / "other")
    assert d.name == "DIV2K-val" and d.names == ["0801"]


def test_any_folder(tmp_path, sample_image):
    folder = tmp_path / "mine" / "HR"
    write_image(folder / "a.png", sample_image[:50, :50])
    write_image(folder / "b.jpg", sample_image[50:90, :50])
    for arg in (folder, tmp_path / "mine", str(tmp_path / "mine")):
        s = load_benchmark_set(arg, scale=2)
        assert s.name == "mine" and s.names == ["a", "b"] and s[1].lr.shape == (20, 25, 3)


def test_missing_set_error_says_how_to_download(tmp_path):
    with pytest.raises(SPSRError) as info:
        load_benchmark_set("Urban100", root=tmp_path)
    assert str(info.value) == (
        f"benchmark set Urban100 not found (looked in {tmp_path}); run `spsr data download Urban100 --root {tmp_path}` "
        "or set SPSR_DATA to the folder that holds it"
    )
    with pytest.raises(SPSRError, match=r"^Set6: not a known benchmark set \(Set5, Set14, BSD100"):
        load_benchmark_set("Set6", root=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SPSRError, match="no images"):
        load_benchmark_set(tmp_path / "empty")


def test_a_partial_known_set_is_labelled_as_the_subset_it_is(tmp_path):
    import numpy as np

    from spsr_lib.data.benchmark_sets import load_benchmark_set
    from spsr_lib.io.images import write_image

    urban = tmp_path / "Urban100" / "HR"
    urban.mkdir(parents=True)
    for i in (26, 27, 75):
        write_image(urban / f"img_{i:03d}.png", np.zeros((8, 8, 3), np.uint8))
    assert load_benchmark_set(tmp_path / "Urban100").label == "Urban100 (026–075)"
    set5 = tmp_path / "Set5"
    set5.mkdir()
    for name in "abcde":
        write_image(set5 / f"{name}.png", np.zeros((8, 8, 3), np.uint8))
    assert load_benchmark_set(set5).label == "Set5"  # the whole set keeps its name
