"""io/notices: each kind said once (per run to a sink, per process as an ImageNotice warning)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spsr_lib.io import notices
from spsr_lib.io.images import read_image, read_image_uint8


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(notices, "_said", set())


def test_once_per_run_to_the_sink_then_as_before():
    with pytest.warns(notices.ImageNotice):
        notices.notice("alpha", "before")  # said in the process already
    lines: list[str] = []
    with notices.once_per_run(lines.append):
        for _ in range(3):
            notices.notice("alpha", "a")
            notices.notice("icc", "b")
    assert lines == ["a (said once per run)", "b (said once per run)"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        notices.notice("alpha", "again")  # the process had said it: silent
    with pytest.warns(notices.ImageNotice, match="shown once per process"):
        notices.notice("icc", "b")


def test_sixteen_bit_and_float_range_facts(tmp_path):
    import cv2
    from PIL import Image

    path = tmp_path / "s.png"
    cv2.imwrite(str(path), np.full((8, 8, 3), 40000, np.uint16))
    lines: list[str] = []
    with notices.once_per_run(lines.append):
        read_image(path)
        read_image_uint8(path)
        hdr = tmp_path / "f.tif"
        Image.fromarray(np.linspace(-0.5, 2, 64, dtype=np.float32).reshape(8, 8)).save(hdr)
        assert read_image(hdr).max() == 1.0
    assert len(lines) == 3, lines  # the float file's bit depth is the kind already said for the 16-bit one
    assert "16-bit image, read at full precision" in lines[0] and "8-bit" in lines[0]
    assert "used at 8 bits" in lines[1]
    assert "f.tif: float pixel values from -0.5 to 2 are clipped to 0..1" in lines[2]
