"""colour_shift / colour_offset: a known offset gives the known value, in grey levels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spsr_lib.metrics import colour_offset, colour_shift


def test_colour_shift_of_a_known_offset(sample_image):
    hr = np.clip(sample_image[:96, :128].astype(np.int16), 10, 240).astype(np.uint8)  # no clipping below
    sr = hr.astype(np.int16)
    sr[..., 0] -= 2
    sr[..., 2] += 5
    sr = sr.astype(np.uint8)
    assert colour_shift(sr, hr) == pytest.approx(5.0, abs=1e-9)
    assert colour_offset(sr, hr) == pytest.approx((-2.0, 0.0, 5.0), abs=1e-9)
    assert colour_shift(hr, hr) == 0.0


def test_colour_shift_batch_and_float_inputs_agree_with_uint8(sample_image):
    hr = np.clip(sample_image[:64, :64].astype(np.int16), 10, 240).astype(np.uint8)
    t = torch.tensor(hr).permute(2, 0, 1)[None].float() / 255
    brighter = t + 3 / 255
    v = colour_shift(torch.cat([brighter, t]), torch.cat([t, t]))
    assert v.shape == (2,)
    torch.testing.assert_close(v, torch.tensor([3.0, 0.0], dtype=v.dtype), atol=1e-9, rtol=0)
    # a zero-mean pattern changes pixels but not the channel means
    pattern = torch.zeros_like(t)
    pattern[..., ::2, :] = 4 / 255
    pattern[..., 1::2, :] = -4 / 255
    assert float(colour_shift(t + pattern, t)[0]) == pytest.approx(0.0, abs=1e-9)
