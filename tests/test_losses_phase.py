"""The phase-energy loss: 0 for SR = HR, large for a 4-px grid, differentiable, and wired into the stage-2 step."""

import pytest
import torch

from spsr_lib.losses_phase import phase_energy_loss, phase_profile


def _texture(seed: int = 0, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, size, size, generator=g) * 0.5 + 0.25


def test_profile_is_flat_for_noise_and_peaked_for_a_grid():
    hr = _texture()
    flat = phase_profile(hr)
    assert flat.shape == (2, 4, 4) and torch.allclose(flat.mean(dim=(1, 2)), torch.ones(2))
    assert (flat - 1).abs().max() < 0.15  # white noise has no preferred phase
    grid = hr.clone()
    grid[:, :, ::4, ::4] += 0.5  # one bright pixel per 4 x 4 cell
    assert (phase_profile(grid) - 1).abs().max() > 0.5


def test_loss_is_zero_at_hr_large_for_a_grid_and_has_gradients():
    hr = _texture(1)
    assert float(phase_energy_loss(hr, hr)) == pytest.approx(0.0, abs=1e-6)
    sr = hr.clone()
    sr[:, :, 2::4, 2::4] += 0.3
    sr.requires_grad_(True)
    loss = phase_energy_loss(sr, hr)
    assert float(loss.detach()) > 0.1
    loss.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0


def test_too_small_images_are_refused():
    with pytest.raises(ValueError, match="too small"):
        phase_profile(torch.rand(1, 3, 5, 5))


def test_config_rejects_bad_values_and_the_step_logs_the_term(tmp_path):
    from spsr_lib.errors import ConfigError
    from spsr_lib.train.config import load_config

    with pytest.raises(ConfigError, match="loss.phase_energy"):
        load_config("configs/structure_x4.yaml", ["loss.phase_energy.weight=-1"])
    cfg = load_config("configs/structure_x4.yaml", ["loss.phase_energy.weight=2"])
    assert cfg.loss.phase_energy.weight == 2 and cfg.loss.phase_energy.period == 4
